// Installs the host side of ccf.consensus: commit progress and tx statuses.
import type { History } from "../../history/history.ts";
import { seqNo, view as toView } from "../../ids.ts";
import type { HostFunction, Vm } from "../vm.ts";

export function consensusHostFunctions(vm: Vm, history: History): Record<string, HostFunction> {
  const natural = (handle: Parameters<HostFunction>[0], what: string): number => {
    const n = vm.number(handle, what);
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative integer`);
    return n;
  };
  return {
    lastCommittedTxId: () => {
      const { view, seqno } = history.lastCommitted;
      return JSON.stringify({ view, seqno });
    },
    statusForTxId: (view, seqno) => history.txStatus({ view: toView(natural(view, "view")), seqno: seqNo(natural(seqno, "seqno")) }),
    viewForSeqno: (seqno) => {
      const n = natural(seqno, "seqno");
      // CCF's ViewHistory::view_at answers the latest view for any seqno past the end of
      // the log; only seqnos before the first view (e.g. 0) have none (null).
      return n > history.lastSeqno ? history.view : (history.viewOf(n) ?? null);
    },
  };
}
