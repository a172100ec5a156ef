// Proposals and ballots, as CCF's governance keeps them: the proposal as
// submitted in public:ccf.gov.proposals, its state, ballots and outcome in
// public:ccf.gov.proposals_info. The constitution resolves a proposal when it
// is created and after every ballot; once Accepted, its actions are applied in
// the same transaction. When a proposal leaves Open, the proposals that
// finished before it are forgotten, as in CCF (the ledger keeps them all).
import { CcfError } from "../errors.ts";
import type { Tx } from "../kv/tx.ts";
import { JsExecutionError } from "../runtime/interpreter.ts";
import type { ConstitutionRunner, Resolution, Vote } from "./constitution.ts";

export const ProposalTables = {
  proposals: "public:ccf.gov.proposals",
  info: "public:ccf.gov.proposals_info",
} as const;

export type ProposalState = "Open" | "Accepted" | "Withdrawn" | "Rejected" | "Failed" | "Dropped";

export interface Failure {
  reason: string;
  trace?: string;
}

export interface ProposalInfo {
  proposer_id: string;
  state: ProposalState;
  ballots: Record<string, string>;
  final_votes?: Record<string, boolean>;
  vote_failures?: Record<string, Failure>;
  failure?: Failure;
}

/** The Proposal object of CCF's /gov API (2024-07-01). */
export function proposalView(proposalId: string, info: ProposalInfo): Record<string, unknown> {
  return {
    proposalId,
    proposerId: info.proposer_id,
    proposalState: info.state,
    ballotCount: Object.keys(info.ballots).length,
    ...(info.final_votes ? { finalVotes: info.final_votes } : {}),
    ...(info.vote_failures ? { voteFailures: info.vote_failures } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
}

/** apply() threw: the transaction must be discarded, and the failure recorded in a fresh one. */
export class ApplyFailed extends Error {
  constructor(readonly failure: Failure) {
    super(`Failed to apply proposal: ${failure.reason}`);
  }
}

export function readProposal(tx: Tx, proposalId: string): { proposal: string; info: ProposalInfo } | undefined {
  const key = Buffer.from(proposalId);
  const proposal = tx.map(ProposalTables.proposals).get(key);
  const info = tx.map(ProposalTables.info).get(key);
  if (proposal === undefined || info === undefined) return undefined;
  return { proposal: proposal.toString("utf8"), info: JSON.parse(info.toString("utf8")) as ProposalInfo };
}

function writeInfo(tx: Tx, proposalId: string, info: ProposalInfo): void {
  tx.map(ProposalTables.info).set(Buffer.from(proposalId), Buffer.from(JSON.stringify(info)));
}

export function failureOf(error: unknown): Failure {
  if (error instanceof JsExecutionError) return { reason: `${error.jsError.name}: ${error.jsError.message}`, trace: error.jsError.stack };
  return { reason: error instanceof Error ? error.message : String(error) };
}

/**
 * Evaluates every ballot, asks the constitution to resolve, and applies an
 * accepted proposal. `applyFailure` (from an earlier attempt whose apply threw)
 * records the proposal as Failed instead of applying it again.
 */
export function resolveProposal(tx: Tx, runner: ConstitutionRunner, proposalId: string, proposal: string, info: ProposalInfo, applyFailure?: Failure): ProposalInfo {
  const votes: Vote[] = [];
  const voteFailures: Record<string, Failure> = {};
  for (const [memberId, ballot] of Object.entries(info.ballots)) {
    try {
      votes.push({ member_id: memberId, vote: runner.vote(tx, ballot, proposal, info.proposer_id) });
    } catch (error) {
      voteFailures[memberId] = failureOf(error);
    }
  }
  let state: Resolution;
  let failure: Failure | undefined;
  try {
    state = runner.resolve(tx, proposal, info.proposer_id, votes, proposalId);
  } catch (error) {
    state = "Failed";
    failure = failureOf(error);
  }
  // Proposals that finished earlier are forgotten before this one's actions run, so that what
  // those actions do to other proposals (set_constitution drops the open ones) stays visible.
  if (state !== "Open") forgetFinishedProposals(tx, proposalId);
  if (state === "Accepted") {
    if (applyFailure !== undefined) {
      state = "Failed";
      failure = applyFailure;
    } else {
      try {
        runner.apply(tx, proposal, proposalId);
      } catch (error) {
        throw new ApplyFailed(failureOf(error));
      }
    }
  }
  const resolved: ProposalInfo = { ...info, state };
  if (state !== "Open") {
    resolved.final_votes = Object.fromEntries(votes.map((v) => [v.member_id, v.vote]));
    if (Object.keys(voteFailures).length > 0) resolved.vote_failures = voteFailures;
    if (failure !== undefined) resolved.failure = failure;
  }
  writeInfo(tx, proposalId, resolved);
  return resolved;
}

/** CCF keeps only open proposals (and the one that just finished) in the tables. */
export function forgetFinishedProposals(tx: Tx, except: string): void {
  const finished: Buffer[] = [];
  tx.map(ProposalTables.info).forEach((value, key) => {
    if (key.toString("utf8") === except) return;
    const info = JSON.parse(value.toString("utf8")) as ProposalInfo;
    if (info.state !== "Open") finished.push(Buffer.from(key));
  });
  for (const key of finished) {
    tx.map(ProposalTables.info).delete(key);
    tx.map(ProposalTables.proposals).delete(key);
  }
}

export function createProposal(
  tx: Tx,
  runner: ConstitutionRunner,
  proposalId: string,
  proposerId: string,
  proposal: string,
): ProposalInfo {
  tx.map(ProposalTables.proposals).set(Buffer.from(proposalId), Buffer.from(proposal));
  const info: ProposalInfo = { proposer_id: proposerId, state: "Open", ballots: {} };
  writeInfo(tx, proposalId, info);
  return resolveProposal(tx, runner, proposalId, proposal, info);
}

export function notFound(proposalId: string): CcfError {
  return new CcfError(404, "ProposalNotFound", `Could not find proposal ${proposalId}.`);
}

export function notOpen(proposalId: string, state: ProposalState): CcfError {
  return new CcfError(400, "ProposalNotOpen", `Proposal ${proposalId} is currently in state ${state} - only Open proposals can receive votes`);
}
