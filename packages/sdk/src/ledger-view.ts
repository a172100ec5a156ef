// What the console's ledger explorer shows of a node's ledger files: each
// transaction's public writes (rendered as text, or hex when not UTF-8),
// its private write set only as a sealed size, signature transactions with
// the root and node they sign, and the chunk file holding each. The console
// server reads the files (packages/client/src/sandbox/ledger-explorer.ts);
// the page renders these shapes.

/** Bytes as the page shows them: UTF-8 text when they are, else hex; `text` may be a prefix. */
export interface RenderedBytes {
  text: string;
  encoding: "text" | "hex";
  /** Length of the whole value, not of `text`. */
  bytes: number;
  /** `text` shows only the first bytes of the value. */
  truncated: boolean;
}

export interface LedgerWrite {
  table: string;
  key: RenderedBytes;
  /** null: the write deletes the key. */
  value: RenderedBytes | null;
}

/** A signature transaction: the node's signature over the Merkle root of seqnos 1..seqno-1. */
export interface LedgerSignature {
  root: string;
  node: string;
  /** The commit point the signing node knew of ("view.seqno"). */
  commitTxId: string;
}

/**
 * CCF names chunk files ledger_<start> (open: being written), ledger_<start>-<end>
 * (complete, ends with a signature) and ledger_<start>-<end>.committed.
 */
export type ChunkState = "open" | "complete" | "committed";

export interface LedgerChunk {
  name: string;
  start: number;
  /** Last seqno; null for the open chunk. */
  end: number | null;
  state: ChunkState;
}

export interface LedgerTransaction {
  txId: string;
  view: number;
  seqno: number;
  chunk: string;
  chunkState: ChunkState;
  publicWrites: LedgerWrite[];
  /** Every public write of the transaction; publicWrites may list fewer. */
  publicWriteCount: number;
  /** Size of the sealed private write set (IV, tag and ciphertext); 0 when nothing private was written. */
  privateBytes: number;
  signature: LedgerSignature | null;
  /** Hex claims digest the app set, or null. */
  claimsDigest: string | null;
}

export interface LedgerPage {
  /** The newest whole entry on disk (0 for an empty ledger). */
  lastSeqno: number;
  chunks: LedgerChunk[];
  /** Newest first. */
  transactions: LedgerTransaction[];
  /** Pass as `before` for the next (older) page; null on the oldest page. */
  nextBefore: number | null;
  /** The open chunk ends inside an entry still being written: only the whole entries before it are shown. */
  tornTail: { chunk: string; validBytes: number; tornBytes: number } | null;
}
