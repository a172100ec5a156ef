// The engine's limits, as the binding enforces them in QuickJS: the heap limit
// counts what the allocator really hands out (QuickJS's emscripten build counts
// almost nothing by itself), an app at the limit gets "out of memory" even when
// QuickJS has no memory left to build that error, and the engine serves again
// once the app's garbage is collected.
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
