// Multi-node service of real confide-node processes on loopback (issue 17, "Measure"):
//
// 1. Write throughput: the records app's PUT /app/records/{id} (bench/records-app.ts) on a
//    1-node service and on a 3-node service in the same run, BENCH_NET_CONNS (32) keep-alive
//    HTTPS connections to the primary with one request in flight each, BENCH_NET_TXS writes (a
//    write is done when its response came); then the last tx id must be Committed on every
//    node. Node CPU per transaction: the sum of the nodes' process CPU (/proc/<pid>/stat) over
//    the timed writes. A 1-node service with consensus on (node-to-node interface) is measured too.
// 2. Failover: a 3-node service with the sandbox's timeouts (50 ms / 1000 ms) and with CCF's
//    defaults (100 ms / 5000 ms); a client writes to the primary, the primary is SIGKILLed;
//    time from the kill to a survivor saying it is primary, to its first write answered, and
//    to that write Committed on it. BENCH_NET_FAILOVERS (3) runs each, a fresh service per run.
// 3. Catch-up: a service (one node, consensus on, snapshots every BENCH_NET_SNAPSHOT_TX) holding
//    BENCH_NET_CATCHUP_TXS committed writes; a node joins it twice over, in the same run: without
//    a snapshot (fetch_recent_snapshot false: it replicates the whole ledger) and with one (it
//    fetches the primary's latest committed snapshot before it asks to join, installs it, and
//    replicates the tail). Time from the joiner's process start, and from the ballot accepting
//    transition_node_to_trusted, until the joiner's commit reaches the primary's commit at that
//    ballot; tx/s = that commit seqno / the time.
//
//    BENCH_NET_ONLY=catchup runs only (3).
//
// All the processes (3-4 nodes and this client) share the machine's cores.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Pool } from "undici";
import { envInt, fmtInt, fmtMs, header, machine, msSince, now, printTable, removeDir, sig, summarize, tempDir, writeResult } from "./lib.ts";
import { BenchNode, eventually, seqnoOf, Service, sleep, type ServiceOptions } from "./cluster.ts";
import { BUNDLE, payload } from "./records-app.ts";
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from "./profile.ts";

const TXS = envInt("BENCH_NET_TXS", 20_000);
const CONNECTIONS = envInt("BENCH_NET_CONNS", 32);
const FAILOVERS = envInt("BENCH_NET_FAILOVERS", 3);
const CATCHUP_TXS = envInt("BENCH_NET_CATCHUP_TXS", 50_000);
/** CCF's snapshots.tx_count default. */
const SNAPSHOT_TX = envInt("BENCH_NET_SNAPSHOT_TX", 10_000);
const ONLY = process.env.BENCH_NET_ONLY;
/** BENCH_NET_PROFILE=1: each joiner runs with --cpu-prof; where its time went is printed and kept in the result. */
const PROFILE = process.env.BENCH_NET_PROFILE === "1";
const WARMUP_WRITES = 1000;
/** CCF's sandbox.sh timeouts, which our sandbox uses too. */
const SANDBOX_CONSENSUS = { message_timeout: "50ms", election_timeout: "1000ms" };
/** CCF's defaults (cchost's consensus section). */
const CCF_DEFAULT_CONSENSUS = { message_timeout: "100ms", election_timeout: "5000ms" };
/** How often the failover client looks for a primary and polls /node/tx. */
const POLL_MS = 10;

const JSON_HEADERS = { "content-type": "application/json" };

interface Throughput {
  service: string;
  nodes: number;
  writes: number;
  seconds: number;
  txPerSecond: number;
  latencyMs: { median: number; p99: number };
  /** Sum of the nodes' process CPU over the timed writes, per write. */
  nodeCpuUsPerTx: number;
  nodeCpuUsPerTxByNode: Record<string, number>;
  clientCpuUsPerTx: number;
  lastTxId: string;
  /** From the last response to the last tx id Committed on every node. */
  committedEverywhereAfterMs: number;
}

function serviceOptions(root: string, bundleFile: string, consensus?: ServiceOptions["consensus"]): ServiceOptions {
  mkdirSync(root, { recursive: true });
  return { root, bundleFile, ...(consensus ? { consensus } : {}) };
}

/** PUT /app/records/{id} `count` times over `pool`, CONNECTIONS in flight; ids from `firstId`. */
async function putRecords(pool: Pool, firstId: number, count: number): Promise<{ latencies: number[]; lastTxId: string }> {
  const latencies: number[] = [];
  let next = 0;
  let lastTxId = "0.0";
  const worker = async () => {
    while (next < count) {
      const id = firstId + next++;
      const start = now();
      const response = await pool.request({ method: "PUT", path: `/app/records/${id}`, body: payload(id, id), headers: JSON_HEADERS });
      const text = await response.body.text();
      if (response.statusCode !== 204) throw new Error(`PUT answered ${response.statusCode}: ${text}`);
      latencies.push(msSince(start));
      const txId = String(response.headers["x-ms-ccf-transaction-id"]);
      if (seqnoOf(txId) > seqnoOf(lastTxId)) lastTxId = txId;
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return { latencies, lastTxId };
}

async function committedOn(nodes: BenchNode[], txId: string, everyMs = POLL_MS): Promise<void> {
  await Promise.all(nodes.map((node) => eventually(`${txId} Committed on ${node.name}`, async () => ((await node.txStatus(txId)) === "Committed" ? true : undefined), everyMs)));
}

async function throughput(label: string, service: Service): Promise<Throughput> {
  const primary = await service.primary();
  const pool = new Pool(primary.url, { connections: CONNECTIONS, pipelining: 1, connect: { ca: service.certPem } });
  try {
    await putRecords(pool, 0, WARMUP_WRITES);
    const nodes = service.live;
    const cpuBefore = nodes.map((node) => node.cpuSeconds());
    const clientBefore = process.cpuUsage();
    const start = now();
    const { latencies, lastTxId } = await putRecords(pool, WARMUP_WRITES, TXS);
    const seconds = msSince(start) / 1000;
    const cpuUsed = nodes.map((node, i) => node.cpuSeconds() - cpuBefore[i]!);
    const client = process.cpuUsage(clientBefore);
    const commitStart = now();
    await committedOn(nodes, lastTxId, 5);
    const committedEverywhereAfterMs = msSince(commitStart);
    const s = summarize(latencies);
    const perTx = (cpuSeconds: number) => sig((cpuSeconds * 1e6) / TXS);
    return {
      service: label,
      nodes: nodes.length,
      writes: TXS,
      seconds: sig(seconds),
      txPerSecond: sig(TXS / seconds),
      latencyMs: { median: sig(s.median), p99: sig(s.p99) },
      nodeCpuUsPerTx: perTx(cpuUsed.reduce((a, b) => a + b, 0)),
      nodeCpuUsPerTxByNode: Object.fromEntries(nodes.map((node, i) => [node === primary ? `${node.name} (primary)` : node.name, perTx(cpuUsed[i]!)])),
      clientCpuUsPerTx: sig((client.user + client.system) / TXS),
      lastTxId,
      committedEverywhereAfterMs: sig(committedEverywhereAfterMs),
    };
  } finally {
    await pool.close();
  }
}

interface Catchup {
  joiner: string;
  /** The primary's commit seqno when the trust proposal was accepted: what the joiner must reach. */
  ledgerTxs: number;
  /** The snapshot the joiner started from (0: none) and so the tail it replicated. */
  snapshotSeqno: number;
  tailTxs: number;
  /** Joiner process start → its commit reaches ledgerTxs. */
  seconds: number;
  txPerSecond: number;
  /** Trust accepted → its commit reaches ledgerTxs. */
  fromTrustSeconds: number;
  fromTrustTxPerSecond: number;
  /** Joiner start → Pending in the node table (start-up, snapshot fetch, first join request). */
  pendingMs: number;
  /** Trust accepted → the joiner's commit first above 0 (secrets received, first entries replicated and committed). */
  firstCommitMs: number;
  /** The joiner's whole process: start-up, join and catch-up. */
  joinerCpuSeconds: number;
  primaryCpuSeconds: number;
  /** BENCH_NET_PROFILE=1: the joiner's CPU profile, summarised. */
  profile?: ProfileSummary;
}

async function catchup(service: Service, name: string, fetchRecentSnapshot: boolean, profileDir?: string): Promise<Catchup> {
  const primary = await service.primary();
  let target = 0;
  let accepted = 0n;
  let pendingMs = 0;
  const primaryCpu = primary.cpuSeconds();
  const started = now();
  const joiner = await service.join(
    name,
    async () => {
      accepted = now();
      pendingMs = msSince(started);
      target = await primary.commitSeqno();
    },
    { fetchRecentSnapshot, ...(profileDir ? { profileDir } : {}) },
  );
  // Polled every 10 ms: faster polling takes a noticeable share of the joiner's CPU.
  let firstCommitMs: number | undefined;
  await eventually(
    "the joiner's commit to reach the primary's",
    async () => {
      const seqno = await joiner.commitSeqno();
      if (firstCommitMs === undefined && seqno > 0) firstCommitMs = msSince(accepted);
      return seqno >= target ? true : undefined;
    },
    POLL_MS,
  );
  const seconds = msSince(started) / 1000;
  const fromTrustSeconds = msSince(accepted) / 1000;
  const joinerCpuSeconds = joiner.cpuSeconds();
  const primaryCpuSeconds = primary.cpuSeconds() - primaryCpu;
  const snapshotSeqno = Number(/fetched snapshot snapshot_(\d+)_/.exec(joiner.process.stdout + joiner.process.stderr)?.[1] ?? 0);
  return {
    joiner: fetchRecentSnapshot ? "from the latest committed snapshot + ledger tail" : "whole ledger (fetch_recent_snapshot false)",
    ledgerTxs: target,
    snapshotSeqno,
    tailTxs: target - snapshotSeqno,
    seconds: sig(seconds),
    txPerSecond: sig(target / seconds),
    fromTrustSeconds: sig(fromTrustSeconds),
    fromTrustTxPerSecond: sig(target / fromTrustSeconds),
    pendingMs: sig(pendingMs),
    firstCommitMs: sig(firstCommitMs ?? fromTrustSeconds * 1000),
    joinerCpuSeconds: sig(joinerCpuSeconds),
    primaryCpuSeconds: sig(primaryCpuSeconds),
  };
}

/** (3): one service holding CATCHUP_TXS writes; a joiner without, then one with, a snapshot. */
async function catchups(root: string, bundleFile: string): Promise<Catchup[]> {
  const service = await Service.start({ ...serviceOptions(root, bundleFile, SANDBOX_CONSENSUS), snapshotTxCount: SNAPSHOT_TX });
  try {
    const primary = await service.primary();
    const pool = new Pool(primary.url, { connections: CONNECTIONS, pipelining: 1, connect: { ca: service.certPem } });
    try {
      const { lastTxId } = await putRecords(pool, 0, CATCHUP_TXS);
      await committedOn([primary], lastTxId);
    } finally {
      await pool.close();
    }
    // Let the last snapshot's evidence commit.
    await sleep(1500);
    const profileDir = (name: string) => (PROFILE ? join(root, `profile-${name}`) : undefined);
    const runs = [await catchup(service, "j-ledger", false, profileDir("j-ledger")), await catchup(service, "j-snapshot", true, profileDir("j-snapshot"))];
    if (PROFILE) {
      // A profile is written as its process exits; stopping a joiner earlier would take the service's quorum.
      await service.stop();
      for (const [i, name] of ["j-ledger", "j-snapshot"].entries()) {
        const file = mainThreadProfile(profileDir(name)!);
        if (file) runs[i]!.profile = summarizeProfile(file);
      }
    }
    for (const r of runs) console.log(`   catch-up, ${r.joiner}: ${fmtInt(r.txPerSecond)} tx/s (${r.seconds} s for ${fmtInt(r.ledgerTxs)} txs)`);
    return runs;
  } finally {
    await service.stop();
  }
}

interface FailoverRun {
  /** Kill → a survivor answers that it is primary. */
  electedMs: number;
  /** Kill → the new primary answered a write. */
  answeredMs: number;
  /** Kill → that write Committed on the new primary. */
  committedMs: number;
  writesBeforeKill: number;
}

/** A write to `node`: its tx id, or undefined if refused (503, no connection). */
async function tryWrite(node: BenchNode, id: number): Promise<string | undefined> {
  const reply = await node.client.request("PUT", `/app/records/${id}`, { body: payload(id, id), headers: JSON_HEADERS }).catch(() => undefined);
  return reply?.status === 204 ? reply.headers["x-ms-ccf-transaction-id"] : undefined;
}

async function failoverRun(root: string, bundleFile: string, consensus: ServiceOptions["consensus"]): Promise<FailoverRun> {
  const service = await Service.startNodes(serviceOptions(root, bundleFile, consensus), 3);
  try {
    const old = await service.primary();
    const survivors = service.nodes.filter((node) => node !== old);
    // A client writing to the primary, one write at a time, until the kill.
    let killed = false;
    let written = 0;
    const writer = (async () => {
      while (!killed) if ((await tryWrite(old, written)) !== undefined) written++;
    })();
    await sleep(1000);
    const start = now();
    killed = true;
    await old.kill();
    await writer;
    const elected = await eventually(
      "a survivor that says it is primary",
      async () => {
        for (const node of survivors) if ((await node.knownPrimary().catch(() => undefined)) === node.nodeId) return node;
        return undefined;
      },
      POLL_MS,
    );
    const electedMs = msSince(start);
    for (let id = 1_000_000; ; id++) {
      const txId = await tryWrite(elected, id);
      if (txId === undefined) {
        await sleep(POLL_MS);
        continue;
      }
      const answeredMs = msSince(start);
      const status = await eventually(`${txId} settled`, async () => {
        const s = await elected.txStatus(txId);
        return s === "Committed" || s === "Invalid" ? s : undefined;
      }, POLL_MS);
      if (status === "Invalid") continue;
      return { electedMs: sig(electedMs), answeredMs: sig(answeredMs), committedMs: sig(msSince(start)), writesBeforeKill: written };
    }
  } finally {
    await service.stop();
  }
}

function spread(values: number[]): { min: number; median: number; max: number } {
  const s = summarize(values);
  return { min: sig(s.min), median: sig(s.median), max: sig(s.max) };
}

function catchupConfig(): Record<string, unknown> {
  return { ledgerWrites: CATCHUP_TXS, snapshotTxCount: SNAPSHOT_TX, consensus: SANDBOX_CONSENSUS, service: "1 node (consensus on) + the joiner" };
}

function printCatchups(caught: Catchup[]): void {
  console.log();
  printTable([
    ["catch-up of a joiner", "ledger txs", "snapshot / tail", "start → caught up", "tx/s", "trust → caught up", "tx/s", "start → Pending", "trust → first commit", "joiner / primary CPU"],
    ...caught.map((c) => [
      c.joiner,
      fmtInt(c.ledgerTxs),
      c.snapshotSeqno > 0 ? `${fmtInt(c.snapshotSeqno)} / ${fmtInt(c.tailTxs)}` : "none",
      `${c.seconds} s`,
      fmtInt(c.txPerSecond),
      `${c.fromTrustSeconds} s`,
      fmtInt(c.fromTrustTxPerSecond),
      fmtMs(c.pendingMs),
      fmtMs(c.firstCommitMs),
      `${c.joinerCpuSeconds} s / ${c.primaryCpuSeconds} s`,
    ]),
  ]);
  for (const c of caught) {
    if (!c.profile) continue;
    console.log(`\n  joiner profile, ${c.joiner}: ${fmtInt(c.profile.busyMs)} ms busy`);
    for (const { category, ms, share } of c.profile.byCategory.slice(0, 8)) console.log(`    ${category}: ${fmtInt(ms)} ms (${Math.round(share * 100)}%)`);
    for (const { function: f, selfMs } of c.profile.topFunctions.slice(0, 12)) console.log(`      ${fmtInt(selfMs)} ms  ${f}`);
  }
  const [ledger, snapshot] = caught;
  if (ledger && snapshot) console.log(`  with a snapshot ÷ without: ${sig(snapshot.txPerSecond / ledger.txPerSecond)}× (target ≥ 100,000 tx/s)`);
}

async function main(): Promise<void> {
  header(`network: 1 vs 3 nodes (${fmtInt(TXS)} writes, ${CONNECTIONS} connections), failover (${FAILOVERS} runs each), catch-up`);
  console.log(`   ${machine().cores} cores shared by every node process and this client`);
  const root = tempDir("network");
  const bundleFile = join(root, "records-app.json");
  writeFileSync(bundleFile, JSON.stringify(BUNDLE));
  try {
    if (ONLY === "catchup") {
      const caught = await catchups(join(root, "catchup"), bundleFile);
      printCatchups(caught);
      console.log(`\n  results: ${writeResult("network-catchup", { config: catchupConfig(), catchup: caught })}`);
      return;
    }
    // 1. Throughput.
    const results: Throughput[] = [];
    const one = await Service.startNodes(serviceOptions(join(root, "one"), bundleFile), 1);
    try {
      results.push(await throughput("1 node", one));
    } finally {
      await one.stop();
    }
    const three = await Service.startNodes(serviceOptions(join(root, "three"), bundleFile, SANDBOX_CONSENSUS), 3);
    try {
      results.push(await throughput("3 nodes", three));
    } finally {
      await three.stop();
    }
    const oneConsensus = await Service.startNodes(serviceOptions(join(root, "one-consensus"), bundleFile, SANDBOX_CONSENSUS), 1);
    try {
      results.push(await throughput("1 node, consensus on", oneConsensus));
    } finally {
      await oneConsensus.stop();
    }
    const [single, triple] = results as [Throughput, Throughput];
    const ratio = sig(triple.txPerSecond / single.txPerSecond);

    // 2. Failover, a fresh 3-node service per run.
    const failover: Record<string, { consensus: ServiceOptions["consensus"]; runs: FailoverRun[] }> = {};
    for (const [name, consensus] of [["sandbox", SANDBOX_CONSENSUS], ["ccf-default", CCF_DEFAULT_CONSENSUS]] as const) {
      const runs: FailoverRun[] = [];
      for (let i = 0; i < FAILOVERS; i++) {
        runs.push(await failoverRun(join(root, `failover-${name}-${i}`), bundleFile, consensus));
        console.log(`   failover ${name} run ${i + 1}: committed after ${fmtMs(runs.at(-1)!.committedMs)}`);
      }
      failover[name] = { consensus, runs };
    }

    // 3. Catch-up of a joiner, without and with a snapshot.
    const caught = await catchups(join(root, "catchup"), bundleFile);

    console.log();
    printTable([
      ["write throughput", "tx/s", "p50 / p99", "node CPU per tx (by node)", "client CPU per tx", "last tx Committed everywhere after"],
      ...results.map((r) => [
        r.service,
        fmtInt(r.txPerSecond),
        `${fmtMs(r.latencyMs.median)} / ${fmtMs(r.latencyMs.p99)}`,
        `${fmtInt(r.nodeCpuUsPerTx)} µs (${Object.entries(r.nodeCpuUsPerTxByNode).map(([n, us]) => `${n} ${fmtInt(us)}`).join(", ")})`,
        `${fmtInt(r.clientCpuUsPerTx)} µs`,
        fmtMs(r.committedEverywhereAfterMs),
      ]),
    ]);
    console.log(`  3 nodes ÷ 1 node: ${ratio}× (target ≥ 0.7×)`);
    console.log();
    const failoverRows: Array<Array<string | number>> = [["failover, kill -9 of the primary →", "primary elected", "first write answered", "first write Committed (min / median / max)"]];
    const failoverSummary: Record<string, unknown> = {};
    for (const [name, { consensus, runs }] of Object.entries(failover)) {
      const elected = spread(runs.map((r) => r.electedMs));
      const answered = spread(runs.map((r) => r.answeredMs));
      const committed = spread(runs.map((r) => r.committedMs));
      failoverSummary[name] = { consensus, electedMs: elected, answeredMs: answered, committedMs: committed, runs };
      const fmt = (x: { min: number; median: number; max: number }) => `${fmtMs(x.min)} / ${fmtMs(x.median)} / ${fmtMs(x.max)}`;
      failoverRows.push([`${name} (${consensus!.message_timeout} / ${consensus!.election_timeout})`, fmt(elected), fmt(answered), fmt(committed)]);
    }
    printTable(failoverRows);
    printCatchups(caught);

    const path = writeResult("network", {
      config: {
        writes: TXS,
        warmupWrites: WARMUP_WRITES,
        connections: CONNECTIONS,
        failoverRuns: FAILOVERS,
        throughputConsensus: SANDBOX_CONSENSUS,
        signatures: "node defaults (5000 tx / 1000 ms)",
        app: "bench/records-app.ts PUT /app/records/{id}",
        note: "every node process and the client share the machine's cores",
        catchup: catchupConfig(),
      },
      throughput: results,
      ratios: { threeOverOneNode: ratio },
      failover: failoverSummary,
      catchup: caught,
    });
    console.log(`\n  results: ${path}`);
  } finally {
    removeDir(root);
  }
}

await main();
