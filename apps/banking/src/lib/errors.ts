// Error responses in CCF's shape: {"error": {"code", "message"}}. A non-2xx
// status also makes CCF discard the transaction's writes, so every refusal
// below leaves balances exactly as they were.
import type * as ccfapp from "@microsoft/ccf-app";

export interface ErrorBody {
  error: { code: string; message: string };
}

export type ErrorResponse = ccfapp.Response<ErrorBody>;

export function errorResponse(statusCode: number, code: string, message: string): ErrorResponse {
  return { statusCode, body: { error: { code, message } } };
}

export const invalidInput = (message: string): ErrorResponse => errorResponse(400, "InvalidInput", message);
export const invalidQuery = (message: string): ErrorResponse => errorResponse(400, "InvalidQueryParameterValue", message);
export const notFound = (code: string, message: string): ErrorResponse => errorResponse(404, code, message);

/** Handlers return either a value or a refusal; refusals travel up as-is. */
export type Checked<T> = { ok: true; value: T } | { ok: false; response: ErrorResponse };

export const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
export const refuse = <T>(response: ErrorResponse): Checked<T> => ({ ok: false, response });
