// The HTTP request and response as the dispatcher sees them, independent of
// node:https (the server adapter fills and writes them), plus CCF's error form.
import { CcfError } from "../errors.ts";

export interface HttpRequest {
  method: string;
  /** Path without the query, as received (not URL-decoded, as CCF). */
  path: string;
  /** Query string without "?" ("" if none). */
  query: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Buffer;
  /** DER of the TLS client certificate, if the client sent one. */
  clientCertDer: Buffer | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export const TX_ID_HEADER = "x-ms-ccf-transaction-id";

export function jsonResponse(status: number, value: unknown, headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { "content-type": "application/json", ...headers }, body: Buffer.from(JSON.stringify(value)) };
}

export function textResponse(status: number, text: string, contentType = "text/plain", headers: Record<string, string> = {}): HttpResponse {
  return { status, headers: { "content-type": contentType, ...headers }, body: Buffer.from(text) };
}

export function errorResponse(error: CcfError): HttpResponse {
  return jsonResponse(error.status, error.body(), error.headers);
}

/** Parses a query string's parameters (URL-decoded), first value wins. */
export function queryParams(query: string): Map<string, string> {
  const params = new Map<string, string>();
  for (const [key, value] of new URLSearchParams(query)) if (!params.has(key)) params.set(key, value);
  return params;
}
