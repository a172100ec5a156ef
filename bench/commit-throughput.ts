// Commit throughput: transactions of one 256-byte write under a distinct key,
// committed in-process (no HTTP) with the ledger on disk and signatures every
// 5000 transactions or 1 s. Variants: a public map (written in clear) and a
// private map (sealed with AES-256-GCM), each without snapshots and with the
// node's default snapshot interval. Reports the rate of the commit loop
// (execution + ledger append + Merkle + store) and the rate until the last
// transaction is Committed (its covering signature's fsync returned), then
// each stage of the pipeline timed alone.
//
//   node --expose-gc --import tsx bench/commit-throughput.ts      (BENCH_TXS=200000)
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { LedgerSecret } from "../packages/node/src/crypto/ledger-secret.ts";
import { SNAPSHOT_INTERVAL_TX } from "../packages/node/src/limits.ts";
import { seqNo, view as toView } from "../packages/node/src/ids.ts";
import { Store } from "../packages/node/src/kv/store.ts";
import { encodeWriteSet, splitByDomain, type WriteSet } from "../packages/node/src/kv/write-set.ts";
import { encodeFrame, leafInputOf, txIdBytes } from "../packages/node/src/ledger/entry.ts";
import { MerkleTree } from "../packages/node/src/merkle/tree.ts";
import { startNodeCore } from "../packages/node/src/node.ts";
import {
  commitNow,
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
  nsPerOp,
  printBaselines,
  printTable,
  rawAppendBaseline,
  removeDir,
  shaFloorNsPerTx,
  sig,
  tempDir,
  writeResult,
  yieldToEventLoop,
} from "./lib.ts";

const TXS = envInt("BENCH_TXS", 200_000);
const WARMUP_TXS = 5_000;
const VALUE_BYTES = 256;
const SIGNATURE_INTERVAL_TX = 5000;
const SIGNATURE_INTERVAL_MS = 1000;
const YIELD_EVERY = 1000;
/** snapshotIntervalTx that never triggers: measures the commit path without snapshots. */
const SNAPSHOTS_OFF = Number.MAX_SAFE_INTEGER;

function variantName(map: string, snapshots: boolean): string {
  return snapshots ? `${map}, snapshots every ${SNAPSHOT_INTERVAL_TX}` : `${map}, no snapshots`;
}

export interface CommitVariantResult {
  variant: string;
  map: string;
  /** The node's snapshot interval during the run ("off": none taken). */
  snapshotIntervalTx: number | "off";
  txs: number;
  loopSeconds: number;
  committedSeconds: number;
  loopTxPerSecond: number;
  committedTxPerSecond: number;
  perTxNs: number;
  /** Time between the end of the loop and the last transaction becoming Committed. */
  drainMs: number;
  /** Signature transactions (and snapshot evidence transactions, if the node takes snapshots) during the run. */
  otherEntries: number;
  /** Snapshot files the node wrote during the whole run (including warm-up). */
  snapshots: number;
  ledgerBytes: number;
  ledgerBytesPerTx: number;
  ledgerFiles: number;
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    bytes += statSync(join(dir, name)).size;
    files++;
  }
  return { bytes, files };
}

async function runVariant(map: string, txs: number, snapshots: boolean): Promise<CommitVariantResult> {
  const dir = tempDir("commit");
  try {
    const node = await startNodeCore({
      dir,
      signatureIntervalTx: SIGNATURE_INTERVAL_TX,
      signatureIntervalMs: SIGNATURE_INTERVAL_MS,
      ...(snapshots ? {} : { snapshotIntervalTx: SNAPSHOTS_OFF }),
      log: () => {},
    });
    const { history } = node;
    const value = randomBytes(VALUE_BYTES);
    // One key buffer rewritten per transaction: set() copies the key into a string and the value into a new Buffer.
    const key = Buffer.alloc(16);
    const commitOne = (prefix: string, i: number) => {
      key.write(prefix + i.toString(16).padStart(15, "0"), "latin1");
      const tx = history.begin();
      tx.map(map).set(key, value);
      const id = history.commit(tx);
      if (id === undefined) throw new Error("a write transaction got no tx id");
      return id.seqno;
    };

    // Warm-up (JIT, key parsing for the signer, first chunk file) on different keys, not timed.
    let last = 0;
    for (let i = 0; i < WARMUP_TXS; i++) {
      last = commitOne("w", i);
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    }
    await commitNow(history, last);
    gc();

    const seqnoBefore = history.lastSeqno;
    const start = now();
    for (let i = 0; i < txs; i++) {
      last = commitOne("k", i);
      // A server returns to the event loop between requests: let writes and fsync completions run.
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
    }
    const loopMs = msSince(start);
    // Signs what the interval signatures have not covered yet, as close() would, instead of
    // waiting up to signatureIntervalMs for the timer.
    await commitNow(history, last);
    const committedMs = msSince(start);
    // Entries that are not benchmark transactions: signature transactions (and snapshot evidence, if any).
    const otherEntries = history.lastSeqno - seqnoBefore - txs;
    await node.close();
    const { bytes, files } = dirBytes(node.ledgerDir);
    const snapshotFiles = existsSync(join(dir, "snapshots")) ? readdirSync(join(dir, "snapshots")).length : 0;
    return {
      variant: variantName(map, snapshots),
      map,
      snapshotIntervalTx: snapshots ? SNAPSHOT_INTERVAL_TX : "off",
      txs,
      loopSeconds: sig(loopMs / 1000),
      committedSeconds: sig(committedMs / 1000),
      loopTxPerSecond: sig(txs / (loopMs / 1000)),
      committedTxPerSecond: sig(txs / (committedMs / 1000)),
      perTxNs: sig((loopMs * 1e6) / txs),
      drainMs: sig(committedMs - loopMs),
      otherEntries,
      snapshots: snapshotFiles,
      ledgerBytes: bytes,
      ledgerBytesPerTx: sig(bytes / (txs + WARMUP_TXS)),
      ledgerFiles: files,
    };
  } finally {
    removeDir(dir);
  }
}

export interface StageCosts {
  map: string;
  /** ns per tx of each stage of History.commit, each timed in isolation on the same kind of input. */
  stagesNs: Record<string, number>;
  sumNs: number;
}

/**
 * The commit pipeline's stages timed one at a time (same code the node runs,
 * outside the node): shows where a transaction's time goes. The sum omits GC
 * pressure, the ledger's buffering and the event loop, so it is below the
 * measured per-tx cost.
 */
function stageCosts(map: string): StageCosts {
  const secret = LedgerSecret.generate();
  const value = randomBytes(VALUE_BYTES);
  const key = Buffer.from("k000000000000001", "latin1");
  const store = new Store();
  const v = toView(1);
  let n = 0;
  const makeWrites = (): WriteSet => {
    const tx = store.begin();
    tx.map(map).set(key, value);
    return tx.finish();
  };
  const writes = makeWrites();
  const isPublic = map.startsWith("public:");
  const encodedWs = encodeWriteSet(writes);
  const sealed = isPublic ? Buffer.alloc(0) : secret.seal(encodedWs, txIdBytes(v, seqNo(1)));
  const fields = {
    view: v,
    seqno: seqNo(1),
    isSignature: false,
    commitEvidenceDigest: secret.commitEvidenceDigest(1, 1),
    claimsDigest: undefined,
    publicWrites: isPublic ? writes : new Map(),
    privateSealed: sealed,
  };
  const { writeSetDigest } = encodeFrame(fields);
  const tree = new MerkleTree();
  const stagesNs: Record<string, number> = {
    "tx: begin, map().set(), finish()": nsPerOp(() => void makeWrites()),
    "commit-evidence digest (AES PRF nonce + SHA-256)": nsPerOp(() => void secret.commitEvidenceDigest(1, ++n)),
    "split (+ encode the private write set)": nsPerOp(() => {
      const { privateWrites } = splitByDomain(writes);
      if (!isPublic) encodeWriteSet(privateWrites);
    }),
    ...(isPublic ? {} : { "AES-GCM seal of the private write set": nsPerOp(() => void secret.seal(encodedWs, txIdBytes(v, seqNo(1)))) }),
    "frame encode (incl. public write set) + write-set digest": nsPerOp(() => void encodeFrame(fields)),
    "Merkle leaf + tree append": nsPerOp(() => tree.appendLeafOf(leafInputOf({ writeSetDigest, commitEvidenceDigest: fields.commitEvidenceDigest, claimsDigest: undefined }))),
  };
  // store.apply on distinct keys, with prebuilt write sets (building them is the "tx" stage).
  const applyStore = new Store();
  const count = 50_000;
  const prebuilt: WriteSet[] = [];
  for (let i = 0; i < count; i++) prebuilt.push(new Map([[map, new Map([["a" + i.toString(16).padStart(15, "0"), Buffer.from(value)]])]]));
  const start = now();
  for (let i = 0; i < count; i++) applyStore.apply(prebuilt[i]!, seqNo(i + 1));
  stagesNs["store.apply (new key)"] = (msSince(start) * 1e6) / count;
  for (const k of Object.keys(stagesNs)) stagesNs[k] = sig(stagesNs[k]!);
  return { map, stagesNs, sumNs: sig(Object.values(stagesNs).reduce((a, b) => a + b, 0)) };
}

async function main(): Promise<void> {
  header(`commit throughput: ${fmtInt(TXS)} txs of one ${VALUE_BYTES}-byte write, signatures every ${SIGNATURE_INTERVAL_TX} txs / ${SIGNATURE_INTERVAL_MS} ms`);
  const scratch = tempDir("baseline");
  let baselines;
  let raw;
  try {
    baselines = measureBaselines(scratch);
    raw = rawAppendBaseline(scratch, TXS, VALUE_BYTES, SIGNATURE_INTERVAL_TX);
  } finally {
    removeDir(scratch);
  }

  const variants: CommitVariantResult[] = [];
  for (const snapshots of [false, true]) {
    for (const map of ["public:bench", "bench"]) {
      gc();
      variants.push(await runVariant(map, TXS, snapshots));
    }
  }

  const stages = ["public:bench", "bench"].map(stageCosts);

  const shaFloor = shaFloorNsPerTx(baselines.sha256);
  const floorOf = (v: CommitVariantResult) => shaFloor + (v.map.startsWith("public:") ? 0 : baselines.aesGcm.entryNs300);
  const ratios = variants.map((v) => ({
    variant: v.variant,
    map: v.map,
    cryptoFloorNsPerTx: sig(floorOf(v)),
    perTxOverCryptoFloor: sig(v.perTxNs / floorOf(v)),
    cryptoFloorShareOfTx: sig(floorOf(v) / v.perTxNs),
    rawAppendOverCommitted: sig(raw.txPerSecond / v.committedTxPerSecond),
  }));

  console.log();
  printTable([
    ["variant", "commit loop", "until Committed", "per tx", "drain", "sig./evidence txs", "snapshots", "ledger/tx"],
    ...variants.map((v) => [
      v.variant,
      fmtRate(v.loopTxPerSecond),
      fmtRate(v.committedTxPerSecond),
      `${fmtInt(v.perTxNs)} ns`,
      fmtMs(v.drainMs),
      v.otherEntries,
      v.snapshots,
      fmtBytes(v.ledgerBytesPerTx),
    ]),
  ]);
  console.log();
  printBaselines(baselines);
  console.log(`    raw append: ${fmtInt(raw.records)} × ${raw.recordBytes} B, writev of ${raw.recordsPerWritev}, fsync per ${raw.recordsPerFsync}: ${fmtRate(raw.txPerSecond)} (${fmtInt(raw.MBps)} MB/s)`);
  console.log();
  console.log("  ratios:");
  printTable([
    ["variant", "SHA-256(+AES) floor/tx", "per tx ÷ floor", "raw append ÷ Committed rate"],
    ...ratios.map((r) => [r.variant, `${fmtInt(r.cryptoFloorNsPerTx)} ns`, `${r.perTxOverCryptoFloor}×`, `${r.rawAppendOverCommitted}×`]),
  ], "    ");
  console.log("  (floor = the 4 SHA-256 calls every tx needs, plus one AES-GCM seal for the private map)");
  console.log();
  console.log("  where a transaction's time goes (each stage timed alone, ns per tx):");
  const stageNames = [...new Set(stages.flatMap((s) => Object.keys(s.stagesNs)))];
  printTable([
    ["stage", ...stages.map((s) => s.map)],
    ...stageNames.map((name) => [name, ...stages.map((s) => (s.stagesNs[name] === undefined ? "-" : fmtInt(s.stagesNs[name]!)))]),
    ["sum of stages", ...stages.map((s) => fmtInt(s.sumNs))],
    ["measured per tx in the node (no snapshots)", ...stages.map((s) => fmtInt(variants.find((v) => v.map === s.map && v.snapshotIntervalTx === "off")!.perTxNs))],
  ], "    ");

  const path = writeResult("commit-throughput", {
    config: {
      txs: TXS,
      warmupTxs: WARMUP_TXS,
      valueBytes: VALUE_BYTES,
      signatureIntervalTx: SIGNATURE_INTERVAL_TX,
      signatureIntervalMs: SIGNATURE_INTERVAL_MS,
      snapshotIntervalTx: `off, and the node default ${SNAPSHOT_INTERVAL_TX}`,
      yieldEveryTxs: YIELD_EVERY,
      fsyncPolicy:
        "appends buffered and handed to a background writev (libuv thread pool) once per event-loop turn (or per 1 MiB); one fsync per signature transaction, after the writes before it; a tx is Committed only once the fsync covering its signature returns",
    },
    variants,
    baselines: { ...baselines, rawAppend: raw, shaFloorNsPerTx: sig(shaFloor) },
    ratios,
    stages,
  });
  console.log(`\n  wrote ${path}`);
}

await main();
