// The service endorses a node from its certificate signing request, synchronously (the
// constitution's apply() calls ccf.network.generateEndorsedCertificate), as CCF does when members
// trust a node: the certificate carries the request's key and addresses and chains to the service.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, it } from "node:test";
import { createNodeCertificateRequest, createServiceIdentity, isCertIssuedBy } from "../src/crypto/certs.ts";
import { CertificateRequestError, endorseCertificateRequest } from "../src/crypto/endorse-csr.ts";
import { generateP384KeyPair } from "../src/crypto/keys.ts";

describe("endorsing a node's certificate signing request", () => {
  it("issues a certificate for the request's key and addresses, chaining to the service", async () => {
    const service = await createServiceIdentity();
    const node = generateP384KeyPair();
    const csrPem = await createNodeCertificateRequest({ nodePrivateKeyPem: node.privateKeyPem, subjectAltNames: [{ type: "ip", value: "10.0.0.7" }, { type: "dns", value: "node7.example" }] });
    const validFrom = new Date("2026-01-02T03:04:05Z");
    const certPem = endorseCertificateRequest({ csrPem, serviceCertPem: service.certPem, servicePrivateKeyPem: service.privateKeyPem, validFrom, validityDays: 30 });
    const cert = new X509Certificate(certPem);
    assert.ok(isCertIssuedBy(certPem, service.certPem));
    assert.equal(cert.subject, "CN=CCF Node");
    assert.equal(cert.publicKey.export({ type: "spki", format: "pem" }).toString(), node.publicKeyPem);
    assert.match(cert.subjectAltName ?? "", /IP Address:10\.0\.0\.7/);
    assert.match(cert.subjectAltName ?? "", /DNS:node7\.example/);
    assert.equal(new Date(cert.validFrom).getTime(), validFrom.getTime());
    assert.equal(new Date(cert.validTo).getTime() - validFrom.getTime(), 30 * 86_400_000);
    assert.equal(cert.ca, false);
    // Another service's key does not make a certificate this service endorsed.
    const other = await createServiceIdentity();
    assert.equal(isCertIssuedBy(endorseCertificateRequest({ csrPem, serviceCertPem: other.certPem, servicePrivateKeyPem: other.privateKeyPem, validityDays: 1 }), service.certPem), false);
  });

  it("refuses a request not signed by its own key, a malformed one, and a validity of zero days", async () => {
    const service = await createServiceIdentity();
    const endorse = (csrPem: string, validityDays = 10) => endorseCertificateRequest({ csrPem, serviceCertPem: service.certPem, servicePrivateKeyPem: service.privateKeyPem, validityDays });
    const csrPem = await createNodeCertificateRequest({ nodePrivateKeyPem: generateP384KeyPair().privateKeyPem });
    const der = Buffer.from(csrPem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
    der[der.length - 10]! ^= 0x01; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64")}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(() => endorse(tampered), (error: Error) => error instanceof CertificateRequestError && /(signature does not verify|malformed)/.test(error.message));
    assert.throws(() => endorse("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"), /malformed certificate signing request/);
    assert.throws(() => endorse("not a pem"), /expected a PEM CERTIFICATE REQUEST/);
    assert.throws(() => endorse(csrPem, 0), /positive number of days/);
  });
});
