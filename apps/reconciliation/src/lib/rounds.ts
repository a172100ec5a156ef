// Rounds mode: a submission is sealed in the round it was made in, and counts
// for reports only once that round has closed, so a party resubmitting
// guesses during a round sees the same report until the round closes.
//
// Rounds are numbered from 0; `closed` rounds have closed so far, so the open
// round is number `closed`. Closing is lazy: nothing is moved when a round
// closes. A party's entry keeps its published values (`v`) and at most one
// sealed submission (`p`, tagged with its round); readers fold a sealed
// submission whose round has closed into the published values. So a close is
// O(1) whatever the store's size, by proposal or by schedule.
import { ccf } from "@microsoft/ccf-app/global.js";
import { readSingleton, ROUND_TABLE, type Config } from "./config.ts";
import type { KeyState, PartyEntry } from "./store.ts";
import type { Value } from "./values.ts";

/**
 * Rounds closed so far: those closed by proposal plus the schedule's closes
 * that have passed. In continuous mode every submission is visible at once
 * (Infinity: any sealed leftovers of an earlier rounds period count as closed).
 */
export function roundsClosed(config: Config): number {
  if (config.policy.mode !== "rounds") return Infinity;
  const byProposal = roundsClosedByProposal();
  const schedule = config.policy.round_schedule;
  if (schedule === null) return byProposal;
  // CCF has no trusted clock: the host's time decides scheduled closes (see the threat model).
  ccf.enableUntrustedDateTime(true);
  const now = Date.now();
  const first = Date.parse(schedule.first_close);
  const byClock = now < first ? 0 : Math.floor((now - first) / (schedule.every_seconds * 1000)) + 1;
  return byProposal + byClock;
}

/** Rounds closed by close_reconciliation_round proposals (the number the next such proposal names). */
export function roundsClosedByProposal(): number {
  return readSingleton<{ closed: number }>(ROUND_TABLE)?.closed ?? 0;
}

/** The entry with a sealed submission from a closed round folded into its published values. */
export function fold(entry: PartyEntry, closed: number): PartyEntry {
  const sealed = entry.p;
  if (sealed === undefined || sealed.n >= closed) return entry;
  const changed = entry.v !== undefined && !sameValues(entry.v, sealed.v);
  return { v: sealed.v, r: changed ? entry.r + 1 : entry.r };
}

/** Every party's published values as of the last closed round: parties with only a sealed submission are left out. */
export function visibleState(state: KeyState, closed: number): KeyState {
  // The usual state has nothing sealed in it: it is its own visible state (no copy).
  let sealed = false;
  for (const party in state) if (state[party]!.p !== undefined || state[party]!.v === undefined) sealed = true;
  if (!sealed) return state;
  const visible: KeyState = {};
  for (const party of Object.keys(state)) {
    const entry = fold(state[party]!, closed);
    if (entry.v !== undefined) visible[party] = { v: entry.v, r: entry.r };
  }
  return visible;
}

export function sameValues(a: Record<string, Value>, b: Record<string, Value>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
