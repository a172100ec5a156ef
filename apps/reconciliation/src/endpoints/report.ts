// GET /app/report (the caller's keys, paged) and GET /app/report/{key}. Each
// reads only the caller's own index and the per-key state of its keys, never
// the rest of the store, and each 200 reply is committed with a claims digest
// of its body, so the caller can fetch a receipt for exactly what it was told.
import type * as ccfapp from "@microsoft/ccf-app";
import { readConfig, type Config } from "../lib/config.ts";
import { partyOf } from "../lib/party.ts";
import { parseQuery } from "../lib/query.ts";
import { failed, replyWithClaims, succeeded, type Envelope } from "../lib/response.ts";
import { reportRow, viewFor } from "../lib/rows.ts";
import { recordReport, Store } from "../lib/store.ts";
import { judgeKey, STATUSES, type KeyVerdict, type Status } from "../lib/verdict.ts";

/** Rows per page: the benchmark's page size, and what the sample's clients see for up to 1,000 keys. */
export const PAGE_ROWS_MAX = 1000;
/** Keys a filtered page may examine before returning what it found with a cursor, bounding one request's work. */
export const PAGE_SCAN_MAX = 5000;

export function report(request: ccfapp.Request): ccfapp.Response<string> {
  const config = readConfig();
  const party = partyOf(request.caller, config.policy);
  if (!party.ok) return failed(403, "Forbidden", party.reason);
  const query = parseQuery(request.query);
  if (query === undefined) return failed(400, "InvalidQuery", "the query string is not well encoded");
  const options = pageOptions(config, query);
  if (typeof options === "string") return failed(400, "InvalidQuery", options);
  const store = new Store(config.dataset);
  const total = store.keyCount(party.party);
  if (options.start > total) return failed(400, "InvalidQuery", "cursor is past the end of your keys");
  const view = viewFor(config.schema, options.view);
  const rows: Record<string, unknown>[] = [];
  let position = options.start;
  const scanEnd = Math.min(total, options.start + (options.status === undefined ? options.limit : PAGE_SCAN_MAX));
  while (position < scanEnd && rows.length < options.limit) {
    const end = Math.min(scanEnd, position + options.limit - rows.length);
    for (const key of store.partyKeysAt(party.party, position, end)) {
      position++;
      const { verdict, revisions } = judge(config, store, key, party.party);
      if (options.status !== undefined && statusFor(verdict, options.attribute) !== options.status) continue;
      rows.push(reportRow(config.schema, view, key, verdict, revisions, options.attribute));
    }
  }
  const extra: Record<string, unknown> = { next_cursor: position < total ? String(position) : null };
  if (options.summary) extra.summary = summarise(config, store, party.party, total);
  return committed(party.party, succeeded(rows, extra));
}

export function reportKey(request: ccfapp.Request): ccfapp.Response<string> {
  const config = readConfig();
  const party = partyOf(request.caller, config.policy);
  if (!party.ok) return failed(403, "Forbidden", party.reason);
  let key: string;
  try {
    key = decodeURIComponent(request.params.key ?? "");
  } catch {
    return failed(400, "InvalidKey", "the key in the path is not well encoded");
  }
  const query = parseQuery(request.query);
  const store = new Store(config.dataset);
  const state = store.keyState(key);
  // The same answer whether or not another party holds the key: it must not leak that.
  if (state === undefined || state[party.party] === undefined) {
    return failed(400, "KeyNotFound", "you have not submitted this key");
  }
  const { verdict, revisions } = judge(config, store, key, party.party);
  const row = reportRow(config.schema, viewFor(config.schema, query?.get("view")), key, verdict, revisions);
  return committed(party.party, succeeded(row));
}

function committed(party: string, envelope: Envelope): ccfapp.Response<string> {
  const { response, digestHex } = replyWithClaims(envelope);
  recordReport(party, digestHex);
  return response;
}

function judge(config: Config, store: Store, key: string, party: string): { verdict: KeyVerdict; revisions: number } {
  const state = store.keyState(key)!;
  return { verdict: judgeKey(config.schema, config.policy, state, party), revisions: state[party]!.r };
}

function statusFor(verdict: KeyVerdict, attribute: string | undefined): Status {
  return attribute === undefined ? verdict.status : verdict.attributes[attribute]!.status;
}

interface PageOptions {
  start: number;
  limit: number;
  status?: Status;
  attribute?: string;
  view?: string;
  summary: boolean;
}

function pageOptions(config: Config, query: Map<string, string>): PageOptions | string {
  const cursor = query.get("cursor");
  const limit = query.get("limit");
  const status = query.get("status");
  const attribute = query.get("attribute");
  const view = query.get("view");
  const summary = query.get("summary");
  const options: PageOptions = { start: 0, limit: PAGE_ROWS_MAX, summary: cursor === undefined };
  if (cursor !== undefined) {
    if (!/^\d{1,15}$/.test(cursor)) return "cursor must be a next_cursor value from a previous page";
    options.start = Number(cursor);
  }
  if (limit !== undefined) {
    if (!/^\d{1,4}$/.test(limit) || Number(limit) < 1 || Number(limit) > PAGE_ROWS_MAX) return `limit must be from 1 to ${PAGE_ROWS_MAX}`;
    options.limit = Number(limit);
  }
  if (status !== undefined) {
    if (!(STATUSES as string[]).includes(status)) return `status must be one of ${STATUSES.join(", ")}`;
    options.status = status as Status;
  }
  if (attribute !== undefined) {
    if (!config.schema.attributes.some((a) => a.name === attribute)) {
      return `attribute must be one of ${config.schema.attributes.map((a) => a.name).join(", ")}`;
    }
    options.attribute = attribute;
  }
  if (view !== undefined) {
    if (view !== "sample" && view !== "detailed") return "view must be sample or detailed";
    options.view = view;
  }
  if (summary !== undefined) {
    if (summary !== "true" && summary !== "false") return "summary must be true or false";
    options.summary = summary === "true";
  }
  return options;
}

type Counts = Record<Status, number>;

const zero = (): Counts => ({ IN_CONSENSUS: 0, LACK_OF_CONSENSUS: 0, NOT_ENOUGH_DATA: 0 });

/** Status counts over all the caller's keys (proportional to them; given on the first page unless summary=false). */
function summarise(config: Config, store: Store, party: string, total: number): Record<string, unknown> {
  const keys = zero();
  const attributes: Record<string, Counts> = {};
  for (const a of config.schema.attributes) attributes[a.name] = zero();
  for (const key of store.partyKeysAt(party, 0, total)) {
    const { verdict } = judge(config, store, key, party);
    keys[verdict.status]++;
    for (const a of config.schema.attributes) attributes[a.name]![verdict.attributes[a.name]!.status]++;
  }
  return { keys: total, status: keys, attributes };
}
