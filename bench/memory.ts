// Memory per 1M keys: a node commits 1M transactions, each writing one
// 100-byte value under a distinct key (private map, then public map), and the
// growth of the JS heap, of Buffer memory (ArrayBuffers outside the heap) and of
// the process RSS is reported per 1M keys. Baselines: a plain JS Map of the
// same 1M string keys → 100-byte Buffers (what the store holds at the very
// least), and a Merkle tree of 1M leaves alone (the node keeps up to 2^20
// leaves' proofs in memory by default). Each case runs in a fresh child process
// started with --expose-gc, so one case's garbage cannot inflate another's.
//
//   node --import tsx bench/memory.ts          (BENCH_KEYS=1000000)
//   node --expose-gc --import tsx bench/memory.ts <case>     (one case, prints RESULT <json>)
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { sha256 } from "../packages/node/src/crypto/hash.ts";
import { MerkleTree } from "../packages/node/src/merkle/tree.ts";
import { startNodeCore } from "../packages/node/src/node.ts";
import {
  commitNow,
  envInt,
  fmtBytes,
  fmtInt,
  fmtRate,
  gcSettled,
  header,
  msSince,
  now,
  printTable,
  removeDir,
  sig,
  tempDir,
  writeResult,
  yieldToEventLoop,
} from "./lib.ts";

const KEYS = envInt("BENCH_KEYS", 1_000_000);
const VALUE_BYTES = 100;
const CASES = ["js-map", "merkle-tree", "node-private", "node-public"] as const;
type Case = (typeof CASES)[number];

interface Usage {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

export interface CaseResult {
  case: Case;
  keys: number;
  /** Growth from before the keys were added to after, both after a full GC, in bytes. */
  delta: Usage;
  /** Growth scaled to 1M keys. */
  perMillionKeys: Usage;
  /** Growth per key, in bytes (heapUsed + arrayBuffers). */
  bytesPerKey: number;
  seconds: number;
  txPerSecond?: number;
  /** Node cases: growth once the stored values are re-copied into packed Buffers (what pool pinning costs). */
  compactedValuesPerMillionKeys?: { heapUsed: number; arrayBuffers: number };
  note: string;
}

async function usage(): Promise<Usage> {
  await gcSettled();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

function keyOf(i: number): string {
  return "k" + i.toString(16).padStart(15, "0");
}

async function runCase(which: Case): Promise<CaseResult> {
  const value = randomBytes(VALUE_BYTES);
  let keep: unknown;
  let before: Usage;
  let after: Usage;
  let txPerSecond: number | undefined;
  let note = "";
  let compactedValuesPerMillionKeys: { heapUsed: number; arrayBuffers: number } | undefined;
  let dir: string | undefined;
  const start = now();
  try {
    switch (which) {
      case "js-map": {
        before = await usage();
        const map = new Map<string, Buffer>();
        for (let i = 0; i < KEYS; i++) map.set(keyOf(i), Buffer.from(value));
        after = await usage();
        keep = map;
        note = "Map<string, Buffer>: 16-char latin1 keys, each value a Buffer copy (as MapHandle.set makes)";
        break;
      }
      case "merkle-tree": {
        before = await usage();
        const tree = new MerkleTree();
        const leaf = sha256("leaf");
        for (let i = 0; i < KEYS; i++) tree.append(leaf);
        after = await usage();
        keep = tree;
        note = "MerkleTree with one leaf per key, nothing evicted (all levels in memory)";
        break;
      }
      case "node-private":
      case "node-public": {
        const map = which === "node-public" ? "public:bench" : "bench";
        dir = tempDir("memory");
        // Snapshots off: a snapshot every 10k txs re-encodes the whole store (quadratic over 1M keys) and its
        // transient buffers are not what this measures.
        const node = await startNodeCore({ dir, signatureIntervalTx: 5000, signatureIntervalMs: 1000, snapshotIntervalTx: Number.MAX_SAFE_INTEGER, log: () => {} });
        before = await usage();
        const key = Buffer.alloc(16);
        const t0 = now();
        let last = 0;
        for (let i = 0; i < KEYS; i++) {
          key.write(keyOf(i), "latin1");
          const tx = node.history.begin();
          tx.map(map).set(key, value);
          last = node.history.commit(tx)!.seqno;
          if (i % 1000 === 999) await yieldToEventLoop();
        }
        await commitNow(node.history, last);
        txPerSecond = KEYS / (msSince(t0) / 1000);
        after = await usage();
        const state = node.history.store.mapState(map);
        if (state?.entries.size !== KEYS) throw new Error(`store holds ${state?.entries.size} keys, expected ${KEYS}`);
        // Diagnostic: the same values copied into densely packed Buffers. Each stored value is a
        // slice of Node's shared 8 KiB Buffer pool, and the pipeline's short-lived frames, write
        // sets and ciphertexts are sliced from the same pool, so every kept value pins its slab.
        for (const [k, entry] of state.entries) state.entries.set(k, { value: Buffer.from(entry.value), version: entry.version });
        const compacted = await usage();
        compactedValuesPerMillionKeys = {
          heapUsed: Math.round((compacted.heapUsed - before.heapUsed) * (1_000_000 / KEYS)),
          arrayBuffers: Math.round((compacted.arrayBuffers - before.arrayBuffers) * (1_000_000 / KEYS)),
        };
        keep = node;
        note = `startNodeCore, map ${map}, signatures every 5000 txs, no snapshots: store + Merkle tree (${fmtInt(node.history.lastSeqno)} leaves, all in memory) + ledger index`;
        await node.close();
        break;
      }
    }
  } finally {
    if (dir) removeDir(dir);
  }
  void keep;
  const delta: Usage = {
    rss: after.rss - before.rss,
    heapUsed: after.heapUsed - before.heapUsed,
    heapTotal: after.heapTotal - before.heapTotal,
    external: after.external - before.external,
    arrayBuffers: after.arrayBuffers - before.arrayBuffers,
  };
  const scale = 1_000_000 / KEYS;
  const perMillionKeys = Object.fromEntries(Object.entries(delta).map(([k, v]) => [k, Math.round(v * scale)])) as unknown as Usage;
  return {
    case: which,
    keys: KEYS,
    delta,
    perMillionKeys,
    bytesPerKey: sig((delta.heapUsed + delta.arrayBuffers) / KEYS),
    seconds: sig(msSince(start) / 1000),
    ...(txPerSecond === undefined ? {} : { txPerSecond: sig(txPerSecond) }),
    ...(compactedValuesPerMillionKeys === undefined ? {} : { compactedValuesPerMillionKeys }),
    note,
  };
}

function runInChild(which: Case): CaseResult {
  const file = fileURLToPath(import.meta.url);
  const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", file, which], {
    encoding: "utf8",
    env: process.env,
    maxBuffer: 16 << 20,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`memory case ${which} printed no RESULT line:\n${out}`);
  return JSON.parse(line.slice("RESULT ".length)) as CaseResult;
}

async function main(): Promise<void> {
  const which = process.argv[2];
  if (which !== undefined) {
    if (!(CASES as readonly string[]).includes(which)) throw new Error(`unknown case ${which}; one of ${CASES.join(", ")}`);
    console.log("RESULT " + JSON.stringify(await runCase(which as Case)));
    return;
  }

  header(`memory: ${fmtInt(KEYS)} keys of ${VALUE_BYTES}-byte values, each case in a fresh process (figures per 1M keys)`);
  const results = CASES.map(runInChild);
  const mib = (bytes: number) => fmtBytes(bytes);
  console.log();
  printTable([
    ["case", "JS heap", "Buffers (off heap)", "heap + Buffers", "RSS", "bytes/key", "commit rate"],
    ...results.map((r) => [
      r.case,
      mib(r.perMillionKeys.heapUsed),
      mib(r.perMillionKeys.arrayBuffers),
      mib(r.perMillionKeys.heapUsed + r.perMillionKeys.arrayBuffers),
      mib(r.perMillionKeys.rss),
      fmtInt(r.bytesPerKey),
      r.txPerSecond === undefined ? "" : fmtRate(r.txPerSecond),
    ]),
  ]);
  const byCase = new Map(results.map((r) => [r.case, r]));
  const base = byCase.get("js-map")!;
  const tree = byCase.get("merkle-tree")!;
  const total = (r: CaseResult) => r.perMillionKeys.heapUsed + r.perMillionKeys.arrayBuffers;
  const ratios = results
    .filter((r) => r.case.startsWith("node-"))
    .map((r) => ({
      case: r.case,
      overJsMap: sig(total(r) / total(base)),
      overJsMapPlusTree: sig(total(r) / (total(base) + total(tree))),
      rssOverJsMapRss: sig(r.perMillionKeys.rss / base.perMillionKeys.rss),
    }));
  console.log();
  console.log("  ratios (heap + Buffers):");
  printTable([
    ["case", "÷ JS Map", "÷ (JS Map + Merkle tree)", "RSS ÷ JS Map RSS"],
    ...ratios.map((r) => [r.case, `${r.overJsMap}×`, `${r.overJsMapPlusTree}×`, `${r.rssOverJsMapRss}×`]),
  ], "    ");
  for (const r of results) console.log(`  ${r.case}: ${r.note}`);
  for (const r of results) {
    const c = r.compactedValuesPerMillionKeys;
    if (!c) continue;
    console.log(
      `  ${r.case}, values re-copied into packed Buffers: Buffers ${mib(c.arrayBuffers)} (was ${mib(r.perMillionKeys.arrayBuffers)}), heap + Buffers ${mib(c.heapUsed + c.arrayBuffers)} ` +
        `(a large drop would mean stored values pin memory they do not use)`,
    );
  }

  const path = writeResult("memory", { config: { keys: KEYS, valueBytes: VALUE_BYTES }, results, ratios });
  console.log(`\n  wrote ${path}`);
}

await main();
