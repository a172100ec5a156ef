// The simulated clock runs timers at their due times, in order, only as far as it is advanced.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimulatedClock, after, systemClock } from "../src/clock.ts";

describe("SimulatedClock", () => {
  it("runs each timer at its due times, in due order, ties in creation order", () => {
    const clock = new SimulatedClock(1000);
    const runs: string[] = [];
    clock.every(30, () => runs.push(`a@${clock.now()}`));
    clock.every(20, () => runs.push(`b@${clock.now()}`));
    clock.every(60, () => runs.push(`c@${clock.now()}`));
    clock.advance(59);
    assert.deepEqual(runs, ["b@1020", "a@1030", "b@1040"]);
    assert.equal(clock.now(), 1059);
    clock.advance(1);
    assert.deepEqual(runs.slice(3), ["a@1060", "b@1060", "c@1060"]);
    assert.equal(clock.nextDueMs, 1080);
  });

  it("a cancelled timer never runs again, also when cancelled by another timer in the same advance", () => {
    const clock = new SimulatedClock();
    let aRuns = 0;
    const a = clock.every(10, () => aRuns++);
    clock.every(5, () => {
      if (clock.now() === 15) a.cancel();
    });
    clock.advance(100);
    assert.equal(aRuns, 1);
  });

  it("cancelling a timer twice leaves the other timers alone", () => {
    const clock = new SimulatedClock();
    const runs: string[] = [];
    const a = clock.every(10, () => runs.push("a"));
    clock.every(10, () => runs.push("b"));
    a.cancel();
    a.cancel();
    clock.advance(10);
    assert.deepEqual(runs, ["b"]);
  });

  it("after() runs once at its due time, and not at all when cancelled first", () => {
    const clock = new SimulatedClock(100);
    const runs: number[] = [];
    const once = after(clock, 30, () => runs.push(clock.now()));
    const skipped = after(clock, 20, () => runs.push(-1));
    skipped.cancel();
    clock.advance(100);
    assert.deepEqual(runs, [130]);
    once.cancel(); // after it ran: harmless
    assert.equal(clock.nextDueMs, undefined);
  });

  it("refuses to move back and a non-positive interval", () => {
    const clock = new SimulatedClock();
    assert.throws(() => clock.advance(-1), RangeError);
    assert.throws(() => clock.every(0, () => {}), RangeError);
  });
});

describe("systemClock", () => {
  it("runs a timer on Node's event loop until cancelled", async () => {
    let runs = 0;
    const timer = systemClock.every(5, () => runs++);
    await new Promise((resolve) => setTimeout(resolve, 40));
    timer.cancel();
    const seen = runs;
    assert.ok(seen >= 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(runs, seen);
    assert.ok(Math.abs(systemClock.now() - Date.now()) < 1000);
  });
});
