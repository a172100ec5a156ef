// Historical state for app code and receipts, as CCF's historical queries give
// it: a committed transaction's own writes and its receipt, fetched from the
// ledger files in the background. A request for state not yet fetched starts
// the fetch and answers "not yet" (null to ccf.historical, 202 to clients);
// asking again once it is loaded gets the state. An entry that fails
// verification when fetched is damaged: asking for it gets that error, at once
// and every time, never "not yet" forever.
import { formatTxId, type TxId } from "../ids.ts";
import type { History } from "../history/history.ts";
import { EntryNotHeldError } from "../ledger/ledger.ts";
import type { WriteSet } from "../kv/write-set.ts";
import { HISTORICAL_CACHE_ENTRIES } from "../limits.ts";
import type { Receipt } from "../merkle/receipt.ts";
import { serviceEndorsementsFor } from "../history/service-endorsements.ts";

export interface HistoricalTx {
  seqno: number;
  transactionId: string;
  receipt: Receipt;
  /** The COSE receipt (CBOR), undefined where there is none (history/receipts.ts says when). */
  coseReceipt: Buffer | undefined;
  writes: WriteSet;
}

/** The ledger entry of a requested transaction failed verification: its state cannot be given. */
export class DamagedEntryError extends Error {}

export class HistoricalStates {
  /** Loaded states by seqno, oldest use first (a Map keeps insertion order). */
  private readonly loaded = new Map<number, HistoricalTx>();
  /** Seqnos whose entry failed verification, with what failed (oldest first; as many as loaded states). */
  private readonly damaged = new Map<number, DamagedEntryError>();
  private readonly fetching = new Set<number>();
  private readonly handles = new Set<number>();

  constructor(
    private readonly history: History,
    private readonly log: (message: string) => void,
  ) {}

  /** The state at a committed tx id, or undefined while it is being fetched. */
  get(id: TxId): HistoricalTx | undefined {
    return this.range(id.seqno, id.seqno)?.[0];
  }

  /** ccf.historical.getStateRange: all states start..end, or undefined while any is being fetched. */
  getRange(handle: number, start: number, end: number): HistoricalTx[] | undefined {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 1 || end < start) {
      throw new RangeError(`Invalid seqno range ${start}..${end}`);
    }
    if (end > this.history.lastSeqno) throw new RangeError(`Seqno ${end} has not been written yet (last is ${this.history.lastSeqno})`);
    this.handles.add(handle);
    return this.range(start, end);
  }

  /** ccf.historical.dropCachedStates: true if the handle had requested state. */
  drop(handle: number): boolean {
    return this.handles.delete(handle);
  }

  private range(start: number, end: number): HistoricalTx[] | undefined {
    // Behind the snapshot this node joined from there is no entry to fetch: say so now, not "not yet" forever.
    const held = this.history.firstLedgerSeqno;
    if (start < held) throw new EntryNotHeldError(start, held);
    const states: HistoricalTx[] = [];
    for (let seqno = start; seqno <= end; seqno++) {
      const damage = this.damaged.get(seqno);
      if (damage) throw damage;
      const state = this.loaded.get(seqno);
      if (state === undefined) {
        this.fetch(start, end);
        return undefined;
      }
      // Refresh its place in the eviction order.
      this.loaded.delete(seqno);
      this.loaded.set(seqno, state);
      states.push(state);
    }
    return states;
  }

  private fetch(start: number, end: number): void {
    const wanted: number[] = [];
    for (let seqno = start; seqno <= end; seqno++) if (!this.loaded.has(seqno) && !this.fetching.has(seqno)) wanted.push(seqno);
    // Only committed transactions have receipts; later ones are fetched once committed.
    if (wanted.length === 0 || end > this.history.lastCommitted.seqno) return;
    for (const seqno of wanted) this.fetching.add(seqno);
    setImmediate(() => {
      for (const seqno of wanted) {
        try {
          this.store(this.load(seqno));
        } catch (error) {
          this.failed(seqno, error);
        } finally {
          this.fetching.delete(seqno);
        }
      }
    });
  }

  private load(seqno: number): HistoricalTx {
    const view = this.history.viewOf(seqno)!;
    const { receipt, coseReceipt } = this.history.receipts(seqno);
    // Signed before a recovery: the endorsements chain it to the current service identity.
    const endorsements = serviceEndorsementsFor(this.history.store.beginReadOnly(), receipt.cert);
    return {
      seqno,
      transactionId: formatTxId({ view, seqno } as TxId),
      receipt: endorsements.length === 0 ? receipt : { ...receipt, service_endorsements: endorsements },
      coseReceipt,
      writes: this.history.writesAt(seqno),
    };
  }

  /**
   * An I/O error (it has a system code, e.g. EMFILE) may pass: the next request fetches again. Anything
   * else is the entry failing a check (digest, format, decryption, proof to the signed root): it stays.
   */
  private failed(seqno: number, error: unknown): void {
    const detail = error instanceof Error ? error.message : String(error);
    const file = this.history.chunkNameOf(seqno) ?? "no chunk file";
    this.log(`historical: cannot load seqno ${seqno} from ${file}: ${detail}`);
    if (typeof (error as NodeJS.ErrnoException).code === "string") return;
    this.damaged.set(seqno, new DamagedEntryError(`The ledger entry at seqno ${seqno} (${file}) fails verification: ${detail}`));
    if (this.damaged.size > HISTORICAL_CACHE_ENTRIES) this.damaged.delete(this.damaged.keys().next().value!);
  }

  private store(state: HistoricalTx): void {
    this.loaded.set(state.seqno, state);
    if (this.loaded.size > HISTORICAL_CACHE_ENTRIES) this.loaded.delete(this.loaded.keys().next().value!);
  }
}
