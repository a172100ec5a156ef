// COSE_Sign1 (RFC 9052 §4.2) as CCF uses it: signed requests (governance
// ballots and proposals from members, `user_cose_sign1` app requests), and the
// service's signatures over Merkle roots that COSE receipts are made of.
//
//   COSE_Sign1 = #6.18([protected: bstr .cbor header_map, unprotected: header_map,
//                       payload: bstr, signature: bstr])
//
// Only ECDSA is accepted (ES256/ES384/ES512), signatures are raw r‖s, and the
// signed bytes are the Sig_structure ["Signature1", protected, h'', payload].
import { createPrivateKey, createPublicKey, sign, verify, X509Certificate, type KeyObject } from "node:crypto";
import { Decoder, Encoder, Tag } from "cbor-x";

export const COSE_SIGN1_TAG = 18;
/** Header labels of RFC 9052 §3.1 that CCF reads. */
export const HeaderLabel = { alg: 1, kid: 4 } as const;
/** COSE algorithm ids of the ECDSA algorithms (RFC 9053 §2.1). */
export const CoseAlg = { ES256: -7, ES384: -35, ES512: -36 } as const;

const HASH_OF_ALG: ReadonlyMap<number, string> = new Map([
  [CoseAlg.ES256, "sha256"],
  [CoseAlg.ES384, "sha384"],
  [CoseAlg.ES512, "sha512"],
]);
const ALG_OF_CURVE: ReadonlyMap<string, number> = new Map([
  ["prime256v1", CoseAlg.ES256],
  ["secp384r1", CoseAlg.ES384],
  ["secp521r1", CoseAlg.ES512],
]);

export type HeaderMap = Map<number | string, unknown>;

export interface CoseSign1 {
  /** Whether the envelope carried tag 18 (CCF's verifier insists on it). */
  tagged: boolean;
  /** The protected header exactly as sent: it is what the signature covers. */
  protectedBytes: Buffer;
  protectedHeaders: HeaderMap;
  unprotected: HeaderMap;
  payload: Buffer;
  signature: Buffer;
}

export interface SignCoseSign1Options {
  /** PEM private key (EC P-256, P-384 or P-521). */
  privateKeyPem: string;
  /** COSE alg id; by default the one matching the key's curve. */
  alg?: number;
  /** Key id, sent as the bstr of its UTF-8 bytes (CCF: the signer's member or user id). */
  kid?: string;
  /** Further protected headers, under text-string labels (e.g. `ccf.gov.msg.type`). */
  headers: Record<string, unknown>;
  payload: Uint8Array | string;
}

/** Malformed COSE_Sign1 input: not CBOR, wrong shape, wrong types, trailing bytes. */
export class CoseError extends Error {
  override name = "CoseError";
}

// Maps stay Maps (labels may be integers), records and typed-array tags are off
// so byte strings are plain bstr both ways.
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });

export function isEcdsaAlg(alg: unknown): alg is number {
  return typeof alg === "number" && HASH_OF_ALG.has(alg);
}

/** Decodes one CBOR item that must span all of `bytes`. */
function decodeWhole(bytes: Uint8Array, what: string): unknown {
  try {
    return decoder.decode(bytes);
  } catch (error) {
    throw new CoseError(`${what}: ${(error as Error).message}`);
  }
}

function toHeaderMap(value: unknown, what: string): HeaderMap {
  if (!(value instanceof Map)) throw new CoseError(`${what} is not a map`);
  for (const label of value.keys()) {
    // RFC 9052 §3: labels are integers or text strings.
    if (!(typeof label === "string" || Number.isInteger(label))) {
      throw new CoseError(`${what} has a label that is neither an integer nor a text string`);
    }
  }
  return value as HeaderMap;
}

function asBytes(value: unknown, what: string): Buffer {
  if (!(value instanceof Uint8Array)) throw new CoseError(`${what} is not a byte string`);
  return Buffer.from(value);
}

/** A COSE_Sign1 whose payload is detached (nil): the verifier supplies it (RFC 9052 §2). */
export interface DetachedCoseSign1 extends Omit<CoseSign1, "payload"> {
  payload: null;
}

/** Parses a COSE_Sign1 envelope (tag 18 optional). Throws CoseError if malformed. */
export function decodeCoseSign1(bytes: Uint8Array): CoseSign1 {
  const decoded = decodeEnvelope(bytes);
  if (decoded.payload === null) throw new CoseError("COSE_Sign1 payload is not a byte string");
  return { ...decoded, payload: decoded.payload };
}

/** Parses a COSE_Sign1 envelope whose payload must be detached (nil). Throws CoseError if malformed. */
export function decodeDetachedCoseSign1(bytes: Uint8Array): DetachedCoseSign1 {
  const decoded = decodeEnvelope(bytes);
  if (decoded.payload !== null) throw new CoseError("COSE_Sign1 payload is not detached (nil)");
  return { ...decoded, payload: null };
}

function decodeEnvelope(bytes: Uint8Array): Omit<CoseSign1, "payload"> & { payload: Buffer | null } {
  let item = decodeWhole(bytes, "COSE_Sign1 is not a single CBOR item");
  let tagged = false;
  if (item instanceof Tag) {
    if (item.tag !== COSE_SIGN1_TAG) throw new CoseError(`COSE_Sign1 has CBOR tag ${item.tag}, expected ${COSE_SIGN1_TAG}`);
    tagged = true;
    item = item.value;
  }
  if (!Array.isArray(item)) throw new CoseError("COSE_Sign1 is not an array");
  if (item.length !== 4) throw new CoseError(`COSE_Sign1 array has ${item.length} elements, expected 4`);
  const [protectedItem, unprotectedItem, payloadItem, signatureItem] = item as [unknown, unknown, unknown, unknown];
  const protectedBytes = asBytes(protectedItem, "COSE_Sign1 protected header");
  // RFC 9052 §3: an empty protected header may be sent as a zero-length bstr.
  const protectedHeaders =
    protectedBytes.length === 0
      ? new Map()
      : toHeaderMap(decodeWhole(protectedBytes, "COSE_Sign1 protected header is not CBOR"), "COSE_Sign1 protected header");
  return {
    tagged,
    protectedBytes,
    protectedHeaders,
    unprotected: toHeaderMap(unprotectedItem, "COSE_Sign1 unprotected header"),
    payload: payloadItem === null ? null : asBytes(payloadItem, "COSE_Sign1 payload"),
    signature: asBytes(signatureItem, "COSE_Sign1 signature"),
  };
}

/** The head of a CBOR item of `major` type with argument `length` (RFC 8949 §3), shortest form. */
function cborHead(major: number, length: number): Buffer {
  const type = major << 5;
  if (length < 24) return Buffer.from([type | length]);
  if (length < 0x100) return Buffer.from([type | 24, length]);
  if (length < 0x10000) {
    const head = Buffer.alloc(3);
    head[0] = type | 25;
    head.writeUInt16BE(length, 1);
    return head;
  }
  const head = Buffer.alloc(5);
  head[0] = type | 26;
  head.writeUInt32BE(length, 1);
  return head;
}

const BSTR = 2;
const TSTR = 3;
const SIGNATURE1 = Buffer.from("Signature1", "utf8");

/** The bytes a COSE_Sign1 signature covers: Sig_structure ["Signature1", protected, h'', payload]. */
export function coseSign1ToBeSigned(protectedBytes: Uint8Array, payload: Uint8Array): Buffer {
  return Buffer.concat([
    cborHead(4, 4),
    cborHead(TSTR, SIGNATURE1.length),
    SIGNATURE1,
    cborHead(BSTR, protectedBytes.length),
    protectedBytes,
    cborHead(BSTR, 0), // external_aad: none in CCF
    cborHead(BSTR, payload.length),
    payload,
  ]);
}

/** Parsed keys of the signers seen lately: members sign request after request, and parsing costs ~20% of a verify. */
const recentKeys = new Map<string, KeyObject>();
const RECENT_KEYS_MAX = 64;

function publicKeyOf(publicKeyOrCertPem: string): KeyObject {
  let key = recentKeys.get(publicKeyOrCertPem);
  if (key === undefined) {
    key = publicKeyOrCertPem.includes("CERTIFICATE") ? new X509Certificate(publicKeyOrCertPem).publicKey : createPublicKey(publicKeyOrCertPem);
    if (recentKeys.size >= RECENT_KEYS_MAX) recentKeys.delete(recentKeys.keys().next().value!);
    recentKeys.set(publicKeyOrCertPem, key);
  }
  return key;
}

/** The ECDSA algorithm a key's curve fixes (RFC 9053 §2.1: ES256 is P-256, ES384 P-384, ES512 P-521), undefined for other keys. */
export function coseAlgOfKey(publicKeyOrCertPem: string): number | undefined {
  const key = publicKeyOf(publicKeyOrCertPem);
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  return curve === undefined ? undefined : ALG_OF_CURVE.get(curve);
}

/**
 * Whether the signature verifies with the given public key (SPKI PEM) or the
 * key of the given certificate (PEM). False for non-ECDSA algorithms, for an
 * algorithm that is not the one of the key's curve (as CCF: an ES256 header
 * over a P-384 key is refused), and for signatures of the wrong shape.
 */
export function verifyCoseSign1(decoded: CoseSign1, publicKeyOrCertPem: string): boolean {
  const alg = decoded.protectedHeaders.get(HeaderLabel.alg);
  if (!isEcdsaAlg(alg) || coseAlgOfKey(publicKeyOrCertPem) !== alg) return false;
  const key = publicKeyOf(publicKeyOrCertPem);
  const signed = coseSign1ToBeSigned(decoded.protectedBytes, decoded.payload);
  try {
    return verify(HASH_OF_ALG.get(alg)!, signed, { key, dsaEncoding: "ieee-p1363" }, decoded.signature);
  } catch {
    return false; // e.g. a signature whose length does not fit the curve
  }
}

/** Signs `payload` into a tagged COSE_Sign1 envelope with an empty unprotected header. */
export function signCoseSign1(options: SignCoseSign1Options): Buffer {
  const headers: HeaderMap = new Map<number | string, unknown>();
  if (options.kid !== undefined) headers.set(HeaderLabel.kid, Buffer.from(options.kid, "utf8"));
  for (const [label, value] of Object.entries(options.headers)) headers.set(label, value);
  const payload = typeof options.payload === "string" ? Buffer.from(options.payload, "utf8") : Buffer.from(options.payload);
  const { protectedBytes, signature } = signSign1(options.privateKeyPem, options.alg, headers, payload);
  return encodeCoseSign1(protectedBytes, new Map(), payload, signature);
}

/**
 * Signs `payload` into a tagged COSE_Sign1 envelope that leaves it out (nil, RFC 9052 §2: detached),
 * with the algorithm of the key's curve and `headers` after it in the protected header.
 */
export function signDetachedCoseSign1(privateKeyPem: string, headers: HeaderMap, payload: Uint8Array): Buffer {
  const { protectedBytes, signature } = signSign1(privateKeyPem, undefined, headers, payload);
  return encodeCoseSign1(protectedBytes, new Map(), null, signature);
}

/** The same envelope with another unprotected header: the signature does not cover it. */
export function withUnprotectedHeader(decoded: CoseSign1 | DetachedCoseSign1, unprotected: HeaderMap): Buffer {
  return encodeCoseSign1(decoded.protectedBytes, unprotected, decoded.payload, decoded.signature);
}

/** CBOR of one item, as COSE structures are encoded here (maps keep integer labels, byte strings are plain bstr). */
export function encodeCbor(value: unknown): Buffer {
  return encoder.encode(value);
}

function encodeCoseSign1(protectedBytes: Buffer, unprotected: HeaderMap, payload: Buffer | null, signature: Buffer): Buffer {
  return encoder.encode(new Tag([protectedBytes, unprotected, payload, signature], COSE_SIGN1_TAG));
}

/** Parsed signing keys: the service key signs every signature transaction, and parsing costs half a signing. */
const signingKeys = new Map<string, KeyObject>();

function privateKeyOf(privateKeyPem: string): KeyObject {
  let key = signingKeys.get(privateKeyPem);
  if (key === undefined) {
    key = createPrivateKey(privateKeyPem);
    if (signingKeys.size >= RECENT_KEYS_MAX) signingKeys.delete(signingKeys.keys().next().value!);
    signingKeys.set(privateKeyPem, key);
  }
  return key;
}

function signSign1(privateKeyPem: string, algOption: number | undefined, headers: HeaderMap, payload: Uint8Array): { protectedBytes: Buffer; signature: Buffer } {
  const key = privateKeyOf(privateKeyPem);
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const alg = algOption ?? (curve === undefined ? undefined : ALG_OF_CURVE.get(curve));
  if (!isEcdsaAlg(alg)) throw new CoseError("COSE signing needs an EC key and an ECDSA algorithm (ES256, ES384, ES512)");
  // alg first, as t_cose writes it.
  const protectedBytes = encoder.encode(new Map<number | string, unknown>([[HeaderLabel.alg, alg], ...headers]));
  const signature = sign(HASH_OF_ALG.get(alg)!, coseSign1ToBeSigned(protectedBytes, payload), { key, dsaEncoding: "ieee-p1363" });
  return { protectedBytes, signature };
}
