// Public surface of @confide/node for the other packages (SDK, CLI, sandbox).
export { startNodeCore, type NodeCore, type NodeOptions } from "./node.ts";
export { History, NotCommittedError, type HistoryOptions, type Signer } from "./history/history.ts";
export { verifyReceipt, ReceiptError, type Receipt } from "./merkle/receipt.ts";
export { formatTxId, parseTxId, type TxId, type TxStatus, type SeqNo, type View } from "./ids.ts";
export { Store } from "./kv/store.ts";
export { Tx, MapHandle, TxConflictError, ReadOnlyError } from "./kv/tx.ts";
export { isPublicMap } from "./kv/write-set.ts";
export { LedgerCorruptionError } from "./ledger/reader.ts";
export { loadOrCreateIdentity, IDENTITY_FILES, type NodeIdentity } from "./identity.ts";
