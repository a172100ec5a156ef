// One ledger entry per committed transaction, framed for files and replication.
//
// Frame (all integers little-endian):
//   u32 entryBytes, u32 ~entryBytes       a length with its complement: a flipped
//                                          bit here is corruption, not a torn tail
//   [32] write-set digest = SHA-256(entry) checks the entry in place, and is the
//                                          Merkle leaf's first component (CCF)
//   entry:
//     u8 format (1), u8 flags, u16 zero
//     u32 publicBytes, u32 privateBytes
//     u64 view, u64 seqno                  the tx id; also the AES-GCM associated data
//     [32] SHA-256(commit evidence)        lets auditors rebuild leaves without the secret
//     [32] claims digest                   only when FLAG_CLAIMS
//     public write set (clear)
//     private write set (sealed: IV ‖ tag ‖ AES-256-GCM ciphertext)
import { DIGEST_BYTES, sha256, sha256Binary, sha256Into } from "../crypto/hash.ts";
import { seqNo, view as toView, type SeqNo, type View } from "../ids.ts";
import { encodeWriteSetInto, writeSetBytes, type ReadonlyWriteSet } from "../kv/write-set.ts";

export const FRAME_PREFIX_BYTES = 8 + DIGEST_BYTES;
const FORMAT_VERSION = 1;
export const FLAG_SIGNATURE = 1;
const FLAG_CLAIMS = 2;
const KNOWN_FLAGS = FLAG_SIGNATURE | FLAG_CLAIMS;
const FIXED_HEADER_BYTES = 28 + DIGEST_BYTES;
const TX_ID_OFFSET = 12;
const TX_ID_BYTES = 16;
/** Where SHA-256(commit evidence) sits in a frame; the claims digest, if any, follows it. */
const EVIDENCE_AT = FRAME_PREFIX_BYTES + FIXED_HEADER_BYTES - DIGEST_BYTES;
const ZERO_DIGEST = Buffer.alloc(DIGEST_BYTES);

export interface EntryFields {
  view: View;
  seqno: SeqNo;
  isSignature: boolean;
  commitEvidenceDigest: Buffer;
  /** 32 bytes set by the app (ccf.rpc.setClaimsDigest), or undefined. */
  claimsDigest: Buffer | undefined;
  publicWriteSet: Buffer;
  /** Sealed private write set; empty when the transaction wrote no private map. */
  privateSealed: Buffer;
}

/** What a new entry holds; the public write set is encoded straight into the frame. */
export interface NewEntry extends Omit<EntryFields, "publicWriteSet"> {
  publicWrites: ReadonlyWriteSet;
}

export interface DecodedEntry extends EntryFields {
  /** SHA-256 of the entry bytes: CCF's write_set_digest. */
  writeSetDigest: Buffer;
  /** Whole frame length in bytes. */
  frameBytes: number;
}

export class EntryFormatError extends Error {}

function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32LE(value >>> 0, at);
  buf.writeUInt32LE(Math.floor(value / 0x1_0000_0000), at + 4);
}

function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}

/** The tx id bytes (view ‖ seqno) that authenticate the private write set. */
export function txIdBytes(v: View, s: SeqNo): Buffer {
  const out = Buffer.allocUnsafe(TX_ID_BYTES);
  writeU64(out, v, 0);
  writeU64(out, s, 8);
  return out;
}

/** Bytes of the frame encodeFrameInto writes for `entry`. */
export function frameBytesOf(entry: NewEntry): number {
  const publicBytes = entry.publicWrites.size > 0 ? writeSetBytes(entry.publicWrites) : 0;
  return FRAME_PREFIX_BYTES + FIXED_HEADER_BYTES + (entry.claimsDigest ? DIGEST_BYTES : 0) + publicBytes + entry.privateSealed.length;
}

/**
 * Encodes a frame into `frame` (exactly frameBytesOf(entry) bytes, e.g. space in
 * the ledger's write buffer); returns the write-set digest (a view into the frame).
 * `privateSealed` must already be sealed with txIdBytes(view, seqno) as associated data.
 */
export function encodeFrameInto(entry: NewEntry, frame: Buffer): Buffer {
  const entryBytes = frame.length - FRAME_PREFIX_BYTES;
  frame.writeUInt32LE(entryBytes, 0);
  frame.writeUInt32LE(~entryBytes >>> 0, 4);
  const e = FRAME_PREFIX_BYTES;
  const claims = entry.claimsDigest;
  const headerBytes = FIXED_HEADER_BYTES + (claims ? DIGEST_BYTES : 0);
  const publicBytes = entryBytes - headerBytes - entry.privateSealed.length;
  frame[e] = FORMAT_VERSION;
  frame[e + 1] = (entry.isSignature ? FLAG_SIGNATURE : 0) | (claims ? FLAG_CLAIMS : 0);
  frame.writeUInt16LE(0, e + 2);
  frame.writeUInt32LE(publicBytes, e + 4);
  frame.writeUInt32LE(entry.privateSealed.length, e + 8);
  writeU64(frame, entry.view, e + TX_ID_OFFSET);
  writeU64(frame, entry.seqno, e + TX_ID_OFFSET + 8);
  // TypedArray.set, not Buffer.copy: a fraction of the cost for these small copies, on every commit.
  let at = e + FIXED_HEADER_BYTES - DIGEST_BYTES;
  frame.set(entry.commitEvidenceDigest, at);
  at += DIGEST_BYTES;
  if (claims) {
    frame.set(claims, at);
    at += DIGEST_BYTES;
  }
  if (publicBytes > 0) at = encodeWriteSetInto(entry.publicWrites, frame, at);
  frame.set(entry.privateSealed, at);
  sha256Into(frame.subarray(e), frame, 8);
  return frame.subarray(8, FRAME_PREFIX_BYTES);
}

/** encodeFrameInto a new Buffer of its own. */
export function encodeFrame(entry: NewEntry): { frame: Buffer; writeSetDigest: Buffer } {
  const frame = Buffer.allocUnsafe(frameBytesOf(entry));
  return { frame, writeSetDigest: encodeFrameInto(entry, frame) };
}

/** Length of the frame starting at `bytes[at]`, or undefined if fewer than 8 bytes remain. Throws on a corrupt length. */
export function frameLength(bytes: Buffer, at: number, entryBytesMax: number): number | undefined {
  if (bytes.length - at < 8) return undefined;
  const entryBytes = bytes.readUInt32LE(at);
  if ((~bytes.readUInt32LE(at + 4) >>> 0) !== entryBytes) {
    throw new EntryFormatError("frame length check failed (corrupted length field)");
  }
  if (entryBytes < FIXED_HEADER_BYTES || entryBytes > entryBytesMax) {
    throw new EntryFormatError(`frame length ${entryBytes} out of range`);
  }
  return FRAME_PREFIX_BYTES + entryBytes;
}

/** The sealed private write set of an entry with nothing private: shared, so decoding one makes no view for it. */
export const NO_PRIVATE_WRITES = Buffer.alloc(0);

/**
 * Decodes and checks one complete frame (digest, header, sizes). Replay runs this
 * on every entry, so it reads the header in place and makes only the views it
 * returns (each costs about as much as a header check).
 */
export function decodeFrame(frame: Buffer): DecodedEntry {
  const e = FRAME_PREFIX_BYTES;
  // Compared as binary strings: no Buffer for the computed digest.
  if (sha256Binary(frame.subarray(e)) !== frame.toString("latin1", 8, e)) {
    throw new EntryFormatError("entry digest mismatch (entry bytes altered)");
  }
  if (frame[e] !== FORMAT_VERSION) throw new EntryFormatError(`unknown entry format ${frame[e]}`);
  const flags = frame[e + 1]!;
  if ((flags & ~KNOWN_FLAGS) !== 0) throw new EntryFormatError(`unknown entry flags ${flags}`);
  const publicBytes = frame.readUInt32LE(e + 4);
  const privateBytes = frame.readUInt32LE(e + 8);
  const hasClaims = (flags & FLAG_CLAIMS) !== 0;
  const headerBytes = FIXED_HEADER_BYTES + (hasClaims ? DIGEST_BYTES : 0);
  if (e + headerBytes + publicBytes + privateBytes !== frame.length) {
    throw new EntryFormatError("entry section sizes do not add up to the entry length");
  }
  const publicAt = e + headerBytes;
  const privateAt = publicAt + publicBytes;
  return {
    view: toView(readU64(frame, e + TX_ID_OFFSET)),
    seqno: seqNo(readU64(frame, e + TX_ID_OFFSET + 8)),
    isSignature: (flags & FLAG_SIGNATURE) !== 0,
    commitEvidenceDigest: frame.subarray(EVIDENCE_AT, EVIDENCE_AT + DIGEST_BYTES),
    claimsDigest: hasClaims ? frame.subarray(EVIDENCE_AT + DIGEST_BYTES, EVIDENCE_AT + 2 * DIGEST_BYTES) : undefined,
    publicWriteSet: frame.subarray(publicAt, privateAt),
    privateSealed: privateBytes === 0 ? NO_PRIVATE_WRITES : frame.subarray(privateAt, frame.length),
    // Equal to the computed digest: the stored copy serves.
    writeSetDigest: frame.subarray(8, e),
    frameBytes: frame.length,
  };
}

/** Reused for every leaf: hashing copies nothing out of it, and leaves are hashed on every commit. */
const leafInput = Buffer.alloc(3 * DIGEST_BYTES);

type LeafParts = Pick<DecodedEntry, "writeSetDigest" | "commitEvidenceDigest" | "claimsDigest">;

/** What the entry's Merkle leaf hashes: write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest, as CCF. Valid until the next call. */
export function leafInputOf(entry: LeafParts): Buffer {
  leafInput.set(entry.writeSetDigest, 0);
  leafInput.set(entry.commitEvidenceDigest, DIGEST_BYTES);
  leafInput.set(entry.claimsDigest ?? ZERO_DIGEST, 2 * DIGEST_BYTES);
  return leafInput;
}

/** The entry's Merkle leaf (MerkleTree.appendLeafOf(leafInputOf(entry)) appends it without a copy). */
export function leafOf(entry: LeafParts): Buffer {
  return sha256(leafInputOf(entry));
}

/**
 * The Merkle leaf of a frame as stored, read from its header without checking the
 * entry digest (no hash of the whole entry): for rebuilding an evicted block of
 * the tree, which the tree checks against the block hash it kept, so an altered
 * frame fails there instead.
 */
export function leafOfFrame(frame: Buffer): Buffer {
  if (frame.length < FRAME_PREFIX_BYTES + FIXED_HEADER_BYTES || frame[FRAME_PREFIX_BYTES] !== FORMAT_VERSION) {
    throw new EntryFormatError("not a ledger entry frame (too short, or an unknown format)");
  }
  const hasClaims = (frame[FRAME_PREFIX_BYTES + 1]! & FLAG_CLAIMS) !== 0;
  return leafOf({
    writeSetDigest: frame.subarray(8, FRAME_PREFIX_BYTES),
    commitEvidenceDigest: frame.subarray(EVIDENCE_AT, EVIDENCE_AT + DIGEST_BYTES),
    claimsDigest: hasClaims ? frame.subarray(EVIDENCE_AT + DIGEST_BYTES, EVIDENCE_AT + 2 * DIGEST_BYTES) : undefined,
  });
}

export { ZERO_DIGEST };
