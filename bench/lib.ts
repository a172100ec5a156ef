// Shared helpers for the benchmarks: machine description, result files, timing,
// and the raw baselines (SHA-256, AES-256-GCM, fsync, raw appends) every
// benchmark prints its figures next to, so the ratio to what this machine can
// do at all is visible. Benchmarks only measure and report: nothing here asserts.
import { createCipheriv, createHash, hash, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync, writevSync } from "node:fs";
import { cpus, freemem, loadavg, release, tmpdir, totalmem, type as osType } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { History } from "../packages/node/src/history/history.ts";

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, "results");

// ---------------------------------------------------------------- machine

export interface Machine {
  cpu: string;
  cores: number;
  totalMemoryGiB: number;
  freeMemoryGiB: number;
  os: string;
  node: string;
  v8: string;
  openssl: string;
  /** 1/5/15-minute load averages when the figures were taken: other work on the machine skews them. */
  loadAverage: number[];
  date: string;
}

export function machine(): Machine {
  const cpuList = cpus();
  return {
    cpu: cpuList[0]?.model.trim() ?? "unknown",
    cores: cpuList.length,
    totalMemoryGiB: round(totalmem() / 2 ** 30, 1),
    freeMemoryGiB: round(freemem() / 2 ** 30, 1),
    os: `${osType()} ${release()}`,
    node: process.version,
    v8: process.versions.v8,
    openssl: process.versions.openssl ?? "unknown",
    loadAverage: loadavg().map((l) => round(l, 2)),
    date: new Date().toISOString(),
  };
}

export function machineLine(m: Machine = machine()): string {
  return `${m.cpu}, ${m.cores} cores, ${m.totalMemoryGiB} GiB RAM, ${m.os}, Node ${m.node}, load ${m.loadAverage.join("/")}, ${m.date}`;
}

// ---------------------------------------------------------------- results

/** Writes bench/results/<name>.json: the machine block plus `data`. Returns the path. */
export function writeResult(name: string, data: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.json`);
  writeFileSync(path, JSON.stringify({ benchmark: name, machine: machine(), ...asObject(data) }, null, 2) + "\n");
  return path;
}

function asObject(data: unknown): Record<string, unknown> {
  return typeof data === "object" && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : { data };
}

// ---------------------------------------------------------------- environment

/** Positive integer from an environment variable, or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text.replace(/_/g, ""));
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name} must be a positive integer, got ${text}`);
  return value;
}

/** A fresh directory under the OS temp dir; remove it with removeDir. */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `confide-bench-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs a full GC when the process was started with --expose-gc (run.ts does so). */
export function gc(): boolean {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) return false;
  collect();
  collect();
  return true;
}

/**
 * Resolves once `seqno` is Committed. If nothing was appended after it, signs
 * now (as History.close() does) rather than waiting up to signatureIntervalMs
 * for the timer's signature.
 */
export async function commitNow(history: History, seqno: number): Promise<void> {
  if (history.lastCommitted.seqno < seqno && history.lastSeqno === seqno) history.emitSignature();
  await history.waitForCommit(seqno);
}

/**
 * Full GCs with pauses between them: freed ArrayBuffer backing stores (Buffer
 * memory) are released by a sweeper after the GC, so process.memoryUsage()
 * taken right after gc() still counts them.
 */
export async function gcSettled(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    if (!gc()) throw new Error("run with --expose-gc");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  gc();
}

export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---------------------------------------------------------------- timing

export const now = (): bigint => process.hrtime.bigint();

export function nsSince(start: bigint): number {
  return Number(now() - start);
}

export function msSince(start: bigint): number {
  return nsSince(start) / 1e6;
}

/** Time one synchronous call, in ms. */
export function timeMs(fn: () => void): number {
  const start = now();
  fn();
  return msSince(start);
}

export async function timeMsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = now();
  await fn();
  return msSince(start);
}

export interface Summary {
  count: number;
  min: number;
  median: number;
  mean: number;
  p90: number;
  p99: number;
  max: number;
}

/** Distribution of samples (any unit), nearest-rank percentiles. */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  return {
    count: sorted.length,
    min: sig(sorted[0]!),
    median: sig(at(0.5)),
    mean: sig(mean),
    p90: sig(at(0.9)),
    p99: sig(at(0.99)),
    max: sig(sorted.at(-1)!),
  };
}

/** Repeats `fn` (which does `opsPerCall` operations) for about `targetMs`; returns ns per operation. */
export function nsPerOp(fn: () => void, opsPerCall = 1, targetMs = 300): number {
  // Warm up so the JIT and OpenSSL contexts are settled.
  for (let i = 0; i < 3; i++) fn();
  let calls = 0;
  const start = now();
  const deadline = start + BigInt(Math.round(targetMs * 1e6));
  let t = start;
  do {
    for (let i = 0; i < 16; i++) fn();
    calls += 16;
    t = now();
  } while (t < deadline);
  return Number(t - start) / (calls * opsPerCall);
}

// ---------------------------------------------------------------- formatting

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Three significant digits (for JSON figures). */
export function sig(value: number, digits = 3): number {
  if (value === 0 || !Number.isFinite(value)) return value;
  return Number(value.toPrecision(digits));
}

export function fmtInt(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

export function fmtRate(txPerSecond: number): string {
  return `${fmtInt(txPerSecond)} tx/s`;
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : ms >= 1 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(3)} ms`;
}

export function fmtBytes(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1)} KiB`;
  return `${bytes} B`;
}

/** Prints rows as an aligned two-or-more-column table. */
export function printTable(rows: Array<Array<string | number>>, indent = "  "): void {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, String(cell).length)));
  for (const row of rows) {
    console.log(indent + row.map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]!) : String(cell).padStart(widths[i]!))).join("  "));
  }
}

export function header(title: string): void {
  console.log(`\n== ${title} ==`);
  console.log(`   ${machineLine()}`);
}

// ---------------------------------------------------------------- baselines

export interface Sha256Baseline {
  /** One-shot SHA-256 over 1 MiB buffers. */
  bulkMBps: number;
  /**
   * crypto.hash("sha256") per call on a 64-byte input (a Merkle node: two digests), digest
   * returned as a "binary" string: the cheapest one-shot call, and how the node hashes.
   */
  ns64: number;
  /** Per call on 96 bytes (a Merkle leaf: three digests). */
  ns96: number;
  /** Per call on a ~350-byte input (a ledger entry of one 256-byte write). */
  ns350: number;
  /** The same 64-byte call with the digest as a Buffer (Node allocates an ArrayBuffer per digest), for comparison. */
  bufferOutputNs64: number;
  /** createHash().update().digest() per call on 64 bytes, for comparison with the one-shot API. */
  createHashNs64: number;
}

export function sha256Baseline(): Sha256Baseline {
  const big = randomBytes(1 << 20);
  const bulkNs = nsPerOp(() => hash("sha256", big, "buffer"), 1, 400);
  const in64 = randomBytes(64);
  const in96 = randomBytes(96);
  const in350 = randomBytes(350);
  return {
    bulkMBps: sig(2 ** 20 / 1e6 / (bulkNs / 1e9)),
    ns64: sig(nsPerOp(() => hash("sha256", in64, "binary"), 1)),
    ns96: sig(nsPerOp(() => hash("sha256", in96, "binary"), 1)),
    ns350: sig(nsPerOp(() => hash("sha256", in350, "binary"), 1)),
    bufferOutputNs64: sig(nsPerOp(() => hash("sha256", in64, "buffer"), 1)),
    createHashNs64: sig(nsPerOp(() => createHash("sha256").update(in64).digest(), 1)),
  };
}

export interface AesGcmBaseline {
  /** Seal of one 300-byte payload with a fresh createCipheriv (setAAD, update, final, getAuthTag), as the ledger does per entry. */
  entryNs300: number;
  /** Bulk AES-256-GCM over 1 MiB buffers through one cipher object. */
  bulkMBps: number;
}

export function aesGcmBaseline(): AesGcmBaseline {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const aad = randomBytes(16);
  const payload = randomBytes(300);
  const entryNs = nsPerOp(() => {
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.setAAD(aad);
    cipher.update(payload);
    cipher.final();
    cipher.getAuthTag();
  }, 1);
  const big = randomBytes(1 << 20);
  const bulkNs = nsPerOp(() => {
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    cipher.update(big);
    cipher.final();
  }, 1, 400);
  return { entryNs300: sig(entryNs), bulkMBps: sig(2 ** 20 / 1e6 / (bulkNs / 1e9)) };
}

export interface FsyncBaseline {
  /** Write 4 KiB at the end of a file then fsync it: ms per iteration. */
  samples: number;
  medianMs: number;
  p99Ms: number;
  meanMs: number;
}

export function fsyncBaseline(dir: string, iterations = 200): FsyncBaseline {
  const path = join(dir, "fsync-baseline.bin");
  const fd = openSync(path, "w");
  const block = randomBytes(4096);
  const samples: number[] = [];
  try {
    for (let i = 0; i < iterations; i++) {
      const start = now();
      writeSync(fd, block, 0, block.length, i * block.length);
      fsyncSync(fd);
      samples.push(msSince(start));
    }
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
  const s = summarize(samples);
  return { samples: s.count, medianMs: s.median, p99Ms: s.p99, meanMs: s.mean };
}

export interface RawAppendBaseline {
  records: number;
  recordBytes: number;
  recordsPerWritev: number;
  recordsPerFsync: number;
  fsyncs: number;
  seconds: number;
  txPerSecond: number;
  MBps: number;
}

/**
 * The disk path alone: `records` records of `recordBytes` written with writev
 * (`recordsPerWritev` buffers per call, as the ledger writes a turn's worth of
 * frames) and one fsync per `recordsPerFsync`, no crypto and no encoding. The
 * records are preallocated so only the system calls are timed.
 */
export function rawAppendBaseline(dir: string, records: number, recordBytes = 256, recordsPerFsync = 5000, recordsPerWritev = 1000): RawAppendBaseline {
  const path = join(dir, "raw-append.bin");
  const pool = randomBytes(recordBytes * Math.min(records, 10_000));
  const buffers: Buffer[] = [];
  for (let i = 0; i < Math.min(records, 10_000); i++) buffers.push(pool.subarray(i * recordBytes, (i + 1) * recordBytes));
  const fd = openSync(path, "w");
  let fsyncs = 0;
  let position = 0;
  const start = now();
  try {
    let sinceSync = 0;
    for (let done = 0; done < records; ) {
      const n = Math.min(recordsPerWritev, records - done, recordsPerFsync - sinceSync);
      const from = done % buffers.length;
      const batch = from + n <= buffers.length ? buffers.slice(from, from + n) : [...buffers.slice(from), ...buffers.slice(0, from + n - buffers.length)];
      let written = writevSync(fd, batch, position);
      // Partial writev is not expected for regular files at these sizes; finish it plainly if it happens.
      while (written < n * recordBytes) written += writeSync(fd, Buffer.concat(batch).subarray(written), 0, undefined, position + written);
      position += written;
      done += n;
      sinceSync += n;
      if (sinceSync === recordsPerFsync || done === records) {
        fsyncSync(fd);
        fsyncs++;
        sinceSync = 0;
      }
    }
  } finally {
    closeSync(fd);
  }
  const seconds = nsSince(start) / 1e9;
  rmSync(path, { force: true });
  return {
    records,
    recordBytes,
    recordsPerWritev,
    recordsPerFsync,
    fsyncs,
    seconds: sig(seconds),
    txPerSecond: sig(records / seconds),
    MBps: sig((records * recordBytes) / 1e6 / seconds),
  };
}

export interface Baselines {
  sha256: Sha256Baseline;
  aesGcm: AesGcmBaseline;
  fsync: FsyncBaseline;
}

/** SHA-256, AES-GCM and fsync baselines (about 3 s). */
export function measureBaselines(dir: string): Baselines {
  return { sha256: sha256Baseline(), aesGcm: aesGcmBaseline(), fsync: fsyncBaseline(dir) };
}

export function printBaselines(b: Baselines): void {
  console.log("  raw baselines (same run):");
  printTable([
    ["SHA-256 bulk (1 MiB buffers)", `${fmtInt(b.sha256.bulkMBps)} MB/s`],
    ["SHA-256 one call, 64 B (crypto.hash, digest as a binary string)", `${fmtInt(b.sha256.ns64)} ns`],
    ["SHA-256 one call, 96 B", `${fmtInt(b.sha256.ns96)} ns`],
    ["SHA-256 one call, 350 B", `${fmtInt(b.sha256.ns350)} ns`],
    ["SHA-256 one call, 64 B (crypto.hash, digest as a Buffer)", `${fmtInt(b.sha256.bufferOutputNs64)} ns`],
    ["SHA-256 one call, 64 B (createHash)", `${fmtInt(b.sha256.createHashNs64)} ns`],
    ["AES-256-GCM seal of 300 B (fresh cipher)", `${fmtInt(b.aesGcm.entryNs300)} ns`],
    ["AES-256-GCM bulk (1 MiB buffers)", `${fmtInt(b.aesGcm.bulkMBps)} MB/s`],
    ["fsync after 4 KiB write: median / p99", `${fmtMs(b.fsync.medianMs)} / ${fmtMs(b.fsync.p99Ms)}`],
  ], "    ");
}

/**
 * SHA-256 calls the commit pipeline makes per transaction of one small write:
 * digest of the commit evidence (~80 B), write-set digest over the entry
 * (~350 B), Merkle leaf (96 B), and on average one Merkle internal node (64 B).
 * Returns their summed cost in ns.
 */
export function shaFloorNsPerTx(b: Sha256Baseline): number {
  // The commit-evidence nonce is an AES PRF call (a fraction of a hash), left out.
  return b.ns96 /* commit evidence */ + b.ns350 /* entry */ + b.ns96 /* leaf */ + b.ns64; /* node */
}
