// Signed member requests to /gov: a COSE Sign1 envelope whose signer is a
// member (CCF's member_cose_sign1 policy), with the governance checks on top:
// the message type the endpoint expects, an Active member where CCF requires
// one, the proposal id bound into the signature, and, for proposals, CCF's
// replay protection over created_at.
import { createHash } from "node:crypto";
import { decodeCoseSign1 } from "../crypto/cose.ts";
import { CcfError, ErrorCode } from "../errors.ts";
import { authenticate, type Caller } from "../http/auth/policies.ts";
import type { HttpRequest } from "../http/message.ts";
import { RECENT_COSE_PROPOSALS_WINDOW } from "../limits.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables, idKey } from "../tables.ts";

export type GovMessageType = "proposal" | "ballot" | "withdrawal" | "ack" | "state_digest" | "recovery_share" | "encrypted_recovery_share";

export interface MemberRequest {
  memberId: string;
  payload: Buffer;
  createdAt: number;
  /** The ccf.gov.msg.proposal_id header, if any. */
  proposalId?: string;
  /** The COSE signature bytes: they name the proposal and key the replay window. */
  signature: Buffer;
}

const COSE_HISTORY = "public:ccf.gov.cose_history";
const RECENT_PROPOSALS = "public:ccf.gov.cose_recent_proposals";
const CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';

function unauthorized(message: string): CcfError {
  return new CcfError(401, ErrorCode.InvalidAuthenticationInfo, message, [{ auth_policy: "member_cose_sign1", code: ErrorCode.InvalidAuthenticationInfo, message }], {
    "www-authenticate": CHALLENGE,
  });
}

export function memberStatus(tx: Tx, memberId: string): string | undefined {
  const info = tx.map(Tables.membersInfo).get(idKey(memberId));
  return info === undefined ? undefined : ((JSON.parse(info.toString("utf8")) as { status?: string }).status ?? undefined);
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Authenticates a signed member request; throws the CCF error a client gets.
 * The envelope is kept in cose_history unless `record` is false (a read).
 */
export function memberRequest(
  tx: Tx,
  request: HttpRequest,
  expected: { type: GovMessageType; active: boolean; proposalId?: string; record?: boolean },
): MemberRequest {
  const caller = authenticate(["member_cose_sign1"], request, (table, key) => tx.map(table).get(key), nowSeconds()) as Caller;
  const cose = caller["cose"] as { content: Buffer; protectedHeader: Record<string, unknown> };
  const memberId = caller["id"] as string;
  const header = cose.protectedHeader;
  const type = header["ccf.gov.msg.type"];
  if (type !== expected.type) {
    throw unauthorized(`Found ccf.gov.msg.type set to ${type === undefined ? "nothing" : String(type)}, expected ccf.gov.msg.type to be ${expected.type}`);
  }
  if (expected.active && memberStatus(tx, memberId) !== "Active") throw unauthorized("Signer is not an ACTIVE member");
  if (expected.proposalId !== undefined && header["ccf.gov.msg.proposal_id"] !== expected.proposalId) {
    throw new CcfError(
      400,
      ErrorCode.InvalidInput,
      `Authenticated proposal id (${String(header["ccf.gov.msg.proposal_id"])}) does not match URL (${expected.proposalId})`,
    );
  }
  if (expected.record !== false) tx.map(COSE_HISTORY).set(idKey(memberId), request.body);
  const proposalId = header["ccf.gov.msg.proposal_id"];
  return {
    memberId,
    payload: cose.content,
    createdAt: header["ccf.gov.msg.created_at"] as number,
    ...(typeof proposalId === "string" ? { proposalId } : {}),
    signature: decodeCoseSign1(request.body).signature,
  };
}

/**
 * CCF's classic member_cert_or_sig policies: the member whose TLS client
 * certificate this is, else the signer of a request of `type` (any status).
 */
export function memberByCertOrSignature(tx: Tx, request: HttpRequest, type: GovMessageType, record = true): string {
  const caller = authenticate(["member_cert", "member_cose_sign1"], request, (table, key) => tx.map(table).get(key), nowSeconds()) as Caller;
  if (caller.policy === "member_cert") return caller["id"] as string;
  return memberRequest(tx, request, { type, active: false, record }).memberId;
}

/**
 * CCF's replay protection for proposals (proposals.h
 * validate_proposal_submission_time): the window keeps the latest
 * "<created_at>:<sha256(signature)>" keys. The same key again is a replay; a
 * created_at older than the median key's is too old; after recording, the
 * oldest keys are trimmed so that the window keeps its size.
 */
export function recordRecentProposal(tx: Tx, createdAt: number, signature: Buffer, proposalId: string): void {
  if (createdAt > 9_999_999_999) throw new CcfError(400, "InvalidCreatedAt", "Header parameter created_at is too large (more than 10 digits)");
  const createdAtKey = String(createdAt).padStart(10, "0");
  const key = `${createdAtKey}:${createHash("sha256").update(signature).digest("hex")}`;
  const recent = tx.map(RECENT_PROPOSALS);
  const existing = recent.get(Buffer.from(key));
  if (existing !== undefined) {
    throw new CcfError(400, "ProposalReplay", `Proposal submission replay, already have a proposal with the same created_at and signature: ${existing.toString("utf8")}`);
  }
  const keys: string[] = [];
  recent.forEach((_, k) => keys.push(k.toString("utf8")));
  keys.sort();
  if (keys.length > 0) {
    // Both are 10-digit strings, so text order is time order.
    const medianCreatedAt = keys[Math.floor(keys.length / 2)]!.split(":")[0]!;
    if (createdAtKey < medianCreatedAt) {
      throw new CcfError(400, "ProposalCreatedTooLongAgo", `Proposal created too long ago, created_at must be greater than ${medianCreatedAt}`);
    }
  }
  recent.set(Buffer.from(key), Buffer.from(proposalId));
  const excess = keys.length + 1 - recentWindowSize(tx);
  for (const old of keys.slice(0, Math.max(0, excess))) recent.delete(Buffer.from(old));
}

function recentWindowSize(tx: Tx): number {
  const config = tx.map(Tables.serviceConfig).get(SENTINEL_KEY);
  const size = config === undefined ? undefined : (JSON.parse(config.toString("utf8")) as { recent_cose_proposals_window_size?: number }).recent_cose_proposals_window_size;
  return typeof size === "number" && size > 0 ? size : RECENT_COSE_PROPOSALS_WINDOW;
}
