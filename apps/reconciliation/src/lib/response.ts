// Responses in the envelope of Microsoft's data-reconciliation sample, so its
// clients work unchanged: {content, error, success, failure, statusCode,
// status}. Our additions sit beside those fields, never inside them.
import type * as ccfapp from "@microsoft/ccf-app";
import { ccf } from "@microsoft/ccf-app/global.js";

export interface ErrorBody {
  errorMessage: string;
  errorType: string;
  details?: unknown;
}

export type Envelope = {
  content: unknown;
  error: ErrorBody | null;
  success: boolean;
  failure: boolean;
  statusCode: number;
  status: "Success" | "Error";
} & Record<string, unknown>;

const JSON_HEADERS = { "content-type": "application/json" };

export function succeeded(content: unknown, extra: Record<string, unknown> = {}): Envelope {
  return { content, error: null, success: true, failure: false, statusCode: 200, status: "Success", ...extra };
}

export function failed(statusCode: number, errorType: string, errorMessage: string, details?: unknown): ccfapp.Response<string> {
  const error: ErrorBody = details === undefined ? { errorMessage, errorType } : { errorMessage, errorType, details };
  const envelope: Envelope = { content: null, error, success: false, failure: true, statusCode, status: "Error" };
  return { statusCode, headers: JSON_HEADERS, body: JSON.stringify(envelope) };
}

export function reply(envelope: Envelope): ccfapp.Response<string> {
  return { statusCode: envelope.statusCode, headers: JSON_HEADERS, body: JSON.stringify(envelope) };
}

/**
 * A report reply whose transaction carries, as its claims digest, SHA-256 of
 * the exact UTF-8 body bytes sent: a receipt for the transaction then proves
 * the service produced this very report. Returns the digest (hex).
 */
export function replyWithClaims(envelope: Envelope): { response: ccfapp.Response<string>; digestHex: string } {
  const body = JSON.stringify(envelope);
  const digest = ccf.crypto.digest("SHA-256", ccf.strToBuf(body));
  ccf.rpc.setClaimsDigest(digest);
  let digestHex = "";
  for (const byte of new Uint8Array(digest)) digestHex += byte.toString(16).padStart(2, "0");
  return { response: { statusCode: 200, headers: JSON_HEADERS, body }, digestHex };
}
