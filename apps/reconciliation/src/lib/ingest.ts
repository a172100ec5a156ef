// Stores a validated batch: each record replaces the party's values for its
// key (unchanged resubmissions are no-ops, so a client may safely resend a
// batch after a failure), and new keys join the party's index. A revision
// beyond the policy's limit rejects the whole batch; the handler's non-2xx
// status then discards every write of it.
import type { Config } from "./config.ts";
import type { BatchErrors, SubmittedRecord } from "./records.ts";
import type { Value } from "./values.ts";
import { Store } from "./store.ts";

export interface IngestCounts {
  records: number;
  added: number;
  changed: number;
  unchanged: number;
}

export function storeBatch(config: Config, party: string, records: SubmittedRecord[], errors: BatchErrors): IngestCounts {
  const store = new Store(config.dataset);
  const limit = config.policy.revision_limit;
  const counts: IngestCounts = { records: records.length, added: 0, changed: 0, unchanged: 0 };
  const newKeys: string[] = [];
  for (const record of records) {
    const state = store.keyState(record.key) ?? {};
    const previous = state[party];
    if (previous !== undefined && sameValues(previous.v, record.values)) {
      counts.unchanged++;
      continue;
    }
    const revisions = previous === undefined ? 0 : previous.r + 1;
    if (limit !== null && revisions > limit) {
      errors.add(record.row, config.schema.key, `revision limit reached: the policy allows ${limit} revision(s) per key`);
      continue;
    }
    state[party] = { v: record.values, r: revisions };
    store.setKeyState(record.key, state);
    if (previous === undefined) {
      counts.added++;
      newKeys.push(record.key);
    } else {
      counts.changed++;
    }
  }
  store.appendPartyKeys(party, newKeys);
  return counts;
}

function sameValues(a: Record<string, Value>, b: Record<string, Value>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
