// Installs the host side of ccf.historical: ranges of committed states, each
// given to the guest as a numbered store it can read through ccf.kv-like maps.
import type { CallState } from "../call-state.ts";
import type { HistoricalStates, HistoricalTx } from "../historical.ts";
import type { HostFunction, Vm } from "../vm.ts";
import { EntryNotHeldError } from "../../ledger/ledger.ts";

/** The JSON the guest turns into a HistoricalState: its maps are read from the numbered store. */
export function guestHistoricalState(state: HistoricalTx, call: CallState): { transactionId: string; receipt: unknown; store: number } {
  return { transactionId: state.transactionId, receipt: state.receipt, store: call.addHistoricalStore(state.seqno, state.writes) };
}

export function historicalHostFunctions(vm: Vm, states: HistoricalStates, call: () => CallState): Record<string, HostFunction> {
  return {
    getStateRange: (handle, start, end) => {
      let range: HistoricalTx[] | undefined;
      try {
        range = states.getRange(vm.number(handle, "handle"), vm.number(start, "startSeqno"), vm.number(end, "endSeqno"));
      } catch (error) {
        // As CCF: null for a range the node cannot retrieve (its ledger files do not hold it).
        if (error instanceof EntryNotHeldError) return null;
        throw error;
      }
      if (range === undefined) return null;
      const state = call();
      return JSON.stringify(range.map((tx) => guestHistoricalState(tx, state)));
    },
    dropCachedStates: (handle) => states.drop(vm.number(handle, "handle")),
  };
}
