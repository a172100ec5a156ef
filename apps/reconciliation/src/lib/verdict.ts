// How a key stands for one party: the votes on each attribute are grouped by
// the attribute's match rule, and the caller learns only the size of its own
// group, the size of the rest and the number of groups, never a value.
import type { Attribute, MatchRule, Policy, Schema } from "./config.ts";
import { dayNumber, type Value } from "./values.ts";
import type { KeyState } from "./store.ts";

export type Status = "IN_CONSENSUS" | "LACK_OF_CONSENSUS" | "NOT_ENOUGH_DATA";
export const STATUSES: Status[] = ["IN_CONSENSUS", "LACK_OF_CONSENSUS", "NOT_ENOUGH_DATA"];

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
  return { status: keyStatus(holders.length, policy.k, lacking, all), parties: holders.length, attributes };
}

/** A key's statuses: the same for every party holding it (they depend on all votes, not on whose report it is). */
export interface KeyStatuses {
  status: Status;
  attributes: Record<string, Status>;
}

/**
 * The statuses judgeKey would give any holder of the key, without building a
 * per-party verdict: what the summary counts (counts.ts) keep at ingest.
 * `state` holds published values only, as for judgeKey.
 */
export function keyStatuses(schema: Schema, policy: Policy, state: KeyState): KeyStatuses {
  const holders = valuesOf(state);
  const attributes: Record<string, Status> = {};
  let lacking = false;
  let all = true;
  for (const attribute of schema.attributes) {
    const votes = votesOn(holders, attribute.name);
    const status: Status = votes.length < policy.k ? "NOT_ENOUGH_DATA" : allAgree(attribute.match, votes) ? "IN_CONSENSUS" : "LACK_OF_CONSENSUS";
    attributes[attribute.name] = status;
    if (status === "LACK_OF_CONSENSUS") lacking = true;
    if (status !== "IN_CONSENSUS") all = false;
  }
  return { status: keyStatus(holders.length, policy.k, lacking, all), attributes };
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
function keyStatus(parties: number, k: number, lacking: boolean, all: boolean): Status {
  return parties < k ? "NOT_ENOUGH_DATA" : lacking ? "LACK_OF_CONSENSUS" : all ? "IN_CONSENSUS" : "NOT_ENOUGH_DATA";
}

/** Whether the votes form one group. Exact: all equal (as groupOf's canonical forms: 1 and "1" differ, 0 and -0 do not). */
function allAgree(match: MatchRule, votes: Value[]): boolean {
  if (match.rule === "exact") {
    const first = votes[0];
    for (let i = 1; i < votes.length; i++) if (votes[i] !== first) return false;
    return true;
  }
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
