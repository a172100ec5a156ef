// A longer seeded consensus simulation: `npm run simulate -w @confide/node -- --seeds 2000`, or
// replay one failing seed with `-- --seed <n>`. Prints each failure with its seed.
import { parseArgs } from "node:util";
import { simulate } from "../test/helpers/cluster-sim.ts";

const { values } = parseArgs({ options: { seed: { type: "string" }, seeds: { type: "string" }, from: { type: "string" } } });
const first = Number(values.seed ?? values.from ?? 1);
const count = values.seed !== undefined ? 1 : Number(values.seeds ?? 200);
let failures = 0;
const started = Date.now();
for (let seed = first; seed < first + count; seed++) {
  try {
    const c = simulate({ seed, nodes: seed % 2 ? 3 : 5, reconfigure: true });
    if (count === 1) console.log(`seed ${seed}: ok, ${c.steps} steps, committed through ${c.maxCommitted}`);
  } catch (error) {
    failures++;
    console.log(`seed ${seed}: FAILED\n  ${(error as Error).message}`);
    if (count === 1) console.log((error as Error).stack);
  }
}
console.log(`${count} seeds, ${failures} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exitCode = failures > 0 ? 1 : 0;
