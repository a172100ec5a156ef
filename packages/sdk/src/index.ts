// @confide/sdk: what both a browser and Node need to talk to a CCF service.
// Nothing here imports Node (test/browser-safe.test.ts bundles it for the browser to prove it).
export * from "./types.ts";
export { CoseAlg, HeaderLabel, COSE_SIGN1_TAG, buildCoseSign1, sigStructure, signGovRequest, govMessages, webCryptoSigner, digestSigner, JOSE_NAME_OF_ALG } from "./cose-sign1.ts";
export type { CoseAlgId, CoseSigner, GovMessage, GovMessageType, SignedGovRequest } from "./cose-sign1.ts";
export { verifyReceipt, verifyClaimsDigest, ReceiptError, type ReceiptStep, type ReceiptStepName, type VerifiedReceipt } from "./receipt.ts";
export type { ChunkState, LedgerChunk, LedgerPage, LedgerSignature, LedgerTransaction, LedgerWrite, RenderedBytes } from "./ledger-view.ts";
export { reportPath, type IngestCounts, type ReportQuery, type ReconErrorBody } from "./recon.ts";
export { toHex, fromHex, toBase64, fromBase64, utf8, sha256, pemToDer } from "./bytes.ts";
export { parseJsonOrUndefined } from "./json.ts";
export { encodeCbor, CborTag, type CborValue } from "./cbor.ts";
