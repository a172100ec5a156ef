// What one handler call may touch and what it leaves behind for the dispatcher:
// its transaction, the historical states it fetched, and the flags the app set
// through ccf.rpc and ccf.enable*.
import type { Tx } from "../kv/tx.ts";
import type { WriteSet } from "../kv/write-set.ts";

/** CCF's execution contexts for JS code, named as in its permission errors. */
export type JsAccess = "application" | "read-only application" | "read-only governance" | "read-write governance";

export class CallState {
  /** Writes of historical transactions visible to this call, by the store number the guest holds. */
  readonly historicalStores = new Map<number, { seqno: number; writes: WriteSet }>();
  /** ccf.rpc.setApplyWrites(true): keep writes even if the status is not 2xx. */
  applyWrites = false;
  claimsDigest: Buffer | undefined;
  untrustedDateTime = false;
  metricsLogging = true;

  constructor(
    readonly tx: Tx,
    readonly access: JsAccess,
  ) {}

  addHistoricalStore(seqno: number, writes: WriteSet): number {
    const store = this.historicalStores.size + 1;
    this.historicalStores.set(store, { seqno, writes });
    return store;
  }
}
