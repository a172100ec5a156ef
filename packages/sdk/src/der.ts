// Just enough DER (X.690) to check a certificate chain with WebCrypto: walk
// the TLVs of a certificate to its signed part, signature algorithm,
// signature, names and public key, and turn a DER ECDSA signature into the
// raw r‖s WebCrypto takes.
import { toHex } from "./bytes.ts";

export class DerError extends Error {
  override name = "DerError";
}

interface Tlv {
  tag: number;
  /** The whole item, header included. */
  bytes: Uint8Array;
  content: Uint8Array;
}

function readTlv(data: Uint8Array, offset: number): Tlv {
  const tag = data[offset];
  let lengthByte = data[offset + 1];
  if (tag === undefined || lengthByte === undefined) throw new DerError("truncated DER item");
  let length = lengthByte;
  let headerBytes = 2;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new DerError("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = data[offset + 2 + i];
      if (lengthByte === undefined) throw new DerError("truncated DER length");
      length = length * 256 + lengthByte;
    }
    headerBytes += count;
  }
  const end = offset + headerBytes + length;
  if (end > data.length) throw new DerError("DER item runs past its container");
  return { tag, bytes: data.subarray(offset, end), content: data.subarray(offset + headerBytes, end) };
}

function children(tlv: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = 0; offset < tlv.content.length; ) {
    const item = readTlv(tlv.content, offset);
    items.push(item);
    offset += item.bytes.length;
  }
  return items;
}

function one(data: Uint8Array, tag: number, what: string): Tlv {
  const tlv = readTlv(data, 0);
  if (tlv.tag !== tag || tlv.bytes.length !== data.length) throw new DerError(`${what} is not a single DER item of tag ${tag}`);
  return tlv;
}

const SEQUENCE = 0x30;
const BIT_STRING = 0x03;
const INTEGER = 0x02;
const OID = 0x06;
const EXPLICIT_VERSION = 0xa0;

/** The parts of an X.509 certificate a chain check needs. */
export interface CertificateParts {
  /** tbsCertificate, exactly as signed. */
  tbs: Uint8Array;
  /** Hex of the signature algorithm's OID content bytes. */
  signatureAlgorithmOid: string;
  signature: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  /** SubjectPublicKeyInfo, as WebCrypto imports it ("spki"). */
  spki: Uint8Array;
  /** The public key's bits: for an EC key, the uncompressed point 0x04 ‖ x ‖ y. */
  publicKey: Uint8Array;
  /** Hex of the public key's curve OID (EC keys), undefined for other keys. */
  curveOid: string | undefined;
}

export function parseCertificate(der: Uint8Array): CertificateParts {
  const [tbs, algorithm, signature] = children(one(der, SEQUENCE, "certificate"));
  if (tbs?.tag !== SEQUENCE || algorithm?.tag !== SEQUENCE || signature?.tag !== BIT_STRING) throw new DerError("not an X.509 certificate");
  const fields = children(tbs);
  const rest = fields[0]?.tag === EXPLICIT_VERSION ? fields.slice(1) : fields;
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  const [, , issuer, , subject, spki] = rest;
  if (issuer === undefined || subject === undefined || spki?.tag !== SEQUENCE) throw new DerError("certificate is missing its names or public key");
  const algorithmOid = children(algorithm)[0];
  if (algorithmOid?.tag !== OID) throw new DerError("certificate signature algorithm has no OID");
  const [keyAlgorithm, keyBits] = children(spki);
  if (keyBits?.tag !== BIT_STRING || keyBits.content[0] !== 0) throw new DerError("certificate public key is not a whole BIT STRING");
  const curve = keyAlgorithm === undefined ? undefined : children(keyAlgorithm)[1];
  // A BIT STRING's first content byte counts unused bits: 0 for a signature.
  if (signature.content[0] !== 0) throw new DerError("certificate signature has unused bits");
  return {
    tbs: tbs.bytes,
    signatureAlgorithmOid: toHex(algorithmOid.content),
    signature: signature.content.subarray(1),
    issuer: issuer.bytes,
    subject: subject.bytes,
    spki: spki.bytes,
    publicKey: keyBits.content.subarray(1),
    curveOid: curve?.tag === OID ? toHex(curve.content) : undefined,
  };
}

/** DER Ecdsa-Sig-Value (SEQUENCE {r, s}) to the fixed-width r‖s of WebCrypto and COSE. */
export function derToRawSignature(der: Uint8Array, scalarBytes: number): Uint8Array {
  const [r, s, extra] = children(one(der, SEQUENCE, "ECDSA signature"));
  if (r?.tag !== INTEGER || s?.tag !== INTEGER || extra !== undefined) throw new DerError("ECDSA signature is not SEQUENCE { r, s }");
  const raw = new Uint8Array(2 * scalarBytes);
  for (const [i, integer] of [r, s].entries()) {
    let value = integer.content;
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > scalarBytes) throw new DerError("ECDSA signature integer is wider than the curve");
    raw.set(value, (i + 1) * scalarBytes - value.length);
  }
  return raw;
}
