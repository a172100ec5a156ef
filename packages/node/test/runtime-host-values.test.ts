// Values crossing from host functions into the app's QuickJS context: a host
// `null` must arrive as `null` (ccf.historical.getStateRange answers null for
// "not yet available", ccf.consensus.getViewForSeqno null for "no view"), and
// getViewForSeqno follows CCF's ViewHistory::view_at. Strings and bytes
// cross by the direct paths (read and written in engine memory) intact.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import type { History } from "../src/history/history.ts";
import { consensusHostFunctions } from "../src/runtime/globals/consensus.ts";
import { converterHostFunctions } from "../src/runtime/globals/converters.ts";
import { Engine, type GuestRef } from "../src/runtime/engine.ts";
import { Vm } from "../src/runtime/vm.ts";

let engine: Engine;
let vm: Vm;

before(() => {
  engine = new Engine({
    shouldInterrupt: () => false,
    normalize: (_base, requested) => requested,
    load: (name) => {
      throw new Error(`no module ${name}`);
    },
  });
  vm = new Vm(engine);
});

function setGlobal(name: string, ref: GuestRef): void {
  const global = engine.evalScript("globalThis", "/test/global.js");
  engine.setProperty(global, name, ref);
  engine.free(global);
  engine.free(ref);
}

/** Runs `code` with `host` bound to the given host functions; returns the result as plain data. */
function run(fns: Parameters<Vm["functions"]>[0], code: string): unknown {
  setGlobal("host", vm.functions(fns));
  const result = engine.evalScript(code, "/test/run.js");
  try {
    return vm.plain(result);
  } finally {
    engine.free(result);
  }
}

describe("host function results in the guest", () => {
  it("null stays null, void and undefined become undefined", () => {
    const fns = { nothing: () => null, none: () => undefined, noReturn: () => {} };
    assert.deepEqual(run(fns, "[host.nothing() === null, host.none() === undefined, host.noReturn() === undefined]"), [true, true, true]);
  });
});

describe("strings and bytes between host and guest", () => {
  // Empty, ASCII, multi-byte, U+0000 inside, and big enough (8 MiB) that the engine's memory grows while copying.
  const texts = ["", "abc", "é€😀 mixed", "a\u0000b", "\u0000", "x".repeat(8 * 1024 * 1024)];

  it("host strings and Uint8Arrays arrive unchanged", () => {
    for (const text of texts) {
      const fns = { text: () => text, bytes: () => Buffer.from(text, "utf8") };
      const got = run(fns, "(() => { const t = host.text(); const b = new Uint8Array(host.bytes()); return [t.length, t === host.text(), b.length, b[0] ?? -1]; })()") as number[];
      assert.deepEqual(got, [text.length, true, Buffer.byteLength(text), Buffer.from(text)[0] ?? -1], JSON.stringify(text.slice(0, 20)));
    }
  });

  it("the engine's own UTF-8 of a string is Node's; bytes come back as they went, U+0000 included", () => {
    const fns = { ...converterHostFunctions(vm), echo: (b: Parameters<typeof vm.bytes>[0]) => vm.bytes(b), fromNode: () => Buffer.from(input) };
    let input = "";
    for (const text of texts) {
      input = text;
      setGlobal("input", vm.newString(text));
      for (const bytes of ["host.fromNode()", "host.strToBuf(input)"]) {
        const got = run(fns, `(() => { const b = ${bytes}; return [host.bufToStr(b) === input, Array.from(new Uint8Array(host.echo(b)).slice(0, 8)), b.byteLength]; })()`);
        assert.deepEqual(got, [true, Array.from(Buffer.from(text).subarray(0, 8)), Buffer.byteLength(text)], `${bytes} ${JSON.stringify(text.slice(0, 20))}`);
      }
    }
  });

  it("an argument that is not an ArrayBuffer is a TypeError in the guest", () => {
    const fns = converterHostFunctions(vm);
    assert.deepEqual(run(fns, "[1, 'x', {}, new Uint8Array(2)].map((v) => { try { host.bufToStr(v); return 'no error'; } catch (e) { return e.name + ': ' + e.message; } })"), [
      "TypeError: Argument must be an ArrayBuffer",
      "TypeError: Argument must be an ArrayBuffer",
      "TypeError: Argument must be an ArrayBuffer",
      "TypeError: Argument must be an ArrayBuffer",
    ]);
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
