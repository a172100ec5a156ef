// CCF's `ccf.crypto` host functions: ECDSA (IEEE P1363 r‖s), RSA-PSS (saltLength default 0),
// EdDSA and HMAC (key string bytes) signing; verifySignature with keys or certificates and
// SHA-256 only; SHA-256 digest; AES/RSA/ECDSA/EdDSA key generation as PKCS8/SPKI PEM;
// RSA-OAEP(SHA-256, label), AES-KWP (RFC 5649) and RSA-OAEP-AES-KWP (RSA part ‖ KWP part)
// key wrapping; X.509 bundle syntax and partial-chain validation (CCF's e2e cases);
// PEM <-> JWK conversions with sorted members and optional kid. Oracles: node:crypto,
// the openssl CLI and the @microsoft/ccf-app polyfill.
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync } from "node:child_process";
import {
  X509Certificate,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  verify as nodeVerify,
  constants,
  createDecipheriv,
  webcrypto,
} from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import * as ops from "../src/runtime/crypto-ops.ts";

// The slice of the polyfill's `ccf.crypto` we use as an oracle (it works on ArrayBuffers).
interface PolyfillCrypto {
  sign(algorithm: object, key: string, data: ArrayBuffer): ArrayBuffer;
  verifySignature(algorithm: object, key: string, signature: ArrayBuffer, data: ArrayBuffer): boolean;
  wrapKey(key: ArrayBuffer, wrappingKey: ArrayBuffer, params: object): ArrayBuffer;
  unwrapKey(key: ArrayBuffer, wrappingKey: ArrayBuffer, params: object): ArrayBuffer;
  digest(algorithm: string, data: ArrayBuffer): ArrayBuffer;
  isValidX509CertBundle(pem: string): boolean;
  isValidX509CertChain(chain: string, trusted: string): boolean;
  pubPemToJwk(pem: string, kid?: string): Record<string, unknown>;
  pemToJwk(pem: string, kid?: string): Record<string, unknown>;
  pubRsaPemToJwk(pem: string, kid?: string): Record<string, unknown>;
  rsaPemToJwk(pem: string, kid?: string): Record<string, unknown>;
  pubEddsaPemToJwk(pem: string, kid?: string): Record<string, unknown>;
  eddsaPemToJwk(pem: string, kid?: string): Record<string, unknown>;
}

let poly: PolyfillCrypto;
let dir: string;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const ab = (bytes: Uint8Array): ArrayBuffer => new Uint8Array(bytes).buffer;
const u8 = (buf: ArrayBuffer): Uint8Array => new Uint8Array(buf);

function file(name: string, contents: string | Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

function openssl(...args: string[]): string {
  return execFileSync("openssl", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function opensslOk(...args: string[]): boolean {
  return spawnSync("openssl", args, { stdio: "ignore" }).status === 0;
}

function pemPair(type: "rsa" | "ec" | "ed25519" | "x25519", opts: object = {}): ops.CryptoKeyPair {
  return generateKeyPairSync(type as "rsa", {
    modulusLength: 2048,
    ...opts,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  } as never) as unknown as ops.CryptoKeyPair;
}

function assertOwnsBuffer(bytes: Uint8Array): void {
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(bytes.byteOffset, 0);
  assert.equal(bytes.buffer.byteLength, bytes.byteLength, "result must not be a view into a shared pool");
}

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

const withoutUndefined = (jwk: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(jwk).filter(([, v]) => v !== undefined));

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

let rsa: ops.CryptoKeyPair;
const ec: Record<string, ops.CryptoKeyPair> = {};
let ed: ops.CryptoKeyPair;
let x25519: ops.CryptoKeyPair;
const data = utf8("Hello world!");

before(async () => {
  await import("@microsoft/ccf-app/polyfill.js");
  poly = (globalThis as unknown as { ccf: { crypto: PolyfillCrypto } }).ccf.crypto;
  dir = mkdtempSync(join(tmpdir(), "crypto-ops-"));
  rsa = pemPair("rsa");
  for (const curve of ["prime256v1", "secp384r1", "secp521r1"]) ec[curve] = pemPair("ec", { namedCurve: curve });
  ed = pemPair("ed25519");
  x25519 = pemPair("x25519");
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("digest", () => {
  test("SHA-256 matches node:crypto, the polyfill and CCF's e2e vector", () => {
    const ours = ops.digest("SHA-256", data);
    assertOwnsBuffer(ours);
    assert.equal(Buffer.from(ours).toString("hex"), "c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a");
    assert.deepEqual(Buffer.from(ours), createHash("sha256").update(data).digest());
    assert.deepEqual(ours, u8(poly.digest("SHA-256", ab(data))));
  });

  test("only SHA-256 is supported, as in CCF", () => {
    assert.throws(() => ops.digest("SHA-384", data), RangeError);
    assert.throws(() => ops.digest("sha256" as ops.DigestAlgorithm, data), /supported: SHA-256/);
    assert.throws(() => ops.digest("SHA-256", "abc" as unknown as Uint8Array), TypeError);
  });
});

describe("ECDSA", () => {
  const sizes: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };
  for (const curve of Object.keys(sizes)) {
    test(`${curve}: P1363 signatures interoperate with node:crypto and the polyfill`, () => {
      const { privateKey, publicKey } = ec[curve]!;
      const algo = { name: "ECDSA", hash: "SHA-256" } as const;
      const sig = ops.sign(algo, privateKey, data);
      assertOwnsBuffer(sig);
      assert.equal(sig.byteLength, 2 * sizes[curve]!);
      assert.ok(nodeVerify("sha256", data, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
      assert.ok(poly.verifySignature(algo, publicKey, ab(sig), ab(data)));
      const polySig = u8(poly.sign(algo, privateKey, ab(data)));
      assert.equal(ops.verifySignature(algo, publicKey, polySig, data), true);
      assert.equal(ops.verifySignature(algo, publicKey, sig, utf8("bar")), false);
    });
  }

  test("sign supports SHA-384 and SHA-512 (checked with node:crypto)", () => {
    const { privateKey, publicKey } = ec["secp384r1"]!;
    for (const [hash, nodeHash] of [
      ["SHA-384", "sha384"],
      ["SHA-512", "sha512"],
    ] as const) {
      const sig = ops.sign({ name: "ECDSA", hash }, privateKey, data);
      assert.ok(nodeVerify(nodeHash, data, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
      assert.ok(!nodeVerify("sha256", data, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
    }
  });

  test("verifySignature only accepts SHA-256, as in CCF", () => {
    const { privateKey, publicKey } = ec["prime256v1"]!;
    const sig = ops.sign({ name: "ECDSA", hash: "SHA-384" }, privateKey, data);
    assert.throws(() => ops.verifySignature({ name: "ECDSA", hash: "SHA-384" }, publicKey, sig, data), {
      name: "RangeError",
      message: /supported: SHA-256/,
    });
    assert.throws(() => ops.verifySignature({ name: "ECDSA" }, publicKey, sig, data), RangeError);
  });

  test("malformed signatures are invalid, not errors", () => {
    const { privateKey, publicKey } = ec["prime256v1"]!;
    const algo = { name: "ECDSA", hash: "SHA-256" } as const;
    const sig = ops.sign(algo, privateKey, data);
    for (const bad of [sig.subarray(0, 63), new Uint8Array(0), new Uint8Array([...sig, 0]), flip(sig, 5), flip(sig, 40)]) {
      assert.equal(ops.verifySignature(algo, publicKey, bad, data), false);
    }
    assert.equal(ops.verifySignature(algo, ec["secp384r1"]!.publicKey, sig, data), false);
  });

  test("openssl verifies our signature (after P1363 -> DER) and verifySignature accepts a certificate", () => {
    const key = file("ec-key.pem", ec["prime256v1"]!.privateKey);
    const cert = openssl("req", "-new", "-x509", "-key", key, "-subj", "/CN=ec", "-days", "2");
    const algo = { name: "ECDSA", hash: "SHA-256" } as const;
    const sig = ops.sign(algo, ec["prime256v1"]!.privateKey, data);
    const sigDer = p1363ToDer(sig);
    assert.ok(
      opensslOk("dgst", "-sha256", "-verify", file("ec-pub.pem", ec["prime256v1"]!.publicKey), "-signature", file("ec.sig", sigDer), file("data.bin", data)),
    );
    assert.equal(ops.verifySignature(algo, cert, sig, data), true);
    assert.equal(ops.verifySignature(algo, cert, sig, utf8("other")), false);
  });

  test("key type mismatches and garbage keys throw clear errors", () => {
    const algo = { name: "ECDSA", hash: "SHA-256" } as const;
    assert.throws(() => ops.sign(algo, rsa.privateKey, data), { name: "Error", message: /Failed to sign: expected an EC private key, got a rsa key/ });
    assert.throws(() => ops.sign(algo, ec["prime256v1"]!.publicKey, data), /invalid PEM, expected an EC private key/);
    assert.throws(() => ops.sign(algo, "garbage", data), /Failed to sign: invalid PEM/);
    assert.throws(() => ops.verifySignature(algo, rsa.publicKey, new Uint8Array(64), data), /Failed to verify signature: expected an EC public key/);
    assert.throws(() => ops.verifySignature(algo, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", new Uint8Array(64), data), Error);
  });
});

/** DER-encodes an IEEE P1363 ECDSA signature (independently of node:crypto). */
function p1363ToDer(sig: Uint8Array): Buffer {
  const int = (bytes: Uint8Array): Buffer => {
    let i = 0;
    while (i < bytes.length - 1 && bytes[i] === 0) i++;
    const trimmed = Buffer.from(bytes.subarray(i));
    const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
    return Buffer.concat([Buffer.from([0x02, body.length]), body]);
  };
  const half = sig.length / 2;
  const seq = Buffer.concat([int(sig.subarray(0, half)), int(sig.subarray(half))]);
  return Buffer.concat([Buffer.from([0x30, seq.length]), seq]);
}

describe("RSA-PSS", () => {
  test("saltLength defaults to 0 and interoperates with the polyfill and node:crypto", () => {
    const algo = { name: "RSA-PSS", hash: "SHA-256" } as const;
    const sig = ops.sign(algo, rsa.privateKey, data);
    assert.equal(sig.byteLength, 256);
    // Salt 0 makes PSS deterministic.
    assert.deepEqual(sig, ops.sign(algo, rsa.privateKey, data));
    assert.ok(poly.verifySignature(algo, rsa.publicKey, ab(sig), ab(data)));
    const padding = constants.RSA_PKCS1_PSS_PADDING;
    assert.ok(nodeVerify("sha256", data, { key: rsa.publicKey, padding, saltLength: 0 }, sig));
    assert.equal(ops.verifySignature(algo, rsa.publicKey, u8(poly.sign(algo, rsa.privateKey, ab(data))), data), true);
  });

  test("explicit saltLength is honoured (openssl CLI oracle)", () => {
    const algo = { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 } as const;
    const sig = ops.sign(algo, rsa.privateKey, data);
    assert.notDeepEqual(sig, ops.sign(algo, rsa.privateKey, data), "salted PSS is randomised");
    const args = ["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-verify", file("rsa-pub.pem", rsa.publicKey)];
    const files = ["-signature", file("rsa.sig", sig), file("data.bin", data)];
    assert.ok(opensslOk(...args, "-sigopt", "rsa_pss_saltlen:32", ...files));
    assert.ok(!opensslOk(...args, "-sigopt", "rsa_pss_saltlen:20", ...files));
    assert.equal(ops.verifySignature(algo, rsa.publicKey, sig, data), true);
    assert.equal(ops.verifySignature({ ...algo, saltLength: 0 }, rsa.publicKey, sig, data), false);
    assert.ok(poly.verifySignature(algo, rsa.publicKey, ab(sig), ab(data)));
  });

  test("verifies against a certificate; rejects truncated signatures and bad salt lengths", () => {
    const cert = openssl("req", "-new", "-x509", "-key", file("rsa-key.pem", rsa.privateKey), "-subj", "/CN=rsa", "-days", "2");
    const algo = { name: "RSA-PSS", hash: "SHA-256" } as const;
    const sig = ops.sign(algo, rsa.privateKey, data);
    assert.equal(ops.verifySignature(algo, cert, sig, data), true);
    assert.equal(ops.verifySignature(algo, rsa.publicKey, sig.subarray(0, 255), data), false);
    assert.equal(ops.verifySignature(algo, rsa.publicKey, flip(sig, 100), data), false);
    assert.throws(() => ops.sign({ ...algo, saltLength: -1 }, rsa.privateKey, data), RangeError);
    assert.throws(() => ops.sign(algo, ec["prime256v1"]!.privateKey, data), /expected an RSA private key/);
    assert.throws(() => ops.verifySignature(algo, ed.publicKey, sig, data), /expected an RSA public key/);
  });
});

describe("EdDSA", () => {
  test("Ed25519 signatures interoperate with node:crypto, the polyfill and openssl", () => {
    const algo = { name: "EdDSA" } as const;
    const sig = ops.sign(algo, ed.privateKey, data);
    assertOwnsBuffer(sig);
    assert.equal(sig.byteLength, 64);
    assert.ok(nodeVerify(null, data, ed.publicKey, sig));
    assert.ok(poly.verifySignature(algo, ed.publicKey, ab(sig), ab(data)));
    assert.equal(ops.verifySignature(algo, ed.publicKey, u8(poly.sign(algo, ed.privateKey, ab(data))), data), true);
    assert.ok(
      opensslOk("pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", file("ed-pub.pem", ed.publicKey), "-sigfile", file("ed.sig", sig), "-in", file("data.bin", data)),
    );
    // The hash member is irrelevant for EdDSA.
    assert.equal(ops.verifySignature({ name: "EdDSA", hash: "SHA-512" }, ed.publicKey, sig, data), true);
    const cert = openssl("req", "-new", "-x509", "-key", file("ed-key.pem", ed.privateKey), "-subj", "/CN=ed", "-days", "2");
    assert.equal(ops.verifySignature(algo, cert, sig, data), true);
  });

  test("bad signatures are false; X25519 keys cannot sign", () => {
    const algo = { name: "EdDSA" } as const;
    const sig = ops.sign(algo, ed.privateKey, data);
    assert.equal(ops.verifySignature(algo, ed.publicKey, sig, utf8("x")), false);
    assert.equal(ops.verifySignature(algo, ed.publicKey, sig.subarray(0, 10), data), false);
    assert.equal(ops.verifySignature(algo, ed.publicKey, flip(sig, 0), data), false);
    assert.throws(() => ops.sign(algo, x25519.privateKey, data), /Failed to sign with EdDSA: expected an Ed25519 private key, got a x25519 key/);
    assert.throws(() => ops.verifySignature(algo, ec["prime256v1"]!.publicKey, sig, data), /Failed to verify EdDSA signature/);
  });
});

describe("HMAC", () => {
  test("uses the key string's UTF-8 bytes as the secret (node:crypto and polyfill oracles)", () => {
    for (const [hash, nodeHash, len] of [
      ["SHA-256", "sha256", 32],
      ["SHA-384", "sha384", 48],
      ["SHA-512", "sha512", 64],
    ] as const) {
      for (const key of ["super secret", "clé ✓"]) {
        const mac = ops.sign({ name: "HMAC", hash }, key, data);
        assert.equal(mac.byteLength, len);
        assert.deepEqual(Buffer.from(mac), createHmac(nodeHash, Buffer.from(key, "utf8")).update(data).digest());
        assert.deepEqual(mac, u8(poly.sign({ name: "HMAC", hash }, key, ab(data))));
      }
    }
  });

  test("needs a supported hash and cannot be verified through verifySignature (as in CCF)", () => {
    assert.throws(() => ops.sign({ name: "HMAC" }, "k", data), { name: "RangeError", message: /Unsupported hash algorithm/ });
    assert.throws(() => ops.sign({ name: "HMAC", hash: "SHA-1" as ops.DigestAlgorithm }, "k", data), RangeError);
    assert.throws(() => ops.verifySignature({ name: "HMAC", hash: "SHA-256" }, "k", new Uint8Array(32), data), RangeError);
  });
});

describe("algorithm argument checks", () => {
  test("unknown names throw RangeError; wrong argument types throw TypeError", () => {
    assert.throws(() => ops.sign({ name: "RSA-OAEP" as ops.AlgorithmName, hash: "SHA-256" }, rsa.privateKey, data), {
      name: "RangeError",
      message: /Unsupported signing algorithm RSA-OAEP, supported: RSA-PSS, ECDSA, EdDSA, HMAC/,
    });
    assert.throws(() => ops.verifySignature({ name: "RSASSA-PKCS1-v1_5" as ops.AlgorithmName, hash: "SHA-256" }, rsa.publicKey, data, data), RangeError);
    assert.throws(() => ops.sign(null as unknown as ops.SigningAlgorithm, rsa.privateKey, data), TypeError);
    assert.throws(() => ops.sign({ name: "EdDSA" }, 42 as unknown as string, data), /key must be a string/);
    assert.throws(() => ops.sign({ name: "EdDSA" }, ed.privateKey, ab(data) as unknown as Uint8Array), /data must be a Uint8Array/);
    assert.throws(() => ops.verifySignature({ name: "EdDSA" }, ed.publicKey, [1, 2] as unknown as Uint8Array, data), TypeError);
  });
});

describe("key generation", () => {
  test("generateAesKey returns fresh random keys of 128, 192 or 256 bits only", () => {
    for (const bits of [128, 192, 256]) {
      const a = ops.generateAesKey(bits);
      assertOwnsBuffer(a);
      assert.equal(a.byteLength, bits / 8);
      assert.notDeepEqual(a, ops.generateAesKey(bits));
    }
    for (const bad of [0, 64, 512, 255]) assert.throws(() => ops.generateAesKey(bad), { name: "RangeError", message: /not one of 128, 192, 256/ });
  });

  test("generateRsaKeyPair gives a matching PKCS8/SPKI pair with the requested size and exponent", () => {
    const pair = ops.generateRsaKeyPair(2048);
    assert.match(pair.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pair.publicKey, /^-----BEGIN PUBLIC KEY-----\n/);
    const details = createPrivateKey(pair.privateKey).asymmetricKeyDetails;
    assert.equal(details?.modulusLength, 2048);
    assert.equal(details?.publicExponent, 65537n);
    assert.equal(openssl("pkey", "-in", file("gen-rsa.pem", pair.privateKey), "-pubout"), pair.publicKey);
    assert.ok(opensslOk("rsa", "-check", "-noout", "-in", file("gen-rsa.pem", pair.privateKey)));
    const e3 = ops.generateRsaKeyPair(2048, 3);
    assert.equal(createPublicKey(e3.publicKey).asymmetricKeyDetails?.publicExponent, 3n);
    assert.throws(() => ops.generateRsaKeyPair(-1), RangeError);
    assert.throws(() => ops.generateRsaKeyPair(2048, 4), /Failed to generate RSA key pair/);
  });

  test("generateEcdsaKeyPair supports CCF's curve names only", () => {
    for (const [curve, openSslCurve] of [
      ["secp256r1", "prime256v1"],
      ["secp384r1", "secp384r1"],
      ["secp521r1", "secp521r1"],
    ] as const) {
      const pair = ops.generateEcdsaKeyPair(curve);
      assert.match(pair.privateKey, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.equal(createPrivateKey(pair.privateKey).asymmetricKeyDetails?.namedCurve, openSslCurve);
      assert.equal(openssl("pkey", "-in", file(`gen-${curve}.pem`, pair.privateKey), "-pubout"), pair.publicKey);
    }
    for (const bad of ["secp256k1", "P-256", "prime256v1", "toString"]) {
      assert.throws(() => ops.generateEcdsaKeyPair(bad), { name: "RangeError", message: /supported: secp256r1, secp384r1, secp521r1/ });
    }
  });

  test("generateEddsaKeyPair: curve25519 is Ed25519, x25519 is X25519", () => {
    const edPair = ops.generateEddsaKeyPair("curve25519");
    assert.equal(createPrivateKey(edPair.privateKey).asymmetricKeyType, "ed25519");
    assert.equal(openssl("pkey", "-in", file("gen-ed.pem", edPair.privateKey), "-pubout"), edPair.publicKey);
    const xPair = ops.generateEddsaKeyPair("x25519");
    assert.equal(createPublicKey(xPair.publicKey).asymmetricKeyType, "x25519");
    assert.equal(openssl("pkey", "-in", file("gen-x.pem", xPair.privateKey), "-pubout"), xPair.publicKey);
    assert.throws(() => ops.generateEddsaKeyPair("ed448"), { name: "RangeError", message: /supported: curve25519, x25519/ });
  });
});

describe("RSA-OAEP wrapping", () => {
  const target = randomBytes(32);

  test("interoperates with the polyfill (no label) and with openssl (SHA-256 OAEP and MGF1)", () => {
    const wrapped = ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP" });
    assertOwnsBuffer(wrapped);
    assert.equal(wrapped.byteLength, 256);
    assert.deepEqual(u8(poly.unwrapKey(ab(wrapped), ab(utf8(rsa.privateKey)), { name: "RSA-OAEP" })), new Uint8Array(target));
    const polyWrapped = u8(poly.wrapKey(ab(target), ab(utf8(rsa.publicKey)), { name: "RSA-OAEP" }));
    assert.deepEqual(ops.unwrapKey(polyWrapped, utf8(rsa.privateKey), { name: "RSA-OAEP" }), new Uint8Array(target));
    const decrypted = execFileSync("openssl", [
      "pkeyutl", "-decrypt", "-inkey", file("oaep-key.pem", rsa.privateKey), "-in", file("oaep.bin", wrapped),
      "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
    ]);
    assert.deepEqual(decrypted, target);
  });

  test("labels bind the wrapped key; an empty label counts as none", () => {
    const label = utf8("label42");
    const wrapped = ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP", label });
    const oaep = { key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
    assert.deepEqual(privateDecrypt({ ...oaep, oaepLabel: label }, wrapped), target);
    assert.deepEqual(ops.unwrapKey(wrapped, utf8(rsa.privateKey), { name: "RSA-OAEP", label }), new Uint8Array(target));
    assert.throws(() => ops.unwrapKey(wrapped, utf8(rsa.privateKey), { name: "RSA-OAEP", label: utf8("label43") }), /Failed to unwrap key/);
    assert.throws(() => ops.unwrapKey(wrapped, utf8(rsa.privateKey), { name: "RSA-OAEP" }), /Failed to unwrap key/);
    const polyWrapped = u8(poly.wrapKey(ab(target), ab(utf8(rsa.publicKey)), { name: "RSA-OAEP", label: ab(label) }));
    assert.deepEqual(ops.unwrapKey(polyWrapped, utf8(rsa.privateKey), { name: "RSA-OAEP", label }), new Uint8Array(target));
    const emptyLabel = ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP", label: new Uint8Array(0) });
    assert.deepEqual(privateDecrypt(oaep, emptyLabel), target);
  });

  test("bad keys and oversized inputs throw", () => {
    assert.throws(() => ops.wrapKey(target, utf8(ec["prime256v1"]!.publicKey), { name: "RSA-OAEP" }), /Failed to wrap key: expected an RSA public key/);
    assert.throws(() => ops.wrapKey(target, utf8("garbage"), { name: "RSA-OAEP" }), /Failed to wrap key: invalid PEM/);
    assert.throws(() => ops.wrapKey(new Uint8Array(300), utf8(rsa.publicKey), { name: "RSA-OAEP" }), /Failed to wrap key/);
    assert.throws(() => ops.unwrapKey(new Uint8Array(256), utf8(rsa.publicKey), { name: "RSA-OAEP" }), /expected an RSA private key|invalid PEM/);
    assert.throws(() => ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP", label: "x" as unknown as Uint8Array }), TypeError);
  });
});

describe("AES-KWP wrapping", () => {
  test("matches RFC 5649 section 6 test vectors (192-bit KEK)", () => {
    const kek = Buffer.from("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8", "hex");
    const vectors = [
      ["c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"],
      ["466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"],
    ] as const;
    for (const [key, wrapped] of vectors) {
      assert.equal(Buffer.from(ops.wrapKey(Buffer.from(key, "hex"), kek, { name: "AES-KWP" })).toString("hex"), wrapped);
      assert.equal(Buffer.from(ops.unwrapKey(Buffer.from(wrapped, "hex"), kek, { name: "AES-KWP" })).toString("hex"), key);
    }
  });

  test("256-bit KEK interoperates with the polyfill; 128-bit KEK round-trips", () => {
    const kek = ops.generateAesKey(256);
    for (const len of [1, 16, 20, 32, 100]) {
      const key = randomBytes(len);
      const wrapped = ops.wrapKey(key, kek, { name: "AES-KWP" });
      assertOwnsBuffer(wrapped);
      assert.equal(wrapped.byteLength, Math.ceil(len / 8) * 8 + 8);
      assert.deepEqual(u8(poly.unwrapKey(ab(wrapped), ab(kek), { name: "AES-KWP" })), new Uint8Array(key));
      const polyWrapped = u8(poly.wrapKey(ab(key), ab(kek), { name: "AES-KWP" }));
      assert.deepEqual(polyWrapped, wrapped, "KWP is deterministic");
    }
    const kek128 = ops.generateAesKey(128);
    const key = randomBytes(24);
    assert.deepEqual(ops.unwrapKey(ops.wrapKey(key, kek128, { name: "AES-KWP" }), kek128, { name: "AES-KWP" }), new Uint8Array(key));
  });

  test("integrity failures and bad KEK sizes throw", () => {
    const kek = ops.generateAesKey(256);
    const wrapped = ops.wrapKey(randomBytes(32), kek, { name: "AES-KWP" });
    assert.throws(() => ops.unwrapKey(flip(wrapped, 3), kek, { name: "AES-KWP" }), /Failed to unwrap key/);
    assert.throws(() => ops.unwrapKey(wrapped, ops.generateAesKey(256), { name: "AES-KWP" }), /Failed to unwrap key/);
    assert.throws(() => ops.wrapKey(randomBytes(32), new Uint8Array(20), { name: "AES-KWP" }), /128, 192 or 256-bit key, got 160 bits/);
    assert.throws(() => ops.wrapKey(randomBytes(32), kek, { name: "AES-GCM" } as unknown as ops.WrapAlgoParams), {
      name: "RangeError",
      message: /supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP/,
    });
    assert.throws(() => ops.unwrapKey(wrapped, kek, { name: "nope" } as unknown as ops.WrapAlgoParams), RangeError);
  });
});

describe("RSA-OAEP-AES-KWP wrapping", () => {
  const target = randomBytes(48);

  test("layout is RSA-OAEP(ephemeral AES key) ‖ AES-KWP(key), checked with node:crypto", () => {
    const wrapped = ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP-AES-KWP", aesKeySize: 192 });
    assert.equal(wrapped.byteLength, 256 + 48 + 8);
    const oaep = { key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
    const aesKey = privateDecrypt(oaep, wrapped.subarray(0, 256));
    assert.equal(aesKey.length, 24);
    const decipher = createDecipheriv("id-aes192-wrap-pad", aesKey, Buffer.from("a65959a6", "hex"));
    assert.deepEqual(Buffer.concat([decipher.update(wrapped.subarray(256)), decipher.final()]), target);
  });

  test("interoperates with the polyfill and round-trips with a label", () => {
    const params = { name: "RSA-OAEP-AES-KWP", aesKeySize: 256 } as const;
    const wrapped = ops.wrapKey(target, utf8(rsa.publicKey), params);
    assert.deepEqual(u8(poly.unwrapKey(ab(wrapped), ab(utf8(rsa.privateKey)), params)), new Uint8Array(target));
    const polyWrapped = u8(poly.wrapKey(ab(target), ab(utf8(rsa.publicKey)), params));
    assert.deepEqual(ops.unwrapKey(polyWrapped, utf8(rsa.privateKey), params), new Uint8Array(target));
    const label = utf8("label44");
    const labelled = ops.wrapKey(target, utf8(rsa.publicKey), { ...params, label });
    assert.deepEqual(ops.unwrapKey(labelled, utf8(rsa.privateKey), { ...params, label }), new Uint8Array(target));
    assert.throws(() => ops.unwrapKey(labelled, utf8(rsa.privateKey), params), /Failed to unwrap key/);
    assert.notDeepEqual(ops.wrapKey(target, utf8(rsa.publicKey), params), wrapped, "ephemeral key is fresh each time");
  });

  test("bad aesKeySize and short inputs throw", () => {
    assert.throws(() => ops.wrapKey(target, utf8(rsa.publicKey), { name: "RSA-OAEP-AES-KWP", aesKeySize: 100 }), {
      name: "RangeError",
      message: /aesKeySize/,
    });
    assert.throws(
      () => ops.unwrapKey(new Uint8Array(256), utf8(rsa.privateKey), { name: "RSA-OAEP-AES-KWP", aesKeySize: 256 }),
      /Failed to unwrap key: wrapped key too short/,
    );
  });
});

describe("X.509", () => {
  // CCF's e2e layout: 1 (root CA) -> 2 (intermediate CA) -> 3 (end entity, no basicConstraints).
  const pem: Record<string, string> = {};
  const path: Record<string, string> = {};

  function issue(name: string, subject: string, issuer: string | undefined, ext: string, days = "10"): void {
    const key = file(`${name}-key.pem`, pemPair("ec", { namedCurve: "prime256v1" }).privateKey);
    path[name] = join(dir, `${name}.pem`);
    const extFile = file(`${name}.ext`, ext);
    if (issuer === undefined) {
      openssl("req", "-new", "-x509", "-key", key, "-subj", `/CN=${subject}`, "-days", days, "-extensions", "v3", "-config", file(`${name}.cnf`, `[req]\ndistinguished_name=dn\n[dn]\n[v3]\n${ext}`), "-out", path[name]);
    } else {
      const csr = file(`${name}.csr`, openssl("req", "-new", "-key", key, "-subj", `/CN=${subject}`));
      const args = ["x509", "-req", "-in", csr, "-CA", path[issuer]!, "-CAkey", join(dir, `${issuer}-key.pem`), "-set_serial", String(Object.keys(path).length), "-days", days, "-out", path[name]];
      openssl(...args, ...(ext ? ["-extfile", extFile] : []));
    }
    pem[name] = readFileSync(path[name], "utf8");
  }

  const CA = "basicConstraints=critical,CA:TRUE\n";

  before(async () => {
    issue("c1", "1", undefined, CA);
    issue("c2", "2", "c1", CA);
    issue("c3", "3", "c2", "");
    issue("expired", "3", "c2", "", "-1");
    issue("other", "other", undefined, CA);
    issue("c2pl0", "2pl0", "c1", "basicConstraints=critical,CA:TRUE,pathlen:0\n");
    issue("c2b", "2b", "c2pl0", CA);
    issue("c3b", "3b", "c2b", "");
    issue("c2nc", "2nc", "c1", `${CA}nameConstraints=critical,permitted;DNS:example.com\n`);
    issue("c3nc", "3nc", "c2nc", "");
    issue("notca", "notca", "c1", "basicConstraints=critical,CA:FALSE\n");
    issue("undernotca", "under", "notca", "");
    pem["future"] = await futureCert();
  });

  /** A certificate for CN=3 issued by c2 whose validity starts tomorrow (openssl 3.0 cannot backdate/postdate). */
  async function futureCert(): Promise<string> {
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
    const issuerKeyDer = createPrivateKey(readFileSync(join(dir, "c2-key.pem"))).export({ type: "pkcs8", format: "der" });
    const signingKey = await webcrypto.subtle.importKey("pkcs8", issuerKeyDer, alg, false, ["sign"]);
    const keys = await webcrypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const notBefore = new Date(Date.now() + 86_400_000);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: "0101",
      subject: "CN=3",
      issuer: new x509.X509Certificate(pem["c2"]!).subjectName,
      notBefore,
      notAfter: new Date(notBefore.getTime() + 86_400_000),
      publicKey: keys.publicKey as unknown as CryptoKey,
      signingKey: signingKey as unknown as CryptoKey,
      signingAlgorithm: alg,
    });
    return cert.toString("pem");
  }

  function opensslVerifies(chain: string[], trusted: string[]): boolean {
    const [target, ...untrusted] = chain;
    const args = ["verify", "-partial_chain", "-CAfile", file("trusted.pem", trusted.map((n) => pem[n]).join(""))];
    if (untrusted.length > 0) args.push("-untrusted", file("untrusted.pem", untrusted.map((n) => pem[n]).join("")));
    return opensslOk(...args, file("target.pem", pem[target!]!));
  }

  test("isValidX509CertBundle: syntax only, like CCF's e2e test and the polyfill", () => {
    const bundles: [string, boolean][] = [
      [pem["c1"]!, true],
      [`${pem["c1"]}\n${pem["c1"]}`, true],
      [pem["expired"]!, true],
      ["garbage", false],
      ["", false],
      [pem["c1"]!.slice(0, 200), false],
      [`${pem["c1"]}-----BEGIN CERTIFICATE-----\nMIIB`, false],
      [pem["c1"]!.replace(/\n[A-Za-z0-9+/]{10}/, "\n!!!!!!!!!!"), false],
      [`-----BEGIN CERTIFICATE-----\n${Buffer.from("not der").toString("base64")}\n-----END CERTIFICATE-----\n`, false],
    ];
    for (const [bundle, expected] of bundles) {
      assert.equal(ops.isValidX509CertBundle(bundle), expected, bundle.slice(0, 40));
    }
    for (const [bundle, expected] of bundles.slice(0, 4)) assert.equal(poly.isValidX509CertBundle(bundle), expected);
    assert.throws(() => ops.isValidX509CertBundle(undefined as unknown as string), TypeError);
  });

  test("isValidX509CertChain: CCF's e2e cases", () => {
    const ok = (chain: string[], trusted: string[]) =>
      ops.isValidX509CertChain(chain.map((n) => pem[n]).join("\n"), trusted.map((n) => pem[n]).join("\n"));
    assert.equal(ok(["c2"], ["c2"]), true, "target trusted directly");
    assert.equal(ok(["c3"], ["c3"]), false, "a trusted non-CA target is not a trust anchor");
    assert.equal(ok(["c2"], ["c1"]), true, "no intermediates");
    assert.equal(ok(["c3", "c2"], ["c1"]), true, "with intermediates");
    assert.equal(ok(["c3"], ["c2"]), true, "partial chain (intermediate as anchor)");
    assert.equal(ok(["c3"], ["c1"]), false, "cannot reach the trust anchor");
  });

  test("isValidX509CertChain agrees with `openssl verify -partial_chain`", () => {
    const cases: [string[], string[]][] = [
      [["c2"], ["c1"]],
      [["c3", "c2"], ["c1"]],
      [["c3", "other", "c2"], ["c1"]], // intermediates in any order, unrelated extras ignored
      [["c3", "c2"], ["other", "c1"]],
      [["c3"], ["c2"]],
      [["c3"], ["c1"]],
      [["c3", "c2"], ["other"]],
      [["expired"], ["c2"]],
      [["expired", "c2"], ["c1"]],
      [["future"], ["c2"]],
      [["c3b", "c2b", "c2pl0"], ["c1"]], // pathlen:0 exceeded
      [["c2b", "c2pl0"], ["c1"]], // pathlen:0 respected
      [["undernotca", "notca"], ["c1"]], // issuer is not a CA
      [["c1"], ["c1"]],
      [["c3", "c2", "c1"], ["c1"]],
    ];
    for (const [chain, trusted] of cases) {
      const expected = opensslVerifies(chain, trusted);
      const actual = ops.isValidX509CertChain(chain.map((n) => pem[n]).join(""), trusted.map((n) => pem[n]).join(""));
      assert.equal(actual, expected, `chain ${chain.join(",")} trusted ${trusted.join(",")}`);
    }
    // Cross-check the positive cases with the polyfill, whose looser rules agree on them.
    assert.equal(poly.isValidX509CertChain(pem["c3"]! + pem["c2"]!, pem["c1"]!), true);
    assert.equal(poly.isValidX509CertChain(pem["c3"]!, pem["c2"]!), true);
  });

  test("isValidX509CertChain fails closed on unenforced critical extensions, forgeries and garbage", () => {
    // nameConstraints are not enforced here, so a CA carrying them is not accepted.
    assert.equal(ops.isValidX509CertChain(pem["c3nc"]! + pem["c2nc"]!, pem["c1"]!), false);
    // A certificate whose signature was tampered with still parses, names and key ids still match.
    const der = Buffer.from(new X509Certificate(pem["c3"]!).raw);
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    const tampered = `-----BEGIN CERTIFICATE-----\n${der.toString("base64")}\n-----END CERTIFICATE-----\n`;
    assert.ok(new X509Certificate(tampered).checkIssued(new X509Certificate(pem["c2"]!)));
    assert.equal(ops.isValidX509CertBundle(tampered), true);
    assert.equal(ops.isValidX509CertChain(tampered, pem["c2"]!), false);
    assert.equal(ops.isValidX509CertChain(tampered + pem["c2"]!, pem["c1"]!), false);
    assert.equal(ops.isValidX509CertChain("garbage", pem["c1"]!), false);
    assert.equal(ops.isValidX509CertChain(pem["c2"]!, ""), false);
    assert.equal(ops.isValidX509CertChain("", pem["c1"]!), false);
    assert.equal(ops.isValidX509CertChain(pem["c2"]!.slice(0, 300), pem["c1"]!), false);
  });
});

describe("JWK conversions", () => {
  const sortedKeys = (o: object) => Object.keys(o).join(",");

  test("EC: members sorted as CCF (nlohmann::json) emits them; values match the SPKI point and the polyfill", () => {
    const sizes: Record<string, [string, number]> = { prime256v1: ["P-256", 32], secp384r1: ["P-384", 48], secp521r1: ["P-521", 66] };
    for (const [curve, [crv, size]] of Object.entries(sizes)) {
      const { privateKey, publicKey } = ec[curve]!;
      const pub = ops.pubPemToJwk(publicKey, "my-kid");
      assert.equal(sortedKeys(pub), "crv,kid,kty,x,y");
      assert.equal(pub.crv, crv);
      const point = createPublicKey(publicKey).export({ type: "spki", format: "der" }).subarray(-(2 * size + 1));
      assert.equal(point[0], 0x04);
      assert.equal(pub.x, b64url(point.subarray(1, 1 + size)));
      assert.equal(pub.y, b64url(point.subarray(1 + size)));
      assert.deepEqual(pub, withoutUndefined(poly.pubPemToJwk(publicKey, "my-kid")));
      const priv = ops.pemToJwk(privateKey);
      assert.equal(sortedKeys(priv), "crv,d,kty,x,y", "no kid member when none is given");
      assert.deepEqual(priv, withoutUndefined(poly.pemToJwk(privateKey)));
      assert.equal(ops.jwkToPem(priv), privateKey);
      assert.equal(ops.pubJwkToPem(pub), publicKey);
      assert.equal(ops.pubPemToJwk(privateKey).x, pub.x, "a private key PEM yields its public JWK");
    }
  });

  test("RSA: JWK members and PEM round trips", () => {
    const pub = ops.pubRsaPemToJwk(rsa.publicKey, "k");
    assert.equal(sortedKeys(pub), "e,kid,kty,n");
    assert.equal(pub.e, "AQAB");
    assert.deepEqual(pub, withoutUndefined(poly.pubRsaPemToJwk(rsa.publicKey, "k")));
    const modulus = /Modulus:\n([\s\S]*?)\nExponent/.exec(openssl("rsa", "-pubin", "-in", file("jwk-rsa.pem", rsa.publicKey), "-noout", "-text"))?.[1];
    assert.equal(Buffer.from(pub.n, "base64url").toString("hex"), modulus?.replace(/[\s:]/g, "").replace(/^00/, ""));
    const priv = ops.rsaPemToJwk(rsa.privateKey);
    assert.equal(sortedKeys(priv), "d,dp,dq,e,kty,n,p,q,qi");
    assert.deepEqual(priv, withoutUndefined(poly.rsaPemToJwk(rsa.privateKey)));
    assert.equal(ops.pubRsaJwkToPem(pub), rsa.publicKey);
    const back = ops.rsaJwkToPem(priv);
    assert.equal(back, rsa.privateKey);
    const sig = ops.sign({ name: "RSA-PSS", hash: "SHA-256" }, back, data);
    assert.equal(ops.verifySignature({ name: "RSA-PSS", hash: "SHA-256" }, rsa.publicKey, sig, data), true);
  });

  test("EdDSA: Ed25519 and X25519 keys, x is the raw public key", () => {
    for (const [pair, crv] of [
      [ed, "Ed25519"],
      [x25519, "X25519"],
    ] as const) {
      const pub = ops.pubEddsaPemToJwk(pair.publicKey, "kid-1");
      assert.equal(sortedKeys(pub), "crv,kid,kty,x");
      assert.equal(pub.crv, crv);
      assert.equal(pub.kty, "OKP");
      assert.equal(pub.x, b64url(createPublicKey(pair.publicKey).export({ type: "spki", format: "der" }).subarray(-32)));
      assert.deepEqual(pub, withoutUndefined(poly.pubEddsaPemToJwk(pair.publicKey, "kid-1")));
      const priv = ops.eddsaPemToJwk(pair.privateKey);
      assert.equal(sortedKeys(priv), "crv,d,kty,x");
      assert.equal(priv.d, b64url(createPrivateKey(pair.privateKey).export({ type: "pkcs8", format: "der" }).subarray(-32)));
      assert.deepEqual(priv, withoutUndefined(poly.eddsaPemToJwk(pair.privateKey)));
      assert.equal(ops.eddsaJwkToPem(priv), pair.privateKey);
      assert.equal(ops.pubEddsaJwkToPem(pub), pair.publicKey);
    }
  });

  test("wrong key types, unsupported curves and malformed JWKs throw clear errors", () => {
    assert.throws(() => ops.pubPemToJwk("invalid_pem"), /Failed to convert pem to jwk: invalid PEM/);
    assert.throws(() => ops.pubPemToJwk(rsa.publicKey), /expected an EC public key, got a rsa key/);
    assert.throws(() => ops.pemToJwk(ec["prime256v1"]!.publicKey), /expected an EC private key/);
    assert.throws(() => ops.pubRsaPemToJwk(ed.publicKey), /expected an RSA public key/);
    assert.throws(() => ops.eddsaPemToJwk(rsa.privateKey), /expected an Ed25519 or X25519 private key/);
    const k1 = pemPair("ec", { namedCurve: "secp256k1" });
    assert.throws(() => ops.pubPemToJwk(k1.publicKey), /unsupported EC curve secp256k1/);
    assert.throws(() => ops.pubPemToJwk(ec["prime256v1"]!.publicKey, 7 as unknown as string), TypeError);
    const jwk = ops.pubPemToJwk(ec["prime256v1"]!.publicKey);
    assert.throws(() => ops.pubJwkToPem({ ...jwk, kty: "RSA" }), /Failed to convert jwk to pem: expected a JWK with kty "EC"/);
    assert.throws(() => ops.pubJwkToPem({ ...jwk, crv: "secp256k1" }), /unsupported JWK crv/);
    const { y: _y, ...noY } = jwk;
    assert.throws(() => ops.pubJwkToPem(noY as ops.JsonWebKeyECPublic), /member "y" must be a string/);
    assert.throws(() => ops.pubJwkToPem({ ...jwk, y: jwk.x }), /Failed to convert jwk to pem/, "point not on the curve");
    assert.throws(() => ops.pubEddsaJwkToPem({ kty: "OKP", crv: "Ed448", x: "AA" }), /unsupported JWK crv/);
    assert.throws(() => ops.rsaJwkToPem({ ...ops.pubRsaPemToJwk(rsa.publicKey) } as ops.JsonWebKeyRSAPrivate), /member "d"/);
    assert.throws(() => ops.jwkToPem(null as unknown as ops.JsonWebKeyECPrivate), TypeError);
  });
});

// publicEncrypt is the oracle for the largest key RSA-OAEP (SHA-256) can wrap.
test("RSA-OAEP input limit matches node:crypto's", () => {
  const max = 256 - 2 * 32 - 2;
  const oaep = { key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
  assert.equal(publicEncrypt(oaep, new Uint8Array(max)).length, 256);
  assert.equal(ops.wrapKey(new Uint8Array(max), utf8(rsa.publicKey), { name: "RSA-OAEP" }).byteLength, 256);
  assert.throws(() => publicEncrypt(oaep, new Uint8Array(max + 1)));
  assert.throws(() => ops.wrapKey(new Uint8Array(max + 1), utf8(rsa.publicKey), { name: "RSA-OAEP" }), /Failed to wrap key/);
});
