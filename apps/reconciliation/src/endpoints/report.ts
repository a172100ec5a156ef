// GET /app/report (the caller's keys, paged) and GET /app/report/{key}. Each
// reads only the caller's own index and the per-key state of its keys, never
// the rest of the store, and each 200 reply is committed with a claims digest
// of its body, so the caller can fetch a receipt for exactly what it was told.
// In rounds mode they judge the values published by the last closed round
// only: a submission sealed in the open round changes no answer until it closes.
import type * as ccfapp from "@microsoft/ccf-app";
import { readConfig, type Config } from "../lib/config.ts";
import { CountsStore, type PartyCounts } from "../lib/counts.ts";
import { partyOf } from "../lib/party.ts";
import { parseQuery } from "../lib/query.ts";
import { failed, replyWithClaims, succeeded, type Envelope } from "../lib/response.ts";
import { reportRow, viewFor } from "../lib/rows.ts";
import { roundsClosed, roundsClosedByProposal, visibleState } from "../lib/rounds.ts";
import { recordReport, Store } from "../lib/store.ts";
import { judgeKey, keyStatuses, STATUSES, type KeyVerdict, type Status } from "../lib/verdict.ts";

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
  const store = new Store(config);
  const closed = roundsClosed(config);
  const total = store.keyCount(party.party);
  if (options.start > total) return failed(400, "InvalidQuery", "cursor is past the end of your keys");
  const view = viewFor(config.schema, options.view);
  const rows: Record<string, unknown>[] = [];
  let position = options.start;
  // Sealed-only keys are skipped like filtered-out ones, so rounds mode pages as a filter does.
  const filtering = options.status !== undefined || closed !== Infinity;
  const scanEnd = Math.min(total, options.start + (filtering ? PAGE_SCAN_MAX : options.limit));
  while (position < scanEnd && rows.length < options.limit) {
    const end = Math.min(scanEnd, position + options.limit - rows.length);
    for (const key of store.partyKeysAt(party.party, position, end)) {
      position++;
      const judged = judge(config, store, key, party.party, closed);
      if (judged === undefined) continue;
      const { verdict, revisions } = judged;
      if (options.status !== undefined && statusFor(verdict, options.attribute) !== options.status) continue;
      rows.push(reportRow(config.schema, view, key, verdict, revisions, options.attribute));
    }
  }
  const extra: Record<string, unknown> = { next_cursor: position < total ? String(position) : null, ...roundInfo(config, closed) };
  if (options.summary) extra.summary = summarise(config, store, party.party, total, closed);
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
  const store = new Store(config);
  const closed = roundsClosed(config);
  const state = store.keyState(key);
  // The same answer whether or not another party holds the key: it must not leak that.
  if (state === undefined || state[party.party] === undefined) {
    return failed(400, "KeyNotFound", "you have not submitted this key");
  }
  // Depends on the caller's own entry only, so it leaks nothing either.
  const judged = judge(config, store, key, party.party, closed);
  if (judged === undefined) {
    return failed(400, "KeySealed", `your submission of this key is sealed until round ${state[party.party]!.p!.n} closes`);
  }
  const row = reportRow(config.schema, viewFor(config.schema, query?.get("view")), key, judged.verdict, judged.revisions);
  return committed(party.party, succeeded(row, roundInfo(config, closed)));
}

function committed(party: string, envelope: Envelope): ccfapp.Response<string> {
  const { response, digestHex } = replyWithClaims(envelope);
  recordReport(party, digestHex);
  return response;
}

/** The key as of the last closed round; undefined when the party's only submission of it is still sealed. */
function judge(config: Config, store: Store, key: string, party: string, closed: number): { verdict: KeyVerdict; revisions: number } | undefined {
  const state = visibleState(store.keyState(key)!, closed);
  const mine = state[party];
  if (mine === undefined) return undefined;
  return { verdict: judgeKey(config.schema, config.policy, state, party), revisions: mine.r };
}

/**
 * Rounds mode: the report covers rounds 0 to closed - 1; with a schedule,
 * by_proposal is the round a close_reconciliation_round proposal names.
 * Nothing in continuous mode.
 */
function roundInfo(config: Config, closed: number): Record<string, unknown> {
  if (closed === Infinity) return {};
  return { round: config.policy.round_schedule === null ? { closed } : { closed, by_proposal: roundsClosedByProposal() } };
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

/**
 * Status counts over all the caller's keys (given on the first page unless
 * summary=false): in continuous mode the counts kept at ingest (counts.ts);
 * when they are stale (schema, k or a rounds period changed them) or in
 * rounds mode, by judging each of the caller's keys, and in continuous mode
 * the result is stored for the next summaries.
 */
function summarise(config: Config, store: Store, party: string, total: number, closed: number): Record<string, unknown> {
  if (closed !== Infinity) return scanSummary(config, store, party, total, closed);
  const counts = new CountsStore(config.dataset);
  const basis = counts.basis(config);
  const kept = counts.valid(party, basis);
  if (kept !== undefined && kept.keys === total) return summaryOf(config, kept);
  const scanned = scanSummary(config, store, party, total, closed);
  const fresh: PartyCounts = { b: basis, keys: scanned.keys, status: scanned.status, attributes: scanned.attributes };
  counts.set(party, fresh);
  return summaryOf(config, fresh);
}

/** The summary's shape: attributes in schema order. */
function summaryOf(config: Config, counts: PartyCounts): Record<string, unknown> {
  const attributes: Record<string, Counts> = {};
  for (const a of config.schema.attributes) attributes[a.name] = counts.attributes[a.name] ?? zero();
  return { keys: counts.keys, status: counts.status, attributes };
}

function scanSummary(config: Config, store: Store, party: string, total: number, closed: number): { keys: number; status: Counts; attributes: Record<string, Counts> } {
  const keys = zero();
  const attributes: Record<string, Counts> = {};
  for (const a of config.schema.attributes) attributes[a.name] = zero();
  let reported = 0;
  for (const key of store.partyKeysAt(party, 0, total)) {
    const state = visibleState(store.keyState(key)!, closed);
    if (state[party] === undefined) continue;
    // The key's statuses are the same for every holder: no need for the caller's own verdict.
    const statuses = keyStatuses(config.schema, config.policy, state);
    reported++;
    keys[statuses.status]++;
    for (const a of config.schema.attributes) attributes[a.name]![statuses.attributes[a.name]!]++;
  }
  return { keys: reported, status: keys, attributes };
}
