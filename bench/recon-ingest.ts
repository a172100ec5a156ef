// Reconciliation ingest against the sample's floor (issue 21): the same data,
// in the same run, ingested by our app (apps/reconciliation/dist/bundle.json)
// and by the sample-shaped baseline (bench/recon-baseline-app.ts: one JSON get,
// update and set per record, nothing else), each on a fresh node in a child
// process, deployed by set_js_app. Three parties (users with party data),
// default schema (lei → nace, exact; k = 3, continuous), JSON batches of 2,000
// to POST /app/ingest, the parties concurrently with one batch in flight each,
// as a bank comparing the two apps would run it. The two apps alternate
// (ours first in odd rounds, the baseline first in even ones) so that the
// machine's drift and other load fall on both; the figure is the median of the
// rounds' ratios.
//
// Figures per run: records/s (first batch sent → last answered), node CPU
// (user + system of the node child) per record, and the ratio ours / baseline
// of records/s and of CPU per record.
//
//   node --import tsx bench/recon-ingest.ts
//   BENCH_RECON_RECORDS=50000 ...   records per party (default 50,000: the scale)
//   BENCH_RECON_BATCH=2000 ...      records per batch
//   BENCH_RECON_ROUNDS=3 ...        rounds (each: one run of each app)
//   BENCH_RECON_BUNDLE=path ...     deploy another build of our app (e.g. the one before a change)
//   BENCH_PROFILE=1 ...             CPU-profile each node child and print where the last round's time went
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfideClient } from "../packages/client/src/client.ts";
import { Member, proposeAndAccept, type Action } from "../packages/client/src/governance.ts";
import { generateIdentity, type GeneratedIdentity } from "../packages/client/src/keys.ts";
import { generate } from "../packages/client/src/recon/generate.ts";
import type { Bundle } from "../packages/node/src/runtime/bundle.ts";
import { BENCH_DIR, envInt, fmtInt, header, now, nsSince, printTable, removeDir, round, sig, summarize, tempDir, writeResult, type Summary } from "./lib.ts";
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from "./profile.ts";
import { BASELINE_BUNDLE } from "./recon-baseline-app.ts";
import { launch } from "./recon-node.ts";

const PARTIES = 3;
const RECORDS_PER_PARTY = envInt("BENCH_RECON_RECORDS", 50_000);
const BATCH = envInt("BENCH_RECON_BATCH", 2_000);
const ROUNDS = envInt("BENCH_RECON_ROUNDS", 3);
const OVERLAP = 0.8;
const DISAGREE = 0.1;
const PROFILE = process.env["BENCH_PROFILE"] === "1";
const BUNDLE_FILE = process.env["BENCH_RECON_BUNDLE"] ?? join(BENCH_DIR, "..", "apps", "reconciliation", "dist", "bundle.json");

type AppName = "ours" | "baseline";

interface PartyData {
  name: string;
  records: number;
  /** JSON bodies, BATCH records each. */
  batches: string[];
}

async function makeData(dir: string): Promise<PartyData[]> {
  const result = await generate({ parties: PARTIES, keys: Math.round(RECORDS_PER_PARTY / OVERLAP), overlap: OVERLAP, disagree: DISAGREE, fields: ["nace"], out: dir, seed: "bench-recon-ingest" });
  return result.files.map((file, i) => {
    const records = readFileSync(file, "utf8")
      .split("\n")
      .slice(1)
      .filter((l) => l !== "")
      .map((l) => {
        const [lei, nace] = l.split(",");
        return { lei, nace };
      });
    const batches: string[] = [];
    for (let b = 0; b < records.length; b += BATCH) batches.push(JSON.stringify(records.slice(b, b + BATCH)));
    return { name: `Bank ${String.fromCharCode(65 + i)}`, records: records.length, batches };
  });
}

async function deploy(gov: Member, users: GeneratedIdentity[], parties: PartyData[], app: AppName): Promise<void> {
  await gov.ackStateDigest();
  const network = (await gov.client.call("GET", "/node/network")).json as { service_certificate: string };
  const bundle = app === "ours" ? (JSON.parse(readFileSync(BUNDLE_FILE, "utf8")) as Bundle) : BASELINE_BUNDLE;
  const actions: Action[] = [
    ...users.map((u, i) => ({ name: "set_user", args: { cert: u.certPem, user_data: { party: parties[i]!.name } } })),
    { name: "set_js_app", args: { bundle } },
    // Our app's defaults are the sample's schema and k = 3; its batch limit is raised only if a batch needs it.
    ...(app === "ours" && BATCH > 10_000 ? [{ name: "set_reconciliation_policy", args: { policy: { k: 3, batch_size: BATCH } } }] : []),
    { name: "transition_service_to_open", args: { next_service_identity: network.service_certificate } },
  ];
  await proposeAndAccept(actions, [gov]);
}

interface Run {
  app: AppName;
  round: number;
  records: number;
  answeredMs: number;
  recordsPerSecond: number;
  nodeCpuPerRecordMicros: number;
  batchMs: Summary;
  profile?: ProfileSummary;
}

async function runOnce(app: AppName, round_: number, parties: PartyData[], member: GeneratedIdentity, users: GeneratedIdentity[]): Promise<Run> {
  const profileDir = PROFILE ? tempDir(`recon-ingest-prof-${app}`) : undefined;
  const node = await launch(member.certPem, profileDir);
  const clients: ConfideClient[] = [];
  try {
    const gov = new ConfideClient({ url: node.url, serviceCertPem: node.ca, identity: member });
    clients.push(gov);
    await deploy(new Member(gov, member), users, parties, app);
    const partyClients = users.map((u) => new ConfideClient({ url: node.url, serviceCertPem: node.ca, identity: u, requestTimeoutMs: 120_000 }));
    clients.push(...partyClients);
    const batchMs: number[] = [];
    const cpuBefore = await node.cpuMicros();
    const start = now();
    await Promise.all(
      parties.map(async (party, p) => {
        for (const body of party.batches) {
          const t = now();
          const response = await partyClients[p]!.request("POST", "/app/ingest", { body, headers: { "content-type": "application/json" } });
          batchMs.push(nsSince(t) / 1e6);
          if (response.status !== 200) throw new Error(`${app}, ${party.name}: batch refused, ${response.status} ${response.text.slice(0, 500)}`);
        }
      }),
    );
    const answeredMs = nsSince(start) / 1e6;
    const cpu = (await node.cpuMicros()) - cpuBefore;
    const records = parties.reduce((a, p) => a + p.records, 0);
    for (const c of clients) c.close();
    await node.stop();
    const file = profileDir ? mainThreadProfile(profileDir) : undefined;
    return {
      app,
      round: round_,
      records,
      answeredMs: round(answeredMs),
      recordsPerSecond: sig(records / (answeredMs / 1000)),
      nodeCpuPerRecordMicros: round(cpu / records, 1),
      batchMs: summarize(batchMs),
      ...(file ? { profile: summarizeProfile(file) } : {}),
    };
  } finally {
    for (const c of clients) c.close();
    await node.stop().catch(() => {});
    if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
    if (profileDir) removeDir(profileDir);
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(): Promise<void> {
  header(
    `reconciliation ingest vs the sample-shaped baseline: ${PARTIES} parties × ~${fmtInt(RECORDS_PER_PARTY)} records (lei, nace) as JSON batches of ${fmtInt(BATCH)} ` +
      `to POST /app/ingest, parties concurrently; ${ROUNDS} rounds, the apps alternating, each run on a fresh node`,
  );
  const dataDir = tempDir("recon-ingest-data");
  try {
    const parties = await makeData(dataDir);
    console.log(`  ${parties.map((p) => fmtInt(p.records)).join(" + ")} records; our app from ${BUNDLE_FILE}`);
    const member = await generateIdentity("bench-member");
    const users = await Promise.all(parties.map((_, i) => generateIdentity(`bench-party-${i + 1}`)));
    const runs: Run[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const order: AppName[] = r % 2 === 0 ? ["ours", "baseline"] : ["baseline", "ours"];
      for (const app of order) {
        const run = await runOnce(app, r + 1, parties, member, users);
        runs.push(run);
        console.log(`  round ${r + 1} ${app.padEnd(8)} ${fmtInt(run.recordsPerSecond)} records/s, ${run.nodeCpuPerRecordMicros} µs node CPU per record, batch p50 ${run.batchMs.median} ms`);
      }
    }
    const rounds = Array.from({ length: ROUNDS }, (_, r) => {
      const ours = runs.find((x) => x.round === r + 1 && x.app === "ours")!;
      const base = runs.find((x) => x.round === r + 1 && x.app === "baseline")!;
      return { round: r + 1, rateRatio: round(ours.recordsPerSecond / base.recordsPerSecond, 3), cpuRatio: round(ours.nodeCpuPerRecordMicros / base.nodeCpuPerRecordMicros, 3) };
    });
    const of = (app: AppName) => runs.filter((x) => x.app === app);
    const result = {
      ours: { recordsPerSecond: median(of("ours").map((x) => x.recordsPerSecond)), nodeCpuPerRecordMicros: median(of("ours").map((x) => x.nodeCpuPerRecordMicros)) },
      baseline: { recordsPerSecond: median(of("baseline").map((x) => x.recordsPerSecond)), nodeCpuPerRecordMicros: median(of("baseline").map((x) => x.nodeCpuPerRecordMicros)) },
      rateRatio: median(rounds.map((x) => x.rateRatio)),
      cpuRatio: median(rounds.map((x) => x.cpuRatio)),
    };
    console.log();
    printTable([
      ["measure (median of rounds)", "ours", "baseline", "ours / baseline", "target"],
      ["records/s", fmtInt(result.ours.recordsPerSecond), fmtInt(result.baseline.recordsPerSecond), `${result.rateRatio}× (rounds: ${rounds.map((x) => x.rateRatio).join(", ")})`, "≥ 1.2×"],
      ["node CPU per record", `${result.ours.nodeCpuPerRecordMicros} µs`, `${result.baseline.nodeCpuPerRecordMicros} µs`, `${result.cpuRatio}× (rounds: ${rounds.map((x) => x.cpuRatio).join(", ")})`, ""],
    ]);
    if (PROFILE) {
      for (const app of ["ours", "baseline"] as const) {
        const profile = of(app).at(-1)!.profile;
        if (!profile) continue;
        console.log(`\n  ${app}: node child CPU profile (last round, whole run incl. deployment; ${fmtInt(profile.busyMs)} ms busy):`);
        printTable([["category", "ms", "share"], ...profile.byCategory.map((c) => [c.category, fmtInt(c.ms), `${round(c.share * 100, 1)}%`])], "    ");
        printTable([["function", "self ms", "share"], ...profile.topFunctions.slice(0, 12).map((f) => [f.function, fmtInt(f.selfMs), `${round(f.share * 100, 1)}%`])], "    ");
      }
    }
    const path = writeResult("reconciliation-ingest", {
      config: {
        parties: PARTIES,
        recordsPerParty: parties.map((p) => p.records),
        batchRecords: BATCH,
        rounds: ROUNDS,
        overlap: OVERLAP,
        disagree: DISAGREE,
        schema: "default (lei → nace exact), k = 3, continuous",
        bundle: BUNDLE_FILE,
        node: "startNode in a child process per run, default signature interval, ledger in a temp dir; app deployed by set_js_app",
        client: "ConfideClient (node:https keep-alive), one per party, one batch in flight each",
      },
      result,
      rounds,
      runs: runs.map(({ profile, ...rest }) => rest),
      targets: { rateRatioMin: 1.2 },
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    removeDir(dataDir);
  }
}

await main();
