// How a key's state (store.ts KeyState) is stored in recon.<d>.records: one
// flat JSON array, not the nested objects it is in memory. In QuickJS
// JSON.stringify costs ~2 µs per object, so a three-party state as objects
// (7 of them) cost ~13 µs to write and as one array ~2 µs: ingest writes one
// per record. The dataset fixes the attribute names and their order
// (config.ts datasetOf), so values are stored by position.
//
// Per party, in order: party, kind (1: published values, 2: a sealed
// submission, 3: both), r, then the published values if kind has 1, then the
// sealed submission's n, r and values if kind has 2; an optional attribute
// left out is null. States written as one JSON object (the app's first
// encoding) are still read, so an upgraded app keeps the data it had.
import type { KeyState, PartyEntry } from "./store.ts";
import type { Value } from "./values.ts";

const PUBLISHED = 1;
const SEALED = 2;

/** A stored state as JSON.parse gives it. */
export type Flat = (string | number | null)[];

/**
 * Entries with published values only (kind 1: no sealed submission, the
 * usual case and the only one in continuous mode) have a fixed width, so
 * ingest can find and change one in place: party at i, r at i + 2, values
 * from i + PLAIN_VALUES_AT.
 */
export const PLAIN_VALUES_AT = 3;
export const plainWidth = (names: readonly string[]): number => PLAIN_VALUES_AT + names.length;

/** The stored state (undefined: none) as its flat array if every entry is plain; undefined otherwise. */
export function plainEntries(names: readonly string[], text: string | undefined): Flat | undefined {
  if (text === undefined) return [];
  if (text.charCodeAt(0) !== 0x5b) return undefined; // "[": not the first encoding's object
  const flat = JSON.parse(text) as Flat;
  const width = plainWidth(names);
  for (let i = 1; i < flat.length; i += width) if (flat[i] !== PUBLISHED) return undefined;
  return flat;
}

/**
 * The stored text `text` (undefined: none) with a new plain entry for the
 * party appended: `entry` is plainEntryText's. The same text JSON.stringify
 * of the flat array gives, made by splicing: JSON.stringify costs ~0.2 µs per
 * element in QuickJS, and a new holder leaves every other entry as it was.
 */
export function appendPlainText(text: string | undefined, entry: string): string {
  // The app never stores an empty array, but an entry after "[" takes no comma.
  return text === undefined || text === "[]" ? `[${entry}]` : `${text.slice(0, -1)},${entry}]`;
}

/** A new holder's plain entry as JSON text (without brackets); `partyJson` is JSON.stringify(party), made once per batch. */
export function plainEntryText(partyJson: string, names: readonly string[], values: Record<string, Value>): string {
  let out = `${partyJson},${PUBLISHED},0`;
  for (let a = 0; a < names.length; a++) {
    const v = values[names[a]!];
    out += v === undefined ? ",null" : `,${JSON.stringify(v)}`;
  }
  return out;
}

/** Sets the plain entry at `at` (-1: appends one for `party`) to published `values` with `r` revisions. */
export function setPlain(flat: Flat, at: number, party: string, r: number, names: readonly string[], values: Record<string, Value>): void {
  if (at < 0) {
    flat.push(party, PUBLISHED, r);
    pushValues(flat, names, values);
    return;
  }
  flat[at + 2] = r;
  for (let a = 0; a < names.length; a++) flat[at + PLAIN_VALUES_AT + a] = values[names[a]!] ?? null;
}

export function encodeState(names: readonly string[], state: KeyState): string {
  const out: Flat = [];
  for (const party in state) {
    const entry = state[party]!;
    const kind = (entry.v === undefined ? 0 : PUBLISHED) | (entry.p === undefined ? 0 : SEALED);
    out.push(party, kind, entry.r);
    if (entry.v !== undefined) pushValues(out, names, entry.v);
    if (entry.p !== undefined) {
      out.push(entry.p.n, entry.p.r);
      pushValues(out, names, entry.p.v);
    }
  }
  return JSON.stringify(out);
}

export function decodeState(names: readonly string[], text: string): KeyState {
  const parsed = JSON.parse(text) as unknown;
  if (!Array.isArray(parsed)) return parsed as KeyState;
  const flat = parsed as Flat;
  const state: KeyState = {};
  let i = 0;
  while (i < flat.length) {
    const party = flat[i] as string;
    const kind = flat[i + 1] as number;
    const entry: PartyEntry = { r: flat[i + 2] as number };
    i += 3;
    if ((kind & PUBLISHED) !== 0) {
      entry.v = readValues(flat, i, names);
      i += names.length;
    }
    if ((kind & SEALED) !== 0) {
      const n = flat[i] as number;
      const r = flat[i + 1] as number;
      entry.p = { v: readValues(flat, i + 2, names), n, r };
      i += 2 + names.length;
    }
    state[party] = entry;
  }
  return state;
}

function pushValues(out: Flat, names: readonly string[], values: Record<string, Value>): void {
  for (let a = 0; a < names.length; a++) out.push(values[names[a]!] ?? null);
}

function readValues(flat: Flat, at: number, names: readonly string[]): Record<string, Value> {
  const values: Record<string, Value> = {};
  for (let a = 0; a < names.length; a++) {
    const v = flat[at + a];
    if (v !== null && v !== undefined) values[names[a]!] = v;
  }
  return values;
}
