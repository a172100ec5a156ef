// Sandbox start-up (target: `npm install && npm start` ready in < 60 s on a
// clean clone). Each case starts the real command as a child process, in its
// own process group, and times from spawn to the sandbox's ready line (after
// which the printed curl lines work); then Ctrl-C (SIGINT to the group, as a
// terminal sends it) and the time until the process has exited. Each node is a
// `confide-node` process of its own (in its own group), which the sandbox stops.
//
//   npm start, clean clone   CONFIDE_BUILD_APPS=always TSX_DISABLE_CACHE=1 npm start -- --workspace <new temp dir> --port 0
//                            (prestart rebuilds both app bundles, as a clone without dist/ needs, and
//                            tsx transpiles every TypeScript file again, as on a clone's first run)
//   npm start -- --recover   npm start -- --recover --workspace <same dir> --port 0 (each service recovered from
//                            its ledger by two banks' recovery shares, nothing else proposed)
//   confide sandbox --fresh  node packages/client/bin/confide.js sandbox --fresh ... (no npm, bundles already built)
//   ... --fresh --nodes 3    the same with three node processes per service (two join each by proposal)
//
// `npm install` is not timed: it depends on the network and npm's cache, not on Confide.
//
//   node --import tsx bench/sandbox-start.ts          (BENCH_SANDBOX_RUNS=3 rounds of the three cases)
//   BENCH_SANDBOX_BUILD=0 ...                         (do not rebuild the app bundles: the clean case then skips the builds)
import { spawn } from "node:child_process";
import { join } from "node:path";
import { BENCH_DIR, envInt, fmtMs, header, msSince, now, printTable, removeDir, summarize, tempDir, writeResult, type Summary } from "./lib.ts";

const RUNS = envInt("BENCH_SANDBOX_RUNS", 3);
const BUILD_APPS = process.env["BENCH_SANDBOX_BUILD"] !== "0";
const TARGET_MS = 60_000;
/** A start that takes this long has failed the target many times over: stop waiting. */
const READY_TIMEOUT_MS = 180_000;
const EXIT_TIMEOUT_MS = 30_000;
const ROOT = join(BENCH_DIR, "..");
const CONFIDE = join(ROOT, "packages", "client", "bin", "confide.js");
const READY_LINE = "Confide sandbox ready in";

interface Timing {
  /** Spawn → the ready line on stdout. */
  readyMs: number;
  /** What the sandbox itself reports: its start-up without Node/tsx loading and npm. */
  sandboxReadyMs: number;
  /** npm only: spawn → "> start" (the prestart step, which builds the bundles when asked). */
  prestartMs?: number;
  /** SIGINT → process exit (both ledgers signed and flushed). */
  stopMs: number;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<Timing> {
  return new Promise((resolve, reject) => {
    const start = now();
    const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let prestartMs: number | undefined;
    let ready: { readyMs: number; sandboxReadyMs: number } | undefined;
    let stopAt: bigint | undefined;
    let exitTimer: NodeJS.Timeout | undefined;
    const fail = (why: string) => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
      reject(new Error(`${command} ${args.join(" ")}: ${why}\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    };
    const readyTimer = setTimeout(() => fail(`not ready within ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
    child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (prestartMs === undefined && /^> start$/m.test(stdout)) prestartMs = msSince(start);
      // The whole ready block has been printed once its last line has.
      if (ready === undefined && /Ctrl-C stops (both|all \d+) nodes/.test(stdout)) {
        const readyMs = msSince(start);
        clearTimeout(readyTimer);
        const reported = new RegExp(`${READY_LINE} ([\\d.]+) s`).exec(stdout);
        ready = { readyMs, sandboxReadyMs: Number(reported?.[1]) * 1000 };
        stopAt = now();
        process.kill(-child.pid!, "SIGINT");
        exitTimer = setTimeout(() => fail(`still running ${EXIT_TIMEOUT_MS} ms after SIGINT`), EXIT_TIMEOUT_MS);
      }
    });
    // "close": the process has exited and its output has been read to the end.
    child.on("close", () => {
      clearTimeout(readyTimer);
      clearTimeout(exitTimer);
      if (ready === undefined || stopAt === undefined) return fail("exited before ready");
      if (!stdout.includes("sandbox stopped: ledgers signed and flushed")) return fail("did not report a clean stop");
      resolve({ ...ready, ...(prestartMs === undefined ? {} : { prestartMs }), stopMs: Number(now() - stopAt) / 1e6 });
    });
  });
}

interface Case {
  name: string;
  timings: Timing[];
}

interface CaseSummary {
  readyMs: Summary;
  sandboxReadyMs: Summary;
  stopMs: Summary;
  prestartMs?: Summary;
}

function summaries(timings: Timing[]): CaseSummary {
  const prestart = timings.flatMap((t) => (t.prestartMs === undefined ? [] : [t.prestartMs]));
  return {
    readyMs: summarize(timings.map((t) => t.readyMs)),
    sandboxReadyMs: summarize(timings.map((t) => t.sandboxReadyMs)),
    stopMs: summarize(timings.map((t) => t.stopMs)),
    ...(prestart.length > 0 ? { prestartMs: summarize(prestart) } : {}),
  };
}

async function main(): Promise<void> {
  header(`sandbox start-up: npm start → ready (target < ${TARGET_MS / 1000} s), ${RUNS} rounds`);
  const cases: Case[] = [
    { name: "npm start, clean clone (bundles rebuilt, new workspace)", timings: [] },
    { name: "npm start -- --recover (same workspace)", timings: [] },
    { name: "confide sandbox --fresh (no npm, bundles built)", timings: [] },
    { name: "confide sandbox --fresh --nodes 3 (6 node processes)", timings: [] },
  ];
  for (let round = 0; round < RUNS; round++) {
    const workspace = tempDir("sandbox");
    const direct = tempDir("sandbox-direct");
    try {
      const flags = ["--workspace", workspace, "--port", "0"];
      // A clone has no bundles and tsx has not transpiled its files yet.
      cases[0]!.timings.push(await run("npm", ["start", "--", ...flags], { TSX_DISABLE_CACHE: "1", ...(BUILD_APPS ? { CONFIDE_BUILD_APPS: "always" } : {}) }));
      cases[1]!.timings.push(await run("npm", ["start", "--", "--recover", ...flags], {}));
      cases[2]!.timings.push(await run(process.execPath, [CONFIDE, "sandbox", "--fresh", "--workspace", direct, "--port", "0"], {}));
      cases[3]!.timings.push(await run(process.execPath, [CONFIDE, "sandbox", "--fresh", "--nodes", "3", "--workspace", direct, "--port", "0"], {}));
    } finally {
      removeDir(workspace);
      removeDir(direct);
    }
    console.log(`  round ${round + 1}: ${cases.map((c) => fmtMs(c.timings.at(-1)!.readyMs)).join(" / ")}`);
  }
  const results = cases.map((c) => ({ case: c.name, ...summaries(c.timings) }));
  const rows: Array<Array<string | number>> = [["case", "spawn → ready (median / max)", "sandbox's own (median)", "prestart (median)", "Ctrl-C → exit (median)"]];
  for (const r of results) {
    rows.push([r.case, `${fmtMs(r.readyMs.median)} / ${fmtMs(r.readyMs.max)}`, fmtMs(r.sandboxReadyMs.median), r.prestartMs ? fmtMs(r.prestartMs.median) : "", fmtMs(r.stopMs.median)]);
  }
  printTable(rows);
  const worst = results[0]!.readyMs.max;
  console.log(`  target < ${TARGET_MS / 1000} s from a clean clone: ${worst < TARGET_MS ? "met" : "MISSED"} (worst ${fmtMs(worst)})`);
  const path = writeResult("sandbox-start", { config: { runs: RUNS, buildApps: BUILD_APPS, targetMs: TARGET_MS }, results, targetMet: worst < TARGET_MS });
  console.log(`  wrote ${path}`);
}

await main();
