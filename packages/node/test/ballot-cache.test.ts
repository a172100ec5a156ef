// Ballots (CCF: a module exporting vote(proposal, proposerId)) run in the
// constitution's interpreter, each distinct source evaluated once and kept.
// QuickJS never unloads a module, so the kept ballots are bounded
// (CONSTITUTION_BALLOTS_CACHED_MAX): at the bound the interpreter goes back to
// its state after loading the constitution, and every ballot still votes right.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Store } from "../src/kv/store.ts";
import { CONSTITUTION_BALLOTS_CACHED_MAX } from "../src/limits.ts";
import { CallState } from "../src/runtime/call-state.ts";
import { AppInterpreter, type RuntimeServices } from "../src/runtime/interpreter.ts";

const MiB = 1024 * 1024;
const CONSTITUTION = "export function validate() { return { valid: true, description: 'ok' }; }";

/** A distinct ballot of about 32 KB that votes yes only on the proposal it names. */
function ballot(i: number): string {
  return `const padding = ${JSON.stringify(`${i}:`.padEnd(32 * 1024, "x"))};
export function vote(proposal, proposerId) { return proposal === "proposal-${i}" && padding.length > 0; }`;
}

describe("the constitution interpreter's ballot cache", () => {
  it("stays within its bound, keeps memory bounded, and every ballot (evaluated again after the reset) votes right", async () => {
    const logged: string[] = [];
    const services = { history: {}, historical: {}, log: (_level: string, message: string) => logged.push(message) } as unknown as RuntimeServices;
    const interpreter = await AppInterpreter.create({ modules: new Map([["/constitution.js", CONSTITUTION]]), endpoints: [] }, services);
    const state = () => new CallState(new Store().beginReadOnly(), "read-only governance");
    const vote = (i: number, proposal: string) => interpreter.callModuleSource(ballot(i), "vote", [proposal, "member"], state());
    const ballots = 4 * CONSTITUTION_BALLOTS_CACHED_MAX;
    for (let i = 0; i < ballots; i++) {
      assert.equal(vote(i, `proposal-${i}`), true, `ballot ${i}`);
      assert.equal(vote(i, "another"), false, `ballot ${i}`);
      assert.ok(interpreter.ballotsCached <= CONSTITUTION_BALLOTS_CACHED_MAX, `after ballot ${i}: ${interpreter.ballotsCached} kept`);
    }
    // An early ballot, dropped long ago, is evaluated again.
    assert.equal(vote(0, "proposal-0"), true);
    // ~32 MB of ballot sources went through; the engine holds its initial 16 MiB plus what at most the bound of them needs.
    assert.ok(interpreter.memoryBytes <= 32 * MiB, `engine memory ${interpreter.memoryBytes / MiB} MiB`);
    assert.ok(logged.some((message) => /ballot scripts evaluated/.test(message)));
    // The constitution itself is still there.
    assert.deepEqual(interpreter.callExport("/constitution.js", "validate", [], state()), { valid: true, description: "ok" });
  });

  it("in an interpreter restored before every call, a ballot run twice is evaluated afresh each time and votes right", async () => {
    const services = { history: {}, historical: {}, log: () => {} } as unknown as RuntimeServices;
    const interpreter = await AppInterpreter.create({ modules: new Map(), endpoints: [] }, services, undefined, "fresh");
    const state = () => new CallState(new Store().beginReadOnly(), "read-only governance");
    const stateful = "let calls = 0; export function vote(proposal) { calls++; return proposal === 'yes' && calls === 1; }";
    for (const proposal of ["yes", "yes", "no", "yes"]) {
      assert.equal(interpreter.callModuleSource(stateful, "vote", [proposal, "member"], state()), proposal === "yes");
    }
  });
});
