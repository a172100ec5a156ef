// Host side of CCF's `ccf.crypto` JS API, as pure functions over bytes and strings.
// Semantics follow CCF's native implementation (src/js/extensions/ccf/crypto.cpp):
// unsupported algorithm / hash / curve / size names throw RangeError, failures of the
// underlying operation throw Error("Failed to ...: <cause>"), argument type errors throw
// TypeError. Binary results are Uint8Arrays that own their whole ArrayBuffer, so a bridge
// can hand `result.buffer` to the sandbox without exposing Node's shared Buffer pool.
import {
  X509Certificate,
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  randomFillSync,
  sign as nodeSign,
  verify as nodeVerify,
  type JsonWebKey as NodeJsonWebKey,
  type KeyObject,
} from "node:crypto";
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

// ---- Types, re-declared from @microsoft/ccf-app's global.d.ts (ArrayBuffer → Uint8Array) ----

export type DigestAlgorithm = "SHA-256" | "SHA-384" | "SHA-512";
export type AlgorithmName = "RSA-PSS" | "ECDSA" | "EdDSA" | "HMAC";

export interface SigningAlgorithm {
  name: AlgorithmName;
  /** Required by RSA-PSS, ECDSA and HMAC; ignored by EdDSA. */
  hash?: DigestAlgorithm | undefined;
  /** RSA-PSS salt length in bytes; CCF defaults it to 0. */
  saltLength?: number | undefined;
}

export interface RsaOaepParams {
  name: "RSA-OAEP";
  label?: Uint8Array | undefined;
}
export interface AesKwpParams {
  name: "AES-KWP";
}
export interface RsaOaepAesKwpParams {
  name: "RSA-OAEP-AES-KWP";
  aesKeySize: number;
  label?: Uint8Array | undefined;
}
export type WrapAlgoParams = RsaOaepParams | AesKwpParams | RsaOaepAesKwpParams;

export interface CryptoKeyPair {
  privateKey: string;
  publicKey: string;
}

export interface JsonWebKey {
  kty: string;
  kid?: string;
}
export interface JsonWebKeyECPublic extends JsonWebKey {
  crv: string;
  x: string;
  y: string;
}
export interface JsonWebKeyECPrivate extends JsonWebKeyECPublic {
  d: string;
}
export interface JsonWebKeyRSAPublic extends JsonWebKey {
  n: string;
  e: string;
}
export interface JsonWebKeyRSAPrivate extends JsonWebKeyRSAPublic {
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
}
export interface JsonWebKeyEdDSAPublic extends JsonWebKey {
  crv: string;
  x: string;
}
export interface JsonWebKeyEdDSAPrivate extends JsonWebKeyEdDSAPublic {
  d: string;
}

// ---- Argument checks (values come from untrusted app code) ----

function requireString(value: unknown, what: string): string {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, got ${typeof value}`);
  return value;
}

function requireBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
  return value;
}

function requireObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null) throw new TypeError(`${what} must be an object`);
  return value as Record<string, unknown>;
}

function optionalKid(kid: unknown): string | undefined {
  return kid === undefined ? undefined : requireString(kid, "kid");
}

/** A copy that owns its whole ArrayBuffer (Node Buffers may be views into a shared pool). */
function owned(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** Like {@link owned} for secret material: the source copy is wiped. */
function ownedSecret(bytes: Buffer): Uint8Array {
  try {
    return owned(bytes);
  } finally {
    bytes.fill(0);
  }
}

function freshRandom(size: number): Uint8Array {
  return randomFillSync(new Uint8Array(size));
}

function causeOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs `op` (arguments already checked), rethrowing any failure as `Error("<context>: <cause>")`. */
function failing<T>(context: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    throw new Error(`${context}: ${causeOf(err)}`, { cause: err });
  }
}

// ---- Hashes ----

const NODE_HASH: Readonly<Record<DigestAlgorithm, string>> = {
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
};

function signingHash(algorithm: Record<string, unknown>): string {
  const hash = algorithm["hash"];
  if (typeof hash === "string" && Object.hasOwn(NODE_HASH, hash)) return NODE_HASH[hash as DigestAlgorithm];
  throw new RangeError(`Unsupported hash algorithm ${String(hash)}, supported: SHA-256, SHA-384, SHA-512`);
}

export function digest(algorithm: DigestAlgorithm, data: Uint8Array): Uint8Array {
  // CCF's digest only offers SHA-256.
  if (algorithm !== "SHA-256") {
    throw new RangeError(`unsupported digest algorithm ${String(algorithm)}, supported: SHA-256`);
  }
  return owned(createHash("sha256").update(requireBytes(data, "data")).digest());
}

// ---- Keys ----

function keyDescription(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === undefined ? String(key.asymmetricKeyType) : `${String(key.asymmetricKeyType)} (${curve})`;
}

function requireKeyType(key: KeyObject, types: readonly string[], expected: string): KeyObject {
  if (key.asymmetricKeyType === undefined || !types.includes(key.asymmetricKeyType)) {
    throw new Error(`expected ${expected}, got a ${keyDescription(key)} key`);
  }
  return key;
}

function parseKey(parse: () => KeyObject, types: readonly string[], expected: string): KeyObject {
  let key: KeyObject;
  try {
    key = parse();
  } catch (err) {
    throw new Error(`invalid PEM, expected ${expected} (${causeOf(err)})`, { cause: err });
  }
  return requireKeyType(key, types, expected);
}

function privateKeyFromPem(pem: string | Uint8Array, types: readonly string[], expected: string): KeyObject {
  return parseKey(() => createPrivateKey({ key: Buffer.from(pem), format: "pem" }), types, expected);
}

/** Accepts a public key, a certificate, or a private key (whose public half is used). */
function publicKeyFromPem(pem: string | Uint8Array, types: readonly string[], expected: string): KeyObject {
  return parseKey(() => createPublicKey({ key: Buffer.from(pem), format: "pem" }), types, expected);
}

const RSA_TYPES = ["rsa", "rsa-pss"] as const;

function rsaPssOptions(algorithm: Record<string, unknown>): { padding: number; saltLength: number } {
  // CCF reads saltLength with JS_ToInt64, so a missing value means 0.
  const salt = algorithm["saltLength"] ?? 0;
  if (typeof salt !== "number" || !Number.isSafeInteger(salt) || salt < 0) {
    throw new RangeError(`saltLength must be a non-negative integer, got ${String(salt)}`);
  }
  return { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt };
}

function algorithmName(algorithm: unknown): [Record<string, unknown>, string] {
  const algo = requireObject(algorithm, "algorithm");
  return [algo, requireString(algo["name"], "algorithm.name")];
}

export function sign(algorithm: SigningAlgorithm, keyPem: string, data: Uint8Array): Uint8Array {
  const [algo, name] = algorithmName(algorithm);
  const key = requireString(keyPem, "key");
  const plaintext = requireBytes(data, "data");
  if (name === "EdDSA") {
    return failing("Failed to sign with EdDSA", () =>
      owned(nodeSign(null, plaintext, privateKeyFromPem(key, ["ed25519"], "an Ed25519 private key"))),
    );
  }
  if (name !== "ECDSA" && name !== "RSA-PSS" && name !== "HMAC") {
    throw new RangeError(`Unsupported signing algorithm ${name}, supported: RSA-PSS, ECDSA, EdDSA, HMAC`);
  }
  const hash = signingHash(algo);
  const pss = name === "RSA-PSS" ? rsaPssOptions(algo) : undefined;
  return failing("Failed to sign", () => {
    switch (name) {
      case "HMAC":
        // CCF uses the key string's bytes as the HMAC secret.
        return owned(createHmac(hash, Buffer.from(key, "utf8")).update(plaintext).digest());
      case "ECDSA": {
        const privateKey = privateKeyFromPem(key, ["ec"], "an EC private key");
        return owned(nodeSign(hash, plaintext, { key: privateKey, dsaEncoding: "ieee-p1363" }));
      }
      case "RSA-PSS": {
        const privateKey = privateKeyFromPem(key, RSA_TYPES, "an RSA private key");
        return owned(nodeSign(hash, plaintext, { key: privateKey, ...pss }));
      }
    }
  });
}

/**
 * Whether `signature` is valid for `data`. Key problems (garbage PEM, wrong key type) throw;
 * a malformed or wrong signature is just `false`.
 */
export function verifySignature(
  algorithm: SigningAlgorithm,
  keyOrCertPem: string,
  signature: Uint8Array,
  data: Uint8Array,
): boolean {
  const [algo, name] = algorithmName(algorithm);
  const pem = requireString(keyOrCertPem, "key");
  const sig = requireBytes(signature, "signature");
  const plaintext = requireBytes(data, "data");
  if (name === "EdDSA") {
    const publicKey = failing("Failed to verify EdDSA signature", () =>
      publicKeyFromPem(pem, ["ed25519"], "an Ed25519 public key or certificate"),
    );
    return checkSignature(() => nodeVerify(null, plaintext, publicKey, sig));
  }
  if (name !== "ECDSA" && name !== "RSA-PSS") {
    throw new RangeError(`Unsupported signing algorithm ${name}, supported: RSA-PSS, ECDSA, EdDSA`);
  }
  // CCF's verifySignature only accepts SHA-256 (unlike sign).
  if (algo["hash"] !== "SHA-256") {
    throw new RangeError(`Unsupported hash algorithm ${String(algo["hash"])}, supported: SHA-256`);
  }
  if (name === "ECDSA") {
    const publicKey = failing("Failed to verify signature", () =>
      publicKeyFromPem(pem, ["ec"], "an EC public key or certificate"),
    );
    return checkSignature(() => nodeVerify("sha256", plaintext, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig));
  }
  const pss = rsaPssOptions(algo);
  const publicKey = failing("Failed to verify signature", () =>
    publicKeyFromPem(pem, RSA_TYPES, "an RSA public key or certificate"),
  );
  return checkSignature(() => nodeVerify("sha256", plaintext, { key: publicKey, ...pss }, sig));
}

/** OpenSSL rejects some malformed signatures by erroring rather than returning 0; both mean "invalid". */
function checkSignature(verify: () => boolean): boolean {
  try {
    return verify();
  } catch {
    return false;
  }
}

// ---- Key generation ----

const AES_KEY_BITS = [128, 192, 256] as const;

function requireAesKeyBits(bits: unknown, what: string): number {
  if (typeof bits !== "number" || !(AES_KEY_BITS as readonly number[]).includes(bits)) {
    throw new RangeError(`invalid ${what} ${String(bits)} (not one of 128, 192, 256)`);
  }
  return bits;
}

export function generateAesKey(sizeBits: number): Uint8Array {
  return freshRandom(requireAesKeyBits(sizeBits, "key size") / 8);
}

const SPKI_PEM = { type: "spki", format: "pem" } as const;
const PKCS8_PEM = { type: "pkcs8", format: "pem" } as const;

export function generateRsaKeyPair(sizeBits: number, exponent?: number): CryptoKeyPair {
  if (typeof sizeBits !== "number" || !Number.isSafeInteger(sizeBits) || sizeBits <= 0) {
    throw new RangeError(`RSA key size must be a positive integer number of bits, got ${String(sizeBits)}`);
  }
  const publicExponent = exponent ?? 65537;
  if (typeof publicExponent !== "number" || !Number.isSafeInteger(publicExponent) || publicExponent <= 0) {
    throw new RangeError(`RSA public exponent must be a positive integer, got ${String(exponent)}`);
  }
  return failing("Failed to generate RSA key pair", () =>
    generateKeyPairSync("rsa", {
      modulusLength: sizeBits,
      publicExponent,
      publicKeyEncoding: SPKI_PEM,
      privateKeyEncoding: PKCS8_PEM,
    }),
  );
}

/** CCF curve names → OpenSSL names. CCF does not offer secp256k1. */
const ECDSA_CURVES: Readonly<Record<string, string>> = {
  secp256r1: "prime256v1",
  secp384r1: "secp384r1",
  secp521r1: "secp521r1",
};

export function generateEcdsaKeyPair(curve: string): CryptoKeyPair {
  const namedCurve = Object.hasOwn(ECDSA_CURVES, curve) ? ECDSA_CURVES[curve] : undefined;
  if (namedCurve === undefined) {
    throw new RangeError(`Unsupported curve id ${String(curve)}, supported: secp256r1, secp384r1, secp521r1`);
  }
  return failing("Failed to generate ECDSA key pair", () => generateKeyPairSync("ec", { namedCurve, publicKeyEncoding: SPKI_PEM, privateKeyEncoding: PKCS8_PEM }));
}

export function generateEddsaKeyPair(curve: string): CryptoKeyPair {
  switch (curve) {
    case "curve25519":
      return failing("Failed to generate EdDSA key pair", () => generateKeyPairSync("ed25519", { publicKeyEncoding: SPKI_PEM, privateKeyEncoding: PKCS8_PEM }));
    case "x25519":
      return failing("Failed to generate EdDSA key pair", () => generateKeyPairSync("x25519", { publicKeyEncoding: SPKI_PEM, privateKeyEncoding: PKCS8_PEM }));
    default:
      throw new RangeError(`Unsupported curve id ${String(curve)}, supported: curve25519, x25519`);
  }
}

// ---- Key wrapping ----

/** RFC 5649 alternative initial value. */
const KWP_AIV = Buffer.from("a65959a6", "hex");

function kwpCipher(wrappingKey: Uint8Array): string {
  switch (wrappingKey.byteLength) {
    case 16:
      return "id-aes128-wrap-pad";
    case 24:
      return "id-aes192-wrap-pad";
    case 32:
      return "id-aes256-wrap-pad";
    default:
      throw new Error(`AES-KWP needs a 128, 192 or 256-bit key, got ${wrappingKey.byteLength * 8} bits`);
  }
}

function aesKwpWrap(key: Uint8Array, aesKey: Uint8Array): Uint8Array {
  const cipher = createCipheriv(kwpCipher(aesKey), aesKey, KWP_AIV);
  return owned(Buffer.concat([cipher.update(key), cipher.final()]));
}

function aesKwpUnwrap(wrapped: Uint8Array, aesKey: Uint8Array): Uint8Array {
  const decipher = createDecipheriv(kwpCipher(aesKey), aesKey, KWP_AIV);
  return ownedSecret(Buffer.concat([decipher.update(wrapped), decipher.final()]));
}

/** CCF treats an empty label like no label. */
function oaepLabel(params: Record<string, unknown>): Uint8Array | undefined {
  const label = params["label"];
  if (label === undefined) return undefined;
  return requireBytes(label, "wrapAlgo.label").byteLength > 0 ? (label as Uint8Array) : undefined;
}

function oaepOptions(key: KeyObject, label: Uint8Array | undefined) {
  const options = { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" };
  return label === undefined ? options : { ...options, oaepLabel: label };
}

function rsaOaepWrap(key: Uint8Array, publicKey: KeyObject, label: Uint8Array | undefined): Uint8Array {
  return owned(publicEncrypt(oaepOptions(publicKey, label), key));
}

function rsaOaepUnwrap(wrapped: Uint8Array, privateKey: KeyObject, label: Uint8Array | undefined): Uint8Array {
  return ownedSecret(privateDecrypt(oaepOptions(privateKey, label), wrapped));
}

function wrapAlgoName(params: unknown): [Record<string, unknown>, string] {
  const algo = requireObject(params, "wrapAlgo");
  return [algo, requireString(algo["name"], "wrapAlgo.name")];
}

const UNSUPPORTED_WRAP = "supported: RSA-OAEP, AES-KWP, RSA-OAEP-AES-KWP";

/**
 * Wraps `key`. For RSA-OAEP and RSA-OAEP-AES-KWP `wrappingKey` holds the bytes of an RSA
 * public key PEM; for AES-KWP it is the raw AES key. RSA-OAEP-AES-KWP (PKCS#11
 * CKM_RSA_AES_KEY_WRAP) outputs RSA-OAEP(fresh AES key) ‖ AES-KWP(key).
 */
export function wrapKey(key: Uint8Array, wrappingKey: Uint8Array, params: WrapAlgoParams): Uint8Array {
  const target = requireBytes(key, "key");
  const wrapping = requireBytes(wrappingKey, "wrappingKey");
  const [algo, name] = wrapAlgoName(params);
  switch (name) {
    case "RSA-OAEP": {
      const label = oaepLabel(algo);
      return failing("Failed to wrap key", () =>
        rsaOaepWrap(target, publicKeyFromPem(wrapping, RSA_TYPES, "an RSA public key"), label),
      );
    }
    case "AES-KWP":
      return failing("Failed to wrap key", () => aesKwpWrap(target, wrapping));
    case "RSA-OAEP-AES-KWP": {
      const aesKeyBits = requireAesKeyBits(algo["aesKeySize"], "aesKeySize");
      const label = oaepLabel(algo);
      return failing("Failed to wrap key", () => {
        const publicKey = publicKeyFromPem(wrapping, RSA_TYPES, "an RSA public key");
        const ephemeral = freshRandom(aesKeyBits / 8);
        try {
          return owned(Buffer.concat([rsaOaepWrap(ephemeral, publicKey, label), aesKwpWrap(target, ephemeral)]));
        } finally {
          ephemeral.fill(0);
        }
      });
    }
    default:
      throw new RangeError(`unsupported key wrapping algorithm ${name}, ${UNSUPPORTED_WRAP}`);
  }
}

/**
 * Inverse of {@link wrapKey}: `unwrappingKey` holds the bytes of an RSA private key PEM
 * (RSA-OAEP, RSA-OAEP-AES-KWP) or the raw AES key (AES-KWP).
 */
export function unwrapKey(wrappedKey: Uint8Array, unwrappingKey: Uint8Array, params: WrapAlgoParams): Uint8Array {
  const wrapped = requireBytes(wrappedKey, "key");
  const unwrapping = requireBytes(unwrappingKey, "unwrappingKey");
  const [algo, name] = wrapAlgoName(params);
  switch (name) {
    case "RSA-OAEP": {
      const label = oaepLabel(algo);
      return failing("Failed to unwrap key", () =>
        rsaOaepUnwrap(wrapped, privateKeyFromPem(unwrapping, RSA_TYPES, "an RSA private key"), label),
      );
    }
    case "AES-KWP":
      return failing("Failed to unwrap key", () => aesKwpUnwrap(wrapped, unwrapping));
    case "RSA-OAEP-AES-KWP": {
      // Like CCF, the AES key size is implied by the RSA-wrapped part, not by aesKeySize.
      const label = oaepLabel(algo);
      return failing("Failed to unwrap key", () => {
        const privateKey = privateKeyFromPem(unwrapping, RSA_TYPES, "an RSA private key");
        const rsaBytes = Math.ceil((privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
        if (rsaBytes === 0 || wrapped.byteLength <= rsaBytes) {
          throw new Error(`wrapped key too short: ${wrapped.byteLength} bytes for a ${rsaBytes * 8}-bit RSA key`);
        }
        const ephemeral = rsaOaepUnwrap(wrapped.subarray(0, rsaBytes), privateKey, label);
        try {
          return aesKwpUnwrap(wrapped.subarray(rsaBytes), ephemeral);
        } finally {
          ephemeral.fill(0);
        }
      });
    }
    default:
      throw new RangeError(`unsupported key unwrapping algorithm ${name}, ${UNSUPPORTED_WRAP}`);
  }
}

// ---- X.509 ----

const BEGIN_CERT = "-----BEGIN CERTIFICATE-----";
const END_CERT = "-----END CERTIFICATE-----";

/** Parses every certificate of a PEM bundle; undefined unless there is at least one and all are well-formed. */
function parseCertBundle(pem: string): X509Certificate[] | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  // An unmatched marker means a truncated or mangled certificate.
  if (blocks.length === 0 || pem.split(BEGIN_CERT).length - 1 !== blocks.length) return undefined;
  if (pem.split(END_CERT).length - 1 !== blocks.length) return undefined;
  try {
    return blocks.map((block) => new X509Certificate(block));
  } catch {
    return undefined;
  }
}

/** Syntactic check only, as in CCF: validity dates and signatures are not evaluated. */
export function isValidX509CertBundle(pem: string): boolean {
  return parseCertBundle(requireString(pem, "pem")) !== undefined;
}

/** Critical extensions OpenSSL processes and we either enforce or that impose no path constraint here. */
const HANDLED_CRITICAL_EXTENSIONS = new Set([
  "2.5.29.14", // subjectKeyIdentifier
  "2.5.29.15", // keyUsage (checked by checkIssued)
  "2.5.29.17", // subjectAltName
  "2.5.29.19", // basicConstraints
  "2.5.29.31", // cRLDistributionPoints
  "2.5.29.32", // certificatePolicies
  "2.5.29.35", // authorityKeyIdentifier
  "2.5.29.37", // extKeyUsage
]);

interface PathCert {
  cert: X509Certificate;
  /** basicConstraints pathLenConstraint, if any. */
  pathLength: number | undefined;
  /** False if a critical extension we do not enforce (e.g. nameConstraints) is present: fail closed. */
  supported: boolean;
  selfIssued: boolean;
}

/** The certificates of a PEM bundle with their path-relevant extensions; undefined if any is malformed. */
function pathCertsOf(pem: string): PathCert[] | undefined {
  try {
    return parseCertBundle(pem)?.map(pathCert);
  } catch {
    return undefined; // DER that Node accepted but the extension parser does not
  }
}

function pathCert(cert: X509Certificate): PathCert {
  const parsed = new x509.X509Certificate(cert.raw);
  return {
    cert,
    pathLength: parsed.getExtension(x509.BasicConstraintsExtension)?.pathLength,
    supported: parsed.extensions.every((ext) => !ext.critical || HANDLED_CRITICAL_EXTENSIONS.has(ext.type)),
    selfIssued: cert.subject === cert.issuer,
  };
}

function withinValidity(cert: X509Certificate, now: number): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/**
 * Whether `issuer` may have issued `child` at a point of the path with `intermediates`
 * non-self-issued CA certificates between it and the target.
 */
function issues(issuer: PathCert, child: PathCert, intermediates: number, now: number): boolean {
  return (
    issuer.supported &&
    issuer.cert.ca &&
    (issuer.pathLength === undefined || intermediates <= issuer.pathLength) &&
    withinValidity(issuer.cert, now) &&
    child.cert.checkIssued(issuer.cert) &&
    child.cert.verify(issuer.cert.publicKey)
  );
}

function isSelfSigned(cert: PathCert): boolean {
  return cert.selfIssued && cert.cert.checkIssued(cert.cert) && cert.cert.verify(cert.cert.publicKey);
}

/** Depth-first search from `current` towards a trusted certificate, through unused untrusted ones. */
function reachesTrust(
  current: PathCert,
  intermediates: number,
  untrusted: readonly PathCert[],
  trusted: readonly PathCert[],
  used: ReadonlySet<PathCert>,
  now: number,
): boolean {
  if (trusted.some((anchor) => issues(anchor, current, intermediates, now))) return true;
  return untrusted.some(
    (candidate) =>
      !used.has(candidate) &&
      issues(candidate, current, intermediates, now) &&
      reachesTrust(
        candidate,
        intermediates + (candidate.selfIssued ? 0 : 1),
        untrusted,
        trusted,
        new Set([...used, candidate]),
        now,
      ),
  );
}

/**
 * Whether the first certificate of `chainPem` chains up to a certificate of `trustedPem`,
 * possibly through the other certificates of `chainPem` (in any order). Like CCF (OpenSSL
 * with X509_V_FLAG_PARTIAL_CHAIN) any trusted CA certificate can terminate the path, every
 * certificate on it must be within its validity period, issuers must be CAs whose
 * signatures verify and whose path length constraints hold. A target that is itself
 * trusted is accepted only if it is a CA or self-signed, as in CCF.
 */
export function isValidX509CertChain(chainPem: string, trustedPem: string): boolean {
  const chain = pathCertsOf(requireString(chainPem, "chain"));
  const trusted = pathCertsOf(requireString(trustedPem, "trusted"));
  const target = chain?.[0];
  if (chain === undefined || trusted === undefined || target === undefined || !target.supported) return false;
  const now = Date.now();
  if (!withinValidity(target.cert, now)) return false;
  const targetIsTrusted = trusted.some((anchor) => anchor.cert.raw.equals(target.cert.raw));
  if (targetIsTrusted && (target.cert.ca || isSelfSigned(target))) return true;
  return reachesTrust(target, 0, chain.slice(1), trusted, new Set(), now);
}

// ---- JWK conversions ----

/** CCF serialises JWKs through nlohmann::json, so members come out sorted by name; an absent kid is omitted. */
function jwkOf<T>(members: Record<string, string | undefined>): T {
  const jwk: Record<string, string> = {};
  for (const name of Object.keys(members).sort()) {
    const value = members[name];
    if (value !== undefined) jwk[name] = value;
  }
  return jwk as T;
}

/** Node's curve names → JWK "crv" for the curves CCF's JWK support covers. */
const JWK_EC_CURVES: Readonly<Record<string, string>> = {
  prime256v1: "P-256",
  secp384r1: "P-384",
  secp521r1: "P-521",
};
const JWK_EC_CRVS = Object.values(JWK_EC_CURVES);

function requireJwkEcCurve(key: KeyObject): void {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === undefined || !Object.hasOwn(JWK_EC_CURVES, curve)) {
    throw new Error(`unsupported EC curve ${String(curve)}, supported: P-256, P-384, P-521`);
  }
}

function exportJwk(key: KeyObject): NodeJsonWebKey {
  return key.export({ format: "jwk" });
}

/** Converts `pem` after checking the arguments; the kid, if any, is copied into the JWK. */
function pemToJwkWith<T>(pem: unknown, kid: unknown, members: (pem: string) => Record<string, string | undefined>): T {
  const text = requireString(pem, "pem");
  const id = optionalKid(kid);
  return failing("Failed to convert pem to jwk", () => jwkOf<T>({ ...members(text), kid: id }));
}

function ecMembers(key: KeyObject, withPrivate: boolean): Record<string, string | undefined> {
  requireJwkEcCurve(key);
  const { crv, x, y, d } = exportJwk(key);
  return { kty: "EC", crv, x, y, d: withPrivate ? d : undefined };
}

export function pubPemToJwk(pem: string, kid?: string): JsonWebKeyECPublic {
  return pemToJwkWith(pem, kid, (text) => ecMembers(publicKeyFromPem(text, ["ec"], "an EC public key"), false));
}

export function pemToJwk(pem: string, kid?: string): JsonWebKeyECPrivate {
  return pemToJwkWith(pem, kid, (text) => ecMembers(privateKeyFromPem(text, ["ec"], "an EC private key"), true));
}

export function pubRsaPemToJwk(pem: string, kid?: string): JsonWebKeyRSAPublic {
  return pemToJwkWith(pem, kid, (text) => {
    const { n, e } = exportJwk(publicKeyFromPem(text, ["rsa"], "an RSA public key"));
    return { kty: "RSA", n, e };
  });
}

export function rsaPemToJwk(pem: string, kid?: string): JsonWebKeyRSAPrivate {
  return pemToJwkWith(pem, kid, (text) => {
    const { n, e, d, p, q, dp, dq, qi } = exportJwk(privateKeyFromPem(text, ["rsa"], "an RSA private key"));
    return { kty: "RSA", n, e, d, p, q, dp, dq, qi };
  });
}

const EDDSA_TYPES = ["ed25519", "x25519"] as const;

export function pubEddsaPemToJwk(pem: string, kid?: string): JsonWebKeyEdDSAPublic {
  return pemToJwkWith(pem, kid, (text) => {
    const { crv, x } = exportJwk(publicKeyFromPem(text, EDDSA_TYPES, "an Ed25519 or X25519 public key"));
    return { kty: "OKP", crv, x };
  });
}

export function eddsaPemToJwk(pem: string, kid?: string): JsonWebKeyEdDSAPrivate {
  return pemToJwkWith(pem, kid, (text) => {
    const { crv, x, d } = exportJwk(privateKeyFromPem(text, EDDSA_TYPES, "an Ed25519 or X25519 private key"));
    return { kty: "OKP", crv, x, d };
  });
}

/** Picks the named string members of a JWK (ignoring kid and anything else), checking kty and crv. */
function jwkMembers(
  obj: Record<string, unknown>,
  kty: string,
  crvs: readonly string[] | undefined,
  names: readonly string[],
): NodeJsonWebKey {
  if (obj["kty"] !== kty) throw new Error(`expected a JWK with kty "${kty}", got ${JSON.stringify(obj["kty"])}`);
  if (crvs !== undefined && !crvs.includes(obj["crv"] as string)) {
    throw new Error(`unsupported JWK crv ${JSON.stringify(obj["crv"])}, supported: ${crvs.join(", ")}`);
  }
  const picked: NodeJsonWebKey = { kty };
  for (const name of names) {
    const value = obj[name];
    if (typeof value !== "string") throw new Error(`JWK member "${name}" must be a string`);
    picked[name] = value;
  }
  return picked;
}

function publicPem(jwk: NodeJsonWebKey): string {
  return createPublicKey({ key: jwk, format: "jwk" }).export({ type: "spki", format: "pem" }).toString();
}

function privatePem(jwk: NodeJsonWebKey): string {
  return createPrivateKey({ key: jwk, format: "jwk" }).export({ type: "pkcs8", format: "pem" }).toString();
}

function jwkToPemWith(
  jwk: unknown,
  kty: string,
  crvs: readonly string[] | undefined,
  names: readonly string[],
  toPem: (jwk: NodeJsonWebKey) => string,
): string {
  const obj = requireObject(jwk, "jwk");
  return failing("Failed to convert jwk to pem", () => toPem(jwkMembers(obj, kty, crvs, names)));
}

const EDDSA_CRVS = ["Ed25519", "X25519"] as const;

export function pubJwkToPem(jwk: JsonWebKeyECPublic): string {
  return jwkToPemWith(jwk, "EC", JWK_EC_CRVS, ["crv", "x", "y"], publicPem);
}

export function jwkToPem(jwk: JsonWebKeyECPrivate): string {
  return jwkToPemWith(jwk, "EC", JWK_EC_CRVS, ["crv", "x", "y", "d"], privatePem);
}

export function pubRsaJwkToPem(jwk: JsonWebKeyRSAPublic): string {
  return jwkToPemWith(jwk, "RSA", undefined, ["n", "e"], publicPem);
}

export function rsaJwkToPem(jwk: JsonWebKeyRSAPrivate): string {
  return jwkToPemWith(jwk, "RSA", undefined, ["n", "e", "d", "p", "q", "dp", "dq", "qi"], privatePem);
}

export function pubEddsaJwkToPem(jwk: JsonWebKeyEdDSAPublic): string {
  return jwkToPemWith(jwk, "OKP", EDDSA_CRVS, ["crv", "x"], publicPem);
}

export function eddsaJwkToPem(jwk: JsonWebKeyEdDSAPrivate): string {
  return jwkToPemWith(jwk, "OKP", EDDSA_CRVS, ["crv", "x", "d"], privatePem);
}
