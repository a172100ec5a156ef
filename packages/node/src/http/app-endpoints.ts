// Serves the deployed JS app's endpoints (/app/...): authenticate the caller,
// run the handler in a transaction, commit its writes on 2xx (or when the app
// asked with ccf.rpc.setApplyWrites), and answer as CCF does. The app is read
// from the KV (public:ccf.gov.modules / endpoints), so a new deployment is
// picked up by the next request after the transaction that stored it.
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { formatTxId, parseTxId, seqNo, view as toView, type TxId } from "../ids.ts";
import type { Tx } from "../kv/tx.ts";
import type { Log } from "../log.ts";
import { EntryNotHeldError } from "../ledger/ledger.ts";
import { HISTORICAL_RETRY_AFTER_S, JS_CACHED_INTERPRETERS_MAX } from "../limits.ts";
import { readAppTables, type AppDefinition, type EndpointProperties } from "../runtime/bundle.ts";
import { CallState } from "../runtime/call-state.ts";
import { DamagedEntryError, type HistoricalStates, type HistoricalTx } from "../runtime/historical.ts";
import { InterpreterCache } from "../runtime/interpreter-cache.ts";
import { DEFAULT_JS_RUNTIME_OPTIONS, JsExecutionError, type AppInterpreter, type AppResponse, type JsRuntimeOptions } from "../runtime/interpreter.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { authenticate } from "./auth/policies.ts";
import { TX_ID_HEADER, type HttpRequest, type HttpResponse } from "./message.ts";
import type { EndpointMetrics } from "./metrics.ts";
import { Router, type RouteMatch } from "./router.ts";
import { SourceMaps } from "../runtime/source-maps.ts";

export const APP_PREFIX = "/app";

export interface AppEndpoint {
  method: string;
  /** Path as in the app's metadata, without the /app prefix. */
  path: string;
  properties: EndpointProperties;
}

interface DeployedApp {
  /** Versions of the tables the app was read from: a change means a new deployment. */
  version: string;
  definition: AppDefinition;
  router: Router<AppEndpoint>;
  interpreters: InterpreterCache;
  options: JsRuntimeOptions;
  /** The modules' inline source maps, for traces in the app's own sources. */
  sourceMaps: SourceMaps;
}

export interface AppEndpointsOptions {
  history: History;
  historical: HistoricalStates;
  log: Log;
  metrics: EndpointMetrics;
}

// A write to any of these is a new deployment, with new interpreters (interpreter.flush is CCF's own signal for that).
const APP_TABLES = [Tables.modules, Tables.modulesQuickjsBytecode, Tables.modulesQuickjsVersion, Tables.endpoints, Tables.jsRuntimeOptions, Tables.interpreterFlush];

export class AppEndpoints {
  private deployed: DeployedApp | undefined;
  private openAt: { version: number; open: boolean } | undefined;

  constructor(private readonly options: AppEndpointsOptions) {}

  /** The deployed app's endpoints (for OpenAPI), or [] if none. */
  endpoints(): AppEndpoint[] {
    return this.current() ? [...this.current()!.router.entries()].map((entry) => entry.value) : [];
  }

  /** Builds the interpreter of the deployed app now (after a deployment) rather than on its first request. */
  async prepare(): Promise<void> {
    await this.current()?.interpreters.prepare();
  }

  /** The forwarding_required of the app endpoint the request names, if it names one. */
  forwardingOf(request: HttpRequest): "always" | "sometimes" | "never" | undefined {
    try {
      return this.current()?.router.match(request.method, request.path)?.value.properties.forwarding_required;
    } catch {
      return undefined; // a wrong method: handle() answers it
    }
  }

  /** WebAssembly memory held by the deployed app's interpreters (0 without an app). */
  async jsMemoryBytes(): Promise<number> {
    return (await this.current()?.interpreters.memoryBytes()) ?? 0;
  }

  /** Handles the request if it names an app endpoint; undefined otherwise (built-ins may serve it). */
  async handle(request: HttpRequest): Promise<HttpResponse | undefined> {
    const app = this.current();
    const match = app?.router.match(request.method, request.path);
    if (app === undefined || match === undefined) return undefined;
    // As in CCF, the app's endpoints answer only once governance has opened the service.
    if (!this.serviceOpen()) throw new CcfError(404, ErrorCode.FrontendNotOpen, "Frontend is not open.");
    const interpreter = await app.interpreters.get(match.value.properties.interpreter_reuse);
    return this.run(app, interpreter, match, request);
  }

  /** Whether service.info says Open, re-read only when that table changes. */
  private serviceOpen(): boolean {
    const version = this.options.history.store.mapState(Tables.serviceInfo)?.lastWriteVersion ?? 0;
    if (this.openAt?.version !== version) this.openAt = { version, open: serviceStatus(this.options.history) === "Open" };
    return this.openAt.open;
  }

  private current(): DeployedApp | undefined {
    const { store } = this.options.history;
    const version = APP_TABLES.map((table) => store.mapState(table)?.lastWriteVersion ?? 0).join(".");
    if (this.deployed?.version === version) return this.deployed;
    const tx = store.beginReadOnly();
    const definition = readAppTables(tx);
    const options = readRuntimeOptions(tx);
    if (definition === undefined) {
      this.deployed = undefined;
      return undefined;
    }
    const router = new Router<AppEndpoint>();
    for (const endpoint of definition.endpoints) router.add(endpoint.method, APP_PREFIX + endpoint.path, endpoint);
    const { history, historical, log } = this.options;
    const services = { history, historical, log: (level: keyof Log, message: string) => log[level](message) };
    this.deployed = { version, definition, router, options, interpreters: new InterpreterCache(definition, services, options), sourceMaps: new SourceMaps(definition.modules) };
    return this.deployed;
  }

  private run(app: DeployedApp, interpreter: AppInterpreter, match: RouteMatch<AppEndpoint>, request: HttpRequest): HttpResponse {
    const { history } = this.options;
    const { properties } = match.value;
    const readWrite = properties.mode === "readwrite";
    const tx = readWrite ? history.begin() : history.store.beginReadOnly();
    const started = performance.now();
    let response: HttpResponse;
    let status = 500;
    try {
      const caller = authenticate(properties.authn_policies, request, (table, key) => tx.map(table).get(key), Math.floor(Date.now() / 1000));
      const historical = properties.mode === "historical" ? this.historicalState(request) : undefined;
      const state = new CallState(tx, readWrite ? "application" : "read-only application");
      const appResponse = this.call(interpreter, app, match, request, caller, state, historical);
      const keep = readWrite && (isSuccess(appResponse.status) || state.applyWrites);
      tx.claimsDigest = state.claimsDigest;
      const txId = keep ? (history.commit(tx) ?? readTxId(history, tx)) : readTxId(history, tx);
      response = toHttpResponse(appResponse, txId);
      status = response.status;
      if (state.metricsLogging) {
        this.options.log.info(
          `JS execution complete: Method=${request.method}, Path=${match.route}, Status=${response.status}, ExecMilliseconds=${Math.round(performance.now() - started)}`,
        );
      }
    } catch (error) {
      if (error instanceof CcfError) status = error.status;
      throw error;
    } finally {
      if (tx.isOpen) tx.abort();
      this.options.metrics.record(request.method, match.route, status, performance.now() - started);
      this.options.metrics.recordKv(tx.counts);
    }
    return response;
  }

  private call(
    interpreter: AppInterpreter,
    app: DeployedApp,
    match: RouteMatch<AppEndpoint>,
    request: HttpRequest,
    caller: Record<string, unknown> | null,
    state: CallState,
    historical: HistoricalTx | undefined,
  ): AppResponse {
    const { properties } = match.value;
    const { options } = app;
    const url = request.query === "" ? request.path : `${request.path}?${request.query}`;
    const appRequest = {
      method: request.method,
      path: request.path,
      query: request.query,
      url,
      route: match.route,
      hostname: request.headers.host ?? null,
      headers: request.headers,
      params: match.params,
      body: request.body,
      caller,
    };
    try {
      return interpreter.call(properties.js_module, properties.js_function, appRequest, state, historical);
    } catch (error) {
      if (!(error instanceof JsExecutionError)) throw error;
      const where = `${request.method} ${match.route}`;
      const trace = app.sourceMaps.mapTrace(error.jsError.stack);
      if (options.logExceptionDetails) this.options.log.error(`${where}: ${error.message}\n${trace}`);
      else this.options.log.warn(`${where}: JS ${error.failure}: ${error.jsError.name}: ${error.jsError.message}`);
      const message = error.failure === "timeout" ? "Operation took too long to complete." : "Exception thrown while executing.";
      const details = options.returnExceptionDetails
        ? [{ code: "JSException", message: `${error.jsError.name}: ${error.jsError.message}`, trace }]
        : undefined;
      throw new CcfError(500, ErrorCode.InternalError, message, details);
    }
  }

  /** For historical endpoints: the state at the tx id the client names in x-ms-ccf-transaction-id. */
  private historicalState(request: HttpRequest): HistoricalTx {
    const header = request.headers[TX_ID_HEADER];
    if (header === undefined) {
      throw new CcfError(400, ErrorCode.MissingRequiredHeader, `Historical query is missing '${TX_ID_HEADER}' header.`);
    }
    const id = parseTxId(header);
    if (id === undefined) {
      throw new CcfError(400, ErrorCode.InvalidHeaderValue, `The value '${header}' in header '${TX_ID_HEADER}' could not be converted to a valid Tx ID.`);
    }
    return historicalOrRetry(this.options.history, this.options.historical, id);
  }
}

/** The committed state at `id`, or the CCF error a client gets while it is unknown, invalid or being fetched. */
export function historicalOrRetry(history: History, historical: HistoricalStates, id: TxId): HistoricalTx {
  const status = history.txStatus(id);
  if (status === "Invalid") throw new CcfError(404, ErrorCode.TransactionInvalid, `Transaction ${formatTxId(id)} is invalid.`);
  if (status !== "Committed") {
    throw new CcfError(404, ErrorCode.TransactionPendingOrUnknown, `Transaction ${formatTxId(id)} is pending or unknown.`, undefined, {
      "cache-control": "no-cache",
    });
  }
  let state: HistoricalTx | undefined;
  try {
    state = historical.get(id);
  } catch (error) {
    if (error instanceof DamagedEntryError) throw new CcfError(500, ErrorCode.InternalError, error.message);
    if (error instanceof EntryNotHeldError) {
      throw new CcfError(404, ErrorCode.TransactionNotFound, `Transaction ${formatTxId(id)} is committed, but this node does not hold its ledger entry: ${error.message}; ask a node that holds the whole ledger.`);
    }
    throw error;
  }
  if (state === undefined) {
    throw new HistoricalPending(formatTxId(id));
  }
  return state;
}

/** 202 Accepted with retry-after while historical state is fetched: not an error, but answered the same way. */
export class HistoricalPending extends CcfError {
  constructor(txId: string) {
    super(202, "Accepted", `Historical transaction ${txId} is not currently available.`, undefined, { "retry-after": String(HISTORICAL_RETRY_AFTER_S) });
  }
}

function isSuccess(status: number): boolean {
  return status >= 200 && status < 300;
}

/** The id of the state a transaction read (what CCF reports for reads). */
function readTxId(history: History, tx: Tx): TxId | undefined {
  const seqno = tx.readVersion;
  if (seqno === 0) return undefined;
  return { view: toView(history.viewOf(seqno) ?? 0), seqno: seqNo(seqno) };
}

function toHttpResponse(response: AppResponse, txId: TxId | undefined): HttpResponse {
  const headers: Record<string, string> = {};
  if (response.contentType !== undefined) headers["content-type"] = response.contentType;
  for (const [name, value] of Object.entries(response.headers)) headers[name.toLowerCase()] = value;
  if (txId !== undefined) headers[TX_ID_HEADER] = formatTxId(txId);
  return { status: response.status, headers, body: response.body ?? Buffer.alloc(0) };
}

function serviceStatus(history: History): string | undefined {
  const info = history.store.beginReadOnly().map(Tables.serviceInfo).get(SENTINEL_KEY);
  return info === undefined ? undefined : (JSON.parse(info.toString("utf8")) as { status?: string }).status;
}

/** CCF's js_runtime_options as stored by set_js_runtime_options (snake_case), over the defaults. */
function readRuntimeOptions(tx: Tx): JsRuntimeOptions {
  const stored = tx.map(Tables.jsRuntimeOptions).get(SENTINEL_KEY);
  if (stored === undefined) return DEFAULT_JS_RUNTIME_OPTIONS;
  const value = JSON.parse(stored.toString("utf8")) as Record<string, unknown>;
  const number = (key: string, fallback: number) => (typeof value[key] === "number" ? (value[key] as number) : fallback);
  // A count (CCF reads it as size_t): a non-negative integer, else the default.
  const count = (key: string, fallback: number) => (Number.isSafeInteger(value[key]) && (value[key] as number) >= 0 ? (value[key] as number) : fallback);
  const flag = (key: string, fallback: boolean) => (typeof value[key] === "boolean" ? (value[key] as boolean) : fallback);
  return {
    maxHeapBytes: number("max_heap_bytes", DEFAULT_JS_RUNTIME_OPTIONS.maxHeapBytes),
    maxStackBytes: number("max_stack_bytes", DEFAULT_JS_RUNTIME_OPTIONS.maxStackBytes),
    maxExecutionTimeMs: number("max_execution_time_ms", DEFAULT_JS_RUNTIME_OPTIONS.maxExecutionTimeMs),
    returnExceptionDetails: flag("return_exception_details", DEFAULT_JS_RUNTIME_OPTIONS.returnExceptionDetails),
    logExceptionDetails: flag("log_exception_details", DEFAULT_JS_RUNTIME_OPTIONS.logExceptionDetails),
    maxCachedInterpreters: Math.min(JS_CACHED_INTERPRETERS_MAX, count("max_cached_interpreters", DEFAULT_JS_RUNTIME_OPTIONS.maxCachedInterpreters)),
  };
}
