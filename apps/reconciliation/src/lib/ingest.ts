// Stores a validated batch: each record replaces the party's values for its
// key (unchanged resubmissions are no-ops, so a client may safely resend a
// batch after a failure), and new keys join the party's index. A revision
// beyond the policy's limit rejects the whole batch; the handler's non-2xx
// status then discards every write of it. In rounds mode the record is sealed
// in the open round (rounds.ts) instead of replacing the published values.
//
// Continuous mode with every entry of the key plain (state-codec.ts: the usual
// case) takes the plain path: the stored flat array is judged and changed in
// place, no object per party. Anything else (rounds mode, sealed leftovers,
// the first encoding) is decoded into a KeyState and takes the general path.
import type { Config } from "./config.ts";
import { CountsDelta, CountsStore } from "./counts.ts";
import type { BatchErrors, SubmittedRecord } from "./records.ts";
import { fold, roundsClosed, sameValues, visibleState } from "./rounds.ts";
import { appendPlainText, decodeState, plainEntries, plainEntryText, plainWidth, PLAIN_VALUES_AT, setPlain, type Flat } from "./state-codec.ts";
import { Store, type PartyEntry } from "./store.ts";
import { belowKCodes, stateCodes, statusCodes } from "./verdict.ts";

export interface IngestCounts {
  records: number;
  added: number;
  changed: number;
  unchanged: number;
}

/** What storing one record needs, made once per batch. */
interface Batch {
  config: Config;
  party: string;
  /** JSON.stringify(party): how the party's entries begin in the stored text. */
  partyJson: string;
  store: Store;
  errors: BatchErrors;
  counts: IngestCounts;
  newKeys: string[];
  /** Continuous mode: every holder's summary counts follow the key's statuses (counts.ts). */
  delta: CountsDelta | undefined;
  /** Keys new to the party that stay below k holders with it: counted once at the end (all NOT_ENOUGH_DATA). */
  newBelowK: number;
  /** Status codes (verdict.ts statusCodes) before and after the record, reused for every record. */
  before: number[];
  after: number[];
}

export function storeBatch(config: Config, party: string, records: SubmittedRecord[], errors: BatchErrors): IngestCounts {
  const store = new Store(config);
  const rounds = config.policy.mode === "rounds";
  const codes = 1 + config.schema.attributes.length;
  const batch: Batch = {
    config,
    party,
    partyJson: JSON.stringify(party),
    store,
    errors,
    counts: { records: records.length, added: 0, changed: 0, unchanged: 0 },
    newKeys: [],
    delta: rounds ? undefined : new CountsDelta(config),
    newBelowK: 0,
    before: new Array<number>(codes),
    after: new Array<number>(codes),
  };
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const text = store.keyText(record.key);
    if (!rounds && surelyBelowKWithParty(batch, text)) {
      storeNewBelowK(batch, record, text);
      continue;
    }
    const plain = rounds ? undefined : plainEntries(store.names, text);
    if (plain !== undefined) storePlain(batch, record, text, plain);
    else storeGeneral(batch, record, text === undefined ? undefined : decodeState(store.names, text));
  }
  if (batch.newBelowK > 0) batch.delta!.add(party, belowKCodes(config.schema), batch.newBelowK);
  if (errors.count === 0) {
    const summaries = new CountsStore(config.dataset);
    // Before appendPartyKeys: a party without keys before this batch may start its counts from zero.
    if (batch.delta !== undefined) batch.delta.apply(summaries, summaries.basis(config), (p) => store.keyCount(p));
    else if (batch.counts.added + batch.counts.changed > 0) summaries.invalidate();
  }
  store.appendPartyKeys(party, batch.newKeys);
  return batch.counts;
}

function revisionLimitReached(batch: Batch, record: SubmittedRecord, revisions: number, inRound: string): boolean {
  const limit = batch.config.policy.revision_limit;
  if (limit === null || revisions <= limit) return false;
  batch.errors.add(record.row, batch.config.schema.key, `revision limit reached: the policy allows ${limit} revision(s) per key${inRound}`);
  return true;
}

/** Continuous mode, every entry plain: `flat` is the stored state `text` parsed ([] for a new key). */
function storePlain(batch: Batch, record: SubmittedRecord, text: string | undefined, flat: Flat): void {
  const { config, party, store } = batch;
  const names = store.names;
  const width = plainWidth(names);
  const holders = flat.length / width;
  let at = -1;
  for (let i = 0; i < flat.length; i += width) {
    if (flat[i] === party) {
      at = i;
      break;
    }
  }
  if (at < 0 && holders + 1 < config.policy.k) {
    storeNewBelowK(batch, record, text);
    return;
  }
  let revisions = 0;
  if (at >= 0) {
    let same = true;
    for (let a = 0; a < names.length && same; a++) same = flat[at + PLAIN_VALUES_AT + a] === (record.values[names[a]!] ?? null);
    if (same) {
      batch.counts.unchanged++;
      return;
    }
    revisions = (flat[at + 2] as number) + 1;
    if (revisionLimitReached(batch, record, revisions, "")) return;
  }
  const delta = batch.delta!;
  if (holders > 0) statusCodes(config.schema, config.policy, flat, PLAIN_VALUES_AT, width, holders, batch.before);
  setPlain(flat, at, party, revisions, names, record.values);
  // A new holder's entry is appended to the stored text as it is; a changed entry is written out anew.
  store.setKeyText(record.key, at < 0 ? appendPlainText(text, plainEntryText(batch.partyJson, names, record.values)) : JSON.stringify(flat));
  statusCodes(config.schema, config.policy, flat, PLAIN_VALUES_AT, width, flat.length / width, batch.after);
  // Every other holder held the key before (parties never leave a key); the submitter may be new to it.
  if (at < 0) delta.add(party, batch.after);
  if (holders > 0 && !sameCodes(batch.before, batch.after)) {
    const heldBefore = at < 0 ? flat.length - width : flat.length; // an appended entry is the last
    for (let i = 0; i < heldBefore; i += width) delta.move(flat[i] as string, batch.before, batch.after);
  }
  if (at < 0) {
    batch.counts.added++;
    batch.newKeys.push(record.key);
  } else {
    batch.counts.changed++;
  }
}

/**
 * Whether the stored state `text` (undefined: none) surely has fewer than
 * k - 1 holders and none of them the batch's party, decided without parsing
 * it: then the key stays below k holders with the record (storeNewBelowK).
 * The party's JSON string nowhere in the text means it holds no entry. Every
 * entry has at least plainWidth elements, so fewer than (k - 1) × width
 * elements (commas + 1) means fewer than k - 1 entries; a comma inside a
 * string only makes the count larger. "No" sends the record the usual way.
 */
function surelyBelowKWithParty(batch: Batch, text: string | undefined): boolean {
  const k = batch.config.policy.k;
  if (text === undefined) return k > 1;
  if (text.charCodeAt(0) !== 0x5b || text.indexOf(batch.partyJson) >= 0) return false; // "[": the flat encoding
  const commasMax = (k - 1) * plainWidth(batch.store.names) - 1;
  let commas = 0;
  for (let at = text.indexOf(","); at >= 0; at = text.indexOf(",", at + 1)) if (++commas >= commasMax) return false;
  return true;
}

/**
 * A key new to the party that stays below k holders with it (the usual first
 * submissions of a key): every status is NOT_ENOUGH_DATA before and after, so
 * no other holder's counts move, and the submitter's are added once per batch.
 * The entry is appended to the stored text as it is (any other entries, even
 * sealed leftovers of a rounds period, stay as they were).
 */
function storeNewBelowK(batch: Batch, record: SubmittedRecord, text: string | undefined): void {
  batch.store.setKeyText(record.key, appendPlainText(text, plainEntryText(batch.partyJson, batch.store.names, record.values)));
  batch.newBelowK++;
  batch.counts.added++;
  batch.newKeys.push(record.key);
}

function sameCodes(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function storeGeneral(batch: Batch, record: SubmittedRecord, stored: Record<string, PartyEntry> | undefined): void {
  const { config, party, store, delta } = batch;
  const open = roundsClosed(config);
  const state = stored ?? {};
  const mine = state[party];
  const previous = mine === undefined ? undefined : fold(mine, open);
  const latest = previous?.p?.v ?? previous?.v;
  if (latest !== undefined && sameValues(latest, record.values)) {
    batch.counts.unchanged++;
    return;
  }
  let next: PartyEntry;
  if (config.policy.mode === "rounds") {
    // The limit bounds changes per key within one round; the first submission of a round is free.
    const sealed = previous?.p;
    const revisions = sealed === undefined ? 0 : sealed.r + 1;
    if (revisionLimitReached(batch, record, revisions, " in a round")) return;
    next = { ...(previous?.v === undefined ? {} : { v: previous.v }), r: previous?.r ?? 0, p: { v: record.values, n: open, r: revisions } };
  } else {
    const revisions = previous === undefined ? 0 : previous.r + 1;
    if (revisionLimitReached(batch, record, revisions, "")) return;
    next = { v: record.values, r: revisions };
  }
  // Who held the key before (continuous mode: every entry is visible).
  let heldBefore = false;
  let submitterHeld = false;
  if (delta !== undefined && stored !== undefined) {
    const holdersBefore = visibleState(state, open);
    stateCodes(config.schema, config.policy, holdersBefore, batch.before);
    heldBefore = true;
    submitterHeld = holdersBefore[party] !== undefined;
  }
  state[party] = next;
  store.setKeyState(record.key, state);
  if (delta !== undefined) {
    const after = visibleState(state, open);
    stateCodes(config.schema, config.policy, after, batch.after);
    for (const holder in after) {
      if (heldBefore && (holder !== party || submitterHeld)) delta.move(holder, batch.before, batch.after);
      else delta.add(holder, batch.after);
    }
  }
  if (mine === undefined) {
    batch.counts.added++;
    batch.newKeys.push(record.key);
  } else {
    batch.counts.changed++;
  }
}
