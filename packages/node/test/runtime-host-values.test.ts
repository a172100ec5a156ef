// Values crossing from host functions into the app's QuickJS context: a host
// `null` must arrive as `null` (ccf.historical.getStateRange answers null for
// "not yet available", ccf.consensus.getViewForSeqno null for "no view"), and
// getViewForSeqno follows CCF's ViewHistory::view_at.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { newQuickJSWASMModule, RELEASE_SYNC, type QuickJSContext } from "quickjs-emscripten";
import type { History } from "../src/history/history.ts";
import { consensusHostFunctions } from "../src/runtime/globals/consensus.ts";
import { Vm } from "../src/runtime/vm.ts";

let ctx: QuickJSContext;
let vm: Vm;

before(async () => {
  const quickjs = await newQuickJSWASMModule(RELEASE_SYNC);
  ctx = quickjs.newContext();
  vm = new Vm(ctx);
});

after(() => {
  ctx.dispose();
});

/** Runs `code` with `host` bound to the given host functions; returns the dumped result. */
function run(fns: Parameters<Vm["functions"]>[0], code: string): unknown {
  const host = vm.functions(fns);
  ctx.setProp(ctx.global, "host", host);
  host.dispose();
  return ctx.unwrapResult(ctx.evalCode(code)).consume((result) => ctx.dump(result));
}

describe("host function results in the guest", () => {
  it("null stays null, void and undefined become undefined", () => {
    const fns = { nothing: () => null, none: () => undefined, noReturn: () => {} };
    assert.deepEqual(run(fns, "[host.nothing() === null, host.none() === undefined, host.noReturn() === undefined]"), [true, true, true]);
  });
});

describe("ccf.consensus.getViewForSeqno (host side)", () => {
  // A log of 10 transactions: view 2 for 1..4, view 3 for 5..10; the node is in view 3.
  const history = {
    lastSeqno: 10,
    view: 3,
    viewOf: (seqno: number) => (seqno < 1 || seqno > 10 ? undefined : seqno < 5 ? 2 : 3),
  } as unknown as History;

  it("answers the view of a transaction in the log, null before the first view, the current view past the end (as CCF)", () => {
    const fns = consensusHostFunctions(vm, history);
    assert.deepEqual(
      run({ viewForSeqno: fns["viewForSeqno"]! }, "[0, 1, 4, 5, 10, 11, 1e9].map((s) => host.viewForSeqno(s))"),
      [null, 2, 2, 3, 3, 3, 3],
    );
  });
});
