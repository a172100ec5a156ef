// Dispatches a request: the deployed app's endpoints first (under /app), then
// the built-in endpoints; an unknown path is 404. Every expected failure is a
// CcfError turned into CCF's `{"error": {"code", "message"}}`; anything else is
// a 500 logged with its stack.
import { CcfError, ErrorCode, NotPrimaryError } from "../errors.ts";
import type { History } from "../history/history.ts";
import type { Log } from "../log.ts";
import type { HistoricalStates } from "../runtime/historical.ts";
import { AppEndpoints, HistoricalPending } from "./app-endpoints.ts";
import { UnknownAuthPolicyError } from "./auth/policies.ts";
import { builtinRouter, type Builtin, type BuiltinContext, type ConsensusStatus } from "./builtins.ts";
import { acceptForwarded, FORWARDED_CLIENT_CERT_HEADER, type Forwarder } from "./forwarding.ts";
import { errorResponse, textResponse, type HttpRequest, type HttpResponse } from "./message.ts";
import { EndpointMetrics } from "./metrics.ts";
import type { RouteMatch, Router } from "./router.ts";

export interface FrontendOptions {
  history: History;
  /** Historical state for app handlers and receipts (shared with whatever else runs JS on this node). */
  historical: HistoricalStates;
  log: Log;
  nodeId: string;
  serviceCertPem: string;
  nodeCertPem: string;
  rpcAddress: () => string;
  /** The node's consensus, in a multi-node service (none: a node alone, its own primary). */
  consensus?: ConsensusStatus;
  /** Sends writes that reach this node as a backup on to the primary (a node of a multi-node service). */
  forwarder?: Forwarder;
  /** False while the app must not be served (a recovering service, until its private state is back). */
  appOpen?: () => boolean;
  /** More built-in endpoints (e.g. governance's /gov API), tried after the node's own. */
  routers?: Router<Builtin>[];
}

export class Frontend {
  private readonly app: AppEndpoints;
  private readonly builtins: Router<Builtin>[];
  private readonly metrics = new EndpointMetrics();
  readonly historical: HistoricalStates;

  constructor(private readonly options: FrontendOptions) {
    const { history, log } = options;
    this.historical = options.historical;
    this.app = new AppEndpoints({ history, historical: this.historical, log, metrics: this.metrics });
    const context: BuiltinContext = {
      history,
      historical: this.historical,
      metrics: this.metrics,
      nodeId: options.nodeId,
      serviceCertPem: options.serviceCertPem,
      nodeCertPem: options.nodeCertPem,
      rpcAddress: options.rpcAddress,
      startupSeqno: history.lastSeqno,
      appEndpoints: () => this.app.endpoints(),
      jsMemoryBytes: () => this.app.jsMemoryBytes(),
      otherRouters: options.routers ?? [],
      ...(options.consensus ? { consensus: options.consensus } : {}),
    };
    this.builtins = [builtinRouter(context), ...(options.routers ?? [])];
  }

  /** Gets the deployed app ready to serve (call after a deployment commits). */
  prepare(): Promise<void> {
    return this.app.prepare();
  }

  async handle(received: HttpRequest): Promise<HttpResponse> {
    let request = received;
    try {
      const forwarded = request.headers[FORWARDED_CLIENT_CERT_HEADER] !== undefined;
      if (forwarded) request = acceptForwarded(request, this.options.history.store);
      // A forwarded request is never forwarded again: if this node is no longer primary, the caller retries.
      const forwarder = forwarded ? undefined : this.options.forwarder;
      if (forwarder === undefined) return await this.dispatch(request);
      const forwarding = this.app.forwardingOf(request);
      if (forwarding === "always" && this.options.consensus?.role !== "primary") return await forwarder.forward(request);
      try {
        return await this.dispatch(request);
      } catch (error) {
        // It wrote, on a backup: nothing was kept here; the primary runs it again for real.
        if (error instanceof NotPrimaryError && forwarding !== "never") return await forwarder.forward(request);
        throw error;
      }
    } catch (error) {
      return this.failure(request, error);
    }
  }

  /** Runs the request on this node: the app's endpoint, else a built-in one. */
  private async dispatch(request: HttpRequest): Promise<HttpResponse> {
    if (this.options.appOpen?.() === false && (request.path === "/app" || request.path.startsWith("/app/"))) {
      throw new CcfError(404, ErrorCode.FrontendNotOpen, "Frontend is not open.");
    }
    const fromApp = await this.app.handle(request);
    if (fromApp !== undefined) return fromApp;
    const builtin = this.matchBuiltin(request);
    if (builtin === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, `Unknown path: ${request.path}.`);
    let status = 500;
    const started = performance.now();
    try {
      const response = await builtin.value.handle(request, builtin.params);
      status = response.status;
      return response;
    } catch (error) {
      if (error instanceof CcfError) status = error.status;
      throw error;
    } finally {
      this.metrics.record(request.method, builtin.route, status, performance.now() - started);
    }
  }

  private matchBuiltin(request: HttpRequest): RouteMatch<Builtin> | undefined {
    let methodError: CcfError | undefined;
    for (const router of this.builtins) {
      try {
        const match = router.match(request.method, request.path);
        if (match !== undefined) return match;
      } catch (error) {
        // A 405 from one table only stands if no other table serves the method.
        if (!(error instanceof CcfError) || error.status !== 405) throw error;
        methodError ??= error;
      }
    }
    if (methodError !== undefined) throw methodError;
    return undefined;
  }

  private failure(request: HttpRequest, error: unknown): HttpResponse {
    // Not an error: CCF answers "come back later" as plain text.
    if (error instanceof HistoricalPending) return textResponse(error.status, error.message, "text/plain", error.headers);
    if (error instanceof CcfError) return errorResponse(error);
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UnknownAuthPolicyError) {
      this.options.log.error(`${request.method} ${request.path}: the app's endpoint names an unknown auth policy: ${message}`);
    } else {
      this.options.log.error(`${request.method} ${request.path}: ${error instanceof Error ? error.stack : message}`);
    }
    return errorResponse(new CcfError(500, ErrorCode.InternalError, message));
  }
}
