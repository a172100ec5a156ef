// A client of one Confide (or CCF) service over HTTPS: it trusts only the
// service certificate, as `curl --cacert service_cert.pem` does, and may
// present a user's or member's certificate. App calls go under /app; commit
// status and receipts come from the built-in /node endpoints.
import { Agent, request as httpsRequest } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { ccfError, parseJsonOrUndefined, type Receipt, type TxStatus } from "@confide/sdk";
import type { Identity } from "./keys.ts";

/** A request that gets no answer in this time fails rather than hanging a script. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Larger answers are refused: no CCF endpoint legitimately sends this much. */
export const RESPONSE_BYTES_MAX = 64 * 1024 * 1024;
/** How long waitForCommit waits by default: a few signature intervals (CCF's default is 1 s). */
export const COMMIT_TIMEOUT_MS = 10_000;
const COMMIT_POLL_MS = 50;
/** The node answers 202 while it fetches historical state; a receipt normally follows within a few tries. */
const RECEIPT_ATTEMPTS = 50;
const RECEIPT_RETRY_MS = 100;

export interface ClientOptions {
  /** https://host:port of a node. */
  url: string;
  /** The service certificate (service_cert.pem): the only certificate authority trusted. */
  serviceCertPem: string;
  /** A client certificate for CCF's user_cert / member_cert policies. */
  identity?: Identity;
  requestTimeoutMs?: number;
}

export interface CcfResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body parsed as JSON when the response says it is JSON, else undefined. */
  json: unknown;
  /** x-ms-ccf-transaction-id: the transaction that ran (write) or whose state was read. */
  txId?: string;
}

export type RequestBody = Buffer | string | Record<string, unknown> | unknown[];

export interface RequestOptions {
  /** A Buffer or string is sent as is; anything else as JSON. */
  body?: RequestBody;
  headers?: Record<string, string>;
}

/** The service answered with an error: HTTP status and CCF's {"error": {code, message}}. */
export class CcfClientError extends Error {
  override name = "CcfClientError";

  constructor(
    readonly status: number,
    /** CCF's error code (e.g. "ProposalFailedToValidate"); undefined when the body carried none. */
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }

  static fromResponse(response: CcfResponse): CcfClientError {
    const error = ccfError(response.json);
    return new CcfClientError(response.status, error?.code, error?.message ?? (response.text.trim() || `HTTP ${response.status}`));
  }
}

/** A transaction that did not commit: it became Invalid, or was still Pending/Unknown when the wait ran out. */
export class CommitWaitError extends Error {
  override name = "CommitWaitError";

  constructor(
    readonly txId: string,
    readonly status: TxStatus,
    timeoutMs: number,
  ) {
    super(status === "Invalid" ? `transaction ${txId} is Invalid (rolled back)` : `transaction ${txId} still ${status} after ${timeoutMs} ms`);
  }
}

export class ConfideClient {
  readonly url: string;
  readonly serviceCertPem: string;
  private readonly agent: Agent;
  private readonly requestTimeoutMs: number;
  private latestTxId: string | undefined;

  constructor(options: ClientOptions) {
    this.url = options.url;
    this.serviceCertPem = options.serviceCertPem;
    this.requestTimeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
    const identity = options.identity ? { cert: options.identity.certPem, key: options.identity.keyPem } : {};
    this.agent = new Agent({ keepAlive: true, ca: options.serviceCertPem, ...identity });
  }

  /** Sends one request and returns whatever the service answered, errors included. */
  request(method: string, path: string, options: RequestOptions = {}): Promise<CcfResponse> {
    const { body, headers = {} } = options;
    const json = body !== undefined && typeof body !== "string" && !Buffer.isBuffer(body);
    const payload = body === undefined ? undefined : json ? Buffer.from(JSON.stringify(body)) : Buffer.from(body as Buffer | string);
    const allHeaders = { ...(json ? { "content-type": "application/json" } : {}), ...headers };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, this.url), { method, agent: this.agent, headers: allHeaders }, (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on("data", (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > RESPONSE_BYTES_MAX) req.destroy(new Error(`response to ${method} ${path} exceeds ${RESPONSE_BYTES_MAX} bytes`));
          else chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => {
          const response = toResponse(res.statusCode ?? 0, res.headers, Buffer.concat(chunks));
          if (response.txId !== undefined) this.latestTxId = laterTxId(this.latestTxId, response.txId);
          resolve(response);
        });
      });
      req.setTimeout(this.requestTimeoutMs, () => req.destroy(new Error(`${method} ${path}: no answer within ${this.requestTimeoutMs} ms`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /**
   * The latest transaction id any answer to this client carried (x-ms-ccf-transaction-id): once
   * it is Committed, so is every write this client made and every state it read.
   */
  get lastTxId(): string | undefined {
    return this.latestTxId;
  }

  /** Sends one request; an error status throws CcfClientError. */
  async call(method: string, path: string, options: RequestOptions = {}): Promise<CcfResponse> {
    const response = await this.request(method, path, options);
    if (response.status >= 400) throw CcfClientError.fromResponse(response);
    return response;
  }

  // App endpoints: `path` is relative to /app ("/greetings/alice").
  get(path: string, headers?: Record<string, string>): Promise<CcfResponse> {
    return this.call("GET", appPath(path), headers ? { headers } : {});
  }

  post(path: string, body?: RequestBody, headers?: Record<string, string>): Promise<CcfResponse> {
    return this.call("POST", appPath(path), withBody(body, headers));
  }

  put(path: string, body?: RequestBody, headers?: Record<string, string>): Promise<CcfResponse> {
    return this.call("PUT", appPath(path), withBody(body, headers));
  }

  delete(path: string, headers?: Record<string, string>): Promise<CcfResponse> {
    return this.call("DELETE", appPath(path), headers ? { headers } : {});
  }

  /** The last committed transaction id ("2.42"). */
  async commit(): Promise<string> {
    const { json } = await this.call("GET", "/node/commit");
    return (json as { transaction_id: string }).transaction_id;
  }

  async txStatus(txId: string): Promise<TxStatus> {
    const { json } = await this.call("GET", `/node/tx?transaction_id=${encodeURIComponent(txId)}`);
    return (json as { status: TxStatus }).status;
  }

  /** Polls /node/tx until `txId` is Committed; throws CommitWaitError if it is Invalid or the time runs out. */
  async waitForCommit(txId: string, options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? COMMIT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.txStatus(txId);
      if (status === "Committed") return;
      if (status === "Invalid" || Date.now() >= deadline) throw new CommitWaitError(txId, status, timeoutMs);
      await sleep(COMMIT_POLL_MS);
    }
  }

  /** The receipt of a committed transaction (CCF's JSON shape). */
  async receipt(txId: string): Promise<Receipt> {
    return (await this.historical(`/app/receipt?transaction_id=${encodeURIComponent(txId)}`, `receipt for ${txId}`)).json as Receipt;
  }

  /** The COSE receipt of a committed transaction (CBOR); a signature transaction has none (404 CcfClientError). */
  async coseReceipt(txId: string): Promise<Buffer> {
    return (await this.historical(`/app/receipt/cose?transaction_id=${encodeURIComponent(txId)}`, `COSE receipt for ${txId}`)).body;
  }

  /** A historical query, asking again while the node answers 202 (fetching it), a bounded number of times. */
  private async historical(path: string, what: string): Promise<CcfResponse> {
    for (let attempt = 1; ; attempt++) {
      const response = await this.call("GET", path);
      if (response.status === 200) return response;
      if (attempt >= RECEIPT_ATTEMPTS) throw new CcfClientError(response.status, undefined, `${what} still not available after ${attempt} attempts`);
      await sleep(RECEIPT_RETRY_MS);
    }
  }

  /** Closes kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

function appPath(path: string): string {
  return `/app${path.startsWith("/") ? path : `/${path}`}`;
}

/** The later of two transaction ids ("2.17"): seqnos only grow, so the higher seqno is the later transaction. */
export function laterTxId(a: string | undefined, b: string): string {
  if (a === undefined) return b;
  const seqno = (id: string) => Number(id.slice(id.indexOf(".") + 1));
  return seqno(b) > seqno(a) ? b : a;
}

function withBody(body: RequestBody | undefined, headers: Record<string, string> | undefined): RequestOptions {
  return { ...(body === undefined ? {} : { body }), ...(headers ? { headers } : {}) };
}

function toResponse(status: number, headers: IncomingHttpHeaders, body: Buffer): CcfResponse {
  const text = body.toString("utf8");
  const json = /^application\/(.+\+)?json/i.test(headers["content-type"] ?? "") ? parseJsonOrUndefined(text) : undefined;
  const txId = headers["x-ms-ccf-transaction-id"];
  return { status, headers, body, text, json, ...(typeof txId === "string" ? { txId } : {}) };
}
