// CCF's JSON shapes as clients see them (ccf-reference.md): transaction
// status, receipts, and the /gov api-version 2024-07-01 governance objects.

/** GET /node/tx: Unknown (never seen), Pending, Committed, Invalid (rolled back). */
export type TxStatus = "Unknown" | "Pending" | "Committed" | "Invalid";

export type ReceiptProofStep = { left: string } | { right: string };

/** CCF's JSON receipt (GET /app/receipt). */
export interface Receipt {
  cert: string;
  node_id: string;
  /** Base64 DER ECDSA signature over the Merkle root, as a pre-hashed SHA-256 digest. */
  signature: string;
  proof: ReceiptProofStep[];
  leaf_components?: {
    write_set_digest: string;
    commit_evidence: string;
    claims_digest: string;
  };
  /** Receipts for signature transactions carry the signed root itself. */
  leaf?: string;
  service_endorsements?: string[];
}

export const GOV_API_VERSION = "2024-07-01";

export type ProposalState = "Open" | "Accepted" | "Withdrawn" | "Rejected" | "Failed" | "Dropped";

/** One constitution action; actions that take no arguments (trigger_*) must have none. */
export interface Action {
  name: string;
  args?: unknown;
}

export interface ProposalBody {
  actions: Action[];
}

export interface Proposal {
  proposalId: string;
  proposerId: string;
  proposalState: ProposalState;
  ballotCount: number;
  finalVotes?: Record<string, boolean>;
  voteFailures?: Record<string, unknown>;
  failure?: { reason: string; trace?: string };
}

export interface MemberInfo {
  memberId: string;
  status: "Accepted" | "Active";
  certificate: string;
  memberData?: unknown;
  recoveryRole?: string;
  publicEncryptionKey?: string;
}

export interface UserInfo {
  userId: string;
  certificate: string;
  userData?: unknown;
}

export interface ServiceInfo {
  status: string;
  certificate: string;
  recoveryCount: number;
  creationTransactionId: string;
  previousServiceCreationTransactionId?: string;
  serviceData?: unknown;
  configuration: Record<string, unknown>;
}

/** CCF's error body: {"error": {"code", "message"}}. */
export interface CcfErrorBody {
  error: { code: string; message: string };
}

/** The code and message of a CCF error body, if `body` is one. */
export function ccfError(body: unknown): { code: string; message: string } | undefined {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null | undefined)?.error;
  return typeof error?.code === "string" && typeof error.message === "string" ? { code: error.code, message: error.message } : undefined;
}

/** A /gov path with CCF's api-version query parameter. */
export function govPath(path: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}api-version=${GOV_API_VERSION}`;
}

/** The ballot CCF's tools submit for a plain yes or no. */
export function ballotSource(accept: boolean): string {
  return `export function vote (proposal, proposerId) { return ${accept} }`;
}

/** A value as a dry-run diff shows it: JSON or text if small, else its size and SHA-256 (hex). */
export type DryRunValue = { json: unknown } | { text: string } | { bytes: number; sha256: string };

/** One key a proposal's apply() would change. Private maps show sizes only: the diff reveals nothing the ledger encrypts. */
export type DryRunKvChange =
  | { table: string; key: string; change: "added" | "changed" | "removed"; before?: DryRunValue; after?: DryRunValue }
  | { table: string; private: true; keyBytes: number; change: "added" | "changed" | "removed"; beforeBytes?: number; afterBytes?: number };

export interface DryRunEndpoint {
  method: string;
  path: string;
  authn_policies?: unknown;
  mode?: unknown;
}

/** The app's endpoints (public:ccf.gov.endpoints) before and after, by method and path; fields as the bundle's metadata names them. */
export interface DryRunEndpointDiff {
  added: DryRunEndpoint[];
  removed: DryRunEndpoint[];
  changed: Array<{ method: string; path: string; fields: Record<string, { before: unknown; after: unknown }> }>;
}

/** apply()'s writes, or how it failed (an accepted proposal would then be Failed). */
export type DryRunApply = { writes: DryRunKvChange[]; endpoints: DryRunEndpointDiff } | { failure: { reason: string; trace?: string } };

/** Confide's POST /gov/members/proposals:dry-run answer: what a signed proposal would do; the node keeps nothing of it. */
export interface DryRun {
  proposalId: string;
  proposerId: string;
  validation: { valid: boolean; description: string };
  /** What :create would answer now: the proposal (Open, or Accepted at once), or the error it would refuse it with. */
  create: { proposal: Partial<Proposal> } | { error: { code: string; message: string } };
  /** apply() as if the proposal were accepted now; absent when validate() refuses it. */
  apply?: DryRunApply;
}
