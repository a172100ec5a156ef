// CCF's /gov API in its API-versioned form (api-version=2024-07-01): signed
// member requests to propose, vote, withdraw and acknowledge the state
// digest, and unsigned reads of proposals, members, users, nodes, the
// constitution, the app and the JWT issuers. Each signed request is one
// transaction: nothing changes unless it succeeds. The deprecated classic
// routes (classic-endpoints.ts) are served from the same router; both call
// the operations in operations.ts.
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { TX_ID_HEADER, jsonResponse, queryParams, textResponse, type HttpRequest, type HttpResponse } from "../http/message.ts";
import type { Builtin } from "../http/builtins.ts";
import { Router } from "../http/router.ts";
import { formatTxId } from "../ids.ts";
import { parseEndpointKey } from "../runtime/bundle.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables, idKey } from "../tables.ts";
import { addClassicRoutes } from "./classic-endpoints.ts";
import type { Constitution, ConstitutionRunner } from "./constitution.ts";
import { dryRunProposal } from "./dry-run.ts";
import { memberRequest, memberStatus } from "./member-requests.ts";
import { ackStateDigest, parseJson, readJson, submitBallot, submitProposal, updateStateDigest, withdrawProposal } from "./operations.ts";
import { ApplyFailed, ProposalTables, notFound, proposalView, readProposal, type Failure, type ProposalInfo } from "./proposals.ts";

export const GOV_API_VERSIONS = ["2023-06-01-preview", "2024-07-01"];

export interface GovEndpointsOptions {
  history: History;
  constitution: Constitution;
  /** Called after each committed governance transaction (e.g. to load a newly deployed app at once). */
  onCommit?: () => void;
}

export type Params = Record<string, string>;

/** Runs a signed request's work in a transaction; `applyFailure` is set on the retry after an accepted proposal's apply() threw. */
export type SignedRun = (tx: Tx, runner: ConstitutionRunner, request: HttpRequest, params: Params, applyFailure?: Failure) => HttpResponse;

/** How /gov endpoints are added: reads on a read-only transaction, signed writes in a transaction committed on 2xx. */
export interface GovRoutes {
  read(path: string, summary: string, handle: (tx: Tx, params: Params, request: HttpRequest) => HttpResponse): void;
  /** `recordApplyFailure`: when apply() throws, discard the writes and run again with the failure recorded (else a 500). */
  write(path: string, summary: string, recordApplyFailure: boolean, run: SignedRun): void;
}

function checkApiVersion(request: HttpRequest): void {
  const version = queryParams(request.query).get("api-version");
  if (version !== undefined && !GOV_API_VERSIONS.includes(version)) {
    throw new CcfError(400, "UnsupportedApiVersionValue", `Unsupported api-version '${version}'. The supported api-versions are: ${GOV_API_VERSIONS.join(", ")}`);
  }
}

/** Adds routes to `router`; `versioned` routes check api-version (CCF's classic routes ignore it). */
export function govRoutes(router: Router<Builtin>, options: GovEndpointsOptions, versioned: boolean): GovRoutes {
  const { history, constitution } = options;
  const check = versioned ? checkApiVersion : () => {};
  return {
    read: (path, summary, handle) =>
      router.add("GET", path, {
        summary,
        handle: (request, params) => {
          check(request);
          return handle(history.store.beginReadOnly(), params, request);
        },
      }),
    write: (path, summary, recordApplyFailure, run) =>
      router.add("POST", path, {
        summary,
        handle: async (request, params) => {
          check(request);
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
      }),
  };
}

export function govRouter(options: GovEndpointsOptions): Router<Builtin> {
  const { history, constitution } = options;
  const router = new Router<Builtin>();
  const routes = govRoutes(router, options, true);
  const get = (path: string, summary: string, handle: (tx: Tx, params: Params) => HttpResponse) => routes.read(path, summary, handle);
  const signed = routes.write;

  signed("/gov/members/proposals:create", "Submit a proposal (COSE Sign1, ccf.gov.msg.type proposal)", false, (tx, runner, request) => {
    const { proposalId, info } = submitProposal(tx, runner, history.merkleRoot(), memberRequest(tx, request, { type: "proposal", active: true }));
    return jsonResponse(200, proposalView(proposalId, info));
  });

  // Confide's own (CCF has no dry-run): the :create body, run and always discarded.
  router.add("POST", "/gov/members/proposals:dry-run", {
    summary: "Confide extension: what a proposal (the COSE Sign1 body of :create) would do (validate, :create's answer, apply()'s KV and endpoint diff); nothing is kept",
    handle: async (request) => {
      checkApiVersion(request);
      return jsonResponse(200, dryRunProposal(history, await constitution.runner(), request));
    },
  });

  signed("/gov/members/proposals/{proposalId}/ballots/{memberId}:submit", "Submit a ballot (COSE Sign1, ccf.gov.msg.type ballot)", true, (tx, runner, request, params, applyFailure) => {
    const proposalId = params.proposalId!;
    const signedRequest = memberRequest(tx, request, { type: "ballot", active: true, proposalId });
    if (signedRequest.memberId !== params.memberId) {
      throw new CcfError(403, ErrorCode.AuthorizationFailed, `Member ${signedRequest.memberId} cannot submit a ballot for member ${params.memberId}.`);
    }
    return jsonResponse(200, proposalView(proposalId, submitBallot(tx, runner, proposalId, signedRequest, applyFailure)));
  });

  signed("/gov/members/proposals/{proposalId}:withdraw", "Withdraw a proposal (COSE Sign1, ccf.gov.msg.type withdrawal)", false, (tx, _runner, request, params) => {
    const proposalId = params.proposalId!;
    const signedRequest = memberRequest(tx, request, { type: "withdrawal", active: true, proposalId });
    const info = withdrawProposal(tx, proposalId, signedRequest.memberId);
    // As CCF: withdrawing is idempotent, and a proposal no longer kept (finished, then forgotten) may have existed.
    if (info === undefined) return { status: 204, headers: {}, body: Buffer.alloc(0) };
    return jsonResponse(200, proposalView(proposalId, info));
  });

  signed("/gov/members/state-digests/{memberId}:update", "Get the state digest to acknowledge (COSE Sign1, ccf.gov.msg.type state_digest)", false, (tx, _runner, request, params) => {
    const signedRequest = memberRequest(tx, request, { type: "state_digest", active: false });
    if (signedRequest.memberId !== params.memberId) throw new CcfError(403, ErrorCode.AuthorizationFailed, "A member can only update its own state digest.");
    const stateDigest = updateStateDigest(tx, signedRequest.memberId, history.merkleRoot().toString("hex"), false);
    return jsonResponse(200, { memberId: signedRequest.memberId, stateDigest });
  });

  signed("/gov/members/state-digests/{memberId}:ack", "Acknowledge the state digest: the member becomes Active (COSE Sign1, ccf.gov.msg.type ack)", false, (tx, _runner, request, params) => {
    const signedRequest = memberRequest(tx, request, { type: "ack", active: false });
    if (signedRequest.memberId !== params.memberId) throw new CcfError(403, ErrorCode.AuthorizationFailed, "A member can only acknowledge its own state digest.");
    const { stateDigest } = parseJson<{ stateDigest?: unknown }>(signedRequest.payload, "Ack");
    ackStateDigest(tx, signedRequest.memberId, stateDigest, request.body);
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
    const ack = readJson<{ state_digest?: string }>(tx, Tables.membersAcks, idKey(params.memberId!));
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
      const { method, path } = parseEndpointKey(key);
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
  addClassicRoutes(govRoutes(router, options, false), history);
  return router;
}
