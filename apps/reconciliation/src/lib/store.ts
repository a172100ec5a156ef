// The private tables, kept per dataset (see config.ts):
//   records      key → KeyState: every party's current values for that key,
//                so a verdict reads one entry, whatever the store's size
//                (encoded by state-codec.ts);
//   party_keys   [party, chunk] → the party's keys in first-submission order,
//                KEYS_PER_CHUNK to an entry, so a report page reads the
//                party's own index and never scans the store;
//   parties      party → {keys}: how many keys the party has submitted
//                (in rounds mode, sealed ones included).
// Earlier values are not kept here: every replaced value stays in the ledger.
import * as ccfapp from "@microsoft/ccf-app";
import { ccf } from "@microsoft/ccf-app/global.js";
import type { Config } from "./config.ts";
import { decodeState, encodeState } from "./state-codec.ts";
import type { Value } from "./values.ts";

export interface PartyEntry {
  /** Attribute name → value: the published values (absent while the party's only submission is sealed). */
  v?: Record<string, Value>;
  /** Times the party changed its published values for this key after the first submission. */
  r: number;
  /** Rounds mode: the submission sealed in round `n` (see rounds.ts), with `r` changes made to it in that round. */
  p?: { v: Record<string, Value>; n: number; r: number };
}

/** Party → its entry. */
export type KeyState = Record<string, PartyEntry>;

/** Enough that a 1,000-key report page touches at most two index entries. */
export const KEYS_PER_CHUNK = 1000;

export class Store {
  private readonly records;
  private readonly partyKeys;
  private readonly parties;
  /** The dataset's attribute names, in the order its states store values. */
  readonly names: string[];
  // Ingest reads then writes each key: its encoded form is kept for the write (one host call fewer per record).
  private lastKey: string | undefined;
  private lastKeyBuf: ArrayBuffer | undefined;

  constructor(config: Config) {
    const dataset = config.dataset;
    this.names = config.schema.attributes.map((a) => a.name);
    this.records = ccfapp.rawKv[`recon.${dataset}.records`]!;
    this.partyKeys = ccfapp.typedKv(`recon.${dataset}.party_keys`, ccfapp.string, ccfapp.json<string[]>());
    this.parties = ccfapp.typedKv(`recon.${dataset}.parties`, ccfapp.string, ccfapp.json<{ keys: number }>());
  }

  keyState(key: string): KeyState | undefined {
    const text = this.keyText(key);
    return text === undefined ? undefined : decodeState(this.names, text);
  }

  setKeyState(key: string, state: KeyState): void {
    this.setKeyText(key, encodeState(this.names, state));
  }

  /** The key's state as stored (state-codec.ts). */
  keyText(key: string): string | undefined {
    const raw = this.records.get(this.keyBuf(key));
    return raw === undefined ? undefined : ccf.bufToStr(raw);
  }

  setKeyText(key: string, text: string): void {
    this.records.set(this.keyBuf(key), ccf.strToBuf(text));
  }

  private keyBuf(key: string): ArrayBuffer {
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.lastKeyBuf = ccf.strToBuf(key);
    }
    return this.lastKeyBuf!;
  }

  keyCount(party: string): number {
    return this.parties.get(party)?.keys ?? 0;
  }

  /** The party's keys at positions [start, end) of its index. */
  partyKeysAt(party: string, start: number, end: number): string[] {
    const keys: string[] = [];
    for (let chunk = Math.floor(start / KEYS_PER_CHUNK); chunk * KEYS_PER_CHUNK < end; chunk++) {
      const entries = this.partyKeys.get(chunkId(party, chunk)) ?? [];
      const base = chunk * KEYS_PER_CHUNK;
      keys.push(...entries.slice(Math.max(0, start - base), end - base));
    }
    return keys;
  }

  /** Appends keys new to the party to its index (one read and write per touched chunk). */
  appendPartyKeys(party: string, keys: string[]): void {
    if (keys.length === 0) return;
    let count = this.keyCount(party);
    let done = 0;
    while (done < keys.length) {
      const chunk = Math.floor(count / KEYS_PER_CHUNK);
      const entries = this.partyKeys.get(chunkId(party, chunk)) ?? [];
      const added = keys.slice(done, done + KEYS_PER_CHUNK - entries.length);
      entries.push(...added);
      this.partyKeys.set(chunkId(party, chunk), entries);
      done += added.length;
      count += added.length;
    }
    this.parties.set(party, { keys: count });
  }
}

function chunkId(party: string, chunk: number): string {
  return JSON.stringify([party, chunk]);
}

/** Writes a private marker so the report's transaction is recorded (a transaction without writes gets no receipt). */
export function recordReport(party: string, digestHex: string): void {
  ccfapp.typedKv("recon.reports", ccfapp.string, ccfapp.string).set(party, digestHex);
}
