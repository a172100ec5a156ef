// CCF identities and receipt signatures: P-384 self-signed CA service cert (CN "CCF Service"), node cert (CN "CCF Node") issued by the service with SANs, node_id = sha256(SPKI DER), member id = sha256(cert DER), and ECDSA over a prehashed 32-byte root verifiable by OpenSSL.
import { strict as assert } from "node:assert";
import { execFileSync, execSync, spawnSync } from "node:child_process";
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { p384 } from "@noble/curves/nist.js";
import {
  certPublicKeyPem,
  createNodeCertificate,
  createServiceIdentity,
  isCertIssuedBy,
  type ServiceIdentity,
} from "../src/crypto/certs.ts";
import { signDigest, verifyDigestSignature } from "../src/crypto/digest-signature.ts";
import { sha256, toHex } from "../src/crypto/hash.ts";
import {
  certId,
  generateP384KeyPair,
  nodeIdOf,
  publicKeyPemOf,
  writePrivateKeyFile,
  writePublicFile,
  type P384KeyPair,
} from "../src/crypto/keys.ts";

let dir: string;
let service: ServiceIdentity;
let otherService: ServiceIdentity;
let node: P384KeyPair;
let nodeCertPem: string;

function file(name: string, contents: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

function opensslText(certPem: string, name: string): string {
  return execFileSync("openssl", ["x509", "-noout", "-text", "-in", file(name, certPem)], { encoding: "utf8" });
}

function opensslVerifiesDigest(publicKeyPem: string, digest: Uint8Array, signature: Uint8Array): boolean {
  const id = toHex(randomBytes(6));
  const result = spawnSync("openssl", [
    "pkeyutl",
    "-verify",
    "-pubin",
    "-inkey",
    file(`pub-${id}.pem`, publicKeyPem),
    "-in",
    file(`digest-${id}.bin`, digest),
    "-sigfile",
    file(`sig-${id}.der`, signature),
  ]);
  return result.status === 0;
}

function flipBit(bytes: Uint8Array, index: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "crypto-identity-"));
  service = await createServiceIdentity();
  otherService = await createServiceIdentity();
  node = generateP384KeyPair();
  nodeCertPem = await createNodeCertificate({
    nodePublicKeyPem: node.publicKeyPem,
    servicePrivateKeyPem: service.privateKeyPem,
    serviceCertPem: service.certPem,
  });
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("service identity", () => {
  test("is a self-signed P-384 CA certificate with subject CN=CCF Service", () => {
    const cert = new X509Certificate(service.certPem);
    assert.equal(cert.subject, "CN=CCF Service");
    assert.equal(cert.issuer, "CN=CCF Service");
    assert.equal(cert.ca, true);
    assert.equal(cert.publicKey.asymmetricKeyType, "ec");
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "secp384r1");
    assert.equal(cert.checkIssued(cert), true);
    assert.equal(cert.verify(cert.publicKey), true);
    assert.equal(isCertIssuedBy(service.certPem, service.certPem), true);
    assert.equal(cert.checkPrivateKey(createPrivateKey(service.privateKeyPem)), true);
    assert.equal(certPublicKeyPem(service.certPem), publicKeyPemOf(service.privateKeyPem));
  });

  test("openssl parses it: ECDSA-SHA384, critical CA:TRUE, keyCertSign", () => {
    const text = opensslText(service.certPem, "service.pem");
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/);
    assert.match(text, /Subject: CN ?= ?CCF Service/);
    assert.match(text, /ASN1 OID: secp384r1/);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+.*Certificate Sign/);
  });

  test("validity defaults to one minute ago for 365 days, and is configurable", async () => {
    const cert = new X509Certificate(service.certPem);
    const from = Date.parse(cert.validFrom);
    const to = Date.parse(cert.validTo);
    assert.ok(from <= Date.now() - 55_000 && from >= Date.now() - 5 * 60_000, cert.validFrom);
    assert.equal(to - from, 365 * 24 * 3600 * 1000);

    const validFrom = new Date("2030-01-02T03:04:05Z");
    const custom = await createServiceIdentity({ validFrom, validityDays: 10 });
    const customCert = new X509Certificate(custom.certPem);
    assert.equal(Date.parse(customCert.validFrom), validFrom.getTime());
    assert.equal(Date.parse(customCert.validTo), validFrom.getTime() + 10 * 24 * 3600 * 1000);
  });

  test("two service identities have different keys and serial numbers", () => {
    const a = new X509Certificate(service.certPem);
    const b = new X509Certificate(otherService.certPem);
    assert.notEqual(a.serialNumber, b.serialNumber);
    assert.notEqual(certPublicKeyPem(service.certPem), certPublicKeyPem(otherService.certPem));
  });
});

describe("node certificate", () => {
  test("is CN=CCF Node for the node key, issued by the service and not by another service", () => {
    const cert = new X509Certificate(nodeCertPem);
    assert.equal(cert.subject, "CN=CCF Node");
    assert.equal(cert.issuer, "CN=CCF Service");
    assert.equal(cert.ca, false);
    assert.equal(certPublicKeyPem(nodeCertPem), node.publicKeyPem);
    assert.equal(isCertIssuedBy(nodeCertPem, service.certPem), true);
    assert.equal(isCertIssuedBy(nodeCertPem, otherService.certPem), false);
    assert.equal(isCertIssuedBy(service.certPem, nodeCertPem), false);
    assert.equal(isCertIssuedBy("not a certificate", service.certPem), false);
  });

  test("has the default SANs IP 127.0.0.1 and DNS localhost", () => {
    const cert = new X509Certificate(nodeCertPem);
    assert.equal(cert.subjectAltName, "IP Address:127.0.0.1, DNS:localhost");
    assert.equal(cert.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(cert.checkHost("localhost"), "localhost");
  });

  test("has configured SANs; openssl parses it and shows them", async () => {
    const pem = await createNodeCertificate({
      nodePublicKeyPem: node.publicKeyPem,
      servicePrivateKeyPem: service.privateKeyPem,
      serviceCertPem: service.certPem,
      subjectAltNames: [
        { type: "ip", value: "10.1.2.3" },
        { type: "dns", value: "node0.ccf.example" },
        { type: "ip", value: "::1" },
      ],
    });
    const cert = new X509Certificate(pem);
    assert.equal(cert.subjectAltName, "IP Address:10.1.2.3, DNS:node0.ccf.example, IP Address:0:0:0:0:0:0:0:1");
    assert.equal(isCertIssuedBy(pem, service.certPem), true);
    const text = opensslText(pem, "node-custom.pem");
    assert.match(text, /X509v3 Subject Alternative Name:\s+IP Address:10\.1\.2\.3, DNS:node0\.ccf\.example, IP Address:0:0:0:0:0:0:0:1/);
  });

  test("openssl parses the default node cert, shows its SANs, and verifies it against the service cert", () => {
    const text = opensslText(nodeCertPem, "node.pem");
    assert.match(text, /Subject: CN ?= ?CCF Node/);
    assert.match(text, /Issuer: CN ?= ?CCF Service/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA384/);
    assert.match(text, /X509v3 Subject Alternative Name:\s+IP Address:127\.0\.0\.1, DNS:localhost/);
    const verify = spawnSync(
      "openssl",
      ["verify", "-CAfile", file("service-ca.pem", service.certPem), file("node-verify.pem", nodeCertPem)],
      { encoding: "utf8" },
    );
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const wrongCa = spawnSync(
      "openssl",
      ["verify", "-CAfile", file("other-ca.pem", otherService.certPem), file("node-verify2.pem", nodeCertPem)],
      { encoding: "utf8" },
    );
    assert.notEqual(wrongCa.status, 0);
  });

  test("refuses a service private key that does not match the service certificate", async () => {
    await assert.rejects(
      createNodeCertificate({
        nodePublicKeyPem: node.publicKeyPem,
        servicePrivateKeyPem: otherService.privateKeyPem,
        serviceCertPem: service.certPem,
      }),
    );
  });
});

describe("ids", () => {
  test("nodeIdOf is the hex SHA-256 of the SPKI DER (computed by openssl)", () => {
    const pubPath = file("node-pub.pem", node.publicKeyPem);
    const expected = execSync(`openssl pkey -pubin -in '${pubPath}' -outform DER | sha256sum`, { encoding: "utf8" })
      .split(" ")[0];
    assert.match(nodeIdOf(node.publicKeyPem), /^[0-9a-f]{64}$/);
    assert.equal(nodeIdOf(node.publicKeyPem), expected);
    const spki = createPublicKey(node.publicKeyPem).export({ type: "spki", format: "der" });
    assert.equal(nodeIdOf(node.publicKeyPem), toHex(sha256(spki)));
    assert.equal(nodeIdOf(publicKeyPemOf(node.privateKeyPem)), expected);
  });

  test("certId is the hex SHA-256 of the certificate DER (openssl x509 -outform der | sha256sum)", () => {
    for (const [name, pem] of [["svc-id.pem", service.certPem], ["node-id.pem", nodeCertPem]] as const) {
      const path = file(name, pem);
      const expected = execSync(`openssl x509 -in '${path}' -outform der | sha256sum`, { encoding: "utf8" }).split(" ")[0];
      assert.match(certId(pem), /^[0-9a-f]{64}$/);
      assert.equal(certId(pem), expected);
    }
  });
});

describe("digest signatures (receipt root signing)", () => {
  test("signDigest verifies with the key PEM, the cert PEM, and openssl pkeyutl (prehashed)", () => {
    for (let i = 0; i < 4; i++) {
      const digest = sha256(`merkle root ${i}`);
      const signature = signDigest(node.privateKeyPem, digest);
      assert.equal(signature[0], 0x30, "DER SEQUENCE");
      assert.equal(verifyDigestSignature(node.publicKeyPem, digest, signature), true);
      assert.equal(verifyDigestSignature(nodeCertPem, digest, signature), true);
      assert.equal(opensslVerifiesDigest(node.publicKeyPem, digest, signature), true);
    }
  });

  test("openssl pkeyutl rejects a signDigest signature over a different digest", () => {
    const digest = sha256("root");
    const signature = signDigest(node.privateKeyPem, digest);
    assert.equal(opensslVerifiesDigest(node.publicKeyPem, flipBit(digest, 0), signature), false);
  });

  test("verifies node:crypto sign('sha256', msg) signatures, including high-S ones", () => {
    const key = createPrivateKey(node.privateKeyPem);
    let sawHighS = false;
    for (let i = 0; i < 64 && !(sawHighS && i >= 8); i++) {
      const message = Buffer.from(`message ${i}`);
      const signature = sign("sha256", message, key);
      if (p384.Signature.fromBytes(signature, "der").hasHighS()) sawHighS = true;
      assert.equal(verifyDigestSignature(node.publicKeyPem, sha256(message), signature), true);
    }
    assert.equal(sawHighS, true, "expected at least one high-S signature from OpenSSL");
  });

  test("verifies signatures made by openssl pkeyutl -sign over the raw digest", () => {
    const keyPath = file("node-key.pem", node.privateKeyPem);
    for (let i = 0; i < 4; i++) {
      const digest = sha256(`openssl root ${i}`);
      const digestPath = file(`os-digest-${i}.bin`, digest);
      const sigPath = join(dir, `os-sig-${i}.der`);
      execFileSync("openssl", ["pkeyutl", "-sign", "-inkey", keyPath, "-in", digestPath, "-out", sigPath]);
      assert.equal(verifyDigestSignature(nodeCertPem, digest, readFileSync(sigPath)), true);
    }
  });

  test("returns false for flipped bits, other keys, garbage and malformed input", () => {
    const digest = sha256("root to tamper with");
    const signature = signDigest(node.privateKeyPem, digest);
    const other = generateP384KeyPair();
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, signature), true);
    for (const i of [0, 15, 31]) assert.equal(verifyDigestSignature(node.publicKeyPem, flipBit(digest, i), signature), false);
    for (const i of [0, 5, 20, signature.length - 1]) {
      assert.equal(verifyDigestSignature(node.publicKeyPem, digest, flipBit(signature, i)), false);
    }
    assert.equal(verifyDigestSignature(other.publicKeyPem, digest, signature), false);
    assert.equal(verifyDigestSignature(service.certPem, digest, signature), false);
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, randomBytes(signature.length)), false);
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, new Uint8Array(0)), false);
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, signature.subarray(0, 40)), false);
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest.subarray(0, 31), signature), false);
    assert.equal(verifyDigestSignature("not a pem", digest, signature), false);
    assert.equal(
      verifyDigestSignature("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", digest, signature),
      false,
    );
    const p256 = createPublicKey(generateP256Pem())
      .export({ type: "spki", format: "pem" })
      .toString();
    assert.equal(verifyDigestSignature(p256, digest, signature), false);
    // The same keys through the preimage (OpenSSL's path).
    const preimage = Buffer.from("root to tamper with");
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, signature, preimage), true);
    for (const pem of [other.publicKeyPem, service.certPem, "not a pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", p256]) {
      assert.equal(verifyDigestSignature(pem, digest, signature, preimage), false);
    }
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, randomBytes(signature.length), preimage), false);
    assert.equal(verifyDigestSignature(node.publicKeyPem, digest, new Uint8Array(0), preimage), false);
  });

  test("with and without the digest's preimage (OpenSSL, @noble/curves) it answers exactly as @noble/curves' own verify", () => {
    const keys = generateP384KeyPair();
    const point = p384.Point.fromBytes(
      new Uint8Array(Buffer.concat([Buffer.from([4]), ...["x", "y"].map((c) => Buffer.from((createPublicKey(keys.publicKeyPem).export({ format: "jwk" }) as Record<string, string>)[c]!, "base64url"))])),
    ).toBytes(false);
    const reference = (digest: Uint8Array, sig: Uint8Array) => {
      try {
        return p384.verify(sig, digest, point, { prehash: false, lowS: false, format: "der" });
      } catch {
        return false;
      }
    };
    /** DER SEQUENCE of two INTEGERs, for out-of-range r and s. */
    const der = (r: bigint, s: bigint) => {
      const int = (v: bigint) => {
        let hex = v.toString(16);
        if (hex.length % 2) hex = `0${hex}`;
        let bytes = Buffer.from(hex, "hex");
        if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
        return Buffer.concat([Buffer.from([2, bytes.length]), bytes]);
      };
      const body = Buffer.concat([int(r), int(s)]);
      return Buffer.concat([Buffer.from([0x30, body.length]), body]);
    };
    const n = p384.Point.Fn.ORDER;
    const nodeKey = createPrivateKey(keys.privateKeyPem);
    // [preimage, signature]: the digest is the preimage's SHA-256.
    const cases: Array<[Buffer, Uint8Array]> = [];
    for (let i = 0; i < 12; i++) {
      const root = Buffer.from(`root ${i}`);
      const digest = sha256(root);
      const good = signDigest(keys.privateKeyPem, digest, i % 2 === 0 ? root : undefined);
      const openssl = sign("sha256", Buffer.from(`m${i}`), nodeKey);
      const { r, s } = p384.Signature.fromBytes(good, "der");
      cases.push(
        [root, good],
        [Buffer.from(`m${i}`), openssl],
        [Buffer.from(`root ${i + 1}`), good],
        [root, flipBit(good, 8 + i)],
        [root, der(r, n - s)], // the high-S twin of a valid signature: valid too
        [root, der(r, 0n)],
        [root, der(0n, s)],
        [root, der(r + n, s)],
        [root, Buffer.concat([good, Buffer.from([0])])], // a trailing byte after the DER sequence
      );
    }
    const expected = cases.map(([preimage, sig]) => reference(sha256(preimage), sig));
    const withPreimage = cases.map(([preimage, sig]) => verifyDigestSignature(keys.publicKeyPem, sha256(preimage), sig, preimage));
    const withoutPreimage = cases.map(([preimage, sig]) => verifyDigestSignature(keys.publicKeyPem, sha256(preimage), sig));
    assert.deepEqual(withPreimage, expected);
    assert.deepEqual(withoutPreimage, expected);
    assert.ok(expected.filter(Boolean).length >= 36, "valid signatures (own, OpenSSL's, high-S twins) verify");
  });

  test("signDigest refuses a digest that is not 32 bytes and a non-P-384 key", () => {
    assert.throws(() => signDigest(node.privateKeyPem, new Uint8Array(31)));
    assert.throws(() => signDigest(node.privateKeyPem, new Uint8Array(48)));
    assert.throws(() => signDigest(generateP256Pem(), sha256("x")));
    assert.throws(() => signDigest(generateP256Pem(), sha256("x"), Buffer.from("x")));
  });

  test("a preimage that does not hash to the digest is the caller's mistake: both functions throw", () => {
    const digest = sha256("root");
    const signature = signDigest(node.privateKeyPem, digest);
    assert.throws(() => signDigest(node.privateKeyPem, digest, Buffer.from("not the root")), /preimage does not hash to the digest/);
    assert.throws(() => verifyDigestSignature(node.publicKeyPem, digest, signature, Buffer.from("not the root")), /preimage does not hash to the digest/);
  });

  test("a signature made through the preimage (OpenSSL) verifies with openssl pkeyutl over the raw digest, the cert PEM, and without the preimage", () => {
    for (let i = 0; i < 4; i++) {
      const preimage = Buffer.concat([sha256(`left ${i}`), sha256(`right ${i}`)]);
      const digest = sha256(preimage);
      const signature = signDigest(node.privateKeyPem, digest, preimage);
      assert.equal(opensslVerifiesDigest(node.publicKeyPem, digest, signature), true);
      assert.equal(verifyDigestSignature(nodeCertPem, digest, signature, preimage), true);
      assert.equal(verifyDigestSignature(node.publicKeyPem, digest, signature), true);
      assert.equal(verifyDigestSignature(service.certPem, digest, signature, preimage), false);
    }
  });
});

describe("key files", () => {
  test("private key files are written with mode 0600, also over an existing 0644 file", () => {
    const fresh = join(dir, "fresh-key.pem");
    writePrivateKeyFile(fresh, node.privateKeyPem);
    assert.equal(statSync(fresh).mode & 0o777, 0o600);
    assert.equal(readFileSync(fresh, "utf8"), node.privateKeyPem);

    const existing = file("existing-key.pem", "old contents that are longer than nothing at all\n".repeat(50));
    chmodSync(existing, 0o644);
    writePrivateKeyFile(existing, service.privateKeyPem);
    assert.equal(statSync(existing).mode & 0o777, 0o600);
    assert.equal(readFileSync(existing, "utf8"), service.privateKeyPem);
    assert.equal(publicKeyPemOf(readFileSync(existing, "utf8")), certPublicKeyPem(service.certPem));
  });

  test("public files are written with mode 0644", () => {
    const path = join(dir, "service-cert.pem");
    writePublicFile(path, service.certPem);
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.equal(readFileSync(path, "utf8"), service.certPem);
  });
});

function generateP256Pem(): string {
  return generateKeyPairSync("ec", { namedCurve: "P-256" })
    .privateKey.export({ type: "pkcs8", format: "pem" })
    .toString();
}
