// Snapshots: the whole store and Merkle tree at a signature seqno S, so a node
// restarts by loading the snapshot and replaying only the ledger after S.
//
// As in CCF, a snapshot is trusted through the ledger: after writing it, the
// node commits an evidence transaction (public:ccf.internal.snapshot_evidence)
// whose claims digest is the snapshot's SHA-256; once that transaction is
// committed its receipt is appended to the file, which is then renamed
// snapshot_<S>_<E>.committed. Loading checks the receipt against the service
// certificate and the digest against the snapshot bytes, so a snapshot cannot
// be altered or forged without the service key.
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { fsyncDirectory } from "../durable.ts";
import { sha256 } from "../crypto/hash.ts";
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import { seqNo, type SeqNo } from "../ids.ts";
import { loadMaps, serializeMaps } from "../kv/snapshot.ts";
import { Store } from "../kv/store.ts";
import { isPublicMap, keyString, type WriteSet } from "../kv/write-set.ts";
import { txIdBytes } from "../ledger/entry.ts";
import { verifyReceipt, type Receipt } from "../merkle/receipt.ts";
import { MerkleTree } from "../merkle/tree.ts";
import { view as toView } from "../ids.ts";

export const SNAPSHOT_EVIDENCE_MAP = "public:ccf.internal.snapshot_evidence";
const MAGIC = Buffer.from("CFSNAP01");
const SNAPSHOT_NAME = /^snapshot_(\d+)_(\d+)(\.committed)?$/;

export interface SnapshotState {
  seqno: SeqNo;
  view: number;
  viewStarts: Array<{ view: number; seqno: number }>;
  store: Store;
  tree: MerkleTree;
}

export class SnapshotError extends Error {}

/** The snapshot body: header, public maps, sealed private maps, Merkle tree. */
export function encodeSnapshot(state: SnapshotState, secrets: LedgerSecrets): Buffer {
  const header = Buffer.from(JSON.stringify({ seqno: state.seqno, view: state.view, viewStarts: state.viewStarts }));
  const publicMaps = serializeMaps(state.store, isPublicMap);
  const privateMaps = secrets.at(state.seqno).seal(serializeMaps(state.store, (name) => !isPublicMap(name)), snapshotAad(state.view, state.seqno));
  return joinSections([header, publicMaps, privateMaps, state.tree.serialize()]);
}

export function decodeSnapshot(body: Buffer, secrets: LedgerSecrets): SnapshotState {
  const [header, publicMaps, privateMaps, tree] = splitSections(body, 4);
  const { seqno, view, viewStarts } = JSON.parse(header!.toString("utf8")) as Pick<SnapshotState, "seqno" | "view" | "viewStarts">;
  const store = new Store();
  loadMaps(store, publicMaps!);
  loadMaps(store, secrets.at(seqno).open(privateMaps!, snapshotAad(view, seqno)));
  store.setVersion(seqNo(seqno));
  const merkle = MerkleTree.deserialize(tree!);
  if (merkle.size !== seqno) throw new SnapshotError(`snapshot tree has ${merkle.size} leaves, expected ${seqno}`);
  return { seqno: seqNo(seqno), view, viewStarts, store, tree: merkle };
}

/** The evidence transaction's writes: CCF's {hash, version} record. */
export function evidenceWrites(digest: Buffer, seqno: number): WriteSet {
  const value = Buffer.from(JSON.stringify({ hash: digest.toString("hex"), version: seqno }));
  return new Map([[SNAPSHOT_EVIDENCE_MAP, new Map([[keyString(Buffer.alloc(8)), value]])]]);
}

export function snapshotDigest(body: Buffer): Buffer {
  return sha256(body);
}

/** Writes a snapshot whose evidence is not yet committed: snapshot_<S>_<E>. */
export function writePendingSnapshot(dir: string, seqno: number, evidenceSeqno: number, body: Buffer): string {
  const path = join(dir, `snapshot_${seqno}_${evidenceSeqno}`);
  const fd = openSync(path, "w", 0o600);
  try {
    writeSync(fd, Buffer.concat([MAGIC, joinSections([body])]));
  } finally {
    closeSync(fd);
  }
  return path;
}

/** Appends the evidence receipt, makes the file durable and names it .committed. */
export function commitSnapshot(path: string, receipt: Receipt): void {
  const fd = openSync(path, "a");
  try {
    const json = Buffer.from(JSON.stringify(receipt));
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(json.length);
    writeSync(fd, Buffer.concat([length, json]));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(path, `${path}.committed`);
  fsyncDirectory(dirname(path));
}

/** A committed snapshot file in a snapshots directory, by its name snapshot_<seqno>_<evidenceSeqno>.committed. */
export interface SnapshotFile {
  name: string;
  seqno: number;
  evidenceSeqno: number;
}

/** The name's seqnos if it names a committed snapshot, else undefined. */
export function parseCommittedSnapshotName(name: string): SnapshotFile | undefined {
  const match = SNAPSHOT_NAME.exec(name);
  if (match?.[3] === undefined) return undefined;
  return { name, seqno: Number(match[1]), evidenceSeqno: Number(match[2]) };
}

/** The committed snapshots in `dir`, newest first (none if there is no such directory). */
export function committedSnapshots(dir: string): SnapshotFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => parseCommittedSnapshotName(name) ?? []).sort((a, b) => b.seqno - a.seqno);
}

/**
 * The newest committed snapshot that verifies, or undefined. A snapshot that
 * fails to verify is reported through `log` and the next older one is tried:
 * the ledger stays the authority, so the node can always replay instead.
 */
export function loadLatestSnapshot(
  dir: string,
  options: { secrets: LedgerSecrets; serviceCertPems: readonly string[]; log: (message: string) => void },
): SnapshotState | undefined {
  for (const snapshot of committedSnapshots(dir)) {
    try {
      const state = verifySnapshotFile(readFileSync(join(dir, snapshot.name)), snapshot, options);
      options.log(`snapshot: starting from ${snapshot.name}, replaying the ledger after seqno ${snapshot.seqno}`);
      return state;
    } catch (error) {
      options.log(`snapshot ${snapshot.name} rejected, replaying the ledger instead: ${(error as Error).message}`);
    }
  }
  return undefined;
}

/**
 * Checks a committed snapshot file's bytes against the service's identities alone (what a joiner can
 * check before it holds the ledger secrets): its evidence receipt, signed by a node endorsed by one
 * of `serviceCertPems` (the current identity, then a recovered service's earlier ones), and the
 * digest that evidence committed against the bytes. Returns the snapshot body; throws SnapshotError
 * (or the receipt's error).
 */
export function checkSnapshotEvidence(bytes: Buffer, file: SnapshotFile, serviceCertPems: readonly string[]): Buffer {
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new SnapshotError("not a snapshot file");
  const [body, receiptJson] = splitSections(bytes.subarray(MAGIC.length), 2);
  let receipt: Receipt;
  try {
    receipt = JSON.parse(receiptJson!.toString("utf8")) as Receipt;
  } catch {
    throw new SnapshotError("its evidence receipt is not JSON");
  }
  verifyReceiptUnderAny(receipt, serviceCertPems);
  const evidence = receipt.leaf_components;
  if (!evidence || /^ce:\d+\.(\d+):/.exec(evidence.commit_evidence)?.[1] !== String(file.evidenceSeqno)) {
    throw new SnapshotError(`receipt is not for the evidence transaction at seqno ${file.evidenceSeqno}`);
  }
  if (evidence.claims_digest !== snapshotDigest(body!).toString("hex")) {
    throw new SnapshotError("snapshot bytes do not match the digest its evidence transaction committed");
  }
  return body!;
}

/** A snapshot taken after a recovery is signed under the new identity; one taken before, under an earlier one. */
function verifyReceiptUnderAny(receipt: Receipt, serviceCertPems: readonly string[]): void {
  let failure: unknown = new SnapshotError("no service identity to check its evidence receipt against");
  for (const pem of serviceCertPems) {
    try {
      verifyReceipt(receipt, pem);
      return;
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/**
 * Checks a committed snapshot file (checkSnapshotEvidence, then the seqno its name says) and decodes it
 * with the ledger secret valid at its seqno; a snapshot whose secret this node does not hold is refused.
 */
export function verifySnapshotFile(bytes: Buffer, file: SnapshotFile, options: { secrets: LedgerSecrets; serviceCertPems: readonly string[] }): SnapshotState {
  const body = checkSnapshotEvidence(bytes, file, options.serviceCertPems);
  if (options.secrets.find(file.seqno) === undefined) {
    const from = options.secrets.heldFrom;
    throw new SnapshotError(
      `this node holds no ledger secret for seqno ${file.seqno}, so it cannot read the snapshot's private maps (${from === Infinity ? "it holds no ledger secret" : `its ledger secrets cover seqno ${from} on`})`,
    );
  }
  const state = decodeSnapshot(body, options.secrets);
  if (state.seqno !== file.seqno) throw new SnapshotError(`file name says seqno ${file.seqno}, content says ${state.seqno}`);
  return state;
}

function snapshotAad(view: number, seqno: number): Buffer {
  return Buffer.concat([Buffer.from("snapshot"), txIdBytes(toView(view), seqNo(seqno))]);
}

function joinSections(sections: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const section of sections) {
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32LE(section.length);
    parts.push(length, section);
  }
  return Buffer.concat(parts);
}

function splitSections(bytes: Buffer, count: number): Buffer[] {
  const sections: Buffer[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 4 > bytes.length) throw new SnapshotError("snapshot truncated");
    const length = bytes.readUInt32LE(at);
    if (at + 4 + length > bytes.length) throw new SnapshotError("snapshot truncated");
    sections.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  if (at !== bytes.length) throw new SnapshotError("snapshot has trailing bytes");
  return sections;
}
