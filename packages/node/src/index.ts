// Public surface of @confide/node for the other packages (SDK, CLI, sandbox).
export { startNode, startNodeCore, DEFAULT_RPC_PORT, type NodeCore, type NodeOptions, type ServingNode, type ServingNodeOptions } from "./node.ts";
export { parseBundle, readBundle, BundleError, type Bundle, type EndpointProperties, type AuthnPolicy } from "./runtime/bundle.ts";
export { CcfError, ErrorCode } from "./errors.ts";
export { Tables, SENTINEL_KEY } from "./tables.ts";
export { decodeCoseSign1, verifyCoseSign1, signCoseSign1, CoseError } from "./crypto/cose.ts";
export { certId, writePrivateKeyFile, writePublicFile } from "./crypto/keys.ts";
export { createServiceIdentity, createNodeCertificate } from "./crypto/certs.ts";
export { loadConfig, ConfigError } from "./config.ts";
export { History, NotCommittedError, type HistoryOptions, type Signer } from "./history/history.ts";
export { verifyReceipt, ReceiptError, type Receipt } from "./merkle/receipt.ts";
export { verifyCoseReceipt, serviceKeyId, type VerifiedCoseReceipt, type CoseReceiptLeaf } from "./merkle/cose-receipt.ts";
export { formatTxId, parseTxId, type TxId, type TxStatus, type SeqNo, type View } from "./ids.ts";
export { Store } from "./kv/store.ts";
export { Tx, MapHandle, TxConflictError, ReadOnlyError } from "./kv/tx.ts";
export { isPublicMap } from "./kv/write-set.ts";
export { LedgerCorruptionError } from "./ledger/reader.ts";
export { loadOrCreateIdentity, IDENTITY_FILES, type NodeIdentity } from "./identity.ts";
