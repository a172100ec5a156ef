// One bounded HTTPS request to a service other than a Confide node (a key
// service, an identity provider's JWKS), answered as JSON.
import { request } from "node:https";
import { parseJsonOrUndefined } from "@confide/sdk";

/** Such answers are a few keys or a signature: a larger body is not the service asked for. */
const RESPONSE_BYTES_MAX = 1024 * 1024;
/** These services answer in milliseconds; a stalled one fails the command instead of hanging it. */
const REQUEST_TIMEOUT_MS = 10_000;

export interface JsonReply {
  status: number;
  /** The body parsed, undefined if it is not JSON. */
  json: unknown;
  text: string;
}

export interface JsonRequest {
  method?: "GET" | "POST";
  body?: string;
  headers?: Record<string, string>;
  /** CA certificates (PEM) to trust; Node's default CAs otherwise. */
  ca?: string;
}

/** Rejects (with an Error naming the service) only when no answer came: any status is a reply. */
export function httpsJson(url: URL, options: JsonRequest = {}): Promise<JsonReply> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.body === undefined ? {} : { "content-type": "application/json", "content-length": String(Buffer.byteLength(options.body)) }) };
    const fail = (why: string) => new Error(`${url.origin}: ${why}`);
    const req = request(url, { method: options.method ?? "GET", headers, timeout: REQUEST_TIMEOUT_MS, ...(options.ca === undefined ? {} : { ca: options.ca }) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > RESPONSE_BYTES_MAX) req.destroy(fail(`sent more than ${RESPONSE_BYTES_MAX} bytes`));
        else chunks.push(chunk);
      });
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const json = parseJsonOrUndefined(text);
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on("timeout", () => req.destroy(fail(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", (error) => reject(error.message.startsWith(url.origin) ? error : fail(error.message)));
    req.end(options.body);
  });
}
