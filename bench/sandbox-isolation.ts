// Issue 17's reason for a process per node: a 10,000-record reconciliation ingest must not delay
// a banking request. Starts the sandbox (BENCH_SANDBOX_MODULE: another client's sandbox.ts, to
// compare with the in-process sandbox), then times GET /app/balance/checking on the banking
// service, first alone, then while one Bank A user ingests 10,000 trades into reconciliation.
//
//   node --import tsx bench/sandbox-isolation.ts
//   BENCH_SANDBOX_MODULE=<old checkout>/packages/client/src/sandbox/sandbox.ts ...   (the same against another sandbox)
// On a loaded machine the ingest itself may pass the app's execution time limit (500 "Operation
// took too long to complete."): BENCH_ISOLATION_RECORDS=5000 then.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfideClient } from "../packages/client/src/client.ts";
import { envInt, fmtMs, header, summarize } from "./lib.ts";

const MODULE = process.env["BENCH_SANDBOX_MODULE"] ?? "../packages/client/src/sandbox/sandbox.ts";
const RECORDS = envInt("BENCH_ISOLATION_RECORDS", 10_000);
const SAMPLES = 40;
const { startSandbox, DEFAULT_BUNDLES } = (await import(MODULE)) as typeof import("../packages/client/src/sandbox/sandbox.ts");

header(`sandbox isolation: banking GET latency alone and during a ${RECORDS}-record reconciliation ingest (${MODULE})`);
const workspace = mkdtempSync(join(tmpdir(), "confide-isolation-"));
const sandbox = await startSandbox({ workspace, fresh: true, port: 0, bankingPort: 0, consolePort: 0, usersPerBank: 1, bundles: DEFAULT_BUNDLES, displayCwd: workspace, out: () => undefined, err: () => undefined });
try {
  const { services, users } = sandbox.description;
  const user = users[0]!;
  const identity = { certPem: readFileSync(user.certificate, "utf8"), keyPem: readFileSync(user.key, "utf8") };
  const clientOf = (name: string) => {
    const service = services.find((s) => s.name === name)!;
    return new ConfideClient({ url: service.url, serviceCertPem: readFileSync(service.serviceCertificate, "utf8"), identity });
  };
  const banking = clientOf("banking");
  const recon = clientOf("reconciliation");
  const sample = async (): Promise<number> => {
    const start = performance.now();
    await banking.get("/balance/checking");
    return performance.now() - start;
  };
  const alone: number[] = [];
  for (let i = 0; i < SAMPLES; i++) alone.push(await sample());
  const records = Array.from({ length: RECORDS }, (_, i) => ({ trade_id: `X-${i}`, price: "1.00", settles: "2026-12-01", ccy: "USD" }));
  const during: number[] = [];
  let ingesting = true;
  const started = performance.now();
  const ingest = recon.post("/ingest", records).finally(() => (ingesting = false));
  while (ingesting) during.push(await sample());
  await ingest;
  const ingestMs = performance.now() - started;
  const row = (name: string, xs: number[]) => {
    const s = summarize(xs);
    console.log(`  ${name.padEnd(22)} n=${String(s.count).padStart(3)}  median ${fmtMs(s.median)}  max ${fmtMs(s.max)}`);
  };
  row("banking GET, alone", alone);
  row("banking GET, during", during);
  console.log(`  ingest of ${RECORDS} records: ${fmtMs(ingestMs)}`);
  banking.close();
  recon.close();
} finally {
  await sandbox.stop();
  rmSync(workspace, { recursive: true, force: true });
}
