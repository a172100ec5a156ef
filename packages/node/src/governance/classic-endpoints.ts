// CCF's classic /gov API (src/node/rpc/member_frontend.h): the routes without
// api-version that CCF 5.x and 6.x still serve, deprecated since 5.0 and
// removed in 7.0. Confide reports ccf-6.0.1, so it serves them too, for the
// scripts written against them (the ccf-app-samples governance scripts).
// They run the same operations as the API-versioned routes (operations.ts)
// on the same tables; what differs is the wire: snake_case shapes
// (`proposal_id`, `state`, `state_digest`), a few other status codes (an
// inactive member is 403, not 401), `/gov/ack/update_state_digest` by TLS
// client certificate, and the generated `/gov/kv/...` readers of each
// governance table.
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { jsonResponse, textResponse, type HttpRequest, type HttpResponse } from "../http/message.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import type { GovRoutes } from "./endpoints.ts";
import { memberByCertOrSignature, memberRequest, memberStatus, type GovMessageType, type MemberRequest } from "./member-requests.ts";
import { ackStateDigest, parseJson, submitBallot, submitProposal, updateStateDigest, withdrawProposal } from "./operations.ts";
import { ProposalTables, readProposal, type ProposalInfo } from "./proposals.ts";

/** CCF's ProposalInfoSummary, the answer to a classic proposal or ballot. */
function proposalSummary(proposalId: string, info: ProposalInfo): Record<string, unknown> {
  return {
    proposal_id: proposalId,
    proposer_id: info.proposer_id,
    state: info.state,
    ballot_count: Object.keys(info.ballots).length,
    ...(info.final_votes ? { votes: info.final_votes } : {}),
    ...(info.vote_failures ? { vote_failures: info.vote_failures } : {}),
    ...(info.failure ? { failure: info.failure } : {}),
  };
}

function proposalNotFound(proposalId: string, status: number): CcfError {
  return new CcfError(status, "ProposalNotFound", `Proposal ${proposalId} does not exist.`);
}

/** A signed request of `type` from an Active member: the classic routes check the status themselves (403). */
function activeMemberRequest(tx: Tx, request: HttpRequest, type: GovMessageType, proposalId?: string): MemberRequest {
  const signed = memberRequest(tx, request, { type, active: false });
  if (memberStatus(tx, signed.memberId) !== "Active") throw new CcfError(403, ErrorCode.AuthorizationFailed, `Member ${signed.memberId} is not active.`);
  if (proposalId !== undefined && signed.proposalId !== proposalId) {
    throw new CcfError(400, "InvalidResourceName", "Authenticated proposal id does not match URL");
  }
  return signed;
}

/** The classic routes discard a proposal that ends Failed (resolve or apply threw) and answer 500. */
function unlessFailed(proposalId: string, info: ProposalInfo): HttpResponse {
  if (info.state === "Failed") throw new CcfError(500, ErrorCode.InternalError, `Proposal ${proposalId} failed: ${info.failure?.reason ?? "unknown reason"}`);
  return jsonResponse(200, proposalSummary(proposalId, info));
}

/** How a table's values read as JSON: stored JSON, raw text (PEM, JS source, ids) or raw bytes (base64). */
type Codec = "json" | "text" | "base64";
type Shape = "map" | "value" | "set";

/** The governance tables CCF 6 wraps as GET /gov/kv/<name with . as />. */
const KV_TABLES: ReadonlyArray<readonly [name: string, shape: Shape, codec: Codec]> = [
  ["constitution", "value", "json"],
  ["cose_history", "map", "base64"],
  ["cose_recent_proposals", "map", "text"],
  ["endpoints", "map", "json"],
  ["history", "map", "json"],
  ["interpreter.flush", "value", "json"],
  ["js_runtime_options", "value", "json"],
  ["jwt.issuers", "map", "json"],
  ["jwt.public_signing_key", "map", "base64"],
  ["jwt.public_signing_key_issuer", "map", "text"],
  ["jwt.public_signing_keys_metadata", "map", "json"],
  ["jwt.public_signing_keys_metadata_v2", "map", "json"],
  ["members.acks", "map", "json"],
  ["members.certs", "map", "text"],
  ["members.encryption_public_keys", "map", "text"],
  ["members.info", "map", "json"],
  ["modules", "map", "text"],
  ["modules_quickjs_bytecode", "map", "base64"],
  ["modules_quickjs_version", "value", "text"],
  ["nodes.code_ids", "map", "json"],
  ["nodes.endorsed_certificates", "map", "text"],
  ["nodes.info", "map", "json"],
  ["nodes.snp.host_data", "map", "json"],
  ["nodes.snp.measurements", "map", "json"],
  ["nodes.snp.tcb_versions", "map", "json"],
  ["nodes.snp.uvm_endorsements", "map", "json"],
  ["nodes.virtual.host_data", "set", "text"],
  ["nodes.virtual.measurements", "map", "json"],
  ["proposals", "map", "base64"],
  ["proposals_info", "map", "json"],
  ["service.acme_certificates", "map", "text"],
  ["service.config", "value", "json"],
  ["service.info", "value", "json"],
  ["service.previous_service_identity", "value", "text"],
  ["tls.ca_cert_bundles", "map", "json"],
  ["users.certs", "map", "text"],
  ["users.info", "map", "json"],
];

function decode(value: Buffer, codec: Codec): unknown {
  if (codec === "base64") return value.toString("base64");
  const text = value.toString("utf8");
  return codec === "text" ? text : JSON.parse(text);
}

/** CCF's KV wrapper: a map as {key: value}, a value as itself (204 when unset), a set as [key]. */
function kvTable(tx: Tx, table: string, shape: Shape, codec: Codec): HttpResponse {
  const map = tx.map(table);
  if (shape === "value") {
    const value = map.get(SENTINEL_KEY);
    return value === undefined ? { status: 204, headers: {}, body: Buffer.alloc(0) } : jsonResponse(200, decode(value, codec));
  }
  if (shape === "set") {
    const keys: string[] = [];
    map.forEach((_, key) => keys.push(key.toString("utf8")));
    return jsonResponse(200, keys);
  }
  const entries: Record<string, unknown> = {};
  map.forEach((value, key) => (entries[key.toString("utf8")] = decode(value, codec)));
  return jsonResponse(200, entries);
}

/** CCF's FullMemberDetails of every member: {member_id: {status, member_data, cert, public_encryption_key}}. */
function allMembers(tx: Tx): Record<string, unknown> {
  const members: Record<string, unknown> = {};
  tx.map(Tables.membersInfo).forEach((value, key) => {
    const info = JSON.parse(value.toString("utf8")) as { status?: string; member_data?: unknown };
    const cert = tx.map(Tables.membersCerts).get(key);
    const encryptionKey = tx.map(Tables.membersEncryptionKeys).get(key);
    members[key.toString("utf8")] = {
      status: info.status,
      member_data: info.member_data ?? null,
      cert: cert?.toString("utf8") ?? "",
      public_encryption_key: encryptionKey?.toString("utf8") ?? null,
    };
  });
  return members;
}

function recoveryShareNotFound(memberId: string): CcfError {
  // Confide keeps no recovery shares yet (recovery is stubbed), so no member has one: CCF's answer then.
  return new CcfError(404, ErrorCode.ResourceNotFound, `Recovery share not found for member ${memberId}.`);
}

export function addClassicRoutes(routes: GovRoutes, history: History): void {
  const { read, write } = routes;

  write("/gov/ack/update_state_digest", "Update and fetch the state digest to acknowledge (deprecated: member cert, or COSE Sign1 state_digest)", false, (tx, _runner, request) => {
    const memberId = memberByCertOrSignature(tx, request, "state_digest");
    return jsonResponse(200, { state_digest: updateStateDigest(tx, memberId, history.merkleRoot().toString("hex"), true) });
  });
  write("/gov/ack", "Acknowledge the state digest: the member becomes Active (deprecated: COSE Sign1 ack)", false, (tx, _runner, request) => {
    const signed = memberRequest(tx, request, { type: "ack", active: false });
    const { state_digest } = parseJson<{ state_digest?: unknown }>(signed.payload, "Ack");
    ackStateDigest(tx, signed.memberId, state_digest, request.body);
    return { status: 204, headers: {}, body: Buffer.alloc(0) };
  });

  write("/gov/proposals", "Submit a proposal (deprecated: COSE Sign1 proposal)", false, (tx, runner, request) => {
    const { proposalId, info } = submitProposal(tx, runner, history.merkleRoot(), activeMemberRequest(tx, request, "proposal"));
    return unlessFailed(proposalId, info);
  });
  write("/gov/proposals/{proposal_id}/ballots", "Submit a ballot (deprecated: COSE Sign1 ballot)", false, (tx, runner, request, params) => {
    const proposalId = params.proposal_id!;
    return unlessFailed(proposalId, submitBallot(tx, runner, proposalId, activeMemberRequest(tx, request, "ballot", proposalId)));
  });
  write("/gov/proposals/{proposal_id}/withdraw", "Withdraw a proposal (deprecated: COSE Sign1 withdrawal)", false, (tx, _runner, request, params) => {
    const proposalId = params.proposal_id!;
    const signed = activeMemberRequest(tx, request, "withdrawal", proposalId);
    const info = withdrawProposal(tx, proposalId, signed.memberId);
    if (info === undefined) throw proposalNotFound(proposalId, 400);
    return jsonResponse(200, info);
  });

  read("/gov/proposals", "Open proposals (deprecated)", (tx) => {
    const open: Record<string, unknown> = {};
    tx.map(ProposalTables.info).forEach((value, key) => {
      const info = JSON.parse(value.toString("utf8")) as ProposalInfo;
      if (info.state === "Open") open[key.toString("utf8")] = info;
    });
    return jsonResponse(200, open);
  });
  read("/gov/proposals/{proposal_id}", "One proposal (deprecated)", (tx, params) => {
    const found = readProposal(tx, params.proposal_id!);
    if (found === undefined) throw proposalNotFound(params.proposal_id!, 404);
    return jsonResponse(200, found.info);
  });
  read("/gov/proposals/{proposal_id}/actions", "A proposal's actions, as submitted (deprecated)", (tx, params) => {
    const found = readProposal(tx, params.proposal_id!);
    if (found === undefined) throw proposalNotFound(params.proposal_id!, 404);
    return textResponse(200, found.proposal, "application/json");
  });
  read("/gov/proposals/{proposal_id}/ballots/{member_id}", "A member's ballot (deprecated)", (tx, params) => {
    const { proposal_id: proposalId, member_id: memberId } = params as { proposal_id: string; member_id: string };
    const found = readProposal(tx, proposalId);
    if (found === undefined) throw proposalNotFound(proposalId, 404);
    const ballot = found.info.ballots[memberId];
    if (ballot === undefined) throw new CcfError(404, "VoteNotFound", `Member ${memberId} has not voted for proposal ${proposalId}.`);
    return jsonResponse(200, { ballot });
  });
  read("/gov/members", "Members (deprecated)", (tx) => jsonResponse(200, allMembers(tx)));
  read("/gov/jwt_keys/all", "JWT signing keys by key id (deprecated)", (tx) => {
    const keys: Record<string, unknown> = {};
    tx.map(Tables.jwtPublicSigningKeys).forEach((value, key) => {
      const entries = JSON.parse(value.toString("utf8")) as Array<{ issuer: string }>;
      // CCF 6 fills only the issuer: the certificate of a key is no longer kept.
      keys[key.toString("utf8")] = entries.map((entry) => ({ issuer: entry.issuer, cert: "" }));
    });
    return jsonResponse(200, keys);
  });

  read("/gov/encrypted_recovery_share/{member_id}", "A member's encrypted recovery share (deprecated)", (_tx, params) => {
    throw recoveryShareNotFound(params.member_id!);
  });
  write("/gov/recovery_share", "Submit a recovery share (deprecated: member cert, or COSE Sign1 recovery_share)", false, (tx, _runner, request) => {
    const memberId = memberByCertOrSignature(tx, request, "recovery_share");
    if (memberStatus(tx, memberId) !== "Active") throw new CcfError(403, ErrorCode.AuthorizationFailed, "Member is not active.");
    throw new CcfError(403, "ServiceNotWaitingForRecoveryShares", "Service is not waiting for recovery shares.");
  });
  read("/gov/recovery_share", "The caller's encrypted recovery share (deprecated: member cert, or COSE Sign1 encrypted_recovery_share)", (tx, _params, request) => {
    const memberId = memberByCertOrSignature(tx, request, "encrypted_recovery_share", false);
    if (memberStatus(tx, memberId) !== "Active") throw new CcfError(403, ErrorCode.AuthorizationFailed, "Only active members are given recovery shares.");
    throw recoveryShareNotFound(memberId);
  });

  for (const [name, shape, codec] of KV_TABLES) {
    read(`/gov/kv/${name.replaceAll(".", "/")}`, "This route is auto-generated from the KV schema (deprecated)", (tx) => kvTable(tx, `public:ccf.gov.${name}`, shape, codec));
  }
}
