// CCF's keygenerator.sh: a P-384 key and self-signed CN=<name> ECDSA-SHA384
// certificate, private keys mode 0600, and an optional RSA-2048 encryption pair.
import assert from "node:assert/strict";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { certId } from "@confide/node";
import * as x509 from "@peculiar/x509";
import { generateIdentity, keygen, readIdentity } from "../src/keys.ts";

describe("keygen", () => {
  const dir = mkdtempSync(join(tmpdir(), "confide-keys-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("writes <name>_privk.pem (0600) and <name>_cert.pem: P-384, self-signed CN=<name>, ECDSA-SHA384", async () => {
    const identity = await keygen("member0", { dir });
    assert.deepEqual(identity.files, { cert: join(dir, "member0_cert.pem"), privateKey: join(dir, "member0_privk.pem") });
    assert.equal(statSync(identity.files.privateKey).mode & 0o777, 0o600);
    const cert = new X509Certificate(readFileSync(identity.files.cert));
    assert.equal(cert.subject, "CN=member0");
    assert.equal(cert.issuer, "CN=member0");
    assert.ok(cert.verify(cert.publicKey), "self-signed");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.deepEqual(new x509.X509Certificate(identity.certPem).signatureAlgorithm, { name: "ECDSA", hash: { name: "SHA-384" } });
    assert.ok(cert.checkPrivateKey(createPrivateKey(readFileSync(identity.files.privateKey))));
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.equal(Math.round(days), 365);
  });

  it("gives the certificate's id as CCF computes it (certId, ccf.pemToId)", async () => {
    const identity = await keygen("user0", { dir });
    assert.equal(identity.id, certId(readFileSync(identity.files.cert, "utf8")));
    assert.deepEqual(readIdentity(identity.files.cert, identity.files.privateKey), { certPem: identity.certPem, keyPem: identity.keyPem });
  });

  it("with encryption, adds an RSA-2048 pair <name>_enc_privk.pem (0600) / <name>_enc_pubk.pem", async () => {
    const { files } = await keygen("member1", { dir, encryption: true });
    assert.equal(statSync(files.encryptionPrivateKey!).mode & 0o777, 0o600);
    const publicKey = createPublicKey(readFileSync(files.encryptionPublicKey!));
    assert.equal(publicKey.asymmetricKeyType, "rsa");
    assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    assert.equal(createPrivateKey(readFileSync(files.encryptionPrivateKey!)).asymmetricKeyDetails?.modulusLength, 2048);
  });

  it("makes a different key and serial every time", async () => {
    const [a, b] = await Promise.all([generateIdentity("same"), generateIdentity("same")]);
    assert.notEqual(a.keyPem, b.keyPem);
    assert.notEqual(new X509Certificate(a.certPem).serialNumber, new X509Certificate(b.certPem).serialNumber);
  });

  it("refuses a name that is not safe as a file name and CN", async () => {
    await assert.rejects(keygen("../evil", { dir }), /identity name/);
    await assert.rejects(keygen("", { dir }), /identity name/);
  });
});
