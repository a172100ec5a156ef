// Runs every benchmark, one child process at a time (each with --expose-gc),
// then prints one summary table against the issue's targets and the raw
// baselines of the same run. Results stay in bench/results/<name>.json.
//
//   npm run bench                        all, BENCH_TXS=200000, BENCH_KEYS=1000000
//   BENCH_TXS=50000 npm run bench        smaller ledgers (faster)
//   npm run bench -- replay receipts     only some
//   BENCH_RECON_RECORDS=200000 npm run bench -- reconciliation   the issue's full 5 × 200,000 records
//   BENCH_NET_TXS=5000 npm run bench -- network   fewer writes in the multi-node benchmark
//   npm run bench -- recon-ingest        our reconciliation app against the sample-shaped baseline (issue 21)
//   BENCH_NET_ONLY=catchup npm run bench -- network   only its catch-up part (BENCH_NET_CATCHUP_TXS, BENCH_NET_PROFILE=1)
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BENCH_DIR, fmtBytes, fmtInt, fmtMs, machine, machineLine, printTable, RESULTS_DIR } from "./lib.ts";

const BENCHMARKS = ["commit-throughput", "replay", "receipts", "memory", "https-app", "fresh-realm", "cold-start", "governance", "sandbox-start", "reconciliation", "recon-ingest", "network"] as const;

// Loose views of the result files (written by the benchmark scripts).
type Json = any;

function readResult(name: string, since: string): Json | undefined {
  const path = join(RESULTS_DIR, `${name}.json`);
  if (!existsSync(path)) return undefined;
  const result = JSON.parse(readFileSync(path, "utf8")) as Json;
  // Only figures from this run: a failed benchmark must not be summarised from an old file.
  return typeof result?.machine?.date === "string" && result.machine.date >= since ? result : undefined;
}

function main(): void {
  const requested = process.argv.slice(2);
  for (const name of requested) {
    if (!(BENCHMARKS as readonly string[]).includes(name)) throw new Error(`unknown benchmark ${name}; one of ${BENCHMARKS.join(", ")}`);
  }
  const selected = requested.length > 0 ? requested : [...BENCHMARKS];
  const since = new Date().toISOString();
  console.log(`confide benchmarks: ${selected.join(", ")}`);
  console.log(`  ${machineLine()}`);
  console.log(`  BENCH_TXS=${process.env["BENCH_TXS"] ?? "200000 (default)"} BENCH_KEYS=${process.env["BENCH_KEYS"] ?? "1000000 (default)"}`);

  const outcome = new Map<string, { ok: boolean; seconds: number }>();
  const started = Date.now();
  for (const name of selected) {
    const t0 = Date.now();
    const child = spawnSync(process.execPath, ["--expose-gc", "--import", "tsx", join(BENCH_DIR, `${name}.ts`)], {
      stdio: "inherit",
      env: process.env,
    });
    const seconds = (Date.now() - t0) / 1000;
    const ok = child.status === 0;
    outcome.set(name, { ok, seconds });
    if (!ok) console.error(`\n!! ${name} failed (exit ${child.status ?? child.signal})`);
  }

  const commit = readResult("commit-throughput", since);
  const replay = readResult("replay", since);
  const receipts = readResult("receipts", since);
  const memory = readResult("memory", since);
  const httpsApp = readResult("https-app", since);
  const freshRealm = readResult("fresh-realm", since);
  const coldStart = readResult("cold-start", since);
  const governance = readResult("governance", since);
  const sandboxStart = readResult("sandbox-start", since);
  const reconciliation = readResult("reconciliation", since);
  const reconIngest = readResult("reconciliation-ingest", since);
  const network = readResult("network", since);

  console.log(`\n== summary (${((Date.now() - started) / 1000).toFixed(0)} s) ==`);
  console.log(`   ${machineLine(machine())}`);
  const rows: Array<Array<string | number>> = [["measure", "figure", "target", "baseline / ratio"]];
  const variant = (r: Json, map: string) => r?.variants?.find((v: Json) => v.map === map);
  const ratio = (r: Json, map: string) => r?.ratios?.find((v: Json) => v.map === map || v.case === map);
  if (commit) {
    const b = commit.baselines;
    for (const v of commit.variants as Json[]) {
      const q = commit.ratios.find((r: Json) => r.variant === v.variant);
      rows.push([
        `commit ${v.variant} (loop / Committed)`,
        `${fmtInt(v.loopTxPerSecond)} / ${fmtInt(v.committedTxPerSecond)} tx/s`,
        "≥ 100,000 tx/s",
        `${fmtInt(v.perTxNs)} ns/tx = ${q.perTxOverCryptoFloor}× crypto floor ${fmtInt(q.cryptoFloorNsPerTx)} ns; raw append ${fmtInt(b.rawAppend.txPerSecond)} tx/s`,
      ]);
    }
  }
  if (replay) {
    for (const map of ["public:bench", "bench"]) {
      const v = variant(replay, map);
      const q = ratio(replay, map);
      rows.push([
        `replay ${map} (replayLedger / reopen)`,
        `${fmtInt(v.replayTxPerSecond)} / ${fmtInt(v.reopenTxPerSecond)} tx/s`,
        "≥ 200,000 tx/s",
        `${fmtInt(v.perEntryNs)} ns/entry = ${q.perEntryOverCryptoFloor}× crypto floor; crypto-only ceiling ${fmtInt(q.cryptoCeilingTxPerSecond)} tx/s`,
      ]);
    }
  }
  if (receipts) {
    const r = receipts.receiptMs;
    rows.push(["receipt, proof in memory (median / p99)", `${fmtMs(r.inMemory.median)} / ${fmtMs(r.inMemory.p99)}`, "< 1 ms", ""]);
    rows.push([
      `receipt, old, rebuilt from ledger (median / p99)`,
      `${fmtMs(r.oldRebuiltFromLedger.median)} / ${fmtMs(r.oldRebuiltFromLedger.p99)}`,
      "< 1 ms",
      `${receipts.config.smallLeavesInMemory} leaves in memory`,
    ]);
    const v = receipts.verifyMs.inMemory;
    rows.push([
      "verifyReceipt (median / p99)",
      `${fmtMs(v.median)} / ${fmtMs(v.p99)}`,
      "< 2 ms",
      `P-384 verify through the preimage ${fmtMs(receipts.parts.verifyWithPreimageMs)} vs node:crypto ${fmtMs(receipts.parts.nodeCryptoP384VerifyMs)} (${receipts.ratios.verifyWithPreimageOverNodeCrypto}×)`,
    ]);
  }
  if (memory) {
    const base = memory.results.find((r: Json) => r.case === "js-map");
    const tree = memory.results.find((r: Json) => r.case === "merkle-tree");
    const total = (r: Json) => r.perMillionKeys.heapUsed + r.perMillionKeys.arrayBuffers;
    for (const name of ["node-private", "node-public"]) {
      const r = memory.results.find((x: Json) => x.case === name);
      if (!r) continue;
      rows.push([
        `memory per 1M keys, ${name} (heap+Buffers / RSS)`,
        `${fmtBytes(total(r))} / ${fmtBytes(r.perMillionKeys.rss)}`,
        "report",
        `JS Map ${fmtBytes(total(base))} (${ratio(memory, name)?.overJsMap}×); Merkle tree alone ${fmtBytes(total(tree))}` +
          (r.compactedValuesPerMillionKeys ? `; values re-packed: ${fmtBytes(r.compactedValuesPerMillionKeys.heapUsed + r.compactedValuesPerMillionKeys.arrayBuffers)}` : ""),
      ]);
    }
  }
  if (httpsApp) {
    for (const workload of ["write", "read"]) {
      const n = httpsApp.results.find((r: Json) => r.server === "node" && r.workload === workload);
      const w = httpsApp.results.find((r: Json) => r.server === "raw" && r.workload === workload);
      const q = httpsApp.ratios.find((r: Json) => r.workload === workload);
      rows.push([
        `HTTPS app ${workload === "write" ? "PUT" : "GET"} /app/records/{id}, ${httpsApp.config.connections} conns (req/s, p50 / p99)`,
        `${fmtInt(n.requestsPerSecond)} req/s, ${fmtMs(n.latencyMs.median)} / ${fmtMs(n.latencyMs.p99)}`,
        "≥ 50% of raw",
        `${(q.nodeOverRaw * 100).toFixed(1)}% of raw node:https ${fmtInt(w.requestsPerSecond)} req/s (${fmtMs(w.latencyMs.median)} / ${fmtMs(w.latencyMs.p99)}); client ${httpsApp.config.client}`,
      ]);
    }
  }
  if (freshRealm) {
    for (const o of freshRealm.overheads as Json[]) {
      const reused = freshRealm.results.find((r: Json) => r.case === `${o.method} reused`);
      rows.push([
        `fresh interpreter per request, ${o.method} handler call (snapshot restore / new interpreter, over reused)`,
        `+${o.freshOverReusedUs} µs / +${o.newInterpreterOverReusedUs} µs`,
        "",
        `reused ${reused.usPerCall} µs per call`,
      ]);
    }
  }
  if (coldStart) {
    const h = coldStart.headline;
    const i = coldStart.interpreter;
    const r = coldStart.httpsRestart;
    const t = coldStart.httpsRestartTiny;
    const d = coldStart.restartDifference;
    rows.push([
      `cold start, ${fmtBytes(coldStart.config.bundleBytes)} bundle: AppInterpreter.create + first call from bytecode, fresh process (median / max)`,
      `${fmtMs(h.medianMs)} / ${fmtMs(h.maxMs)}`,
      `< ${h.targetMs} ms`,
      `from source ${fmtMs(i.fromSource.firstInProcess.totalMs.median)}; later deployment in the same process ${fmtMs(i.fromBytecode.laterDeploymentInSameProcess.totalMs.median)} (medians)`,
    ]);
    rows.push([
      "node restart → first HTTPS response, 1 MB app / tiny app (medians)",
      `${fmtMs(r.totalMs.median)} / ${fmtMs(t.totalMs.median)}`,
      "(start-up)",
      `the bundle's share ${fmtMs(d.totalMs.median)} (median of per-run 1 MB − tiny pairs; difference of medians ${fmtMs(d.differenceOfMediansMs.totalMs)}); max 1 MB app ${fmtMs(r.totalMs.max)}`,
    ]);
  }
  if (governance) {
    const rt = governance.roundTrip;
    const t = governance.throughput;
    const q = governance.ratios;
    const c = governance.cose.ns;
    rows.push([
      "governance: proposal + 2 ballots → Accepted (median / p99)",
      `${fmtMs(rt.accepted.acceptedMs.median)} / ${fmtMs(rt.accepted.acceptedMs.p99)}`,
      "report",
      `${q.roundTripAcceptedOverThreeFloorRequests}× three GET /gov/commit (${fmtMs(rt.httpsFloorMs.median)} each); client signing ${fmtMs(rt.accepted.signMs.median)} of it`,
    ]);
    for (const [name, r] of [["1 s", rt.committedDefault], [`${governance.config.fastSignatureIntervalMs} ms`, rt.committedFast]] as const) {
      rows.push([`governance: … → Committed, signatures every ${name} (median / p99)`, `${fmtMs(r.committedMs.median)} / ${fmtMs(r.committedMs.p99)}`, "report", `${r.rounds} rounds`]);
    }
    rows.push([
      `governance: ballots/s, ${t.connections} conns (stays Open / Accepted)`,
      `${fmtInt(t.ballotOpen.perSecond)} / ${fmtInt(t.ballotAccept.perSecond)} ballots/s`,
      "report",
      `${fmtMs(t.ballotOpen.serverCpuMsPerRequest)} / ${fmtMs(t.ballotAccept.serverCpuMsPerRequest)} node CPU per ballot = ${q.ballotOpenServerCpuOverRawVerify}× / ${q.ballotAcceptServerCpuOverRawVerify}× a raw P-384 verify; GET /gov/commit ${fmtInt(t.floor.perSecond)} req/s`,
    ]);
    rows.push([
      "governance: COSE Sign1 verify (ES384)",
      `${fmtInt(1e9 / c["verifyCoseSign1, certificate PEM"])} /s`,
      "report",
      `${q.verifyCoseCertOverRaw}× raw crypto.verify ${fmtInt(1e9 / c["raw crypto.verify (KeyObject ready)"])} /s; authenticate(member_cose_sign1) ${fmtMs(c["authenticate member_cose_sign1"] / 1e6)}`,
    ]);
  }
  if (sandboxStart) {
    const [clean, rerun, direct] = sandboxStart.results as Json[];
    rows.push([
      "sandbox: npm start → ready, clean clone / re-run (median / max)",
      `${fmtMs(clean.readyMs.median)} / ${fmtMs(clean.readyMs.max)}; ${fmtMs(rerun.readyMs.median)} / ${fmtMs(rerun.readyMs.max)}`,
      "< 60 s",
      `of which app builds ${clean.prestartMs ? fmtMs(clean.prestartMs.median) : "skipped"}; confide sandbox --fresh alone ${fmtMs(direct.readyMs.median)}; Ctrl-C → exit ${fmtMs(clean.stopMs.median)}`,
    ]);
  }
  if (reconciliation) {
    const i = reconciliation.ingest;
    const r = reconciliation.reports;
    rows.push([
      `reconciliation: ingest ${fmtInt(i.records)} records (5 parties, CSV batches of ${fmtInt(reconciliation.config.batchRecords)})`,
      `${fmtMs(i.answeredMs)}, ${fmtInt(i.recordsPerSecond)} records/s`,
      "1M in < 20 s, ≥ 50,000 records/s",
      `committed after ${fmtMs(i.committedMs)}; node peak RSS ${fmtBytes(reconciliation.nodeRss.peak)} (target < 1.5 GiB)`,
    ]);
    rows.push([
      `reconciliation: report at ${fmtInt(r.partyKeys)} keys: first page / key (p50)`,
      `${fmtMs(r.firstPageWithSummaryMs.median)} / ${fmtMs(r.keyMs.median)}`,
      "< 50 ms / < 5 ms",
      `page without summary ${fmtMs(r.firstPageNoSummaryMs.median)}, later page ${fmtMs(r.laterPageMs.median)}, key p99 ${fmtMs(r.keyMs.p99)}`,
    ]);
  }
  if (reconIngest) {
    const x = reconIngest.result;
    rows.push([
      `reconciliation ingest vs sample-shaped baseline (${reconIngest.config.parties} × ~${fmtInt(reconIngest.config.recordsPerParty[0])}, JSON batches of ${fmtInt(reconIngest.config.batchRecords)})`,
      `${fmtInt(x.ours.recordsPerSecond)} / ${fmtInt(x.baseline.recordsPerSecond)} records/s = ${x.rateRatio}×`,
      "≥ 1.2× the baseline",
      `node CPU per record ${x.ours.nodeCpuPerRecordMicros} / ${x.baseline.nodeCpuPerRecordMicros} µs = ${x.cpuRatio}× (median of ${reconIngest.config.rounds} rounds)`,
    ]);
  }
  if (network) {
    const [one, three] = network.throughput as Json[];
    rows.push([
      `network: write tx/s, 3 nodes / 1 node (${network.config.connections} conns on the primary)`,
      `${fmtInt(three.txPerSecond)} / ${fmtInt(one.txPerSecond)} tx/s = ${network.ratios.threeOverOneNode}×`,
      "≥ 0.7×",
      `node CPU per tx ${fmtInt(three.nodeCpuUsPerTx)} / ${fmtInt(one.nodeCpuUsPerTx)} µs; all nodes and the client on ${network.machine.cores} cores`,
    ]);
    for (const [name, f] of Object.entries(network.failover as Record<string, Json>)) {
      rows.push([
        `network: failover (${f.consensus.message_timeout} / ${f.consensus.election_timeout}), kill → first write Committed (min / median / max)`,
        `${fmtMs(f.committedMs.min)} / ${fmtMs(f.committedMs.median)} / ${fmtMs(f.committedMs.max)}`,
        name === "sandbox" ? "< 2 s" : "report",
        `new primary after ${fmtMs(f.electedMs.median)} (median of ${f.runs.length})`,
      ]);
    }
    for (const c of network.catchup as Json[]) {
      rows.push([
        `network: catch-up of a joiner, ${fmtInt(c.ledgerTxs)} txs, ${c.snapshotSeqno > 0 ? `snapshot at ${fmtInt(c.snapshotSeqno)} + ${fmtInt(c.tailTxs)} tail` : "whole ledger"}`,
        `${fmtInt(c.txPerSecond)} tx/s`,
        "≥ 100,000 tx/s",
        `${c.seconds} s from joiner start (${c.fromTrustSeconds} s from trust: ${fmtInt(c.fromTrustTxPerSecond)} tx/s); joiner CPU ${c.joinerCpuSeconds} s`,
      ]);
    }
  }
  const b = commit?.baselines ?? replay?.baselines;
  if (b) {
    rows.push(["baseline: SHA-256", `${fmtInt(b.sha256.bulkMBps)} MB/s`, "", `${fmtInt(b.sha256.ns64)} ns per 64-byte call`]);
    rows.push(["baseline: AES-256-GCM", `${fmtInt(b.aesGcm.bulkMBps)} MB/s`, "", `${fmtInt(b.aesGcm.entryNs300)} ns per 300-byte entry (fresh cipher)`]);
    rows.push(["baseline: fsync (4 KiB write + fsync)", `${fmtMs(b.fsync.medianMs)} median`, "", `p99 ${fmtMs(b.fsync.p99Ms)}`]);
  }
  if (commit) {
    const raw = commit.baselines.rawAppend;
    rows.push(["baseline: raw append (writev, fsync per 5000)", `${fmtInt(raw.txPerSecond)} tx/s`, "", `${fmtInt(raw.MBps)} MB/s of ${raw.recordBytes}-byte records`]);
  }
  printTable(rows);
  console.log();
  for (const [name, { ok, seconds }] of outcome) console.log(`  ${ok ? "ok    " : "FAILED"} ${name} (${seconds.toFixed(1)} s)`);
  if ([...outcome.values()].some((o) => !o.ok)) process.exitCode = 1;
}

main();
