// Ledger chunk file names, as CCF writes them:
//   ledger_<start>                  the chunk being written
//   ledger_<start>-<end>            complete (ends with a signature), not yet committed
//   ledger_<start>-<end>.committed  complete and committed
import { storageOf, type LedgerStorage } from "./storage.ts";

export interface ChunkFile {
  name: string;
  start: number;
  /** Last seqno, for complete chunks. */
  end: number | undefined;
  committed: boolean;
}

const CHUNK_NAME = /^ledger_(\d+)(?:-(\d+))?(\.committed)?$/;

export function parseChunkName(name: string): ChunkFile | undefined {
  const match = CHUNK_NAME.exec(name);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = match[2] === undefined ? undefined : Number(match[2]);
  const committed = match[3] !== undefined;
  if (committed && end === undefined) return undefined;
  if (end !== undefined && end < start) return undefined;
  return { name, start, end, committed };
}

export function chunkName(start: number, end?: number, committed = false): string {
  if (end === undefined) return `ledger_${start}`;
  return `ledger_${start}-${end}${committed ? ".committed" : ""}`;
}

/** Chunk files of a ledger directory, ordered by first seqno (other files are ignored). */
export function listChunks(dir: string | LedgerStorage): ChunkFile[] {
  const chunks: ChunkFile[] = [];
  for (const name of storageOf(dir).list()) {
    const chunk = parseChunkName(name);
    if (chunk) chunks.push(chunk);
  }
  return chunks.sort((a, b) => a.start - b.start || (a.end ?? Infinity) - (b.end ?? Infinity));
}

/**
 * Splits the chunks of `dir` at `fromSeqno`: those entirely before it (a snapshot
 * covers them; an unfinished one among them ends where the next begins) and
 * those to read, starting with the last chunk that starts at or before it.
 */
export function chunksFrom(dir: string | LedgerStorage, fromSeqno: number): { before: ChunkFile[]; toRead: ChunkFile[] } {
  const chunks = listChunks(dir);
  let first = 0;
  chunks.forEach((chunk, i) => {
    if (chunk.start <= fromSeqno) first = i;
  });
  const before = chunks.slice(0, first).map((chunk, i) => ({ ...chunk, end: chunk.end ?? chunks[i + 1]!.start - 1 }));
  return { before, toRead: chunks.slice(first) };
}
