// CCF's built-in endpoints: /node/... (node and network state), and on every
// frontend (/app, /gov, /node) the common ones: commit, tx, api, api/metrics,
// receipt and receipt/cose. None needs authentication.
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { formatTxId, parseTxId, type TxId } from "../ids.ts";
import { ENGINE_VERSION } from "../runtime/engine.ts";
import type { HistoricalStates, HistoricalTx } from "../runtime/historical.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { APP_PREFIX, historicalOrRetry, type AppEndpoint } from "./app-endpoints.ts";
import { jsonResponse, queryParams, textResponse, type HttpRequest, type HttpResponse } from "./message.ts";
import { prometheusText, type EndpointMetrics, type NodeMetrics } from "./metrics.ts";
import { openApiDocument, type DocumentedEndpoint } from "./openapi.ts";
import { Router } from "./router.ts";

/** The CCF release whose client contract Confide follows. */
export const CCF_VERSION = "ccf-6.0.1";
export const CONFIDE_VERSION = "0.1.0";

export interface BuiltinContext {
  history: History;
  historical: HistoricalStates;
  metrics: EndpointMetrics;
  nodeId: string;
  serviceCertPem: string;
  nodeCertPem: string;
  /** "host:port" clients reach this node at. */
  rpcAddress: () => string;
  /** Seqno the node started from (replayed), CCF's startup_seqno. */
  startupSeqno: number;
  appEndpoints: () => AppEndpoint[];
  /** WebAssembly memory of the app's interpreters, for /node/metrics. */
  jsMemoryBytes: () => Promise<number>;
  /** Built-in endpoints served by other parts of the node (governance), for the OpenAPI documents. */
  otherRouters: Router<Builtin>[];
  /** The node's consensus in a multi-node service; absent, the node is alone and its own primary. */
  consensus?: ConsensusStatus;
}

/** What the node endpoints show of consensus (consensus/driver.ts ConsensusDriver has it). */
export interface ConsensusStatus {
  readonly role: "primary" | "backup" | "candidate" | "retired";
  readonly primaryId: string | undefined;
  readonly view: number;
  readonly listenAddress: string;
  /** The nodes of each active configuration, the committed one first. */
  readonly configurations: readonly (readonly string[])[];
  /** On a primary: each backup's acknowledged seqno and how long ago it was heard. */
  readonly acks: ReadonlyMap<string, { seqno: number; lastReceivedMs: number }>;
  addresses(): Map<string, string>;
}

/** The primary as this node knows it: itself when alone. */
function primaryId(context: BuiltinContext): string | undefined {
  return context.consensus ? context.consensus.primaryId : context.nodeId;
}

/** CCF's leadership_state names. */
const LEADERSHIP = { primary: "Leader", backup: "Follower", candidate: "Candidate", retired: "Follower" } as const;

export interface Builtin {
  summary: string;
  handle(request: HttpRequest, params: Record<string, string>): HttpResponse | Promise<HttpResponse>;
}

const FRONTENDS = [APP_PREFIX, "/gov", "/node"];

export function builtinRouter(context: BuiltinContext): Router<Builtin> {
  const router = new Router<Builtin>();
  const get = (path: string, summary: string, handle: Builtin["handle"]) => router.add("GET", path, { summary, handle });
  const { history } = context;

  for (const prefix of FRONTENDS) {
    get(`${prefix}/commit`, "Latest committed transaction", () => jsonResponse(200, { transaction_id: formatTxId(history.lastCommitted) }));
    get(`${prefix}/tx`, "Status of a transaction", (request) => {
      const id = txIdQuery(request);
      return jsonResponse(200, { transaction_id: formatTxId(id), status: history.txStatus(id) });
    });
    get(`${prefix}/api`, "OpenAPI document of this frontend", () => jsonResponse(200, apiDocument(prefix, router, context)));
    get(`${prefix}/api/metrics`, "Per-endpoint call counts", () => jsonResponse(200, context.metrics.report(prefix)));
    get(`${prefix}/receipt`, "Receipt of a committed transaction", (request) => {
      const state = historicalOrRetry(history, context.historical, txIdQuery(request));
      return jsonResponse(200, state.receipt);
    });
    get(`${prefix}/receipt/cose`, "COSE receipt of a committed transaction (CBOR)", (request) => coseReceiptResponse(historicalOrRetry(history, context.historical, txIdQuery(request))));
  }

  get("/node/state", "State of this node", () =>
    jsonResponse(200, {
      node_id: context.nodeId,
      state: "PartOfNetwork",
      last_signed_seqno: history.signatures.at(-1) ?? 0,
      startup_seqno: context.startupSeqno,
    }),
  );
  get("/node/version", "Versions of this node", () => jsonResponse(200, { ccf_version: CCF_VERSION, confide_version: CONFIDE_VERSION, quickjs_version: ENGINE_VERSION, unsafe: false }));
  get("/node/network", "Service identity and status", () => {
    const info = serviceInfo(history);
    return jsonResponse(200, {
      service_certificate: context.serviceCertPem,
      service_status: info.status ?? "Opening",
      current_view: context.consensus?.view ?? history.view,
      primary_id: primaryId(context) ?? null,
      recovery_count: info.recovery_count ?? 0,
      service_data: info.service_data ?? null,
      current_service_create_txid: info.current_service_create_txid ?? null,
    });
  });
  get("/node/service/previous_identity", "The identity of the service this one recovered (its receipts verify with it)", () => {
    const previous = history.store.beginReadOnly().map(Tables.previousServiceIdentity).get(SENTINEL_KEY);
    if (previous === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, "This service is not a recovery of another: it has no previous service identity.");
    return jsonResponse(200, { previous_service_identity: previous.toString("utf8") });
  });
  get("/node/network/nodes", "Nodes of the network", () => jsonResponse(200, { nodes: networkNodes(context) }));
  get("/node/network/nodes/{node_id}", "One node of the network", (_, params) => {
    const node = networkNodes(context).find((n) => n.node_id === params.node_id);
    if (!node) throw new CcfError(404, ErrorCode.ResourceNotFound, `Node ${params.node_id} does not exist.`);
    return jsonResponse(200, node);
  });
  get("/node/network/nodes/self", "This node", () => jsonResponse(200, networkNodes(context).find((n) => n.node_id === context.nodeId)));
  get("/node/network/nodes/primary", "The primary node", () => {
    const primary = networkNodes(context).find((n) => n.primary);
    if (!primary) throw new CcfError(503, ErrorCode.PrimaryNotFound, "No primary is known to this node (an election may be under way); try again.");
    return jsonResponse(200, primary);
  });
  const isRole = (role: "primary" | "backup") => () => {
    const current = context.consensus?.role ?? "primary";
    if (current !== role) throw new CcfError(404, ErrorCode.ResourceNotFound, `This node is not ${role === "primary" ? "the primary" : "a backup"}: it is ${current}.`);
    return { status: 200, headers: {}, body: Buffer.alloc(0) };
  };
  get("/node/primary", "Whether this node is primary", isRole("primary"));
  get("/node/backup", "Whether this node is a backup", isRole("backup"));
  get("/node/consensus", "Consensus state of this node", () => jsonResponse(200, { details: consensusDetails(context) }));
  // A node whose ledger behind its snapshot fails verification still serves its current state, but is
  // unhealthy: a load balancer or operator probing readiness should take it out and look at its log.
  for (const path of ["/node/ready/app", "/node/ready/gov"]) {
    get(path, "Ready to serve", () => {
      const check = history.preSnapshotCheck;
      if (check?.state === "damaged") throw new CcfError(503, ErrorCode.InternalError, `Node is unhealthy: its ledger fails verification: ${check.error.message}`);
      return { status: 204, headers: {}, body: Buffer.alloc(0) };
    });
  }
  for (const path of ["/node/quotes", "/node/attestations"]) {
    get(path, "Attestations of the nodes (virtual platform: none)", () => jsonResponse(200, { [path.endsWith("quotes") ? "quotes" : "attestations"]: [virtualQuote(context.nodeId)] }));
    get(`${path}/self`, "Attestation of this node", () => jsonResponse(200, virtualQuote(context.nodeId)));
  }
  get("/node/metrics", "Per-endpoint counts and latencies, KV reads and writes, memory (JSON, or Prometheus text with Accept: text/plain)", async (request) => {
    const usage = process.memoryUsage();
    const metrics: NodeMetrics = {
      endpoints: context.metrics.endpoints(),
      kv: { ...context.metrics.kv },
      js: { interpreters_memory_bytes: await context.jsMemoryBytes() },
      process: { heap_used_bytes: usage.heapUsed, rss_bytes: usage.rss },
    };
    if (/\btext\/plain\b/.test(request.headers.accept ?? "")) return textResponse(200, prometheusText(metrics), "text/plain; version=0.0.4");
    return jsonResponse(200, metrics);
  });
  get("/node/memory", "Memory use of this node", () => {
    const usage = process.memoryUsage();
    return jsonResponse(200, { current_allocated_heap_size: usage.heapUsed, peak_allocated_heap_size: usage.heapTotal, max_total_heap_size: usage.rss });
  });
  return router;
}

/** application/cose: a signature transaction has none (CCF: 404), nor one whose signature predates COSE signatures. */
function coseReceiptResponse(state: HistoricalTx): HttpResponse {
  if (state.receipt.leaf !== undefined) {
    throw new CcfError(404, ErrorCode.ResourceNotFound, `No COSE receipt for transaction ${state.transactionId}: it is a signature transaction.`);
  }
  if (state.coseReceipt === undefined) {
    throw new CcfError(404, ErrorCode.ResourceNotFound, `No COSE receipt for transaction ${state.transactionId}: the signature covering it carries no COSE signature (it was written before COSE signatures).`);
  }
  return { status: 200, headers: { "content-type": "application/cose" }, body: state.coseReceipt };
}

function txIdQuery(request: HttpRequest): TxId {
  const text = queryParams(request.query).get("transaction_id");
  if (text === undefined) throw new CcfError(400, ErrorCode.InvalidQueryParameterValue, "Missing query parameter 'transaction_id'.");
  const id = parseTxId(text);
  if (id === undefined) {
    throw new CcfError(400, ErrorCode.InvalidQueryParameterValue, `The value '${text}' passed as query parameter 'transaction_id' could not be converted to a valid Tx ID.`);
  }
  return id;
}

function serviceInfo(history: History): Record<string, unknown> {
  const value = history.store.beginReadOnly().map(Tables.serviceInfo).get(SENTINEL_KEY);
  return value === undefined ? {} : (JSON.parse(value.toString("utf8")) as Record<string, unknown>);
}

function networkNodes(context: BuiltinContext): Array<Record<string, unknown> & { node_id: string; primary: boolean }> {
  const nodes: Array<Record<string, unknown> & { node_id: string; primary: boolean }> = [];
  const primary = primaryId(context);
  context.history.store.beginReadOnly().map(Tables.nodesInfo).forEach((value, key) => {
    const info = JSON.parse(value.toString("utf8")) as Record<string, unknown>;
    const nodeId = key.toString("utf8");
    nodes.push({
      node_id: nodeId,
      status: info.status,
      primary: nodeId === primary,
      rpc_interfaces: info.rpc_interfaces ?? {},
      node_data: info.node_data ?? null,
      last_written: context.history.lastSeqno,
    });
  });
  return nodes;
}

/** CCF's /node/consensus details: this node's view of the protocol. */
function consensusDetails(context: BuiltinContext): Record<string, unknown> {
  const consensus = context.consensus;
  if (consensus === undefined) {
    const self = { [context.nodeId]: { address: null } };
    return { primary_id: context.nodeId, current_view: context.history.view, leadership_state: "Leader", membership_state: "Active", ticking: false, configs: [{ idx: 0, nodes: self }], acks: {} };
  }
  const addresses = consensus.addresses();
  addresses.set(context.nodeId, consensus.listenAddress);
  return {
    primary_id: consensus.primaryId ?? null,
    current_view: consensus.view,
    leadership_state: LEADERSHIP[consensus.role],
    membership_state: consensus.role === "retired" ? "Retired" : "Active",
    ticking: consensus.role !== "retired",
    configs: consensus.configurations.map((nodes, idx) => ({ idx, nodes: Object.fromEntries(nodes.map((id) => [id, { address: addresses.get(id) ?? null }])) })),
    acks: Object.fromEntries([...consensus.acks].map(([id, ack]) => [id, { seqno: ack.seqno, last_received_ms: ack.lastReceivedMs }])),
  };
}

function virtualQuote(nodeId: string): Record<string, unknown> {
  return { node_id: nodeId, raw: "", endorsements: "", format: "Insecure_Virtual" };
}

function apiDocument(prefix: string, router: Router<Builtin>, context: BuiltinContext): Record<string, unknown> {
  const endpoints: DocumentedEndpoint[] = [];
  for (const table of [router, ...context.otherRouters]) {
    for (const { method, template, value } of table.entries()) {
      if (template.startsWith(`${prefix}/`)) endpoints.push({ method, path: template, operation: { summary: value.summary } });
    }
  }
  if (prefix === APP_PREFIX) {
    for (const endpoint of context.appEndpoints()) {
      if (endpoint.properties.openapi_hidden) continue;
      endpoints.push({ method: endpoint.method, path: APP_PREFIX + endpoint.path, operation: endpoint.properties.openapi });
    }
  }
  const titles: Record<string, string> = { [APP_PREFIX]: "CCF Application API", "/gov": "CCF Governance API", "/node": "CCF Public Node API" };
  return openApiDocument(titles[prefix]!, CONFIDE_VERSION, endpoints);
}
