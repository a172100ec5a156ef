// Parsing and validation of what callers send: path parameters, JSON bodies,
// query strings. Everything here is pure (no KV access).
import type * as ccfapp from "@microsoft/ccf-app";
import { invalidInput, invalidQuery, ok, refuse, type Checked } from "./errors.ts";

/**
 * Account names are restricted to a URL- and JSON-safe alphabet, so a name
 * reads the same in a path (CCF does not URL-decode path parameters), in a
 * JSON body and in the canonical claim, with no escaping anywhere.
 */
const ACCOUNT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Amounts are whole currency units that JSON numbers carry exactly. */
export const AMOUNT_MAX = Number.MAX_SAFE_INTEGER;

export function accountName(raw: unknown, field: string): Checked<string> {
  if (typeof raw !== "string" || !ACCOUNT_NAME.test(raw)) {
    return refuse(invalidInput(`${field} must be 1-64 characters of A-Z a-z 0-9 _ . -`));
  }
  return ok(raw);
}

export function userId(raw: unknown, field: string): Checked<string> {
  if (typeof raw !== "string" || raw.length === 0) {
    return refuse(invalidInput(`${field} must be a user id (hex SHA-256 of the user's certificate)`));
  }
  // Any other string is checked against the users table: unknown → 404.
  return ok(raw);
}

/** A positive integer that JSON numbers hold exactly: not a string, not 1.5, not 0, not -1, not 1e300. */
export function amount(raw: unknown, field: string): Checked<number> {
  if (typeof raw !== "number" || !Number.isSafeInteger(raw) || raw <= 0) {
    return refuse(invalidInput(`${field} must be a positive integer no greater than ${AMOUNT_MAX}`));
  }
  return ok(raw);
}

/** The request body as a JSON object (not an array, not null). */
export function jsonObject(request: ccfapp.Request): Checked<Record<string, unknown>> {
  let body: unknown;
  try {
    body = request.body.json();
  } catch {
    return refuse(invalidInput("request body must be JSON"));
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return refuse(invalidInput("request body must be a JSON object"));
  }
  return ok(body as Record<string, unknown>);
}

/** `a=1&b=x%20y` → {a: "1", b: "x y"}; CCF hands apps the raw query string. */
export function parseQuery(query: string): Checked<Record<string, string>> {
  const out: Record<string, string> = {};
  if (query === "") return ok(out);
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const rawKey = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? "" : part.slice(eq + 1);
    try {
      out[decodeURIComponent(rawKey.replace(/\+/g, " "))] = decodeURIComponent(rawValue.replace(/\+/g, " "));
    } catch {
      return refuse(invalidQuery("query string is not valid percent-encoding"));
    }
  }
  return ok(out);
}

/** An optional non-negative integer query parameter within [min, max]. */
export function queryInt(query: Record<string, string>, name: string, min: number, max: number): Checked<number | undefined> {
  const raw = query[name];
  if (raw === undefined) return ok(undefined);
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    return refuse(invalidQuery(`${name} must be an integer from ${min} to ${max}`));
  }
  return ok(value);
}

export interface TxId {
  view: number;
  seqno: number;
}

/** "<view>.<seqno>", both positive integers, as CCF formats transaction ids. */
export function txId(raw: string | undefined): Checked<TxId> {
  const match = raw === undefined ? null : /^(\d{1,15})\.(\d{1,15})$/.exec(raw);
  const view = Number(match?.[1]);
  const seqno = Number(match?.[2]);
  if (match === null || view < 1 || seqno < 1) {
    return refuse(invalidQuery("transaction_id must be <view>.<seqno>, e.g. 2.15"));
  }
  return ok({ view, seqno });
}
