// Summary counts kept at ingest, so the report's first page does not judge
// every one of the caller's keys. A key's statuses are the same for every
// holder (verdict.ts statusCodes), so when a submission changes them, each
// holder's counts move by one key: the submitter's and the other holders'.
//
// Counts are valid only for what they were computed under (their basis):
// the schema and k (which decide statuses) and a generation that rounds-mode
// ingest bumps (a sealed submission is published lazily when its round closes,
// without any write we could count at). Counts with another basis are stale:
// ingest leaves them alone, and the party's next summary recounts its keys by
// scanning them (as before counts existed) and stores the result. Rounds mode
// always scans: which submissions are visible changes with the clock.
import * as ccfapp from "@microsoft/ccf-app";
import type { Config } from "./config.ts";
import { STATUSES, type Status } from "./verdict.ts";

export type Counts = Record<Status, number>;

export interface PartyCounts {
  /** The basis the counts were computed under (see basisOf). */
  b: string;
  keys: number;
  status: Counts;
  attributes: Record<string, Counts>;
}

export const zeroCounts = (): Counts => ({ IN_CONSENSUS: 0, LACK_OF_CONSENSUS: 0, NOT_ENOUGH_DATA: 0 });

export function emptyPartyCounts(config: Config, basis: string): PartyCounts {
  const attributes: Record<string, Counts> = {};
  for (const a of config.schema.attributes) attributes[a.name] = zeroCounts();
  return { b: basis, keys: 0, status: zeroCounts(), attributes };
}

export class CountsStore {
  private readonly counts;
  private readonly generation;

  constructor(dataset: string) {
    this.counts = ccfapp.typedKv(`recon.${dataset}.counts`, ccfapp.string, ccfapp.json<PartyCounts>());
    this.generation = ccfapp.typedKv(`recon.${dataset}.counts_generation`, ccfapp.string, ccfapp.json<number>());
  }

  /** Everything that decides statuses: counts computed under another basis are stale. */
  basis(config: Config): string {
    return JSON.stringify([config.schema, config.policy.k, this.generation.get("g") ?? 0]);
  }

  /** Called by rounds-mode ingest: what a later close publishes was never counted, so every party's counts go stale. */
  invalidate(): void {
    this.generation.set("g", (this.generation.get("g") ?? 0) + 1);
  }

  /** The party's counts if they are valid under `basis`. */
  valid(party: string, basis: string): PartyCounts | undefined {
    const stored = this.counts.get(party);
    return stored !== undefined && stored.b === basis ? stored : undefined;
  }

  set(party: string, counts: PartyCounts): void {
    this.counts.set(party, counts);
  }
}

/**
 * Per-party changes to counts made by one batch, applied once at its end (one
 * read and write per party touched). A party's changes are one flat array of
 * numbers: [0] keys, then at 1 + 3 × i + s the change in keys whose status
 * code i (0: the key's, 1 + a: attribute a's; verdict.ts statusCodes) is s.
 * Flat arrays and plain index arithmetic: each record moves every other
 * holder's counts, and in QuickJS an object per party per status costs
 * several times as much to update.
 */
export class CountsDelta {
  private readonly deltas = new Map<string, number[]>();
  private readonly width: number;

  constructor(private readonly config: Config) {
    this.width = 1 + 3 * (1 + config.schema.attributes.length);
  }

  private of(party: string): number[] {
    let d = this.deltas.get(party);
    if (d === undefined) {
      d = [];
      for (let i = 0; i < this.width; i++) d.push(0);
      this.deltas.set(party, d);
    }
    return d;
  }

  /** `party` now holds `keys` keys it did not hold, each with these status codes. */
  add(party: string, now: readonly number[], keys = 1): void {
    const d = this.of(party);
    d[0] = d[0]! + keys;
    for (let i = 0; i < now.length; i++) {
      const at = 1 + 3 * i + now[i]!;
      d[at] = d[at]! + keys;
    }
  }

  /** A key `party` holds went from status codes `before` to `now`. */
  move(party: string, before: readonly number[], now: readonly number[]): void {
    let d: number[] | undefined;
    for (let i = 0; i < now.length; i++) {
      const b = before[i]!;
      const n = now[i]!;
      if (b === n) continue;
      if (d === undefined) d = this.of(party);
      const base = 1 + 3 * i;
      d[base + b] = d[base + b]! - 1;
      d[base + n] = d[base + n]! + 1;
    }
  }

  /**
   * Applies the batch's changes to every party's valid counts. A party with no
   * stored counts and no keys before the batch starts from zero; one whose
   * counts are missing or stale is left to be recounted by its next summary.
   */
  apply(counts: CountsStore, basis: string, keysBefore: (party: string) => number): void {
    const attributes = this.config.schema.attributes;
    for (const [party, d] of this.deltas) {
      const current = counts.valid(party, basis) ?? (keysBefore(party) === 0 ? emptyPartyCounts(this.config, basis) : undefined);
      if (current === undefined) continue;
      current.keys += d[0]!;
      for (let s = 0; s < STATUSES.length; s++) {
        current.status[STATUSES[s]!] += d[1 + s]!;
        for (let a = 0; a < attributes.length; a++) (current.attributes[attributes[a]!.name] ??= zeroCounts())[STATUSES[s]!] += d[1 + 3 * (1 + a) + s]!;
      }
      counts.set(party, current);
    }
  }
}
