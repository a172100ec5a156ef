// CCF's consensus safety under faults: a seeded cluster simulation (pure Raft + pipeline, simulated
// disk, network and time) checks after every step one primary per view, log matching, committed
// entries never lost or changed, identical committed prefixes, commits only at signatures; and
// liveness once the faults stop. A failure names its seed: `npm run simulate -w @confide/node -- --seed <n>`.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { simulate } from "./helpers/cluster-sim.ts";

const SEEDS = Number(process.env.CONFIDE_SIM_SEEDS ?? 200);

describe("consensus simulation", () => {
  it(`${SEEDS} seeds of 3 and 5 nodes with faults and reconfiguration keep every invariant and recover`, () => {
    for (let seed = 1; seed <= SEEDS; seed++) {
      try {
        simulate({ seed, nodes: seed % 2 ? 3 : 5, reconfigure: true });
      } catch (error) {
        throw new Error(`seed ${seed} failed; replay: npm run simulate -w @confide/node -- --seed ${seed}\n${(error as Error).stack}`);
      }
    }
  });

  it("a seed replays exactly", () => {
    const a = simulate({ seed: 7, nodes: 3, reconfigure: true });
    const b = simulate({ seed: 7, nodes: 3, reconfigure: true });
    assert.equal(a.steps, b.steps);
    assert.deepEqual([...a.committedChain], [...b.committedChain]);
  });
});
