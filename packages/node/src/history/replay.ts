// Rebuilds a node's state from its ledger files: every entry is checked
// (framing, digest, seqno order), the Merkle tree is rebuilt and every
// signature checked against it, private write sets are decrypted, and the store
// receives exactly the transactions covered by a signature. A torn last frame
// and unsigned entries after the last signature are cut off with a warning;
// anything else inconsistent stops the replay with an error naming file and seqno.
import { DecryptionError, type LedgerSecret } from "../crypto/ledger-secret.ts";
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import type { SeqNo } from "../ids.ts";
import { Store } from "../kv/store.ts";
import { decodeWriteSet, WriteSetFormatError, type EncodedEntryWrites, type WriteSet } from "../kv/write-set.ts";
import { chunkName, chunksFrom, listChunks } from "../ledger/chunk-files.ts";
import { txIdBytes, type DecodedEntry } from "../ledger/entry.ts";
import type { ChunkIndex } from "../ledger/ledger.ts";
import { LedgerCorruptionError, readLedger, type LedgerRecord } from "../ledger/reader.ts";
import { storageOf, type LedgerStorage } from "../ledger/storage.ts";
import { MERKLE_LEAVES_IN_MEMORY } from "../limits.ts";
import type { SnapshotState } from "./snapshots.ts";
import { LedgerVerifier, VerificationError } from "./verifier.ts";

export interface ReplayOptions {
  /** Entries whose secret is not here (a recovering node's old ledger) are replayed public domain only. */
  secrets: LedgerSecrets;
  /** Start from this verified snapshot: replay only the entries after its seqno. */
  snapshot?: SnapshotState;
  serviceCertPem?: string;
  warn?: (message: string) => void;
  merkleLeavesInMemory?: number;
}

export interface ReplayResult {
  store: Store;
  verifier: LedgerVerifier;
  chunks: ChunkIndex[];
  /** View of each seqno range: [view, first seqno] in order. */
  viewStarts: Array<{ view: number; seqno: number }>;
  /** verifier.signatureSeqnos lists every signature from this seqno on (earlier ones are behind a snapshot). */
  signaturesCompleteFrom: number;
  /** Highest view in any entry read, including unsigned ones that were discarded. */
  lastViewSeen: number;
}

export class CommitEvidenceMismatchError extends Error {}

/**
 * Checks the entry's commit-evidence digest against the one the secret derives:
 * a wrong ledger secret shows here even on entries with nothing private.
 */
export function checkCommitEvidence(entry: DecodedEntry, secret: LedgerSecret): void {
  if (!secret.commitEvidenceDigest(entry.view, entry.seqno).equals(entry.commitEvidenceDigest)) {
    throw new CommitEvidenceMismatchError();
  }
}

/** An entry's encoded write sets, the private one decrypted (none without the secret: public domain only). */
function encodedWriteSets(entry: DecodedEntry, secret: LedgerSecret | undefined): EncodedEntryWrites {
  if (entry.privateSealed.length === 0 || secret === undefined) return { public: entry.publicWriteSet };
  return { public: entry.publicWriteSet, private: secret.open(entry.privateSealed, txIdBytes(entry.view, entry.seqno)) };
}

/** Decodes an entry's public and (decrypted) private writes into one write set (public only without the secret). */
export function entryWrites(entry: DecodedEntry, secret: LedgerSecret | undefined): WriteSet {
  const encoded = encodedWriteSets(entry, secret);
  const writes = decodeWriteSet(encoded.public, "public");
  if (encoded.private) for (const [name, mapWrites] of decodeWriteSet(encoded.private, "private")) writes.set(name, mapWrites);
  return writes;
}

export function replayLedger(dir: string | LedgerStorage, options: ReplayOptions): ReplayResult {
  const storage = storageOf(dir);
  const warn = options.warn ?? ((message: string) => console.warn(message));
  const snapshot = options.snapshot;
  const store = snapshot?.store ?? new Store();
  const verifier = new LedgerVerifier(options.serviceCertPem, snapshot?.tree);
  if (snapshot) verifier.signatureSeqnos.push(snapshot.seqno);
  const fromSeqno = (snapshot?.seqno ?? 0) + 1;
  const leavesInMemory = options.merkleLeavesInMemory ?? MERKLE_LEAVES_IN_MEMORY;
  const chunks = skippedChunks(storage, fromSeqno);
  const viewStarts: Array<{ view: number; seqno: number }> = [...(snapshot?.viewStarts ?? [])];
  let unsigned: Array<{ seqno: SeqNo; writes: WriteSet }> = [];
  let lastViewSeen = snapshot?.view ?? 0;
  // Only the last chunk can end in entries no signature covers: every earlier one ends at a
  // signature, or reading it fails (and with it the whole replay). Earlier chunks' writes are
  // applied as they are read: holding thousands of decoded write sets until the next signature
  // kept them alive through young-generation GCs (~19% of replay's time).
  const lastChunk = chunksFrom(storage, fromSeqno).toRead.at(-1)?.name;

  const records = readLedger(storage, {
    fromSeqno,
    onTornTail: (tail) => warn(`ledger: ${tail.path} ends with a torn entry (${tail.tornBytes} bytes after offset ${tail.validBytes}); truncating it`),
  });
  for (const record of records) {
    const { entry } = record;
    const chunk = indexChunk(chunks, record);
    chunk.offsets!.push(record.offset);
    chunk.bytes = record.offset + entry.frameBytes;
    if (record.skipped) continue;
    lastViewSeen = Math.max(lastViewSeen, entry.view);
    if (viewStarts.at(-1)?.view !== entry.view) viewStarts.push({ view: entry.view, seqno: entry.seqno });
    const secret = options.secrets.find(entry.seqno);
    try {
      // The first entry and every signature prove the secret is the ledger's (cheaper than every entry).
      if (secret && (entry.isSignature || entry.seqno === fromSeqno)) checkCommitEvidence(entry, secret);
      verifier.add(entry);
      // Decoded in full now, so a malformed write set is reported even if no signature covers it.
      if (record.chunk.name === lastChunk) unsigned.push({ seqno: entry.seqno, writes: entryWrites(entry, secret) });
      else store.applyEncoded(encodedWriteSets(entry, secret), entry.seqno);
    } catch (error) {
      throw asCorruption(error, record, secret);
    }
    if (entry.isSignature) {
      for (const tx of unsigned) store.apply(tx.writes, tx.seqno);
      unsigned = [];
      verifier.tree.evictBlocksBefore(Math.max(0, verifier.tree.size - leavesInMemory));
    }
  }

  removeChunksWithoutEntries(storage, chunks, warn);
  if (unsigned.length > 0) {
    const firstUnsigned = unsigned[0]!.seqno;
    warn(`ledger: discarding ${unsigned.length} unsigned entries from seqno ${firstUnsigned} (written after the last signature, never committed)`);
    dropFrom(storage, chunks, firstUnsigned);
    verifier.tree.truncate(firstUnsigned - 1);
    while (viewStarts.length > 0 && viewStarts.at(-1)!.seqno >= firstUnsigned) viewStarts.pop();
  }
  finishChunkNames(storage, chunks);
  return { store, verifier, chunks, viewStarts, signaturesCompleteFrom: snapshot?.seqno ?? 1, lastViewSeen };
}

/**
 * A crash just after a new chunk file was created leaves it empty or holding
 * only a torn first entry: it has nothing to replay and would block the next
 * chunk, so it goes.
 */
function removeChunksWithoutEntries(storage: LedgerStorage, chunks: ChunkIndex[], warn: (message: string) => void): void {
  for (const chunk of listChunks(storage)) {
    if (chunk.end !== undefined || chunks.some((c) => c.name === chunk.name)) continue;
    warn(`ledger: ${chunk.name} holds no whole entry (a crash as it was started); removing it`);
    storage.remove(chunk.name);
  }
}

/** Chunks entirely before `fromSeqno` (covered by a snapshot): not read now, indexed if an old entry is needed. */
function skippedChunks(storage: LedgerStorage, fromSeqno: number): ChunkIndex[] {
  return chunksFrom(storage, fromSeqno).before.map(({ start, end, committed, name }) => ({
    start,
    end,
    committed,
    name,
    offsets: undefined,
    bytes: storage.size(name),
  }));
}

function indexChunk(chunks: ChunkIndex[], record: LedgerRecord): ChunkIndex {
  const last = chunks.at(-1);
  if (last && last.name === record.chunk.name) return last;
  const { start, end, committed, name } = record.chunk;
  const chunk: ChunkIndex = { start, end, committed, name, offsets: [], bytes: 0 };
  chunks.push(chunk);
  return chunk;
}

/** Forgets entries from `seqno` on: their chunk keeps only what precedes them (the Ledger truncates the file). */
function dropFrom(storage: LedgerStorage, chunks: ChunkIndex[], seqno: SeqNo): void {
  while (chunks.length > 0) {
    const last = chunks.at(-1)!;
    if (last.start >= seqno) {
      storage.remove(last.name);
      chunks.pop();
      continue;
    }
    const offsets = last.offsets!;
    const keep = seqno - last.start;
    if (keep < offsets.length) {
      last.bytes = offsets[keep]!;
      offsets.length = keep;
    }
    return;
  }
}

/** Every chunk that is followed by another ends at a signature: name it finished and committed. */
function finishChunkNames(storage: LedgerStorage, chunks: ChunkIndex[]): void {
  for (const [i, chunk] of chunks.entries()) {
    if (i === chunks.length - 1 && chunk.end === undefined) break;
    chunk.end ??= chunk.start + chunk.offsets!.length - 1;
    const name = chunkName(chunk.start, chunk.end, true);
    if (chunk.name !== name) {
      storage.rename(chunk.name, name);
      chunk.name = name;
      chunk.committed = true;
    }
  }
}

/** What a failed check of an entry found, in words (`secret` is named where it is the cause); undefined for any other error. */
export function entryCheckFailure(error: unknown, secret?: LedgerSecret): string | undefined {
  const secretName = `ledger secret ${secret?.fingerprint ?? "(none)"}`;
  if (error instanceof VerificationError) return error.message.replace(/^seqno \d+: /, "");
  if (error instanceof DecryptionError) return `cannot decrypt the private write set with ${secretName}: wrong ledger secret, or the entry was altered`;
  if (error instanceof CommitEvidenceMismatchError) {
    return `commit evidence does not match the one derived from ${secretName}: wrong ledger secret, or the entry was altered`;
  }
  if (error instanceof WriteSetFormatError) return `malformed write set: ${error.message}`;
  return undefined;
}

/** Names the file, offset and seqno of a failed check. */
export function asCorruption(error: unknown, record: LedgerRecord, secret?: LedgerSecret): Error {
  const detail = entryCheckFailure(error, secret);
  if (detail !== undefined) return new LedgerCorruptionError(record.chunk.name, record.offset, record.entry.seqno, detail);
  return error instanceof Error ? error : new Error(String(error));
}
