// Every default and bound of the node core, each with the reason for its value.

/** CCF's ledger_signatures.tx_count default: sign the Merkle root at least every 5000 transactions. */
export const SIGNATURE_INTERVAL_TX = 5000;
/** CCF's ledger_signatures.delay default: sign within 1 s of a transaction, so commit latency is bounded. */
export const SIGNATURE_INTERVAL_MS = 1000;
/** CCF's ledger.chunk_size default (5 MB): a new chunk file starts after the first signature past this size. */
export const LEDGER_CHUNK_BYTES = 5_000_000;
/** CCF's snapshots.tx_count default: a snapshot after this many transactions (taken at a signature). */
export const SNAPSHOT_INTERVAL_TX = 10_000;
/** Buffered ledger bytes are written to the file once this many accumulate (group write; fsync is separate). */
export const LEDGER_WRITE_BUFFER_BYTES = 1 << 20;
/**
 * Leaves per Merkle block (256): levels below this stay in memory only for recent blocks; a receipt
 * for an older transaction re-reads and re-hashes one block from the ledger (~1 ms at 256 leaves).
 */
export const MERKLE_BLOCK_LEAVES_LOG2 = 8;
/** Leaves whose full proofs stay in memory; older receipts are rebuilt from the ledger files. */
export const MERKLE_LEAVES_IN_MEMORY = 1 << 20;
/** Largest single ledger entry: bounds memory for a corrupt length field and for one transaction's write set. */
export const LEDGER_ENTRY_BYTES_MAX = 64 * 1024 * 1024;
