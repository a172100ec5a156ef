// ECDSA P-384 signatures over a 32-byte SHA-256 digest treated as already
// hashed, as CCF signs Merkle roots for receipts: CCF's Python verifier does
//   public_key.verify(sig, root, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
// with a DER-encoded signature.
//
// node:crypto's sign/verify always hash their input. But a Merkle root is
// itself a SHA-256 output, and whoever holds the tree holds its input (the two
// children of the root, or a leaf's components): signing or verifying that
// input with SHA-256 is the very same ECDSA operation on the same digest. So
// when the caller passes that preimage, OpenSSL does the work (~0.6 ms per
// verification here, and no per-key setup). Without one (a one-leaf tree, a
// receipt that carries only the signed root), the raw ECDSA operation comes
// from @noble/curves with `prehash: false` (~5 ms; ~1.2 ms once a key has
// been used often, see below). Both accept high-S signatures, as
// OpenSSL-produced signatures are not normalised.
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { DIGEST_BYTES, sha256 } from "./hash.ts";

const P384_SCALAR_BYTES = 48;
/** Parsed keys kept per PEM string; small, since a node uses only a handful of keys. */
const KEY_CACHE_LIMIT = 64;

function cached<T>(cache: Map<string, T>, pem: string, parse: (pem: string) => T): T {
  const hit = cache.get(pem);
  if (hit !== undefined) return hit;
  const value = parse(pem);
  if (cache.size >= KEY_CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(pem, value);
  return value;
}

function assertP384(key: KeyObject): KeyObject {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "secp384r1") {
    throw new Error("key is not an EC P-384 (secp384r1) key");
  }
  return key;
}

const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject>();
const publicPoints = new Map<string, Uint8Array>();

function privateKeyOf(privateKeyPem: string): KeyObject {
  return cached(privateKeys, privateKeyPem, (pem) => assertP384(createPrivateKey(pem)));
}

/** The key of a SPKI public key PEM or of a certificate PEM. */
function publicKeyOf(publicKeyOrCertPem: string): KeyObject {
  return cached(publicKeys, publicKeyOrCertPem, (pem) =>
    assertP384(pem.includes("-----BEGIN CERTIFICATE-----") ? new X509Certificate(pem).publicKey : createPublicKey(pem)),
  );
}

function jwkCoordinate(key: KeyObject, name: "x" | "y" | "d"): Buffer {
  const value = (key.export({ format: "jwk" }) as { [key: string]: unknown })[name];
  const bytes = typeof value === "string" ? Buffer.from(value, "base64url") : Buffer.alloc(0);
  if (bytes.length !== P384_SCALAR_BYTES) throw new Error(`P-384 JWK ${name} is not ${P384_SCALAR_BYTES} bytes`);
  return bytes;
}

/** Uncompressed SEC1 point (0x04 ‖ x ‖ y), for @noble/curves. */
function publicPointOf(publicKeyOrCertPem: string): Uint8Array {
  return cached(publicPoints, publicKeyOrCertPem, (pem) => {
    const key = publicKeyOf(pem);
    return new Uint8Array(Buffer.concat([Buffer.from([0x04]), jwkCoordinate(key, "x"), jwkCoordinate(key, "y")]));
  });
}

function checkDigest(digest: Uint8Array, preimage: Uint8Array | undefined): void {
  if (digest.length !== DIGEST_BYTES) throw new Error(`expected a ${DIGEST_BYTES}-byte digest, got ${digest.length} bytes`);
  if (preimage !== undefined && !sha256(preimage).equals(digest)) throw new Error("the preimage does not hash to the digest");
}

/**
 * DER-encoded ECDSA P-384 signature over `digest` (a 32-byte SHA-256 value)
 * taken as already hashed. With `preimage` (whose SHA-256 is `digest`),
 * OpenSSL signs; without, @noble/curves (deterministic RFC 6979 nonces).
 */
export function signDigest(privateKeyPem: string, digest: Uint8Array, preimage?: Uint8Array): Buffer {
  checkDigest(digest, preimage);
  const key = privateKeyOf(privateKeyPem);
  if (preimage !== undefined) return sign("sha256", preimage, { key, dsaEncoding: "der" });
  const signature = p384.sign(digest, new Uint8Array(jwkCoordinate(key, "d")), { prehash: false, format: "der" });
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
}

/**
 * Whether `derSignature` is a valid ECDSA P-384 signature over the 32-byte
 * `digest` (taken as already hashed) by the key in `publicKeyOrCertPem`
 * (SPKI PEM or certificate PEM). Accepts high-S signatures. Returns false,
 * never throws, for a malformed key, digest or signature; throws if a given
 * `preimage` does not hash to `digest` (a caller's mistake, not bad input).
 */
export function verifyDigestSignature(
  publicKeyOrCertPem: string,
  digest: Uint8Array,
  derSignature: Uint8Array,
  preimage?: Uint8Array,
): boolean {
  if (preimage !== undefined) checkDigest(digest, preimage);
  try {
    if (digest.length !== DIGEST_BYTES) return false;
    if (preimage !== undefined) return verify("sha256", preimage, { key: publicKeyOf(publicKeyOrCertPem), dsaEncoding: "der" }, derSignature);
    const point = precomputedPointOf(publicKeyOrCertPem);
    if (point) return verifyWithPoint(point, digest, derSignature);
    return p384.verify(derSignature, digest, publicPointOf(publicKeyOrCertPem), { prehash: false, lowS: false, format: "der" });
  } catch {
    return false;
  }
}

type P384Point = typeof p384.Point.BASE;

/**
 * A key that verifies again and again without preimages (an auditor checking
 * many signature transactions' receipts, which carry only the signed root)
 * gets window tables for its point: each verification then takes ~1.2 ms
 * instead of ~6. Building them (6-bit windows) takes ~95 ms in a just-started
 * process, so only from a key's 8th use.
 */
const verifications = new Map<string, number>();
const precomputedPoints = new Map<string, P384Point>();
export const PRECOMPUTE_AFTER_USES = 8;
const PRECOMPUTED_KEYS_MAX = 8;
const PRECOMPUTE_WINDOW_BITS = 6;

function precomputedPointOf(pem: string): P384Point | undefined {
  const hit = precomputedPoints.get(pem);
  if (hit) return hit;
  const uses = (verifications.get(pem) ?? 0) + 1;
  if (verifications.size >= KEY_CACHE_LIMIT && !verifications.has(pem)) verifications.clear();
  verifications.set(pem, uses);
  if (uses < PRECOMPUTE_AFTER_USES) return undefined;
  const point = p384.Point.fromBytes(publicPointOf(pem));
  point.precompute(PRECOMPUTE_WINDOW_BITS, false);
  if (precomputedPoints.size >= PRECOMPUTED_KEYS_MAX) precomputedPoints.delete(precomputedPoints.keys().next().value!);
  precomputedPoints.set(pem, point);
  return point;
}

/**
 * ECDSA verification (SEC 1, 4.1.4) with a precomputed public point: the same
 * equations as p384.verify, which only takes the key as bytes and so cannot
 * reuse tables. R = (e·s⁻¹)·G + (r·s⁻¹)·Q must be a finite point with x ≡ r (mod n).
 */
function verifyWithPoint(point: P384Point, digest: Uint8Array, derSignature: Uint8Array): boolean {
  const { r, s } = p384.Signature.fromBytes(derSignature, "der"); // rejects r, s outside 1..n-1
  const Fn = p384.Point.Fn;
  // bits2int: a 256-bit digest is shorter than the 384-bit order, so it is used whole.
  const e = Fn.create(BigInt(`0x${Buffer.from(digest).toString("hex")}`));
  const w = Fn.inv(s);
  const R = p384.Point.BASE.multiplyUnsafe(Fn.create(e * w)).add(point.multiplyUnsafe(Fn.create(r * w)));
  return !R.is0() && Fn.create(R.toAffine().x) === r;
}
