// CCF's /gov API in its API-versioned form (api-version=2024-07-01): signed
// member requests to propose, vote, withdraw and acknowledge the state
// digest, and unsigned reads of proposals, members, users, nodes, the
// constitution, the app and the JWT issuers. Each signed request is one
// transaction: nothing changes unless it succeeds.
import { createHash } from "node:crypto";
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { TX_ID_HEADER, jsonResponse, queryParams, textResponse, type HttpRequest, type HttpResponse } from "../http/message.ts";
import type { Builtin } from "../http/builtins.ts";
import { Router } from "../http/router.ts";
import { formatTxId } from "../ids.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables, idKey } from "../tables.ts";
import type { Constitution, ConstitutionRunner } from "./constitution.ts";
import { memberRequest, memberStatus, recordRecentProposal } from "./member-requests.ts";
import {
  ApplyFailed,
  ProposalTables,
  createProposal,
  failureOf,
  notFound,
  notOpen,
  proposalView,
  readProposal,
  resolveProposal,
  type Failure,
  type ProposalInfo,
} from "./proposals.ts";

export const GOV_API_VERSIONS = ["2023-06-01-preview", "2024-07-01"];

export interface GovEndpointsOptions {
  history: History;
  constitution: Constitution;
  /** Called after each committed governance transaction (e.g. to load a newly deployed app at once). */
  onCommit?: () => void;
}

type Params = Record<string, string>;

const MEMBERS_ACKS = "public:ccf.gov.members.acks";

function checkApiVersion(request: HttpRequest): void {
  const version = queryParams(request.query).get("api-version");
  if (version !== undefined && !GOV_API_VERSIONS.includes(version)) {
    throw new CcfError(400, "UnsupportedApiVersionValue", `Unsupported api-version '${version}'. The supported api-versions are: ${GOV_API_VERSIONS.join(", ")}`);
  }
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString("utf8")) as T;
  } catch (error) {
    throw new CcfError(400, ErrorCode.InvalidInput, `${what} is not valid JSON: ${(error as Error).message}`);
  }
}

const readJson = <T>(tx: Tx, table: string, key: Buffer): T | undefined => {
  const value = tx.map(table).get(key);
  return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
};

export function govRouter(options: GovEndpointsOptions): Router<Builtin> {
  const { history, constitution } = options;
  const router = new Router<Builtin>();
  const get = (path: string, summary: string, handle: (tx: Tx, params: Params) => HttpResponse) =>
    router.add("GET", path, {
      summary,
      handle: (request, params) => {
        checkApiVersion(request);
        return handle(history.store.beginReadOnly(), params);
      },
    });

  /**
   * Runs a signed request in a transaction, committed on 2xx. If an accepted
   * proposal's apply() throws, its writes are discarded and the request is
   * run again with the failure recorded instead (when `recordApplyFailure`).
   */
  const signed = (path: string, summary: string, recordApplyFailure: boolean, run: (tx: Tx, runner: ConstitutionRunner, request: HttpRequest, params: Params, applyFailure?: Failure) => HttpResponse) =>
    router.add("POST", path, {
      summary,
      handle: async (request, params) => {
        checkApiVersion(request);
        const runner = await constitution.runner();
        let applyFailure: Failure | undefined;
        for (;;) {
          const tx = history.begin();
          try {
            const response = run(tx, runner, request, params, applyFailure);
            if (response.status < 200 || response.status >= 300) return response;
            const id = history.commit(tx);
            if (id !== undefined) response.headers[TX_ID_HEADER] = formatTxId(id);
            options.onCommit?.();
            return response;
          } catch (error) {
            if (error instanceof ApplyFailed && recordApplyFailure && applyFailure === undefined) {
              applyFailure = error.failure;
              continue;
            }
            if (error instanceof ApplyFailed) throw new CcfError(500, ErrorCode.InternalError, error.message);
            throw error;
          } finally {
            if (tx.isOpen) tx.abort();
          }
        }
      },
    });

  signed("/gov/members/proposals:create", "Submit a proposal (COSE Sign1, ccf.gov.msg.type proposal)", false, (tx, runner, request) => {
    const signedRequest = memberRequest(tx, request, { type: "proposal", active: true });
    const proposal = signedRequest.payload.toString("utf8");
    const parsed = parseJson<{ actions?: unknown }>(signedRequest.payload, "Proposal");
    if (!Array.isArray(parsed.actions)) throw new CcfError(400, ErrorCode.InvalidInput, "Proposal must be an object with an actions array");
    const proposalId = createHash("sha256").update(history.merkleRoot()).update(createHash("sha256").update(signedRequest.signature).digest()).digest("hex");
    recordRecentProposal(tx, signedRequest.createdAt, signedRequest.signature, proposalId);
    let validation;
    try {
      validation = runner.validate(tx, proposal);
    } catch (error) {
      throw new CcfError(400, "ProposalFailedToValidate", `Proposal failed to validate: ${failureOf(error).reason}`);
    }
    if (!validation.valid) throw new CcfError(400, "ProposalFailedToValidate", `Proposal failed to validate: ${validation.description}`);
    const info = createProposal(tx, runner, proposalId, signedRequest.memberId, proposal);
    return jsonResponse(200, proposalView(proposalId, info));
  });

  signed("/gov/members/proposals/{proposalId}/ballots/{memberId}:submit", "Submit a ballot (COSE Sign1, ccf.gov.msg.type ballot)", true, (tx, runner, request, params, applyFailure) => {
    const proposalId = params.proposalId!;
    const signedRequest = memberRequest(tx, request, { type: "ballot", active: true, proposalId });
    if (signedRequest.memberId !== params.memberId) {
      throw new CcfError(403, ErrorCode.AuthorizationFailed, `Member ${signedRequest.memberId} cannot submit a ballot for member ${params.memberId}.`);
    }
    const found = readProposal(tx, proposalId);
    if (found === undefined) throw notFound(proposalId);
    if (found.info.state !== "Open") throw notOpen(proposalId, found.info.state);
    if (found.info.ballots[signedRequest.memberId] !== undefined) {
      throw new CcfError(400, "VoteAlreadyExists", `Vote already submitted by ${signedRequest.memberId}.`);
    }
    const { ballot } = parseJson<{ ballot?: unknown }>(signedRequest.payload, "Ballot");
    if (typeof ballot !== "string") throw new CcfError(400, ErrorCode.InvalidInput, 'Ballot must be an object {"ballot": "<JS module exporting vote>"}');
    try {
      runner.vote(tx, ballot, found.proposal, found.info.proposer_id);
    } catch (error) {
      // Confide refuses a ballot that cannot be evaluated, rather than storing it as a vote failure.
      throw new CcfError(400, ErrorCode.InvalidInput, `Ballot failed to evaluate: ${failureOf(error).reason}`);
    }
    const info: ProposalInfo = { ...found.info, ballots: { ...found.info.ballots, [signedRequest.memberId]: ballot } };
    return jsonResponse(200, proposalView(proposalId, resolveProposal(tx, runner, proposalId, found.proposal, info, applyFailure)));
  });

  signed("/gov/members/proposals/{proposalId}:withdraw", "Withdraw a proposal (COSE Sign1, ccf.gov.msg.type withdrawal)", false, (tx, _runner, request, params) => {
    const proposalId = params.proposalId!;
    const signedRequest = memberRequest(tx, request, { type: "withdrawal", active: true, proposalId });
    const found = readProposal(tx, proposalId);
    // As CCF: withdrawing is idempotent, and a proposal no longer kept (finished, then forgotten) may have existed.
    if (found === undefined) return { status: 204, headers: {}, body: Buffer.alloc(0) };
    if (found.info.proposer_id !== signedRequest.memberId) {
      throw new CcfError(403, ErrorCode.AuthorizationFailed, `Proposal ${proposalId} can only be withdrawn by its proposer ${found.info.proposer_id}.`);
    }
    if (found.info.state !== "Open") throw notOpen(proposalId, found.info.state);
    const info: ProposalInfo = { ...found.info, state: "Withdrawn" };
    tx.map(ProposalTables.info).set(Buffer.from(proposalId), Buffer.from(JSON.stringify(info)));
    return jsonResponse(200, proposalView(proposalId, info));
  });

  signed("/gov/members/state-digests/{memberId}:update", "Get the state digest to acknowledge (COSE Sign1, ccf.gov.msg.type state_digest)", false, (tx, _runner, request, params) => {
    const signedRequest = memberRequest(tx, request, { type: "state_digest", active: false });
    if (signedRequest.memberId !== params.memberId) throw new CcfError(403, ErrorCode.AuthorizationFailed, "A member can only update its own state digest.");
    const stateDigest = history.merkleRoot().toString("hex");
    tx.map(MEMBERS_ACKS).set(idKey(signedRequest.memberId), Buffer.from(JSON.stringify({ state_digest: stateDigest })));
    return jsonResponse(200, { memberId: signedRequest.memberId, stateDigest });
  });

  signed("/gov/members/state-digests/{memberId}:ack", "Acknowledge the state digest: the member becomes Active (COSE Sign1, ccf.gov.msg.type ack)", false, (tx, _runner, request, params) => {
    const signedRequest = memberRequest(tx, request, { type: "ack", active: false });
    if (signedRequest.memberId !== params.memberId) throw new CcfError(403, ErrorCode.AuthorizationFailed, "A member can only acknowledge its own state digest.");
    const { stateDigest } = parseJson<{ stateDigest?: unknown }>(signedRequest.payload, "Ack");
    const ack = readJson<{ state_digest?: string }>(tx, MEMBERS_ACKS, idKey(signedRequest.memberId));
    if (ack?.state_digest === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, "No state digest to acknowledge: call :update first.");
    if (stateDigest !== ack.state_digest) {
      throw new CcfError(400, "StateDigestMismatch", `Submitted state digest is not valid: expected ${ack.state_digest}, got ${String(stateDigest)}.`);
    }
    const info = readJson<Record<string, unknown>>(tx, Tables.membersInfo, idKey(signedRequest.memberId))!;
    tx.map(Tables.membersInfo).set(idKey(signedRequest.memberId), Buffer.from(JSON.stringify({ ...info, status: "Active" })));
    tx.map(MEMBERS_ACKS).set(idKey(signedRequest.memberId), Buffer.from(JSON.stringify({ state_digest: ack.state_digest, cose_sign1: request.body.toString("base64") })));
    return { status: 204, headers: {}, body: Buffer.alloc(0) };
  });

  get("/gov/members/proposals", "All proposals", (tx) => {
    const value: unknown[] = [];
    tx.map(ProposalTables.info).forEach((info, key) => value.push(proposalView(key.toString("utf8"), JSON.parse(info.toString("utf8")) as ProposalInfo)));
    return jsonResponse(200, { value });
  });
  get("/gov/members/proposals/{proposalId}", "One proposal", (tx, params) => {
    const found = readProposal(tx, params.proposalId!);
    if (found === undefined) throw notFound(params.proposalId!);
    return jsonResponse(200, proposalView(params.proposalId!, found.info));
  });
  get("/gov/members/proposals/{proposalId}/actions", "A proposal's actions, as submitted", (tx, params) => {
    const found = readProposal(tx, params.proposalId!);
    if (found === undefined) throw notFound(params.proposalId!);
    return textResponse(200, found.proposal, "application/json");
  });
  get("/gov/members/proposals/{proposalId}/ballots/{memberId}", "A member's ballot on a proposal", (tx, params) => {
    const found = readProposal(tx, params.proposalId!);
    if (found === undefined) throw notFound(params.proposalId!);
    const ballot = found.info.ballots[params.memberId!];
    if (ballot === undefined) throw new CcfError(404, "VoteNotFound", `Member ${params.memberId} has not voted on proposal ${params.proposalId}.`);
    return textResponse(200, ballot, "text/javascript");
  });
  get("/gov/members/state-digests/{memberId}", "A member's state digest", (tx, params) => {
    const ack = readJson<{ state_digest?: string }>(tx, MEMBERS_ACKS, idKey(params.memberId!));
    if (ack?.state_digest === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, `No state digest for member ${params.memberId}.`);
    return jsonResponse(200, { memberId: params.memberId, stateDigest: ack.state_digest });
  });

  get("/gov/service/info", "Service identity, status and configuration", (tx) => {
    const info = readJson<Record<string, unknown>>(tx, Tables.serviceInfo, SENTINEL_KEY) ?? {};
    const config = readJson<Record<string, unknown>>(tx, Tables.serviceConfig, SENTINEL_KEY) ?? {};
    return jsonResponse(200, {
      status: info.status,
      certificate: info.cert,
      recoveryCount: info.recovery_count ?? 0,
      creationTransactionId: info.current_service_create_txid ?? "1.1",
      ...(info.service_data !== undefined && info.service_data !== null ? { serviceData: info.service_data } : {}),
      configuration: {
        recoveryThreshold: config.recovery_threshold,
        maximumNodeCertificateValidityDays: config.maximum_node_certificate_validity_days,
        recentCoseProposalsWindowSize: config.recent_cose_proposals_window_size,
      },
    });
  });
  get("/gov/service/constitution", "The constitution's source", (tx) => {
    const stored = tx.map(Tables.constitution).get(SENTINEL_KEY);
    if (stored === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, "No constitution is set.");
    return textResponse(200, JSON.parse(stored.toString("utf8")) as string, "text/javascript");
  });
  const member = (tx: Tx, id: string) => {
    const cert = tx.map(Tables.membersCerts).get(idKey(id));
    if (cert === undefined) return undefined;
    const info = readJson<{ status?: string; member_data?: unknown; recovery_role?: string }>(tx, Tables.membersInfo, idKey(id)) ?? {};
    const encryptionKey = tx.map(Tables.membersEncryptionKeys).get(idKey(id));
    return {
      memberId: id,
      status: info.status ?? memberStatus(tx, id),
      certificate: cert.toString("utf8"),
      ...(info.member_data !== undefined && info.member_data !== null ? { memberData: info.member_data } : {}),
      ...(info.recovery_role !== undefined ? { recoveryRole: info.recovery_role } : {}),
      ...(encryptionKey !== undefined ? { publicEncryptionKey: encryptionKey.toString("utf8") } : {}),
    };
  };
  const user = (tx: Tx, id: string) => {
    const cert = tx.map(Tables.usersCerts).get(idKey(id));
    if (cert === undefined) return undefined;
    const info = readJson<{ user_data?: unknown }>(tx, Tables.usersInfo, idKey(id)) ?? {};
    return { userId: id, certificate: cert.toString("utf8"), ...(info.user_data !== undefined ? { userData: info.user_data } : {}) };
  };
  const ids = (tx: Tx, table: string) => {
    const found: string[] = [];
    tx.map(table).forEach((_, key) => found.push(key.toString("utf8")));
    return found;
  };
  get("/gov/service/members", "Members", (tx) => jsonResponse(200, { value: ids(tx, Tables.membersCerts).map((id) => member(tx, id)) }));
  get("/gov/service/members/{memberId}", "One member", (tx, params) => {
    const found = member(tx, params.memberId!);
    if (found === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, `Member ${params.memberId} does not exist.`);
    return jsonResponse(200, found);
  });
  get("/gov/service/users", "Users", (tx) => jsonResponse(200, { value: ids(tx, Tables.usersCerts).map((id) => user(tx, id)) }));
  get("/gov/service/users/{userId}", "One user", (tx, params) => {
    const found = user(tx, params.userId!);
    if (found === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, `User ${params.userId} does not exist.`);
    return jsonResponse(200, found);
  });
  get("/gov/service/nodes", "Nodes", (tx) => {
    const value: unknown[] = [];
    tx.map(Tables.nodesInfo).forEach((info, key) => {
      const node = JSON.parse(info.toString("utf8")) as Record<string, unknown>;
      value.push({ nodeId: key.toString("utf8"), status: node.status, certificate: node.cert, quoteInfo: node.quote_info, nodeData: node.node_data ?? null, retiredCommitted: node.retired_committed ?? false });
    });
    return jsonResponse(200, { value });
  });
  get("/gov/service/javascript-app", "The deployed app's endpoints", (tx) => {
    const endpoints: Record<string, Record<string, unknown>> = {};
    tx.map(Tables.endpoints).forEach((value, key) => {
      const [method, path] = key.toString("utf8").split(" ", 2) as [string, string];
      const info = JSON.parse(value.toString("utf8")) as Record<string, unknown>;
      (endpoints[path] ??= {})[method.toLowerCase()] = {
        jsModule: info.js_module,
        jsFunction: info.js_function,
        forwardingRequired: info.forwarding_required,
        authnPolicies: info.authn_policies,
        mode: info.mode,
        openApi: info.openapi ?? {},
      };
    });
    return jsonResponse(200, { endpoints });
  });
  get("/gov/service/javascript-modules", "The deployed app's modules", (tx) => jsonResponse(200, { value: ids(tx, Tables.modules).map((moduleName) => ({ moduleName })) }));
  get("/gov/service/jwk", "JWT issuers and their signing keys", (tx) => {
    const issuers: Record<string, unknown> = {};
    tx.map(Tables.jwtIssuers).forEach((value, key) => (issuers[key.toString("utf8")] = JSON.parse(value.toString("utf8"))));
    const keys: Record<string, unknown> = {};
    tx.map(Tables.jwtPublicSigningKeys).forEach((value, key) => (keys[key.toString("utf8")] = JSON.parse(value.toString("utf8"))));
    return jsonResponse(200, { issuers, keys });
  });
  return router;
}
