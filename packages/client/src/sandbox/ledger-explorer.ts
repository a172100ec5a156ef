// The console's ledger explorer, server side: reads a node's ledger chunk
// files with the node's own reader (every frame's length and digest checked,
// seqnos in order) and describes transactions newest first, a page at a time.
// Public writes are shown as stored; the private write set stays sealed and
// only its size is given, so no ledger secret is needed or used. The node may
// be appending as we read: the open chunk can end inside an entry, and then
// only the whole entries before it are shown.
import { existsSync } from "node:fs";
import { basename } from "node:path";
import {
  forEachEncodedWrite,
  formatTxId,
  listChunks,
  readLedger,
  readSignature,
  type ChunkFile,
  type LedgerRecord,
  type TornTail,
} from "@confide/node";
import type { ChunkState, LedgerChunk, LedgerPage, LedgerTransaction, LedgerWrite, RenderedBytes } from "@confide/sdk";

/** A page is one request's worth of reading and rendering: a few dozen rows fill a laptop screen. */
export const LEDGER_PAGE_TX_DEFAULT = 20;
/** Bounds the reply: LEDGER_PAGE_TX_MAX × LEDGER_LIST_WRITES_MAX × a value preview stays well under a megabyte. */
export const LEDGER_PAGE_TX_MAX = 100;
/** In a list, the first writes of each transaction (a CSV ingest writes thousands); the transaction view shows more. */
export const LEDGER_LIST_WRITES_MAX = 10;
/** A value's first bytes in a list; the transaction view shows more. */
export const LEDGER_LIST_VALUE_BYTES = 200;
/** One transaction's view: enough writes for any demo batch, each value up to 64 KiB, bounding the reply at a few MB. */
export const LEDGER_TX_WRITES_MAX = 1000;
export const LEDGER_TX_VALUE_BYTES = 64 * 1024;
/** Keys are short (ids, names); a longer one is cut the same way. */
const KEY_BYTES_MAX = 256;

/** The asked-for transaction is not in the ledger files (yet). */
export class LedgerTxNotFound extends Error {}

interface Bounds {
  writesMax: number;
  valueBytes: number;
}

const LIST: Bounds = { writesMax: LEDGER_LIST_WRITES_MAX, valueBytes: LEDGER_LIST_VALUE_BYTES };
const DETAIL: Bounds = { writesMax: LEDGER_TX_WRITES_MAX, valueBytes: LEDGER_TX_VALUE_BYTES };

/** Control characters other than tab and line breaks mark bytes as binary. */
const BINARY_TEXT = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** `bytes` as text if they are UTF-8 (the prefix shown, when cut), else as hex. */
export function renderBytes(bytes: Buffer, bytesMax: number): RenderedBytes {
  const truncated = bytes.length > bytesMax;
  const shown = truncated ? bytes.subarray(0, bytesMax) : bytes;
  try {
    // stream: a cut value may end inside a character, which is not an error.
    const text = new TextDecoder("utf-8", { fatal: true }).decode(shown, { stream: truncated });
    if (!BINARY_TEXT.test(text)) return { text, encoding: "text", bytes: bytes.length, truncated };
  } catch {
    // not UTF-8: hex below
  }
  return { text: shown.toString("hex"), encoding: "hex", bytes: bytes.length, truncated };
}

function chunkState(chunk: Pick<ChunkFile, "end" | "committed">): ChunkState {
  return chunk.committed ? "committed" : chunk.end === undefined ? "open" : "complete";
}

function describeChunk(chunk: ChunkFile): LedgerChunk {
  return { name: chunk.name, start: chunk.start, end: chunk.end ?? null, state: chunkState(chunk) };
}

function describeTransaction({ entry, chunk }: LedgerRecord, bounds: Bounds): LedgerTransaction {
  const publicWrites: LedgerWrite[] = [];
  let publicWriteCount = 0;
  let table = "";
  forEachEncodedWrite(entry.publicWriteSet, "public", {
    map: (name) => (table = name),
    write: (key, value) => {
      publicWriteCount++;
      if (publicWrites.length >= bounds.writesMax) return;
      publicWrites.push({
        table,
        key: renderBytes(Buffer.from(key, "latin1"), KEY_BYTES_MAX),
        value: value === null ? null : renderBytes(value, bounds.valueBytes),
      });
    },
  });
  const signed = entry.isSignature ? readSignature(entry.publicWriteSet).record : undefined;
  return {
    txId: formatTxId({ view: entry.view, seqno: entry.seqno }),
    view: entry.view,
    seqno: entry.seqno,
    chunk: chunk.name,
    chunkState: chunkState(chunk),
    publicWrites,
    publicWriteCount,
    privateBytes: entry.privateSealed.length,
    signature: signed ? { root: signed.root, node: signed.node, commitTxId: `${signed.commit_view}.${signed.commit_seqno}` } : null,
    claimsDigest: entry.claimsDigest ? entry.claimsDigest.toString("hex") : null,
  };
}

/** Records with seqnos from..to (inclusive) as the files hold them now; fewer if the ledger ends sooner. */
function recordsBetween(dir: string, from: number, to: number, onTornTail: (tail: TornTail) => void): LedgerRecord[] {
  const records: LedgerRecord[] = [];
  for (const record of readLedger(dir, { fromSeqno: from, onTornTail })) {
    if (record.skipped) continue;
    if (record.entry.seqno > to) break;
    records.push(record);
  }
  return records;
}

/**
 * Up to `limit` transactions before seqno `before` (default: from the newest), newest first.
 * Throws LedgerCorruptionError (from the reader) if the files are inconsistent.
 */
export function readLedgerPage(dir: string, query: { before?: number; limit?: number } = {}): LedgerPage {
  const limit = Math.min(query.limit ?? LEDGER_PAGE_TX_DEFAULT, LEDGER_PAGE_TX_MAX);
  // A node that has not written yet has no ledger directory: an empty ledger.
  const chunks = existsSync(dir) ? listChunks(dir) : [];
  const first = chunks[0];
  const last = chunks.at(-1);
  let tornTail: LedgerPage["tornTail"] = null;
  const onTornTail = (tail: TornTail) => (tornTail = { chunk: basename(tail.path), validBytes: tail.validBytes, tornBytes: tail.tornBytes });
  if (first === undefined || last === undefined) return { lastSeqno: 0, chunks: [], transactions: [], nextBefore: null, tornTail };
  // The newest whole entry is in the last chunk: read it to find where the ledger ends.
  const newest = recordsBetween(dir, last.start, Number.MAX_SAFE_INTEGER, onTornTail);
  const lastSeqno = newest.at(-1)?.entry.seqno ?? last.start - 1;
  const to = Math.min(lastSeqno, (query.before ?? Number.MAX_SAFE_INTEGER) - 1);
  // A ledger that starts after a snapshot has no files before its first chunk.
  const from = Math.max(first.start, to - limit + 1);
  const records = to < from ? [] : from >= last.start ? newest.filter((r) => r.entry.seqno >= from && r.entry.seqno <= to) : recordsBetween(dir, from, to, onTornTail);
  return {
    lastSeqno,
    // Listed after reading, so the names match the files the entries came from as closely as a live ledger allows.
    chunks: listChunks(dir).map(describeChunk),
    transactions: records.reverse().map((r) => describeTransaction(r, LIST)),
    nextBefore: from > first.start && to >= from ? from : null,
    tornTail,
  };
}

/** One transaction with its writes in full (up to LEDGER_TX_WRITES_MAX, values up to LEDGER_TX_VALUE_BYTES). */
export function readLedgerTransaction(dir: string, seqno: number): LedgerTransaction {
  const first = existsSync(dir) ? listChunks(dir)[0] : undefined;
  if (first === undefined || seqno < first.start) throw new LedgerTxNotFound(`seqno ${seqno} is not in the ledger files`);
  const [record] = recordsBetween(dir, seqno, seqno, () => undefined);
  if (record === undefined) throw new LedgerTxNotFound(`seqno ${seqno} is not in the ledger files (yet)`);
  return describeTransaction(record, DETAIL);
}
