// Reads ledger chunk files in order, checking every frame (length, digest,
// header) and that seqnos run without gaps within and across files. It does not
// judge signatures or the Merkle tree: replay and the audit tool do that on top.
import { join } from "node:path";
import { LEDGER_ENTRY_BYTES_MAX } from "../limits.ts";
import { chunksFrom, listChunks, type ChunkFile } from "./chunk-files.ts";
import { storageOf, type LedgerStorage } from "./storage.ts";
import { decodeFrame, EntryFormatError, frameLength, type DecodedEntry } from "./entry.ts";

export class LedgerCorruptionError extends Error {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly seqno: number | undefined,
    readonly detail: string,
  ) {
    super(`${file}${seqno === undefined ? "" : ` seqno ${seqno}`} (offset ${offset}): ${detail}`);
  }
}

export interface LedgerRecord {
  chunk: ChunkFile;
  path: string;
  offset: number;
  entry: DecodedEntry;
  /** Before `fromSeqno`: read only because it shares a chunk with later entries. */
  skipped: boolean;
}

/** An incomplete last frame in the chunk being written: what a crash mid-write leaves. */
export interface TornTail {
  path: string;
  /** Bytes of whole frames before the tear. */
  validBytes: number;
  tornBytes: number;
}

export interface ReadOptions {
  /** First seqno expected (1, or a snapshot's seqno + 1); earlier chunks are skipped. */
  fromSeqno?: number;
  onTornTail?: (tail: TornTail) => void;
}

/**
 * Every entry of the ledger in `dir`, in seqno order, from the first chunk that
 * holds `fromSeqno`. Throws LedgerCorruptionError on the first inconsistency.
 */
/**
 * The bytes of `chunk`. A node reading its own ledger in the background can see the live chunk renamed
 * (finished, then committed) after it listed the files: then the chunk starting at the same seqno is
 * read, and `chunk` takes its new name and end.
 */
function readChunkFile(storage: LedgerStorage, chunk: ChunkFile): Buffer {
  try {
    return storage.readFile(chunk.name);
  } catch (error) {
    const renamed = (error as NodeJS.ErrnoException).code === "ENOENT" && listChunks(storage).find((c) => c.start === chunk.start && c.name !== chunk.name);
    if (!renamed) throw error;
    Object.assign(chunk, renamed);
    return storage.readFile(renamed.name);
  }
}

export function* readLedger(dir: string | LedgerStorage, options: ReadOptions = {}): Generator<LedgerRecord> {
  const storage = storageOf(dir);
  const fromSeqno = options.fromSeqno ?? 1;
  const chunks = chunksFrom(storage, fromSeqno).toRead;
  let expected = fromSeqno;
  for (const [index, chunk] of chunks.entries()) {
    const isLast = index === chunks.length - 1;
    if (chunk.start > expected) {
      throw new LedgerCorruptionError(chunk.name, 0, expected, `missing chunk: expected seqno ${expected}, this file starts at ${chunk.start}`);
    }
    if (chunk.start < expected && index > 0) {
      throw new LedgerCorruptionError(chunk.name, 0, chunk.start, `chunk overlaps the previous one (expected seqno ${expected})`);
    }
    const bytes = readChunkFile(storage, chunk);
    const path = join(storage.location, chunk.name);
    let at = 0;
    let last: DecodedEntry | undefined;
    while (at < bytes.length) {
      let length: number | undefined;
      let entry: DecodedEntry;
      try {
        length = frameLength(bytes, at, LEDGER_ENTRY_BYTES_MAX);
        if (length === undefined || at + length > bytes.length) {
          if (chunk.end === undefined && isLast) {
            // Only the chunk being written can end in a torn frame (a crash mid-write).
            options.onTornTail?.({ path, validBytes: at, tornBytes: bytes.length - at });
            break;
          }
          throw new EntryFormatError("file ends inside an entry (truncated chunk)");
        }
        entry = decodeFrame(bytes.subarray(at, at + length));
      } catch (error) {
        if (!(error instanceof EntryFormatError)) throw error;
        throw new LedgerCorruptionError(chunk.name, at, last ? last.seqno + 1 : chunk.start, error.message);
      }
      const expectedHere = last ? last.seqno + 1 : chunk.start;
      if (entry.seqno !== expectedHere) {
        const why = last
          ? `expected seqno ${expectedHere}`
          : `first entry has seqno ${entry.seqno} but the file name says ${chunk.start} (chunk renamed or reordered)`;
        throw new LedgerCorruptionError(chunk.name, at, entry.seqno, why);
      }
      if (last !== undefined && entry.view < last.view) {
        throw new LedgerCorruptionError(chunk.name, at, entry.seqno, `view goes back from ${last.view} to ${entry.view}`);
      }
      const skipped = entry.seqno < expected;
      yield { chunk, path, offset: at, entry, skipped };
      if (!skipped) expected++;
      last = entry;
      at += length;
    }
    if (chunk.end === undefined && !isLast && !last?.isSignature) {
      // A crash between finishing a chunk and renaming it leaves an unrenamed chunk
      // before the next one; it is sound only if it ends at a signature.
      throw new LedgerCorruptionError(chunk.name, at, last?.seqno, "an unfinished chunk is followed by another chunk but does not end with a signature");
    }
    if (chunk.end !== undefined) {
      if (last === undefined || last.seqno !== chunk.end) {
        throw new LedgerCorruptionError(chunk.name, at, last?.seqno, `file name says the chunk ends at seqno ${chunk.end}, its last entry is ${last?.seqno ?? "none"}`);
      }
      if (!last.isSignature) {
        throw new LedgerCorruptionError(chunk.name, at, last.seqno, "a complete chunk must end with a signature transaction");
      }
    }
  }
}
