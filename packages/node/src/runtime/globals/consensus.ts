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
    viewForSeqno: (seqno) => history.viewOf(natural(seqno, "seqno")) ?? null,
  };
}
