// The node's log lines look like CCF's text log ("<time>Z [info ] node | message",
// microsecond UTC timestamps, "fail" for errors), not JSON, and respect the level.
import assert from "node:assert/strict";
import { it } from "node:test";
import { createLogger } from "../src/logger.ts";

function collect(level: "debug" | "info" | "warn" | "error"): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  return { lines, log };
}

it("prints CCF-like text lines with a microsecond UTC timestamp", () => {
  const { lines, log } = collect("debug");
  log.debug("d");
  log.info('quoted "text"\nand a second line');
  log.warn("w");
  log.error("e");
  assert.equal(lines.length, 4);
  for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \[(debug|info |warn |fail )\] node \| /);
  assert.deepEqual(
    lines.map((line) => line.slice(28)),
    ['[debug] node | d\n', '[info ] node | quoted "text"\nand a second line\n', "[warn ] node | w\n", "[fail ] node | e\n"],
  );
});

it("drops messages below its level and everything after close", async () => {
  const { lines, log } = collect("warn");
  log.debug("d");
  log.info("i");
  log.warn("w");
  await log.close();
  log.error("after close");
  assert.deepEqual(
    lines.map((line) => line.slice(28)),
    ["[warn ] node | w\n"],
  );
});
