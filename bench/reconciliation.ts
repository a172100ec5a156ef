// Reconciliation app at scale (issue 6, Measure): a real node in a child
// process, the app (apps/reconciliation/dist/bundle.json) deployed by
// governance (set_js_app, schema and policy proposals voted by a member),
// five parties as users with party data. Demo data from the SDK's generator
// (packages/client/src/recon/generate.ts: LEI-like keys, overlap 0.8,
// disagreement 0.1 per field) is sent as CSV batches to POST /app/csv/ingest,
// the five parties concurrently, one batch in flight per party. Then, at that
// scale, one party's report: the first page of 1,000 keys with and without the
// summary counts, a later page, and GET /app/report/{key} latencies.
//
// Figures: end-to-end ingest time (first batch sent → last batch answered,
// and → its transaction Committed), records/s, the node child's peak RSS
// (VmHWM from /proc, sampled VmRSS elsewhere), latency p50/p99.
//
//   node --import tsx bench/reconciliation.ts
//   BENCH_RECON_RECORDS=200000 ...   records per party (default 20,000; the scale is 200,000)
//   BENCH_RECON_BATCH=10000 ...      records per batch (the policy's default batch_size)
//   BENCH_RECON_FIELDS=nace,price,settles ...   attribute columns (default nace: the sample's schema)
//   BENCH_RECON_JS_TIME_MS=1000 ...  max_execution_time_ms set by set_js_runtime_options (default 5000: a
//                                    10,000-record batch can outrun CCF's default 1000 on a busy machine)
//   BENCH_PROFILE=1 ...              CPU-profile the node child and print where its time goes
//   BENCH_RECON_BUNDLE=path ...      deploy another build of the app (e.g. to compare two versions)
import { randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfideClient, type CcfResponse } from "../packages/client/src/client.ts";
import { Member, proposeAndAccept, type Action } from "../packages/client/src/governance.ts";
import { generateIdentity, type GeneratedIdentity } from "../packages/client/src/keys.ts";
import { generate, type GeneratedField } from "../packages/client/src/recon/generate.ts";
import type { Bundle } from "../packages/node/src/runtime/bundle.ts";
import { BENCH_DIR, envInt, fmtBytes, fmtInt, fmtMs, header, now, nsSince, printTable, removeDir, round, sig, summarize, tempDir, writeResult, type Summary } from "./lib.ts";
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from "./profile.ts";
import { launch, procMemory, rssSampler, type NodeChild } from "./recon-node.ts";

const PARTIES = 5;
const RECORDS_PER_PARTY = envInt("BENCH_RECON_RECORDS", 20_000);
const BATCH = envInt("BENCH_RECON_BATCH", 10_000);
const FIELDS = (process.env["BENCH_RECON_FIELDS"] ?? "nace").split(",").map((f) => f.trim()) as GeneratedField[];
const JS_TIME_MS = envInt("BENCH_RECON_JS_TIME_MS", 5000);
const MAX_BODY_BYTES = process.env["BENCH_RECON_MAX_BODY"] ? envInt("BENCH_RECON_MAX_BODY", 1 << 20) : undefined;
const OVERLAP = 0.8;
const DISAGREE = 0.1;
const PAGE_SAMPLES = envInt("BENCH_RECON_PAGE_SAMPLES", 20);
const KEY_SAMPLES = envInt("BENCH_RECON_KEY_SAMPLES", 500);
const WARMUP_PAGES = envInt("BENCH_RECON_WARMUP_PAGES", 40);
const PROFILE = process.env["BENCH_PROFILE"] === "1";
const BUNDLE_FILE = process.env["BENCH_RECON_BUNDLE"] ?? join(BENCH_DIR, "..", "apps", "reconciliation", "dist", "bundle.json");

// ---------------------------------------------------------------- data

interface PartyData {
  name: string;
  records: number;
  /** CSV bodies, header row included, BATCH records each. */
  batches: string[];
  keys: string[];
}

async function makeData(dir: string): Promise<PartyData[]> {
  // keys × overlap ≈ records per party; every key is held by at least one party.
  const keys = Math.round(RECORDS_PER_PARTY / OVERLAP);
  const result = await generate({ parties: PARTIES, keys, overlap: OVERLAP, disagree: DISAGREE, fields: FIELDS, out: dir, seed: "bench-reconciliation" });
  return result.files.map((file, i) => {
    const [head, ...lines] = readFileSync(file, "utf8").split("\n").filter((l) => l !== "");
    const batches: string[] = [];
    for (let b = 0; b < lines.length; b += BATCH) batches.push(`${head}\n${lines.slice(b, b + BATCH).join("\n")}\n`);
    return { name: `Bank ${String.fromCharCode(65 + i)}`, records: lines.length, batches, keys: lines.map((l) => l.slice(0, l.indexOf(","))) };
  });
}

// ---------------------------------------------------------------- governance

async function deploy(gov: Member, users: GeneratedIdentity[], parties: PartyData[]): Promise<void> {
  const ack = gov;
  await ack.ackStateDigest();
  const network = (await gov.client.call("GET", "/node/network")).json as { service_certificate: string };
  if (!existsSync(BUNDLE_FILE)) {
    throw new Error(`${BUNDLE_FILE} is missing: build it with \`npm run build -w @confide/app-reconciliation\` (\`npm run bench\` builds it when missing)`);
  }
  const bundle = JSON.parse(readFileSync(BUNDLE_FILE, "utf8")) as Bundle;
  const schemaAttributes = FIELDS.map((field) =>
    field === "nace"
      ? { name: "nace", type: "string" }
      : field === "price"
        ? { name: "price", type: "decimal", match: { rule: "absolute", tolerance: 0.01 } }
        : { name: "settles", type: "date", match: { rule: "days", tolerance: 1 } },
  );
  const actions: Action[] = [
    ...users.map((u, i) => ({ name: "set_user", args: { cert: u.certPem, user_data: { party: parties[i]!.name } } })),
    { name: "set_js_app", args: { bundle } },
    { name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes: schemaAttributes } } },
    { name: "set_reconciliation_policy", args: { policy: { k: 3, batch_size: Math.max(BATCH, 10_000) } } },
    { name: "set_js_runtime_options", args: { max_execution_time_ms: JS_TIME_MS, max_heap_bytes: 100 * 1024 * 1024, max_stack_bytes: 1024 * 1024 } },
    { name: "transition_service_to_open", args: { next_service_identity: network.service_certificate } },
  ];
  await proposeAndAccept(actions, [gov]);
}

// ---------------------------------------------------------------- ingest

interface IngestResult {
  records: number;
  batches: number;
  answeredMs: number;
  committedMs: number;
  recordsPerSecond: number;
  recordsPerSecondCommitted: number;
  batchMs: Summary;
  counts: { added: number; changed: number; unchanged: number };
}

async function ingestAll(clients: ConfideClient[], parties: PartyData[]): Promise<IngestResult> {
  const batchMs: number[] = [];
  const counts = { added: 0, changed: 0, unchanged: 0 };
  let lastTx: string | undefined;
  let lastSeq = -1;
  const start = now();
  await Promise.all(
    parties.map(async (party, p) => {
      for (const body of party.batches) {
        const t = now();
        const response = await clients[p]!.request("POST", "/app/csv/ingest", { body, headers: { "content-type": "text/csv" } });
        batchMs.push(nsSince(t) / 1e6);
        if (response.status !== 200) throw new Error(`${party.name}: batch refused, ${response.status} ${response.text.slice(0, 500)}`);
        const ingest = (response.json as { ingest: { added: number; changed: number; unchanged: number } }).ingest;
        counts.added += ingest.added;
        counts.changed += ingest.changed;
        counts.unchanged += ingest.unchanged;
        const seq = Number(response.txId?.split(".")[1] ?? -1);
        if (seq > lastSeq) {
          lastSeq = seq;
          lastTx = response.txId;
        }
      }
    }),
  );
  const answeredMs = nsSince(start) / 1e6;
  if (lastTx !== undefined) await clients[0]!.waitForCommit(lastTx, { timeoutMs: 60_000 });
  const committedMs = nsSince(start) / 1e6;
  const records = parties.reduce((a, p) => a + p.records, 0);
  return {
    records,
    batches: batchMs.length,
    answeredMs: round(answeredMs),
    committedMs: round(committedMs),
    recordsPerSecond: sig(records / (answeredMs / 1000)),
    recordsPerSecondCommitted: sig(records / (committedMs / 1000)),
    batchMs: summarize(batchMs),
    counts,
  };
}

// ---------------------------------------------------------------- reports

interface Timed {
  ms: Summary;
  /** The node child's CPU time per request (ms), averaged over the samples. */
  cpuMs: number;
  /** Non-200 answers (e.g. 500 when the handler outran the JS time limit): counted, not thrown, so every figure is taken. */
  errors: number;
  firstError?: string;
  last?: CcfResponse;
}

async function timed(samples: number, cpuMicros: () => Promise<number>, fn: (i: number) => Promise<CcfResponse>): Promise<Timed> {
  const cpuBefore = await cpuMicros();
  const ms: number[] = [];
  let last: CcfResponse | undefined;
  let errors = 0;
  let firstError: string | undefined;
  for (let i = 0; i < samples; i++) {
    const t = now();
    const response = await fn(i);
    ms.push(nsSince(t) / 1e6);
    if (response.status === 200) last = response;
    else {
      errors++;
      firstError ??= `${response.status} ${response.text.slice(0, 200)}`;
    }
  }
  const cpuMs = round((await cpuMicros()) - cpuBefore) / 1000 / samples;
  return { ms: summarize(ms), cpuMs: round(cpuMs, 2), errors, ...(firstError === undefined ? {} : { firstError }), ...(last === undefined ? {} : { last }) };
}

interface ReportResult {
  party: string;
  partyKeys: number;
  firstPageWithSummaryMs: Summary;
  firstPageNoSummaryMs: Summary;
  laterPageMs: Summary;
  keyMs: Summary;
  /** Node CPU ms per request of each kind. */
  cpuMs: { firstPageWithSummary: number; firstPageNoSummary: number; laterPage: number; key: number };
  errors: Record<string, { errors: number; first?: string }>;
  pageRows: number;
  pageBytes: number;
  summary: unknown;
}

async function measureReports(client: ConfideClient, party: PartyData, cpu: () => Promise<number>): Promise<ReportResult> {
  // Warm-up pages, so the first figures neither are the app's first call of a shape nor carry the
  // garbage collection the ingest left behind (the first ~40 pages after it cost ~30% more CPU).
  for (let i = 0; i < WARMUP_PAGES; i++) await client.request("GET", "/app/report?summary=false");
  const withSummary = await timed(PAGE_SAMPLES, cpu, () => client.request("GET", "/app/report"));
  const noSummary = await timed(PAGE_SAMPLES, cpu, () => client.request("GET", "/app/report?summary=false"));
  const middle = Math.floor(party.records / 2000) * 1000;
  const later = await timed(PAGE_SAMPLES, cpu, () => client.request("GET", `/app/report?cursor=${middle}`));
  const keys = await timed(KEY_SAMPLES, cpu, () => client.request("GET", `/app/report/${encodeURIComponent(party.keys[randomInt(party.keys.length)]!)}`));
  const envelope = (withSummary.last?.json ?? { content: [] }) as { content: unknown[]; summary?: { keys: number } };
  if (withSummary.last && envelope.summary?.keys !== party.records) throw new Error(`summary counts ${envelope.summary?.keys} keys, the party sent ${party.records}`);
  const errors: ReportResult["errors"] = {};
  for (const [name, t] of Object.entries({ firstPageWithSummary: withSummary, firstPageNoSummary: noSummary, laterPage: later, key: keys })) {
    if (t.errors > 0) {
      errors[name] = { errors: t.errors, ...(t.firstError === undefined ? {} : { first: t.firstError }) };
      console.log(`    !! ${name}: ${t.errors} of its requests failed (first: ${t.firstError})`);
    }
  }
  return {
    party: party.name,
    partyKeys: party.records,
    firstPageWithSummaryMs: withSummary.ms,
    firstPageNoSummaryMs: noSummary.ms,
    laterPageMs: later.ms,
    keyMs: keys.ms,
    cpuMs: { firstPageWithSummary: withSummary.cpuMs, firstPageNoSummary: noSummary.cpuMs, laterPage: later.cpuMs, key: keys.cpuMs },
    errors,
    pageRows: envelope.content.length,
    pageBytes: (withSummary.last ?? noSummary.last)?.body.length ?? 0,
    summary: envelope.summary,
  };
}


// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  header(
    `reconciliation app: ${PARTIES} parties × ~${fmtInt(RECORDS_PER_PARTY)} records (fields lei,${FIELDS.join(",")}) as CSV batches of ${fmtInt(BATCH)} ` +
      `to POST /app/csv/ingest over HTTPS, parties concurrently; then report pages and keys at that scale`,
  );
  const dataDir = tempDir("recon-data");
  const profileDir = PROFILE ? tempDir("recon-prof") : undefined;
  let node: NodeChild | undefined;
  const clients: ConfideClient[] = [];
  try {
    const t0 = now();
    const parties = await makeData(dataDir);
    console.log(`  generated ${parties.map((p) => fmtInt(p.records)).join(" + ")} records in ${fmtMs(nsSince(t0) / 1e6)}`);
    const member = await generateIdentity("bench-member");
    const users = await Promise.all(parties.map((_, i) => generateIdentity(`bench-party-${i + 1}`)));

    node = await launch(member.certPem, profileDir, MAX_BODY_BYTES);
    const gov = new ConfideClient({ url: node.url, serviceCertPem: node.ca, identity: member });
    clients.push(gov);
    await deploy(new Member(gov, member), users, parties);
    for (const u of users) clients.push(new ConfideClient({ url: node.url, serviceCertPem: node.ca, identity: u, requestTimeoutMs: 120_000 }));
    const partyClients = clients.slice(1);
    const rssBefore = procMemory(node.child.pid!);

    const sampler = rssSampler(node.child.pid!);
    const cpuBefore = await node.cpuMicros();
    const ingest = await ingestAll(partyClients, parties);
    const ingestCpuMicros = (await node.cpuMicros()) - cpuBefore;
    const rssIngest = sampler.stop();
    const cpuPerRecordMicros = round(ingestCpuMicros / ingest.records, 1);
    console.log(
      `  ingest: ${fmtInt(ingest.records)} records in ${ingest.batches} batches: answered ${fmtMs(ingest.answeredMs)}, committed ${fmtMs(ingest.committedMs)}; ` +
        `${fmtInt(ingest.recordsPerSecond)} records/s; batch p50 ${fmtMs(ingest.batchMs.median)} p99 ${fmtMs(ingest.batchMs.p99)}; node peak RSS ${fmtBytes(rssIngest.peakRss)}`,
    );

    const reportSampler = rssSampler(node.child.pid!);
    const reports = await measureReports(partyClients[0]!, parties[0]!, () => node!.cpuMicros());
    const rssReports = reportSampler.stop();

    const fullScale = PARTIES * 200_000;
    console.log();
    printTable([
      ["measure", "figure", "target (at 5 × 200,000)"],
      ["records ingested", fmtInt(ingest.records), fmtInt(fullScale)],
      ["ingest, first batch → last answered", fmtMs(ingest.answeredMs), "< 20 s"],
      ["ingest, first batch → last Committed", fmtMs(ingest.committedMs), ""],
      ["ingest rate (answered / committed)", `${fmtInt(ingest.recordsPerSecond)} / ${fmtInt(ingest.recordsPerSecondCommitted)} records/s`, "≥ 50,000 records/s"],
      ["node CPU per record ingested (user + system; less sensitive to machine load than rates)", `${cpuPerRecordMicros} µs`, "≤ 20 µs (one core at 50,000/s)"],
      [`batch latency (${fmtInt(BATCH)} records) p50 / p99`, `${fmtMs(ingest.batchMs.median)} / ${fmtMs(ingest.batchMs.p99)}`, ""],
      ["node RSS: before ingest / peak (VmHWM) / after reports", `${fmtBytes(rssBefore?.rss ?? NaN)} / ${fmtBytes(Math.max(rssIngest.peakRss, rssReports.peakRss))} / ${fmtBytes(rssReports.lastRss)}`, "< 1.5 GiB"],
      [`GET /app/report first page (${reports.pageRows} rows, summary) p50 / p99`, `${fmtMs(reports.firstPageWithSummaryMs.median)} / ${fmtMs(reports.firstPageWithSummaryMs.p99)}`, "< 50 ms"],
      ["GET /app/report first page, summary=false p50 / p99", `${fmtMs(reports.firstPageNoSummaryMs.median)} / ${fmtMs(reports.firstPageNoSummaryMs.p99)}`, "< 50 ms"],
      ["GET /app/report later page (cursor) p50 / p99", `${fmtMs(reports.laterPageMs.median)} / ${fmtMs(reports.laterPageMs.p99)}`, ""],
      [`GET /app/report/{key} p50 / p99 (${KEY_SAMPLES} keys)`, `${fmtMs(reports.keyMs.median)} / ${fmtMs(reports.keyMs.p99)}`, "p50 < 5 ms"],
      ["node CPU per request: first page (summary / none) / later page / key", `${reports.cpuMs.firstPageWithSummary} / ${reports.cpuMs.firstPageNoSummary} / ${reports.cpuMs.laterPage} / ${reports.cpuMs.key} ms`, ""],
    ]);
    console.log(`  ${reports.party} holds ${fmtInt(reports.partyKeys)} keys; page ${fmtBytes(reports.pageBytes)}; summary ${JSON.stringify(reports.summary)}`);

    for (const c of clients) c.close();
    await node.stop();

    let profile: ProfileSummary | undefined;
    if (profileDir) {
      const file = mainThreadProfile(profileDir);
      if (file) {
        profile = summarizeProfile(file);
        console.log(`\n  node child CPU profile (main thread, whole run incl. deployment and reports; ${fmtInt(profile.busyMs)} ms busy):`);
        printTable([["category", "ms", "share"], ...profile.byCategory.map((c) => [c.category, fmtInt(c.ms), `${round(c.share * 100, 1)}%`])], "    ");
        console.log();
        printTable([["function", "self ms", "share"], ...profile.topFunctions.map((f) => [f.function, fmtInt(f.selfMs), `${round(f.share * 100, 1)}%`])], "    ");
      }
    }

    const path = writeResult("reconciliation", {
      config: {
        parties: PARTIES,
        recordsPerPartyTarget: RECORDS_PER_PARTY,
        recordsPerParty: parties.map((p) => p.records),
        fields: ["lei", ...FIELDS],
        overlap: OVERLAP,
        disagree: DISAGREE,
        batchRecords: BATCH,
        inFlightPerParty: 1,
        jsMaxExecutionTimeMs: JS_TIME_MS,
        maxBodyBytes: MAX_BODY_BYTES ?? "default (1 MiB)",
        node: "startNode in a child process, default signature interval, ledger in a temp dir; app deployed by set_js_app proposal with schema and policy (k = 3)",
        client: "ConfideClient (node:https keep-alive), one per party",
      },
      ingest: { ...ingest, nodeCpuMicros: ingestCpuMicros, nodeCpuPerRecordMicros: cpuPerRecordMicros },
      nodeRss: { beforeIngest: rssBefore?.rss, peak: Math.max(rssIngest.peakRss, rssReports.peakRss), afterIngest: rssIngest.lastRss, afterReports: rssReports.lastRss },
      reports,
      targets: {
        fullScaleRecords: fullScale,
        ingestSecondsMax: 20,
        recordsPerSecondMin: 50_000,
        rssBytesMax: 1.5 * 2 ** 30,
        keyP50MsMax: 5,
        firstPageMsMax: 50,
      },
      ...(profile ? { profile } : {}),
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    for (const c of clients) c.close();
    if (node) {
      await node.stop().catch(() => {});
      if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
    }
    removeDir(dataDir);
    if (profileDir && !process.env["BENCH_KEEP_PROFILE"]) removeDir(profileDir);
  }
}

await main();
