// Each folder of src has one job and may import only from the folders below it
// (CCF's source-dependencies rule): crypto → kv → merkle → ledger → history → runtime → http → governance → node.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { it } from "node:test";
import { fileURLToPath } from "node:url";

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");
/** Lower number = lower layer. Top-level files (ids, limits) are shared basics; node/identity wire everything. */
const LAYERS: Record<string, number> = {
  ids: 0, address: 0, limits: 0, sorted: 0, durable: 0, errors: 0, tables: 0, log: 0, clock: 0,
  crypto: 1, kv: 2, merkle: 3, ledger: 4, history: 5, identity: 6, consensus: 6, runtime: 7, http: 8, governance: 9, network: 10, recovery: 10, node: 10, "in-process": 10, genesis: 10, config: 10, logger: 10, index: 11,
};

function layerOf(file: string): string {
  const first = relative(SRC, file).split("/")[0]!;
  return first.replace(/\.ts$/, "");
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

it("no module imports from a higher layer", () => {
  const violations: string[] = [];
  for (const file of sourceFiles(SRC)) {
    const from = layerOf(file);
    assert.ok(from in LAYERS, `${relative(SRC, file)} is in no known layer: add it to LAYERS`);
    for (const match of readFileSync(file, "utf8").matchAll(/^import[^"']*["'](\.[^"']+)["']/gm)) {
      const to = layerOf(resolve(dirname(file), match[1]!));
      if (LAYERS[to]! > LAYERS[from]!) violations.push(`${relative(SRC, file)} imports ${to}`);
    }
  }
  assert.deepEqual(violations, []);
});
