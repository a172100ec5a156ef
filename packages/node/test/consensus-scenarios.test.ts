// CCF's raft_scenarios, in our words: each test/scenarios/*.scenario script drives the cluster
// simulator step by step and states what must hold (primary, committed, pending, invalid tx ids).
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { runScenario, runScenarioFile, ScenarioError } from "./helpers/scenario-runner.ts";

const DIR = join(dirname(fileURLToPath(import.meta.url)), "scenarios");

describe("consensus scenarios", () => {
  for (const name of readdirSync(DIR).filter((f) => f.endsWith(".scenario")).sort()) {
    it(name, () => void runScenarioFile(join(DIR, name)));
  }

  it("a malformed line fails with the file, the line and what was expected", () => {
    assert.throws(() => runScenario("nodes 3\nsubmit n0\n", "bad.scenario"), (e: Error) => e instanceof ScenarioError && /bad\.scenario:2: .*expected: submit <node> <count>/.test(e.message));
    assert.throws(() => runScenario("nodes 3\nfly n0\n", "bad.scenario"), /bad\.scenario:2: unknown command fly/);
    assert.throws(() => runScenario("nodes 3\nexpect committed x on n1\n", "bad.scenario"), /bad\.scenario:2: a transaction id/);
    assert.throws(() => runScenario("nodes 3\nelect n9\n", "bad.scenario"), /unknown node n9/);
  });

  it("a false expectation fails with its line", () => {
    assert.throws(() => runScenario("nodes 3\nelect n0\nexpect primary n1\n", "wrong.scenario"), /wrong\.scenario:3: expectation failed/);
  });
});
