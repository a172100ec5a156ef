// Signature transactions: every N transactions or T ms the node signs the
// Merkle root of all earlier transactions and records it, as CCF does, in
// public:ccf.internal.signatures, with the tree it signed in
// public:ccf.internal.tree and (CCF 6+) the service's COSE signature over the
// same root in public:ccf.internal.cose_signatures. A transaction is committed
// once a durable signature follows it.
import { keyString, type WriteSet } from "../kv/write-set.ts";
import { decodeWriteSet } from "../kv/write-set.ts";

export const SIGNATURES_MAP = "public:ccf.internal.signatures";
/** The signed tree's frontier (MerkleTree.frontier()): CCF's serialised Merkle tree. */
export const TREE_MAP = "public:ccf.internal.tree";
/** The service key's COSE_Sign1 over the root (merkle/cose-receipt.ts): what COSE receipts are made of. */
export const COSE_SIGNATURES_MAP = "public:ccf.internal.cose_signatures";
/** CCF keeps one value in each of these maps, at a fixed key. */
const SIGNATURE_KEY = keyString(Buffer.alloc(8));

/** The value CCF writes: the root of the tree over seqnos 1..seqno-1, and who signed it. */
export interface SignatureRecord {
  view: number;
  seqno: number;
  node: string;
  /** Hex SHA-256 Merkle root. */
  root: string;
  /** Base64 DER ECDSA signature over the root as a pre-hashed digest. */
  sig: string;
  commit_view: number;
  commit_seqno: number;
  cert: string;
}

export function signatureWrites(record: SignatureRecord, treeFrontier: Buffer, coseSignature?: Buffer): WriteSet {
  const value = Buffer.from(JSON.stringify(record));
  const writes: WriteSet = new Map([
    [SIGNATURES_MAP, new Map([[SIGNATURE_KEY, value]])],
    [TREE_MAP, new Map([[SIGNATURE_KEY, treeFrontier]])],
  ]);
  if (coseSignature !== undefined) writes.set(COSE_SIGNATURES_MAP, new Map([[SIGNATURE_KEY, coseSignature]]));
  return writes;
}

export class SignatureFormatError extends Error {}

export interface SignatureEntry {
  record: SignatureRecord;
  /** The frontier of the signed tree; undefined in ledgers written before signatures recorded it. */
  treeFrontier: Buffer | undefined;
  /** The service's COSE_Sign1 over the root; undefined in ledgers written before signatures carried it. */
  coseSignature: Buffer | undefined;
}

/** The signature record and signed tree in a signature entry's public write set. */
export function readSignature(publicWriteSet: Buffer): SignatureEntry {
  let writes: WriteSet;
  try {
    writes = decodeWriteSet(publicWriteSet, "public");
  } catch (error) {
    throw new SignatureFormatError(`signature entry has a malformed write set: ${(error as Error).message}`);
  }
  const value = writes.get(SIGNATURES_MAP)?.get(SIGNATURE_KEY);
  if (!value) throw new SignatureFormatError(`signature entry does not write ${SIGNATURES_MAP}`);
  let record: unknown;
  try {
    record = JSON.parse(value.toString("utf8"));
  } catch {
    throw new SignatureFormatError("signature record is not JSON");
  }
  if (!isSignatureRecord(record)) throw new SignatureFormatError("signature record lacks required fields");
  return {
    record,
    treeFrontier: writes.get(TREE_MAP)?.get(SIGNATURE_KEY) ?? undefined,
    coseSignature: writes.get(COSE_SIGNATURES_MAP)?.get(SIGNATURE_KEY) ?? undefined,
  };
}

function isSignatureRecord(value: unknown): value is SignatureRecord {
  if (typeof value !== "object" || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    ["view", "seqno", "commit_view", "commit_seqno"].every((k) => Number.isSafeInteger(r[k])) &&
    ["node", "root", "sig", "cert"].every((k) => typeof r[k] === "string")
  );
}
