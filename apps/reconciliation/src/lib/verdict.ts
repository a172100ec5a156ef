// How a key stands for one party: the votes on each attribute are grouped by
// the attribute's match rule, and the caller learns only the size of its own
// group, the size of the rest and the number of groups, never a value.
import type { Attribute, MatchRule, Policy, Schema } from "./config.ts";
import { dayNumber, type Value } from "./values.ts";
import type { KeyState } from "./store.ts";

export type Status = "IN_CONSENSUS" | "LACK_OF_CONSENSUS" | "NOT_ENOUGH_DATA";
export const STATUSES: Status[] = ["IN_CONSENSUS", "LACK_OF_CONSENSUS", "NOT_ENOUGH_DATA"];
/** A status as its index in STATUSES: what the summary counts (counts.ts) keep at ingest, without objects per key. */
const IN = 0;
const LACK = 1;
const NOT_ENOUGH = 2;

export interface AttributeVerdict {
  status: Status;
  /** The caller's own value (null if it left an optional attribute out). */
  value: Value | null;
  /** The rest is null below k votes: then a report says NOT_ENOUGH_DATA and nothing else. */
  majority: boolean | null;
  agreeing: number | null;
  disagreeing: number | null;
  votes: number | null;
  distinct: number | null;
}

export interface KeyVerdict {
  status: Status;
  parties: number;
  attributes: Record<string, AttributeVerdict>;
}

/** `state` holds published values only (rounds.ts visibleState), so every entry has `v`. */
export function judgeKey(schema: Schema, policy: Policy, state: KeyState, party: string): KeyVerdict {
  const mine = state[party]!.v!;
  const holders = valuesOf(state);
  const attributes: Record<string, AttributeVerdict> = {};
  let lacking = false;
  let all = true;
  for (const attribute of schema.attributes) {
    const verdict = judgeAttribute(attribute, policy.k, votesOn(holders, attribute.name), mine[attribute.name]);
    attributes[attribute.name] = verdict;
    if (verdict.status === "LACK_OF_CONSENSUS") lacking = true;
    if (verdict.status !== "IN_CONSENSUS") all = false;
  }
  return { status: STATUSES[keyStatusCode(holders.length, policy.k, lacking, all)]!, parties: holders.length, attributes };
}

/** A key's statuses: the same for every party holding it (they depend on all votes, not on whose report it is). */
export interface KeyStatuses {
  status: Status;
  attributes: Record<string, Status>;
}

/**
 * The statuses judgeKey would give any holder of the key, without building a
 * per-party verdict. `state` holds published values only, as for judgeKey.
 */
export function keyStatuses(schema: Schema, policy: Policy, state: KeyState): KeyStatuses {
  const codes = new Array<number>(1 + schema.attributes.length);
  stateCodes(schema, policy, state, codes);
  const attributes: Record<string, Status> = {};
  for (let a = 0; a < schema.attributes.length; a++) attributes[schema.attributes[a]!.name] = STATUSES[codes[1 + a]!]!;
  return { status: STATUSES[codes[0]!]!, attributes };
}

/** The status codes (see stateCodes) of a key fewer than k parties hold: not enough data, for the key and every attribute. */
export function belowKCodes(schema: Schema): number[] {
  return new Array<number>(1 + schema.attributes.length).fill(NOT_ENOUGH);
}

/** keyStatuses as codes into `out`: out[0] the key's, out[1 + a] attribute a's. */
export function stateCodes(schema: Schema, policy: Policy, state: KeyState, out: number[]): void {
  const names = schema.attributes;
  const flat: (Value | null)[] = [];
  let holders = 0;
  for (const p in state) {
    const v = state[p]!.v!;
    for (let a = 0; a < names.length; a++) flat.push(v[names[a]!.name] ?? null);
    holders++;
  }
  statusCodes(schema, policy, flat, 0, names.length, holders, out);
}

/**
 * The key's status codes (see stateCodes) from `holders` holders' values laid
 * out flat, holder h's value of attribute a at values[start + h * stride + a]
 * (null: no vote), as state-codec.ts stores them: ingest judges a stored
 * state without decoding it into objects.
 */
export function statusCodes(schema: Schema, policy: Policy, values: readonly unknown[], start: number, stride: number, holders: number, out: number[]): void {
  // Below k holders every attribute has fewer than k votes too.
  if (holders < policy.k) {
    out.fill(NOT_ENOUGH);
    return;
  }
  let lacking = false;
  let all = true;
  for (let a = 0; a < schema.attributes.length; a++) {
    const match = schema.attributes[a]!.match;
    const exact = match.rule === "exact";
    let votes = 0;
    let agree = true;
    let first: unknown = null;
    let list: Value[] | undefined;
    for (let h = 0, i = start + a; h < holders; h++, i += stride) {
      const v = values[i];
      if (v === null || v === undefined) continue;
      votes++;
      if (!exact) (list ??= []).push(v as Value);
      // Exact: all equal, as groupOf's canonical forms (1 and "1" differ, 0 and -0 do not).
      else if (votes === 1) first = v;
      else if (v !== first) agree = false;
    }
    const status = votes < policy.k ? NOT_ENOUGH : (exact ? agree : allAgree(match, list!)) ? IN : LACK;
    out[1 + a] = status;
    if (status === LACK) lacking = true;
    if (status !== IN) all = false;
  }
  out[0] = keyStatusCode(holders, policy.k, lacking, all);
}

// The loops below walk the parties once (for-in) and then use indexes, not
// Object.keys, iterators or callbacks: the app runs in QuickJS, an
// interpreter, where every allocation and call counts per record at ingest
// and per row in a report.

/** Each holder's published values. */
function valuesOf(state: KeyState): Record<string, Value>[] {
  const holders: Record<string, Value>[] = [];
  for (const p in state) holders.push(state[p]!.v!);
  return holders;
}

/** Every holder's value of the attribute (parties that left an optional attribute out have no vote). */
function votesOn(holders: Record<string, Value>[], name: string): Value[] {
  const votes: Value[] = [];
  for (let i = 0; i < holders.length; i++) {
    const v = holders[i]![name];
    if (v !== undefined) votes.push(v);
  }
  return votes;
}

/** A key lacks consensus if any attribute does; it is in consensus only if every attribute is; below k parties, not enough data. */
function keyStatusCode(parties: number, k: number, lacking: boolean, all: boolean): number {
  return parties < k ? NOT_ENOUGH : lacking ? LACK : all ? IN : NOT_ENOUGH;
}

/** Whether the votes form one group. */
function allAgree(match: MatchRule, votes: Value[]): boolean {
  const groups = groupOf(match, votes);
  for (let i = 1; i < groups.length; i++) if (groups[i] !== groups[0]) return false;
  return true;
}

export function judgeAttribute(attribute: Attribute, k: number, votes: Value[], mine: Value | undefined): AttributeVerdict {
  const value = mine ?? null;
  if (votes.length < k) {
    return { status: "NOT_ENOUGH_DATA", value, majority: null, agreeing: null, disagreeing: null, votes: null, distinct: null };
  }
  const groups = groupOf(attribute.match, votes);
  const distinct = distinctCount(groups);
  const status: Status = distinct === 1 ? "IN_CONSENSUS" : "LACK_OF_CONSENSUS";
  if (mine === undefined) {
    return { status, value, majority: null, agreeing: null, disagreeing: null, votes: votes.length, distinct };
  }
  const myGroup = groups[votes.indexOf(mine)]!;
  let agreeing = 0;
  for (let i = 0; i < groups.length; i++) if (groups[i] === myGroup) agreeing++;
  const disagreeing = votes.length - agreeing;
  return { status, value, majority: agreeing > disagreeing, agreeing, disagreeing, votes: votes.length, distinct };
}

/** Group numbers run from 0 in order of first appearance (exact, normalised) or of value (tolerances): the largest + 1. */
function distinctCount(groups: number[]): number {
  let max = -1;
  for (let i = 0; i < groups.length; i++) if (groups[i]! > max) max = groups[i]!;
  return max + 1;
}

/**
 * Group number of each vote. Exact and normalised rules group equal values.
 * Tolerance rules sort the votes and start a new group wherever a value is
 * further than the tolerance from its group's first (smallest) value, so each
 * group spans at most the tolerance and the grouping does not depend on the
 * order parties submitted in.
 */
function groupOf(match: MatchRule, votes: Value[]): number[] {
  if (match.rule === "exact" || match.rule === "normalised") {
    // Equal canonical values share a group (=== : 1 and "1" differ, 0 and -0 do not); a linear search beats a Map for a key's few votes.
    const canonical = match.rule === "normalised" ? votes.map((v) => normaliseText(String(v))) : votes;
    const groups = new Array<number>(votes.length);
    let next = 0;
    for (let i = 0; i < canonical.length; i++) {
      let j = 0;
      while (j < i && canonical[j] !== canonical[i]) j++;
      groups[i] = j < i ? groups[j]! : next++;
    }
    return groups;
  }
  const points = votes.map((v) => (match.rule === "days" ? dayNumber(v as string) : Number(v)));
  const order = points.map((_, i) => i).sort((a, b) => points[a]! - points[b]!);
  const groups = new Array<number>(votes.length);
  let group = -1;
  let anchor = 0;
  for (const i of order) {
    const p = points[i]!;
    if (group < 0 || !withinTolerance(match, anchor, p)) {
      group++;
      anchor = p;
    }
    groups[i] = group;
  }
  return groups;
}

function withinTolerance(match: MatchRule, anchor: number, p: number): boolean {
  if (match.rule === "relative") return p - anchor <= match.tolerance * Math.max(Math.abs(anchor), Math.abs(p));
  return p - anchor <= (match as { tolerance: number }).tolerance;
}

/** Case, surrounding and repeated whitespace do not count under the normalised rule. */
export function normaliseText(s: string): string {
  return s.trim().replace(/\s+/g, " ").toLowerCase();
}
