// Every default and bound of the node core, each with the reason for its value.

/** CCF's ledger_signatures.tx_count default: sign the Merkle root at least every 5000 transactions. */
export const SIGNATURE_INTERVAL_TX = 5000;
/** CCF's ledger_signatures.delay default: sign within 1 s of a transaction, so commit latency is bounded. */
export const SIGNATURE_INTERVAL_MS = 1000;
/** CCF's ledger.chunk_size default ("5MB", which CCF reads as 5 MiB): a new chunk file starts after the first signature past this size. */
export const LEDGER_CHUNK_BYTES = 5 * 1024 * 1024;
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
/**
 * Most bytes (map names, keys, values) one transaction may write: its entry must stay well under
 * LEDGER_ENTRY_BYTES_MAX, or the node could write an entry it refuses to read back on restart; and a
 * write set is held several times over while committing (store, sealed copy, ledger buffer).
 */
export const TX_WRITE_BYTES_MAX = 32 * 1024 * 1024;
/**
 * CCF's snapshotter limit (max_pending_snapshots_count): snapshots awaiting their evidence's commit.
 * Past it a due snapshot waits for the next signature, so a commit that stalls cannot pile them up in memory.
 */
export const PENDING_SNAPSHOTS_MAX = 5;
/**
 * Largest snapshot a node serves (GET /node/snapshot/{name}) or a joiner fetches: both hold it in memory
 * whole to send or to verify it (CCF's join.fetch_snapshot_max_size defaults to 10 GB; it streams in ranges).
 */
export const SNAPSHOT_FETCH_BYTES_MAX = 1024 * 1024 * 1024;

/** CCF's js_runtime_options.max_execution_time_ms default: a handler running longer gets a 500 and is interrupted. */
export const JS_MAX_EXECUTION_TIME_MS = 1000;
/** CCF's js_runtime_options.max_heap_bytes default (100 MiB): an app allocating more gets an out-of-memory 500. */
export const JS_MAX_HEAP_BYTES = 100 * 1024 * 1024;
/** CCF's js_runtime_options.max_stack_bytes default (1 MiB). */
export const JS_MAX_STACK_BYTES = 1024 * 1024;
/**
 * QuickJS runs as WebAssembly on Node's own stack (~984 KiB), so its stack budget must stay well below it:
 * at 128 KiB QuickJS reports "stack overflow" (~480 JS frames in our -O3 build) before the host stack is exhausted.
 */
export const JS_STACK_BYTES_HOST_CAP = 128 * 1024;
/** CCF's http_configuration.max_body_size default (1 MB): larger requests get 413 RequestBodyTooLarge. */
export const HTTP_MAX_BODY_BYTES = 1024 * 1024;
/** CCF's http_configuration.max_header_size default: larger header sets get 431 RequestHeaderTooLarge. */
export const HTTP_MAX_HEADER_BYTES = 16 * 1024;
/** Seconds a client is told to wait (`retry-after`) while historical state is fetched, as CCF says. */
export const HISTORICAL_RETRY_AFTER_S = 3;
/** Historical states kept in memory for app handlers; older ones are fetched from the ledger again. */
export const HISTORICAL_CACHE_ENTRIES = 1000;
/** CCF's js_runtime_options.max_cached_interpreters default: interpreters kept for endpoints with `interpreter_reuse`, least recently used dropped. */
export const JS_CACHED_INTERPRETERS_DEFAULT = 10;
/**
 * Ceiling on max_cached_interpreters (a larger setting is read as this): each cached interpreter is its own
 * WebAssembly instance with its own heap, up to max_heap_bytes, so the cache must not grow with a governance typo.
 */
export const JS_CACHED_INTERPRETERS_MAX = 64;
/**
 * Ballot scripts kept evaluated in the constitution's interpreter. QuickJS never unloads a module, so each
 * distinct ballot a member submits stays in that heap: at this many the interpreter returns to its state
 * after loading the constitution, dropping them all (a ballot that comes again is evaluated again).
 */
export const CONSTITUTION_BALLOTS_CACHED_MAX = 256;
/** Time allowed to compile and evaluate an app's modules on first use (a 1 MB bundle compiles in well under 1 s). */
export const JS_MODULE_LOAD_TIME_MS = 10_000;
/** CCF's recent_cose_proposals_window_size default: proposals kept for replay protection (set_service_configuration changes it, 1..10000). */
export const RECENT_COSE_PROPOSALS_WINDOW = 100;
/**
 * The background check of the chunks behind a snapshot reads for at most this long per event-loop turn,
 * so requests arriving meanwhile wait at most about as long (a slice covers a few thousand entries).
 */
export const PRE_SNAPSHOT_CHECK_SLICE_MS = 10;

/** Largest node-to-node frame: one message carrying the largest ledger entry, plus room for its consensus header. */
export const NODE_CHANNEL_FRAME_BYTES_MAX = LEDGER_ENTRY_BYTES_MAX + 64 * 1024;
/** Messages waiting for one peer: consensus sends a few per heartbeat and retries what is dropped, so a deeper queue would only hold stale messages. */
export const NODE_CHANNEL_QUEUE_MESSAGES_MAX = 1024;
/** Bytes waiting for one peer: two largest frames (one going out, one behind it), so a slow or absent peer costs bounded memory. */
export const NODE_CHANNEL_QUEUE_BYTES_MAX = 2 * NODE_CHANNEL_FRAME_BYTES_MAX;
/** A queued message older than CCF's default election_timeout (5 s) is dropped instead of sent: consensus has sent newer ones since. */
export const NODE_CHANNEL_MESSAGE_AGE_MS_MAX = 5000;
/** First reconnect delay after a failed connection; it doubles per failed attempt. Half of CCF's message_timeout default (100 ms). */
export const NODE_CHANNEL_RECONNECT_BASE_MS = 50;
/** Longest reconnect delay: a restarted peer is reached again well within CCF's default election_timeout (5 s). */
export const NODE_CHANNEL_RECONNECT_MAX_MS = 1000;
/** A node-to-node TLS handshake taking longer is abandoned (a handshake on loopback or a LAN takes milliseconds), so stalled connections do not pile up. */
export const NODE_CHANNEL_HANDSHAKE_TIMEOUT_MS = 5000;
/** Most connections the node-to-node port holds at once, in the handshake or authenticated: a few per peer, far more than any service has nodes. */
export const NODE_CHANNEL_INBOUND_CONNECTIONS_MAX = 256;

/** CCF's consensus.election_timeout default: a backup that hears no primary for this long (randomised up to 2×) starts an election. */
export const CONSENSUS_ELECTION_TIMEOUT_MS = 5000;
/** CCF's consensus.message_timeout default: the primary's heartbeat interval. */
export const CONSENSUS_MESSAGE_TIMEOUT_MS = 100;
/** Entries per AppendEntries: bounds the work and memory of one message, however far behind a backup is. */
export const CONSENSUS_BATCH_ENTRIES_MAX = 1000;
/** AppendEntries in flight per backup: a slow backup cannot make the primary queue its whole log. */
export const CONSENSUS_INFLIGHT_BATCHES_MAX = 4;
/** CCF's max_uncommitted_tx_count default: a primary refuses writes past this many uncommitted entries. */
export const CONSENSUS_UNCOMMITTED_ENTRIES_MAX = 10_000;
/** CCF's append_entries_size_limit (20 MB): the driver stops adding entries to a batch past it (a batch holds at least one). */
export const CONSENSUS_BATCH_BYTES = 20 * 1024 * 1024;
/** A decoded consensus message may be one full batch plus one largest ledger entry, and no larger. */
export const CONSENSUS_MESSAGE_BYTES_MAX = CONSENSUS_BATCH_BYTES + LEDGER_ENTRY_BYTES_MAX;
/** Nodes in one configuration entry: bounds a decoded configuration (CCF services run a handful). */
export const CONSENSUS_CONFIGURATION_NODES_MAX = 256;
/** Bytes of a node id on the wire (CCF's are 64 hex characters). */
export const CONSENSUS_NODE_ID_BYTES_MAX = 256;

/** CCF's join.retry_timeout default: a joining node asks its target again every second until trusted. */
export const JOIN_RETRY_MS = 1000;
/** A governance dry-run shows a public value in full up to this size, else its size and SHA-256: an app's modules would otherwise fill the diff. */
export const DRY_RUN_VALUE_BYTES_MAX = 4096;
/** How long a backup waits for the primary to answer a forwarded request: longer than any handler may run. */
export const FORWARD_TIMEOUT_MS = 30_000;
