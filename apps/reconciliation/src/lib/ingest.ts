// Stores a validated batch: each record replaces the party's values for its
// key (unchanged resubmissions are no-ops, so a client may safely resend a
// batch after a failure), and new keys join the party's index. A revision
// beyond the policy's limit rejects the whole batch; the handler's non-2xx
// status then discards every write of it. In rounds mode the record is sealed
// in the open round (rounds.ts) instead of replacing the published values.
import type { Config } from "./config.ts";
import { CountsDelta, CountsStore } from "./counts.ts";
import type { BatchErrors, SubmittedRecord } from "./records.ts";
import { fold, roundsClosed, sameValues, visibleState } from "./rounds.ts";
import { Store, type KeyState, type PartyEntry } from "./store.ts";
import { keyStatuses, type KeyStatuses } from "./verdict.ts";

export interface IngestCounts {
  records: number;
  added: number;
  changed: number;
  unchanged: number;
}

export function storeBatch(config: Config, party: string, records: SubmittedRecord[], errors: BatchErrors): IngestCounts {
  const store = new Store(config.dataset);
  const limit = config.policy.revision_limit;
  const rounds = config.policy.mode === "rounds";
  const open = roundsClosed(config);
  const counts: IngestCounts = { records: records.length, added: 0, changed: 0, unchanged: 0 };
  const newKeys: string[] = [];
  // Continuous mode: every holder's summary counts follow the key's statuses (counts.ts).
  const delta = rounds ? undefined : new CountsDelta(config);
  for (const record of records) {
    const state = store.keyState(record.key) ?? {};
    const stored = state[party];
    const previous = stored === undefined ? undefined : fold(stored, open);
    const latest = previous?.p?.v ?? previous?.v;
    if (latest !== undefined && sameValues(latest, record.values)) {
      counts.unchanged++;
      continue;
    }
    let next: PartyEntry;
    if (rounds) {
      // The limit bounds changes per key within one round; the first submission of a round is free.
      const sealed = previous?.p;
      const revisions = sealed === undefined ? 0 : sealed.r + 1;
      if (limit !== null && revisions > limit) {
        errors.add(record.row, config.schema.key, `revision limit reached: the policy allows ${limit} revision(s) per key in a round`);
        continue;
      }
      next = { ...(previous?.v === undefined ? {} : { v: previous.v }), r: previous?.r ?? 0, p: { v: record.values, n: open, r: revisions } };
    } else {
      const revisions = previous === undefined ? 0 : previous.r + 1;
      if (limit !== null && revisions > limit) {
        errors.add(record.row, config.schema.key, `revision limit reached: the policy allows ${limit} revision(s) per key`);
        continue;
      }
      next = { v: record.values, r: revisions };
    }
    // The key's statuses before this record, and who held it then (continuous mode: every entry is visible).
    // Every other holder held it before too (parties never leave a key); the submitter may be new to it.
    let was: KeyStatuses | undefined;
    let submitterHeld = false;
    if (delta !== undefined && !isEmpty(state)) {
      const holdersBefore = visibleState(state, open);
      was = keyStatuses(config.schema, config.policy, holdersBefore);
      submitterHeld = holdersBefore[party] !== undefined;
    }
    state[party] = next;
    store.setKeyState(record.key, state);
    if (delta !== undefined) {
      const after = visibleState(state, open);
      const now = keyStatuses(config.schema, config.policy, after);
      for (const holder in after) {
        if (was !== undefined && (holder !== party || submitterHeld)) delta.move(holder, was, now);
        else delta.add(holder, now);
      }
    }
    if (stored === undefined) {
      counts.added++;
      newKeys.push(record.key);
    } else {
      counts.changed++;
    }
  }
  if (errors.count === 0) {
    const summaries = new CountsStore(config.dataset);
    // Before appendPartyKeys: a party without keys before this batch may start its counts from zero.
    if (delta !== undefined) delta.apply(summaries, summaries.basis(config), (p) => store.keyCount(p));
    else if (counts.added + counts.changed > 0) summaries.invalidate();
  }
  store.appendPartyKeys(party, newKeys);
  return counts;
}

function isEmpty(state: KeyState): boolean {
  for (const _ in state) return false;
  return true;
}
