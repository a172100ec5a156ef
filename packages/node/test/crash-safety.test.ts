// CCF crash recovery: a node killed (kill -9) mid-write restarts from its ledger with every transaction it reported Committed, truncates a torn last frame and unsigned entries after the last signature with a warning (never a crash), and refuses a truncated committed chunk.
// No file holds a ledger secret, so this test holds the one secret of its ledgers and hands it to every writer and reopen, as a node's memory would (a real node restarts by recovery: recovery.test.ts).
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { seqNo, view, type TxId } from "../src/ids.ts";
import { readLedger } from "../src/ledger/reader.ts";
import { LedgerSecret } from "../src/crypto/ledger-secret.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { startNodeCore, type NodeCore, type NodeOptions } from "../src/node.ts";
import { seededRandom } from "./helpers/seeded-random.ts";

const here = dirname(fileURLToPath(import.meta.url));
const packageDir = join(here, "..");
const writerPath = join(here, "fixtures", "crash-writer.ts");

const ROUNDS = 6;
const KILL_DELAY_MIN_MS = 50;
const KILL_DELAY_MAX_MS = 400;
const READY_TIMEOUT_MS = 30_000;

const LEDGER_SECRET = LedgerSecret.generate();
const secrets = () => LedgerSecrets.first(LEDGER_SECRET);

const PUBLIC_MAP = "public:crash";
const PRIVATE_MAP = "crash_private";

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

after(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

interface Reported {
  i: number;
  id: TxId;
}

interface WriterRun {
  reported: Reported[];
  stderr: string;
}

/** Starts the writer at `start`, kills it with SIGKILL `delayMs` after it is ready, returns what it reported. */
function runWriterUntilKilled(dir: string, start: number, delayMs: number): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", writerPath, dir, String(start)], {
      cwd: packageDir,
      env: { ...process.env, CRASH_WRITER_LEDGER_SECRET: LEDGER_SECRET.key.toString("hex") },
      stdio: ["pipe", "pipe", "pipe"],
    });
    children.add(child);
    const reported: Reported[] = [];
    let stdout = "";
    let stderr = "";
    let ready = false;
    let killTimer: NodeJS.Timeout | undefined;
    const readyTimer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer not ready after ${READY_TIMEOUT_MS} ms; stderr:\n${stderr}`));
    }, READY_TIMEOUT_MS);
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => (stderr += chunk));
    child.stdout!.on("data", (chunk: string) => {
      stdout += chunk;
      let newline: number;
      // Only whole lines count: a line cut by the kill was never reported.
      while ((newline = stdout.indexOf("\n")) >= 0) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        const committed = /^committed (\d+) (\d+)\.(\d+)$/.exec(line);
        if (committed) {
          reported.push({ i: Number(committed[1]), id: { view: view(Number(committed[2])), seqno: seqNo(Number(committed[3])) } });
        } else if (line === `ready ${start}`) {
          ready = true;
          clearTimeout(readyTimer);
          killTimer = setTimeout(() => child.kill("SIGKILL"), delayMs);
        } else {
          child.kill("SIGKILL");
          reject(new Error(`unexpected writer output: ${JSON.stringify(line)}`));
        }
      }
    });
    child.on("error", (error) => {
      clearTimeout(readyTimer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(readyTimer);
      if (killTimer) clearTimeout(killTimer);
      children.delete(child);
      if (!ready || signal !== "SIGKILL") {
        reject(new Error(`writer exited by itself (code ${code}, signal ${signal}, ready ${ready}); stderr:\n${stderr}`));
        return;
      }
      resolve({ reported, stderr });
    });
  });
}

async function withNode<T>(options: NodeOptions, use: (node: NodeCore) => T | Promise<T>): Promise<T> {
  const node = await startNodeCore({ ledgerSecrets: secrets(), ...options });
  try {
    return await use(node);
  } finally {
    await node.close();
  }
}

function readValue(node: NodeCore, map: string, key: string): string | undefined {
  const tx = node.history.store.beginReadOnly();
  return tx.map(map).get(Buffer.from(key))?.toString();
}

/** Counters present in a map (keys k<i>), checked to be exactly 0..m-1 with the expected values; returns m. */
function contiguousPrefix(node: NodeCore, map: string, valueOf: (i: number) => string): number {
  const state = node.history.store.mapState(map);
  const counters: number[] = [];
  for (const [key, entry] of state?.entries ?? []) {
    const match = /^k(\d+)$/.exec(key);
    assert.ok(match, `${map}: unexpected key ${JSON.stringify(key)}`);
    const i = Number(match[1]);
    assert.equal(entry.value.toString(), valueOf(i), `${map}: value of k${i}`);
    counters.push(i);
  }
  counters.sort((a, b) => a - b);
  const gap = counters.findIndex((i, index) => i !== index);
  assert.equal(gap, -1, `${map}: counters are not a contiguous prefix: k${gap} is missing, k${counters[gap]} survives beyond it`);
  return counters.length;
}

function commitCounters(node: NodeCore, from: number, to: number): TxId[] {
  const ids: TxId[] = [];
  for (let i = from; i < to; i++) {
    const tx = node.history.begin();
    tx.map(PUBLIC_MAP).set(Buffer.from(`k${i}`), Buffer.from(`v${i}`));
    tx.map(PRIVATE_MAP).set(Buffer.from(`k${i}`), Buffer.from(`secret${i}`));
    const id = node.history.commit(tx);
    assert.ok(id);
    ids.push(id);
  }
  return ids;
}

function ledgerFiles(ledgerDir: string): string[] {
  return readdirSync(ledgerDir)
    .filter((name) => name.startsWith("ledger_"))
    .sort((a, b) => Number(/^ledger_(\d+)/.exec(a)![1]) - Number(/^ledger_(\d+)/.exec(b)![1]));
}

/** Reads every frame of the ledger (no signature checks) as the next start would, failing on any inconsistency. */
function assertLedgerReadable(ledgerDir: string, when: string): void {
  const torn: string[] = [];
  try {
    for (const _ of readLedger(ledgerDir, { onTornTail: (tail) => torn.push(tail.path) })) {
      // frames are checked as they are read
    }
  } catch (error) {
    assert.fail(`${when}: the ledger is no longer readable (${ledgerFiles(ledgerDir).join(", ")}): ${(error as Error).message}`);
  }
  assert.deepEqual(torn, [], `${when}: torn bytes left in the ledger`);
}

const isTorn = (message: string) => /torn/i.test(message);
const isUnsignedDrop = (message: string) => /unsigned/i.test(message);
/** A kill right after a new chunk file was created leaves it empty. */
const isEmptyChunkRemoval = (message: string) => /holds no whole entry/.test(message);

describe("crash safety", () => {
  test(`kill -9 a writer ${ROUNDS} times at random points: restart keeps every reported-committed tx and nothing after the cut`, { timeout: 180_000 }, async (t) => {
    const seed = process.env["CRASH_SEED"] !== undefined ? Number(process.env["CRASH_SEED"]) : randomInt(0, 2 ** 32);
    const random = seededRandom(seed);
    const dir = tempDir("confide-crash-");
    const allReported: Reported[] = [];
    const stats = { torn: 0, unsignedDrops: 0, reported: 0 };
    let next = 0;
    let previousPrefix = 0;
    const started = Date.now();
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const delayMs = Math.round(KILL_DELAY_MIN_MS + random() * (KILL_DELAY_MAX_MS - KILL_DELAY_MIN_MS));
        const roundStart = Date.now();
        const run = await runWriterUntilKilled(dir, next, delayMs);
        const writerMs = Date.now() - roundStart;
        // The writer replays a ledger we closed cleanly: it must not have needed to repair anything.
        assert.equal(run.stderr, "", `round ${round}: writer logged while starting from a clean ledger`);
        for (const [index, r] of run.reported.entries()) {
          assert.ok(r.i >= next, `round ${round}: reported counter ${r.i} below the start ${next}`);
          if (index > 0) assert.ok(r.id.seqno > run.reported[index - 1]!.id.seqno, `round ${round}: reports out of seqno order`);
        }
        allReported.push(...run.reported);
        stats.reported += run.reported.length;

        // The last files as the kill left them, for the diagnostics.
        const ledgerDir = join(dir, "ledger");
        const tail = ledgerFiles(ledgerDir)
          .slice(-2)
          .map((name) => `${name} (${statSync(join(ledgerDir, name)).size} B)`)
          .join(", ");
        const warnings: string[] = [];
        const restartStart = Date.now();
        await withNode({ dir, log: (message) => warnings.push(message) }, (node) => {
          const m = contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`);
          const mPrivate = contiguousPrefix(node, PRIVATE_MAP, (i) => `secret${i}`);
          assert.equal(mPrivate, m, `round ${round}: public and private maps recovered different prefixes`);
          assert.ok(m >= previousPrefix, `round ${round}: recovered prefix shrank from ${previousPrefix} to ${m}`);
          for (const r of allReported) {
            assert.ok(r.i < m, `round ${round}: k${r.i} was reported committed (tx ${r.id.view}.${r.id.seqno}) but is lost; recovered prefix is ${m}`);
            assert.equal(readValue(node, PUBLIC_MAP, `k${r.i}`), `v${r.i}`);
            assert.equal(readValue(node, PRIVATE_MAP, `k${r.i}`), `secret${r.i}`);
            assert.equal(node.history.txStatus(r.id), "Committed", `round ${round}: status of reported tx ${r.id.view}.${r.id.seqno}`);
          }
          const highest = run.reported.at(-1)?.id.seqno ?? 0;
          assert.ok(node.history.lastSeqno >= highest, `round ${round}: lastSeqno ${node.history.lastSeqno} < highest reported seqno ${highest}`);
          const torn = warnings.filter(isTorn).length;
          const dropped = warnings.filter(isUnsignedDrop).length;
          const emptyChunks = warnings.filter(isEmptyChunkRemoval).length;
          assert.equal(warnings.length, torn + dropped + emptyChunks, `round ${round}: unexpected warnings: ${warnings.join(" | ")}`);
          stats.torn += torn;
          stats.unsignedDrops += dropped;
          t.diagnostic(
            `round ${round}: writer ${writerMs} ms (kill ${delayMs} ms after ready), restart ${Date.now() - restartStart} ms, ${run.reported.length} reported, prefix ${previousPrefix} -> ${m}, ` +
              `lastSeqno ${node.history.lastSeqno}, ${ledgerFiles(ledgerDir).length} chunk files, tail after the kill: ${tail}, warnings: ${warnings.join(" | ") || "none"}`,
          );
          previousPrefix = m;
          next = m;
        });
        // A clean stop after recovery must leave a ledger the next start accepts as it is.
        assertLedgerReadable(ledgerDir, `round ${round}: after the recovering restart and a clean close (the kill left ${tail})`);
      }
      t.diagnostic(
        `seed ${seed}: ${ROUNDS} rounds in ${Date.now() - started} ms, ${stats.reported} txs reported committed, ` +
          `${stats.torn} torn-tail truncations, ${stats.unsignedDrops} unsigned-tail truncations`,
      );
      assert.ok(stats.reported > 0, "no round reported any committed transaction: the kills came too early to test anything");
    } catch (error) {
      console.error(`crash-safety: failed with seed ${seed}; replay the same kill delays with CRASH_SEED=${seed}`);
      if (error instanceof Error) error.message = `[CRASH_SEED=${seed}] ${error.message}`;
      throw error;
    }
  });

  test("a torn frame appended to the unfinished chunk is truncated with a warning; committed data survives", async () => {
    const dir = tempDir("confide-torn-");
    // Signatures at seqnos 11 and 22; close() signs the last 5 and waits for that signature to be durable.
    const committed = await withNode({ dir, signatureIntervalTx: 10, log: () => {} }, (node) => commitCounters(node, 0, 25));
    const ledgerDir = join(dir, "ledger");
    const unfinished = ledgerFiles(ledgerDir).filter((name) => /^ledger_\d+$/.test(name));
    assert.equal(unfinished.length, 1, `expected one unfinished chunk, found ${ledgerFiles(ledgerDir).join(", ")}`);
    const path = join(ledgerDir, unfinished[0]!);
    const sizeBefore = statSync(path).size;
    // Half of a plausible frame: the start of the first entry (length prefix, digest, part of the header).
    appendFileSync(path, readFileSync(path).subarray(0, 60));

    const warnings: string[] = [];
    await withNode({ dir, log: (message) => warnings.push(message) }, (node) => {
      assert.ok(warnings.some(isTorn), `no warning about the torn entry; warnings: ${warnings.join(" | ")}`);
      assert.ok(!warnings.some(isUnsignedDrop), `committed entries were discarded: ${warnings.join(" | ")}`);
      assert.equal(contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`), 25);
      assert.equal(contiguousPrefix(node, PRIVATE_MAP, (i) => `secret${i}`), 25);
      for (const id of committed) assert.equal(node.history.txStatus(id), "Committed");
      commitCounters(node, 25, 30);
    });
    assert.ok(statSync(path).size > sizeBefore, "the chunk was not appended to after the restart");

    // The torn bytes are gone for good: the next restart sees a clean ledger with the new writes after the old ones.
    const later: string[] = [];
    await withNode({ dir, log: (message) => later.push(message) }, (node) => {
      assert.deepEqual(later, []);
      assert.equal(contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`), 30);
      assert.equal(contiguousPrefix(node, PRIVATE_MAP, (i) => `secret${i}`), 30);
    });
  });

  test("an unfinished chunk cut inside its last entry (a signature) loses only the transactions that signature covered", async () => {
    const dir = tempDir("confide-cut-");
    // Signatures at seqnos 11 and 22 (every 10 txs), and 28 at close covering counters 20..24.
    await withNode({ dir, signatureIntervalTx: 10, log: () => {} }, (node) => {
      commitCounters(node, 0, 25);
    });
    const ledgerDir = join(dir, "ledger");
    const files = ledgerFiles(ledgerDir);
    assert.deepEqual(files, ["ledger_1"]);
    const path = join(ledgerDir, "ledger_1");
    truncateSync(path, statSync(path).size - 7);

    const warnings: string[] = [];
    await withNode({ dir, log: (message) => warnings.push(message) }, (node) => {
      assert.ok(warnings.some(isTorn), `no warning about the torn entry; warnings: ${warnings.join(" | ")}`);
      assert.ok(warnings.some(isUnsignedDrop), `no warning about the unsigned entries; warnings: ${warnings.join(" | ")}`);
      assert.equal(contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`), 20);
      assert.equal(contiguousPrefix(node, PRIVATE_MAP, (i) => `secret${i}`), 20);
      assert.equal(node.history.txStatus({ view: view(1), seqno: seqNo(21) }), "Committed");
      // Seqno 23 (counter 20) was lost with the torn signature; this restart's own signature now sits there.
      assert.equal(node.history.txStatus({ view: view(1), seqno: seqNo(23) }), "Invalid");
    });
  });

  for (const leftover of ["empty", "torn"] as const) {
    test(
      `a chunk file holding no whole entry (${leftover}) after an unrenamed finished chunk, as a kill between finishing a chunk and its first write leaves it, is cleaned up`,
      async () => {
        const dir = tempDir(`confide-headless-${leftover}-`);
        // Seqnos 1..5 and the closing signature at 6, all in the unfinished chunk ledger_1.
        await withNode({ dir, log: () => {} }, (node) => {
          commitCounters(node, 0, 5);
        });
        const ledgerDir = join(dir, "ledger");
        assert.deepEqual(ledgerFiles(ledgerDir), ["ledger_1"]);
        // A kill after a signature finished ledger_1 (before its fsync and rename to ledger_1-6) and after the
        // next append created ledger_7 (Ledger.startChunk opens it at once), but before any whole frame reached it.
        const first = readFileSync(join(ledgerDir, "ledger_1"));
        writeFileSync(join(ledgerDir, "ledger_7"), leftover === "empty" ? Buffer.alloc(0) : first.subarray(0, 60));

        const warnings: string[] = [];
        await withNode({ dir, log: (message) => warnings.push(message) }, (node) => {
          assert.equal(contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`), 5);
          commitCounters(node, 5, 8);
        });
        if (leftover === "torn") assert.ok(warnings.some(isTorn), `no torn warning: ${warnings.join(" | ")}`);
        assertLedgerReadable(ledgerDir, `${leftover} ledger_7 left by the crash, after one recovering restart and a clean close`);
        await withNode({ dir, log: () => {} }, (node) => {
          assert.equal(contiguousPrefix(node, PUBLIC_MAP, (i) => `v${i}`), 8);
        });
      },
    );
  }

  test("a truncated committed chunk is refused with an error naming the file, never silently accepted", async () => {
    const dir = tempDir("confide-committed-");
    await withNode({ dir, signatureIntervalTx: 5, chunkBytes: 2048, log: () => {} }, (node) => {
      commitCounters(node, 0, 60);
    });
    const ledgerDir = join(dir, "ledger");
    const committedChunks = ledgerFiles(ledgerDir).filter((name) => name.endsWith(".committed"));
    assert.ok(committedChunks.length >= 3, `expected several committed chunks, found ${ledgerFiles(ledgerDir).join(", ")}`);

    // A committed chunk in the middle of the ledger, cut in the middle.
    const middle = committedChunks[1]!;
    const middlePath = join(ledgerDir, middle);
    const original = readFileSync(middlePath);
    const cutAt = Math.floor(original.length / 2);
    truncateSync(middlePath, cutAt);
    await assert.rejects(startNodeCore({ dir, log: () => {}, ledgerSecrets: secrets() }), (error: Error) => {
      assert.ok(error.message.includes(middle), `error does not name ${middle}: ${error.message}`);
      return true;
    });
    assert.equal(statSync(middlePath).size, cutAt, "the refused chunk was modified");

    // The last committed chunk, cut inside its last entry, when it is the last file of the ledger.
    appendFileSync(middlePath, original.subarray(cutAt));
    await withNode({ dir, log: () => {} }, (node) => {
      commitCounters(node, 60, 61);
      node.history.triggerLedgerChunk();
    });
    const files = ledgerFiles(ledgerDir);
    const last = files.at(-1)!;
    assert.ok(last.endsWith(".committed"), `expected the ledger to end with a committed chunk: ${files.join(", ")}`);
    assert.ok(!files.some((name) => /^ledger_\d+$/.test(name)), `expected no unfinished chunk: ${files.join(", ")}`);
    const lastPath = join(ledgerDir, last);
    truncateSync(lastPath, statSync(lastPath).size - 7);
    await assert.rejects(startNodeCore({ dir, log: () => {}, ledgerSecrets: secrets() }), (error: Error) => {
      assert.ok(error.message.includes(last), `error does not name ${last}: ${error.message}`);
      return true;
    });
  });
});
