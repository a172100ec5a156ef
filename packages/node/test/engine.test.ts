// The engine's limits, as the binding enforces them in QuickJS: the heap limit
// counts what the allocator really hands out (QuickJS's emscripten build counts
// almost nothing by itself), an app at the limit gets "out of memory" even when
// QuickJS has no memory left to build that error, and the engine serves again
// once the app's garbage is collected. And its snapshots: restoring one gives
// back the state it was taken in (what makes CCF's fresh interpreter per
// request cheap here).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Engine, GuestError } from "../src/runtime/engine.ts";

const MiB = 1024 * 1024;

function engineWithHeap(heapBytes: number): Engine {
  const engine = new Engine({
    shouldInterrupt: () => false,
    normalize: (_base, requested) => requested,
    load: (name) => {
      throw new Error(`no module ${name}`);
    },
  });
  engine.setLimits(heapBytes, 128 * 1024);
  return engine;
}

/** What evaluating `code` throws, as name and message; or its JSON result. */
function outcome(engine: Engine, code: string): string {
  try {
    const result = engine.evalScript(code, "/test.js");
    try {
      return `ok ${engine.json(result)}`;
    } finally {
      engine.free(result);
    }
  } catch (error) {
    assert.ok(error instanceof GuestError, String(error));
    return `${error.guestName}: ${error.message}`;
  }
}

describe("the engine's heap limit", () => {
  it("stops an app of many small objects near the limit, not several times past it", () => {
    const engine = engineWithHeap(8 * MiB);
    const before = engine.memoryBytes;
    assert.equal(outcome(engine, "(() => { const a = []; for (;;) a.push({ x: 1, y: [1, 2, 3] }); })()"), "InternalError: out of memory");
    // The engine's WebAssembly memory grew by no more than the limit (plus allocator slack).
    assert.ok(engine.memoryBytes - before <= 12 * MiB, `grew by ${(engine.memoryBytes - before) / MiB} MiB`);
  });

  it("reports out of memory for strings, big buffers and many small strings; the next script runs", () => {
    const engine = engineWithHeap(8 * MiB);
    assert.equal(outcome(engine, "(() => { const b = []; for (;;) b.push('x'.repeat(100) + b.length); })()"), "InternalError: out of memory");
    assert.equal(outcome(engine, "new ArrayBuffer(64 * 1024 * 1024).byteLength"), "InternalError: out of memory");
    assert.match(outcome(engine, "(() => { let s = 'x'; for (;;) s += s; })()"), /^InternalError: (out of memory|string too long)$/);
    assert.equal(outcome(engine, "[1, 2, 3].map((n) => n * 2)"), "ok [2,4,6]");
  });

  it("a script that throws null is not mistaken for out of memory", () => {
    const engine = engineWithHeap(8 * MiB);
    assert.equal(outcome(engine, "(() => { const a = []; for (;;) a.push({}); })()"), "InternalError: out of memory");
    assert.equal(outcome(engine, "throw null"), "Error: null");
  });
});

describe("the engine's stack limit and strings", () => {
  it("deep recursion is a stack overflow error; strings with U+0000 and astral characters cross intact", () => {
    const engine = engineWithHeap(64 * MiB);
    assert.equal(outcome(engine, "(() => { const f = (n) => f(n + 1) + 1; return f(0); })()"), "InternalError: stack overflow");
    const text = engine.newString("a\u0000b é 😀");
    try {
      assert.equal(engine.stringOf(text), "a\u0000b é 😀");
    } finally {
      engine.free(text);
    }
  });
});

describe("the engine's snapshots", () => {
  it("restore undoes globals, prototypes and values made since, and the engine keeps working", () => {
    const engine = engineWithHeap(64 * MiB);
    assert.equal(outcome(engine, "globalThis.kept = 'before'; 1"), "ok 1");
    const snapshot = engine.snapshot();
    assert.equal(outcome(engine, "Object.prototype.leak = 'x'; globalThis.kept = 'after'; globalThis.extra = [1, 2, 3]; 2"), "ok 2");
    assert.equal(outcome(engine, "[({}).leak, kept, typeof extra]"), 'ok ["x","after","object"]');
    engine.restore(snapshot);
    assert.equal(outcome(engine, "[({}).leak === undefined, kept, typeof extra]"), 'ok [true,"before","undefined"]');
    // Restoring again (as after every request) gives the same state each time.
    for (let i = 0; i < 3; i++) {
      assert.equal(outcome(engine, "globalThis.kept += '!'; kept"), 'ok "before!"');
      engine.restore(snapshot);
    }
  });

  it("error names cached after the snapshot are dropped with it: later exceptions still read right", () => {
    // The engine keeps "name", "message" and "stack" in its own memory once an exception was read.
    const engine = engineWithHeap(64 * MiB);
    const snapshot = engine.snapshot();
    assert.equal(outcome(engine, "throw new TypeError('first')"), "TypeError: first");
    engine.restore(snapshot);
    // Reuse the freed memory, then read an exception again.
    assert.equal(outcome(engine, "globalThis.fill = Array.from({ length: 1000 }, (_, i) => 'name message stack ' + i); 0"), "ok 0");
    assert.equal(outcome(engine, "throw new RangeError('second')"), "RangeError: second");
  });

  it("a heap grown past the snapshot and up to the limit is given back: the next state has the whole limit again", () => {
    const engine = engineWithHeap(16 * MiB);
    const snapshot = engine.snapshot();
    assert.equal(outcome(engine, "globalThis.big = []; for (let i = 0; i < 12; i++) big.push(new Uint8Array(1024 * 1024).fill(7)); big.length"), "ok 12");
    engine.restore(snapshot);
    assert.equal(outcome(engine, "typeof big"), 'ok "undefined"');
    // Without the restored allocator and heap count, 12 more MiB would pass the 16 MiB limit.
    assert.equal(outcome(engine, "globalThis.big = []; for (let i = 0; i < 12; i++) big.push(new Uint8Array(1024 * 1024)); big.every((b) => b.every((x) => x === 0))"), "ok true");
  });

  it("deep recursion after a restore works: the stack pointer is back where the snapshot had it", () => {
    const engine = engineWithHeap(64 * MiB);
    const snapshot = engine.snapshot();
    for (let i = 0; i < 3; i++) {
      assert.equal(outcome(engine, "(() => { const f = (n) => f(n + 1) + 1; return f(0); })()"), "InternalError: stack overflow");
      engine.restore(snapshot);
      assert.equal(outcome(engine, "(() => { const f = (n) => (n === 0 ? 0 : f(n - 1) + 1); return f(200); })()"), "ok 200");
      engine.restore(snapshot);
    }
  });
});
