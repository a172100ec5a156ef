// ECDSA P-384 signatures over a 32-byte SHA-256 digest treated as already
// hashed, as CCF signs Merkle roots for receipts: CCF's Python verifier does
//   public_key.verify(sig, root, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
// with a DER-encoded signature. node:crypto's sign/verify always hash their
// input, so the raw ECDSA operation comes from @noble/curves with
// `prehash: false`. Verification accepts high-S signatures (`lowS: false`)
// because OpenSSL-produced signatures are not normalised.
import { X509Certificate, createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { p384 } from "@noble/curves/nist.js";
import { DIGEST_BYTES } from "./hash.ts";

const P384_SCALAR_BYTES = 48;
/** Parsed keys kept per PEM string; small, since a node uses only a handful of keys. */
const KEY_CACHE_LIMIT = 64;

const privateScalars = new Map<string, Uint8Array>();
const publicPoints = new Map<string, Uint8Array>();

function remember(cache: Map<string, Uint8Array>, pem: string, value: Uint8Array): void {
  if (cache.size >= KEY_CACHE_LIMIT) {
    const oldest = cache.keys().next();
    if (!oldest.done) cache.delete(oldest.value);
  }
  cache.set(pem, value);
}

function base64urlField(jwk: { [key: string]: unknown }, name: string): Buffer {
  const value = jwk[name];
  if (typeof value !== "string") throw new Error(`JWK has no ${name}`);
  const bytes = Buffer.from(value, "base64url");
  if (bytes.length !== P384_SCALAR_BYTES) throw new Error(`JWK ${name} is not ${P384_SCALAR_BYTES} bytes`);
  return bytes;
}

function p384Jwk(key: KeyObject): { [key: string]: unknown } {
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "secp384r1") {
    throw new Error("key is not an EC P-384 (secp384r1) key");
  }
  const jwk = key.export({ format: "jwk" }) as { [key: string]: unknown };
  if (jwk["crv"] !== "P-384") throw new Error("key is not an EC P-384 key");
  return jwk;
}

function privateScalarOf(privateKeyPem: string): Uint8Array {
  const cached = privateScalars.get(privateKeyPem);
  if (cached) return cached;
  const d = new Uint8Array(base64urlField(p384Jwk(createPrivateKey(privateKeyPem)), "d"));
  remember(privateScalars, privateKeyPem, d);
  return d;
}

/** Uncompressed SEC1 point (0x04 ‖ x ‖ y) from a SPKI public key PEM or a certificate PEM. */
function publicPointOf(publicKeyOrCertPem: string): Uint8Array {
  const cached = publicPoints.get(publicKeyOrCertPem);
  if (cached) return cached;
  const key = publicKeyOrCertPem.includes("-----BEGIN CERTIFICATE-----")
    ? new X509Certificate(publicKeyOrCertPem).publicKey
    : createPublicKey(publicKeyOrCertPem);
  const jwk = p384Jwk(key);
  const point = new Uint8Array(1 + 2 * P384_SCALAR_BYTES);
  point[0] = 0x04;
  point.set(base64urlField(jwk, "x"), 1);
  point.set(base64urlField(jwk, "y"), 1 + P384_SCALAR_BYTES);
  remember(publicPoints, publicKeyOrCertPem, point);
  return point;
}

/**
 * DER-encoded ECDSA P-384 signature over `digest` (a 32-byte SHA-256 value)
 * taken as already hashed. Deterministic nonces (RFC 6979); low-S output.
 */
export function signDigest(privateKeyPem: string, digest: Uint8Array): Buffer {
  if (digest.length !== DIGEST_BYTES) {
    throw new Error(`signDigest expects a ${DIGEST_BYTES}-byte digest, got ${digest.length} bytes`);
  }
  const signature = p384.sign(digest, privateScalarOf(privateKeyPem), { prehash: false, format: "der" });
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength);
}

/**
 * Whether `derSignature` is a valid ECDSA P-384 signature over the 32-byte
 * `digest` (taken as already hashed) by the key in `publicKeyOrCertPem`
 * (SPKI PEM or certificate PEM). Accepts high-S signatures. Returns false,
 * never throws, for a malformed key, digest or signature.
 */
export function verifyDigestSignature(
  publicKeyOrCertPem: string,
  digest: Uint8Array,
  derSignature: Uint8Array,
): boolean {
  try {
    if (digest.length !== DIGEST_BYTES) return false;
    const point = precomputedPointOf(publicKeyOrCertPem);
    if (point) return verifyWithPoint(point, digest, derSignature);
    return p384.verify(derSignature, digest, publicPointOf(publicKeyOrCertPem), {
      prehash: false,
      lowS: false,
      format: "der",
    });
  } catch {
    return false;
  }
}

type P384Point = typeof p384.Point.BASE;

/**
 * A key that verifies again and again (a node's certificate, over every
 * signature it made, when replaying a long ledger or serving receipts) gets
 * window tables for its point: each verification then takes ~1.2 ms instead of
 * ~6. Not worth it for the two or three signatures a node checks when it
 * restarts on a short ledger, soon repaid by a longer one.
 */
const verifications = new Map<string, number>();
const precomputedPoints = new Map<string, P384Point>();
export const PRECOMPUTE_AFTER_USES = 8;
const PRECOMPUTED_KEYS_MAX = 8;
/**
 * Window of those tables. Measured in a just-started process (cold JIT), where
 * a node replays its ledger:
 * - 8 bits: built in ~230 ms, then 1.07 ms per check;
 * - 6 bits: built in ~95 ms, then 1.20 ms per check;
 * - 4 bits: built in ~50 ms, then 1.47 ms per check.
 * With 6, a restart on a ledger of 40 signatures (200k transactions) checks them
 * in ~190 ms instead of ~310, and 8 would only catch up after ~1000 signatures.
 */
const PRECOMPUTE_WINDOW_BITS = 6;

function precomputedPointOf(pem: string): P384Point | undefined {
  const cached = precomputedPoints.get(pem);
  if (cached) return cached;
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
