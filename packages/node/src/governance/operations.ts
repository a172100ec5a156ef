// What a member's signed governance request does to the tables: submit a
// proposal, vote, withdraw, refresh and acknowledge the state digest. Both
// wire forms of CCF's /gov API call these (endpoints.ts, API-versioned and
// camelCase; classic-endpoints.ts, the deprecated snake_case routes), so the
// two write the same tables the same way and differ only in what they parse
// and answer. Every function runs inside the caller's transaction and throws
// the CcfError a client gets; the caller discards the transaction then.
import { createHash } from "node:crypto";
import { CcfError, ErrorCode } from "../errors.ts";
import type { Tx } from "../kv/tx.ts";
import { Tables, idKey } from "../tables.ts";
import type { ConstitutionRunner } from "./constitution.ts";
import { recordRecentProposal, type MemberRequest } from "./member-requests.ts";
import {
  ProposalTables,
  createProposal,
  failureOf,
  forgetFinishedProposals,
  notFound,
  notOpen,
  readProposal,
  resolveProposal,
  type Failure,
  type ProposalInfo,
} from "./proposals.ts";

export function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch (error) {
    throw new CcfError(400, ErrorCode.InvalidInput, `${what} is not valid JSON: ${(error as Error).message}`);
  }
}

export function readJson<T>(tx: Tx, table: string, key: Buffer): T | undefined {
  const value = tx.map(table).get(key);
  return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
}

/** A proposal's id binds it to the state it was proposed on: hex SHA-256 of the Merkle root ‖ SHA-256(COSE signature). */
export function proposalIdOf(merkleRoot: Buffer, signature: Buffer): string {
  return createHash("sha256").update(merkleRoot).update(createHash("sha256").update(signature).digest()).digest("hex");
}

/**
 * Validates and stores a proposal, then resolves it (applying it if the
 * constitution accepts it at once).
 */
export function submitProposal(tx: Tx, runner: ConstitutionRunner, merkleRoot: Buffer, signed: MemberRequest): { proposalId: string; info: ProposalInfo } {
  const proposal = signed.payload.toString("utf8");
  const parsed = parseJson<{ actions?: unknown }>(signed.payload, "Proposal");
  if (!Array.isArray(parsed.actions)) throw new CcfError(400, ErrorCode.InvalidInput, "Proposal must be an object with an actions array");
  const proposalId = proposalIdOf(merkleRoot, signed.signature);
  recordRecentProposal(tx, signed.createdAt, signed.signature, proposalId);
  let validation;
  try {
    validation = runner.validate(tx, proposal);
  } catch (error) {
    throw new CcfError(400, "ProposalFailedToValidate", `Proposal failed to validate: ${failureOf(error).reason}`);
  }
  if (!validation.valid) throw new CcfError(400, "ProposalFailedToValidate", `Proposal failed to validate: ${validation.description}`);
  return { proposalId, info: createProposal(tx, runner, proposalId, signed.memberId, proposal) };
}

/** Records `signed`'s ballot (`{"ballot": "<JS module>"}`) on an Open proposal and resolves it again. */
export function submitBallot(tx: Tx, runner: ConstitutionRunner, proposalId: string, signed: MemberRequest, applyFailure?: Failure): ProposalInfo {
  const found = readProposal(tx, proposalId);
  if (found === undefined) throw notFound(proposalId);
  if (found.info.state !== "Open") throw notOpen(proposalId, found.info.state);
  if (found.info.ballots[signed.memberId] !== undefined) {
    throw new CcfError(400, "VoteAlreadyExists", `Vote already submitted by ${signed.memberId}.`);
  }
  const { ballot } = parseJson<{ ballot?: unknown }>(signed.payload, "Ballot");
  if (typeof ballot !== "string") throw new CcfError(400, ErrorCode.InvalidInput, 'Ballot must be an object {"ballot": "<JS module exporting vote>"}');
  try {
    runner.vote(tx, ballot, found.proposal, found.info.proposer_id);
  } catch (error) {
    // Confide refuses a ballot that cannot be evaluated, rather than storing it as a vote failure.
    throw new CcfError(400, ErrorCode.InvalidInput, `Ballot failed to evaluate: ${failureOf(error).reason}`);
  }
  const info: ProposalInfo = { ...found.info, ballots: { ...found.info.ballots, [signed.memberId]: ballot } };
  return resolveProposal(tx, runner, proposalId, found.proposal, info, applyFailure);
}

/**
 * Withdraws an Open proposal of `memberId`'s. Undefined if there is no such
 * proposal (the two APIs answer that differently). As CCF, the proposals
 * that finished before it are forgotten.
 */
export function withdrawProposal(tx: Tx, proposalId: string, memberId: string): ProposalInfo | undefined {
  const found = readProposal(tx, proposalId);
  if (found === undefined) return undefined;
  if (found.info.proposer_id !== memberId) {
    throw new CcfError(403, ErrorCode.AuthorizationFailed, `Proposal ${proposalId} can only be withdrawn by proposer ${found.info.proposer_id}, not caller ${memberId}.`);
  }
  if (found.info.state !== "Open") {
    throw new CcfError(400, "ProposalNotOpen", `Proposal ${proposalId} is currently in state ${found.info.state} - only Open proposals can be withdrawn.`);
  }
  const info: ProposalInfo = { ...found.info, state: "Withdrawn" };
  tx.map(ProposalTables.info).set(Buffer.from(proposalId), Buffer.from(JSON.stringify(info)));
  forgetFinishedProposals(tx, proposalId);
  return info;
}

interface MemberAck {
  state_digest?: string;
  cose_sign1?: string;
}

function noAck(memberId: string): CcfError {
  return new CcfError(403, ErrorCode.AuthorizationFailed, `No ACK record exists for member ${memberId}.`);
}

/**
 * Sets the digest `memberId` is to acknowledge. `requireAck`: refuse a member
 * with no ack record (CCF's classic API; set_member and genesis write one).
 */
export function updateStateDigest(tx: Tx, memberId: string, stateDigest: string, requireAck: boolean): string {
  const ack = readJson<MemberAck>(tx, Tables.membersAcks, idKey(memberId));
  if (ack === undefined && requireAck) throw noAck(memberId);
  tx.map(Tables.membersAcks).set(idKey(memberId), Buffer.from(JSON.stringify({ ...ack, state_digest: stateDigest })));
  return stateDigest;
}

/** Checks the signed digest against the recorded one, keeps the signed envelope, and makes the member Active. */
export function ackStateDigest(tx: Tx, memberId: string, submitted: unknown, envelope: Buffer): void {
  const ack = readJson<MemberAck>(tx, Tables.membersAcks, idKey(memberId));
  if (ack?.state_digest === undefined) throw noAck(memberId);
  if (submitted !== ack.state_digest) {
    throw new CcfError(400, "StateDigestMismatch", `Submitted state digest is not valid: expected ${ack.state_digest}, got ${String(submitted)}.`);
  }
  const info = readJson<Record<string, unknown>>(tx, Tables.membersInfo, idKey(memberId))!;
  tx.map(Tables.membersInfo).set(idKey(memberId), Buffer.from(JSON.stringify({ ...info, status: "Active" })));
  tx.map(Tables.membersAcks).set(idKey(memberId), Buffer.from(JSON.stringify({ state_digest: ack.state_digest, cose_sign1: envelope.toString("base64") })));
}
