// Public surface of @confide/client: identities, the service client, member governance, app bundles.
export { generateIdentity, keygen, readIdentity, CERT_VALIDITY_DAYS, type Identity, type GeneratedIdentity, type IdentityFiles } from "./keys.ts";
export {
  ConfideClient,
  CcfClientError,
  CommitWaitError,
  COMMIT_TIMEOUT_MS,
  type ClientOptions,
  type CcfResponse,
  type RequestBody,
  type RequestOptions,
} from "./client.ts";
export {
  Governance,
  Member,
  ProposalNotAcceptedError,
  proposeAndAccept,
  deployApp,
  openService,
  ballotSource,
  GOV_API_VERSION,
  type Action,
  type DryRun,
  type ProposalBody,
  type Proposal,
  type ProposalState,
  type MemberInfo,
  type UserInfo,
  type ServiceInfo,
  type AcceptOptions,
  type MemberSigner,
} from "./governance.ts";
export { loadBundle, BundleError, type Bundle } from "./bundle.ts";
export { encryptedRecoveryShare, decryptRecoveryShare, submitRecoveryShare, type RecoveryShareResult } from "./recovery.ts";
export { listNodes, pendingNodes, trustNodes, retireNode, asn1Time, NodeStateError, type NodeInfo, type NodeStatus } from "./nodes.ts";
export { certId, verifyCoseReceipt, ReceiptError as CoseReceiptError, type VerifiedCoseReceipt } from "@confide/node";
// Receipts are checked by the browser-safe SDK, the same code the console runs in the page.
export { verifyReceipt, ReceiptError, type Receipt, type TxStatus, type VerifiedReceipt, type ReceiptStep } from "@confide/sdk";
export { pemSigner } from "./signer.ts";
export { fetchJwks, readJwksFile, parseJwks, setJwtIssuer, JwksError, type Jwks } from "./jwt-issuer.ts";
export { keyVaultSigner, KeyServiceError, KEY_VAULT_API_VERSION, type KeyVaultSignerOptions } from "./key-vault-signer.ts";
export { digestSigner, type CoseSigner, type CoseAlgId } from "@confide/sdk";
export { ReconClient, ReconError, verifyReportReceipt, type IngestCounts, type ReportPage, type ReportQuery, type VerifiedReport } from "./recon/client.ts";
