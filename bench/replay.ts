// Replay speed: a ledger of N transactions (one 256-byte write each, public or
// private map, signatures every 5000) is written and closed, then read back
// with replayLedger (every frame digest checked, the Merkle tree rebuilt, every
// signature verified, private write sets decrypted, the store rebuilt), and
// reopened with startNodeCore (replay + identity + a new-view signature made
// durable). Reported in tx/s next to the per-tx crypto floor and the raw file
// read speed. Then one snapshot is taken and the node reopened from it, for
// comparison (a node with snapshots replays only the ledger after the latest).
//
//   node --expose-gc --import tsx bench/replay.ts      (BENCH_TXS=200000)
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { replayLedger } from "../packages/node/src/history/replay.ts";
import { startNodeCore } from "../packages/node/src/node.ts";
import { loadOrCreateIdentity } from "../packages/node/src/identity.ts";
import type { LedgerSecrets } from "../packages/node/src/crypto/ledger-secrets.ts";
import {
  envInt,
  fmtBytes,
  fmtInt,
  fmtMs,
  fmtRate,
  gc,
  header,
  measureBaselines,
  msSince,
  now,
  printBaselines,
  printTable,
  removeDir,
  shaFloorNsPerTx,
  sig,
  tempDir,
  writeResult,
  yieldToEventLoop,
} from "./lib.ts";

const TXS = envInt("BENCH_TXS", 200_000);
const VALUE_BYTES = 256;
const SIGNATURE_INTERVAL_TX = 5000;
const REPEATS = 2;

export interface ReplayVariantResult {
  map: string;
  /** Entries in the ledger (transactions plus signature transactions). */
  entries: number;
  txs: number;
  ledgerBytes: number;
  ledgerFiles: number;
  /** Best of REPEATS runs of replayLedger. */
  replayMs: number;
  replayTxPerSecond: number;
  replayEntriesPerSecond: number;
  replayMBps: number;
  perEntryNs: number;
  /** startNodeCore on the existing directory until it serves (replay + new-view signature + its fsync). */
  reopenMs: number;
  reopenTxPerSecond: number;
  /** Signature that takes a snapshot of the whole store (synchronous: encode, seal, write the file). */
  snapshotMs: number;
  snapshotFiles: string[];
  /** startNodeCore when a committed snapshot at the end of the ledger exists. */
  reopenFromSnapshotMs: number;
  /** Reading the chunk files alone (readFileSync), the disk/page-cache part of replay. */
  readFilesMs: number;
  readFilesMBps: number;
}

function ledgerFiles(dir: string): string[] {
  return readdirSync(dir).map((name) => join(dir, name));
}

/**
 * Node options of every open: no periodic snapshots, so a reopen replays the whole ledger unless
 * one is triggered; a reopen is handed the ledger secrets (in memory only) of the node that wrote it.
 */
function nodeOptions(dir: string, ledgerSecrets?: LedgerSecrets) {
  return { dir, signatureIntervalTx: SIGNATURE_INTERVAL_TX, signatureIntervalMs: 1000, snapshotIntervalTx: Number.MAX_SAFE_INTEGER, log: () => {}, ...(ledgerSecrets ? { ledgerSecrets } : {}) };
}

async function buildLedger(dir: string, map: string, txs: number): Promise<LedgerSecrets> {
  const node = await startNodeCore(nodeOptions(dir));
  const value = randomBytes(VALUE_BYTES);
  const key = Buffer.alloc(16);
  for (let i = 0; i < txs; i++) {
    key.write("k" + i.toString(16).padStart(15, "0"), "latin1");
    const tx = node.history.begin();
    tx.map(map).set(key, value);
    node.history.commit(tx);
    if (i % 1000 === 999) await yieldToEventLoop();
  }
  await node.close();
  return node.history.ledgerSecrets;
}

async function runVariant(map: string, txs: number): Promise<ReplayVariantResult> {
  const dir = tempDir("replay");
  try {
    const secrets = await buildLedger(dir, map, txs);
    const identity = await loadOrCreateIdentity(dir);
    const ledgerDir = join(dir, "ledger");
    const files = ledgerFiles(ledgerDir);
    const ledgerBytes = files.reduce((n, f) => n + statSync(f).size, 0);

    let readFilesMs = Infinity;
    for (let r = 0; r < REPEATS; r++) {
      const start = now();
      for (const f of files) readFileSync(f);
      readFilesMs = Math.min(readFilesMs, msSince(start));
    }

    let replayMs = Infinity;
    let entries = 0;
    for (let r = 0; r < REPEATS; r++) {
      gc();
      const start = now();
      const result = replayLedger(ledgerDir, { secrets, serviceCertPem: identity.serviceCertPem, warn: () => {} });
      replayMs = Math.min(replayMs, msSince(start));
      entries = result.store.lastSeqno;
      const state = result.store.mapState(map);
      if (!state || state.entries.size !== txs) throw new Error(`replay rebuilt ${state?.entries.size ?? 0} keys, expected ${txs}`);
    }

    // Best of REPEATS opens (each appends one new-view signature, which the next replays too).
    let reopenMs = Infinity;
    for (let r = 0; r < REPEATS - 1; r++) {
      gc();
      const start = now();
      const node = await startNodeCore(nodeOptions(dir, secrets));
      reopenMs = Math.min(reopenMs, msSince(start));
      await node.close();
    }
    gc();
    const start = now();
    const node = await startNodeCore(nodeOptions(dir, secrets));
    reopenMs = Math.min(reopenMs, msSince(start));

    // Take one snapshot (at the next signature) and reopen from it: the snapshot is loaded and
    // checked against its evidence receipt, and only the ledger after it is replayed.
    node.history.triggerSnapshot();
    const tx = node.history.begin();
    tx.map(map).set(Buffer.from("snapshot-marker"), Buffer.alloc(1));
    node.history.commit(tx);
    const snapStart = now();
    node.history.emitSignature();
    const snapshotMs = msSince(snapStart);
    await node.close();
    const snapshotFiles = readdirSync(join(dir, "snapshots"));
    gc();
    const fromSnapshotStart = now();
    const fromSnapshot = await startNodeCore(nodeOptions(dir, secrets));
    const reopenFromSnapshotMs = msSince(fromSnapshotStart);
    const keys = fromSnapshot.history.store.mapState(map)?.entries.size ?? 0;
    await fromSnapshot.close();
    if (keys !== txs + 1) throw new Error(`reopen from snapshot has ${keys} keys, expected ${txs + 1}`);

    return {
      map,
      entries,
      txs,
      ledgerBytes,
      ledgerFiles: files.length,
      replayMs: sig(replayMs),
      replayTxPerSecond: sig(txs / (replayMs / 1000)),
      replayEntriesPerSecond: sig(entries / (replayMs / 1000)),
      replayMBps: sig(ledgerBytes / 1e6 / (replayMs / 1000)),
      perEntryNs: sig((replayMs * 1e6) / entries),
      reopenMs: sig(reopenMs),
      reopenTxPerSecond: sig(txs / (reopenMs / 1000)),
      snapshotMs: sig(snapshotMs),
      snapshotFiles,
      reopenFromSnapshotMs: sig(reopenFromSnapshotMs),
      readFilesMs: sig(readFilesMs),
      readFilesMBps: sig(ledgerBytes / 1e6 / (readFilesMs / 1000)),
    };
  } finally {
    removeDir(dir);
  }
}

async function main(): Promise<void> {
  header(`replay: ledger of ${fmtInt(TXS)} txs of one ${VALUE_BYTES}-byte write, signatures every ${SIGNATURE_INTERVAL_TX}`);
  const scratch = tempDir("baseline");
  let baselines;
  try {
    baselines = measureBaselines(scratch);
  } finally {
    removeDir(scratch);
  }
  // An AES-GCM open costs what a seal does (same cipher setup and work): the seal baseline stands in for it.
  const aes = baselines.aesGcm;

  const variants: ReplayVariantResult[] = [];
  for (const map of ["public:bench", "bench"]) {
    gc();
    variants.push(await runVariant(map, TXS));
  }

  // Per replayed entry: the entry digest (~350 B), the commit-evidence digest is stored (no PRF needed), the leaf
  // (96 B) and on average one Merkle node (64 B); plus one AES-GCM open for a private entry.
  const shaFloor = baselines.sha256.ns350 + baselines.sha256.ns96 + baselines.sha256.ns64;
  const floorOf = (v: ReplayVariantResult) => shaFloor + (v.map.startsWith("public:") ? 0 : aes.entryNs300);
  const ratios = variants.map((v) => ({
    map: v.map,
    cryptoFloorNsPerEntry: sig(floorOf(v)),
    perEntryOverCryptoFloor: sig(v.perEntryNs / floorOf(v)),
    cryptoCeilingTxPerSecond: sig(1e9 / floorOf(v)),
    readFilesShareOfReplay: sig(v.readFilesMs / v.replayMs),
  }));

  console.log();
  printTable([
    ["variant", "replayLedger", "per entry", "MB/s", "reopen (startNodeCore)", "take snapshot", "reopen from it", "read files alone", "ledger"],
    ...variants.map((v) => [
      v.map,
      fmtRate(v.replayTxPerSecond),
      `${fmtInt(v.perEntryNs)} ns`,
      fmtInt(v.replayMBps),
      `${fmtMs(v.reopenMs)} (${fmtRate(v.reopenTxPerSecond)})`,
      fmtMs(v.snapshotMs),
      fmtMs(v.reopenFromSnapshotMs),
      `${fmtMs(v.readFilesMs)} (${fmtInt(v.readFilesMBps)} MB/s)`,
      `${fmtBytes(v.ledgerBytes)} in ${v.ledgerFiles} files`,
    ]),
  ]);
  console.log();
  printBaselines(baselines);
  console.log();
  console.log("  ratios:");
  printTable([
    ["variant", "crypto floor/entry", "per entry ÷ floor", "crypto-only ceiling", "file read share"],
    ...ratios.map((r) => [
      r.map,
      `${fmtInt(r.cryptoFloorNsPerEntry)} ns`,
      `${r.perEntryOverCryptoFloor}×`,
      fmtRate(r.cryptoCeilingTxPerSecond),
      `${(r.readFilesShareOfReplay * 100).toFixed(1)}%`,
    ]),
  ], "    ");
  console.log("  (floor = entry digest + leaf + one Merkle node SHA-256, plus one AES-GCM open for the private map;");
  console.log("   files were just written, so they are read from the page cache: this is replay CPU cost, not cold-disk)");

  const path = writeResult("replay", {
    config: { txs: TXS, valueBytes: VALUE_BYTES, signatureIntervalTx: SIGNATURE_INTERVAL_TX, repeats: REPEATS, cache: "warm page cache (ledger just written)" },
    variants,
    baselines: { ...baselines, shaFloorNsPerEntry: sig(shaFloor), commitShaFloorNsPerTx: sig(shaFloorNsPerTx(baselines.sha256)) },
    ratios,
  });
  console.log(`\n  wrote ${path}`);
}

await main();
