// `confide recon`: the reconciliation app from the command line.
//   ingest <file.csv> --as <identity>   stream a CSV in batches, resumable
//   report [--status S] [--csv]         every report row, following cursors
//   generate --parties N --keys N ...   demo data, one CSV per party
// Kept apart from bin/confide.ts (which only registers it): each action
// reports its own errors, exit code 2 for usage errors and 1 otherwise.
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Command, InvalidArgumentError, Option } from "commander";
import { ConfideClient } from "../client.ts";
import { certId } from "@confide/node";
import { ReconClient, ReconError, verifyReportReceipt, type IngestCounts } from "./client.ts";
import { csvRecords } from "./csv-stream.ts";
import { generate, GENERATED_FIELDS, type GeneratedField } from "./generate.ts";

/** The policy's default batch size; a smaller policy limit is learnt from the app's BatchTooLarge refusal. */
export const DEFAULT_BATCH_SIZE = 10_000;
/** Network failures and 5xx are retried this many times before the run stops (resumable). */
const SEND_ATTEMPTS = 3;

class UsageError extends Error {}

interface Connection {
  url: string;
  cacert?: string;
  cert?: string;
  key?: string;
  as?: string;
  json?: boolean;
}

function connection(command: Command): Command {
  return command
    .addOption(new Option("--url <url>", "URL of a node").env("CONFIDE_URL").default("https://127.0.0.1:8000"))
    .addOption(new Option("--cacert <file>", "the service certificate (service_cert.pem), the only one trusted").env("CONFIDE_CACERT"))
    .option("--as <identity>", "your identity: <name> for <name>_cert.pem and <name>_privk.pem (a path prefix), as keygen writes them")
    .addOption(new Option("--cert <file>", "your user or member certificate (instead of --as)").env("CONFIDE_CERT"))
    .addOption(new Option("--key <file>", "your private key (instead of --as)").env("CONFIDE_KEY"))
    .option("--json", "print JSON, for scripts");
}

function read(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function clientOf(options: Connection): ConfideClient {
  if (options.cacert === undefined) throw new UsageError("--cacert (or CONFIDE_CACERT) is required: the service certificate to trust");
  const [certFile, keyFile] = options.as !== undefined ? [`${options.as}_cert.pem`, `${options.as}_privk.pem`] : [options.cert, options.key];
  if (certFile === undefined || keyFile === undefined) throw new UsageError("give --as <identity> (or --cert and --key): reports and ingests are per party");
  return new ConfideClient({ url: options.url, serviceCertPem: read(options.cacert, "service certificate"), identity: { certPem: read(certFile, "certificate"), keyPem: read(keyFile, "private key") } });
}

/** Runs an action, printing its error and setting the exit code (2 for usage errors) instead of throwing. */
function guarded<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      let message = error instanceof Error ? error.message : String(error);
      if (error instanceof ReconError) {
        message = `${error.status}${error.errorType === undefined ? "" : ` ${error.errorType}`}: ${message}`;
        if (Array.isArray(error.details)) message += error.details.map((d: { row?: unknown; field?: unknown; reason?: unknown }) => `\n  row ${String(d.row)} ${String(d.field)}: ${String(d.reason)}`).join("");
      }
      process.stderr.write(`error: ${message}\n`);
      process.exitCode = error instanceof UsageError ? 2 : 1;
    }
  };
}

function positive(max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return Number(value);
  };
}

function fraction(): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`must be a fraction from 0 to 1`);
    return n;
  };
}

// --- ingest ---------------------------------------------------------------

/**
 * Progress of one file, kept beside it so a failed or killed run resumes
 * where it stopped. `digest` is SHA-256 over the header and every record sent,
 * so a resume refuses a file whose already-sent part has changed.
 */
interface IngestState {
  version: 1;
  file: string;
  url: string;
  identity: string;
  header: string;
  records_done: number;
  digest: string;
  totals: IngestCounts;
}

interface IngestOptions extends Connection {
  batchSize?: number;
  state?: string;
  restart?: boolean;
}

class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private readonly started = Date.now();
  private lastDraw = 0;

  constructor(private readonly total: number | undefined) {}

  update(done: number, batch: number, counts: IngestCounts): void {
    if (!this.tty) {
      process.stderr.write(`batch ${batch}: ${done} records done (added ${counts.added}, changed ${counts.changed}, unchanged ${counts.unchanged})\n`);
      return;
    }
    const now = Date.now();
    if (now - this.lastDraw < 100 && done !== this.total) return;
    this.lastDraw = now;
    const rate = Math.round(done / Math.max(0.001, (now - this.started) / 1000));
    const width = 30;
    const share = this.total ? Math.min(1, done / this.total) : 0;
    const bar = "#".repeat(Math.round(share * width)).padEnd(width, " ");
    process.stderr.write(`\r[${bar}] ${(share * 100).toFixed(0).padStart(3)}% ${done}${this.total ? `/${this.total}` : ""} records, ${rate}/s `);
  }

  finish(): void {
    if (this.tty) process.stderr.write("\n");
  }
}

function saveState(file: string, state: IngestState): void {
  // Write then rename, so a kill mid-write never leaves a torn state file.
  writeFileSync(`${file}.tmp`, JSON.stringify(state));
  renameSync(`${file}.tmp`, file);
}

async function countRecords(file: string): Promise<number> {
  let n = -1;
  for await (const _ of csvRecords(file)) n++;
  return Math.max(0, n);
}

async function ingest(file: string, options: IngestOptions): Promise<void> {
  const path = resolve(file);
  if (!existsSync(path)) throw new UsageError(`no such file ${file}`);
  const stateFile = options.state ?? `${path}.confide-ingest.json`;
  const client = clientOf(options);
  const recon = new ReconClient(client);
  const identity = certId(read(options.as !== undefined ? `${options.as}_cert.pem` : options.cert!, "certificate"));
  let previous: IngestState | undefined;
  if (existsSync(stateFile) && options.restart !== true) {
    previous = JSON.parse(read(stateFile, "state file")) as IngestState;
    if (previous.file !== path || previous.url !== options.url || previous.identity !== identity) {
      throw new UsageError(`${stateFile} records a run of ${previous.file} to ${previous.url} as another identity: use --restart to start afresh`);
    }
  }
  let batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const total = process.stderr.isTTY === true ? await countRecords(path) : undefined;
  const progress = new Progress(total);
  const hash = createHash("sha256");
  const totals: IngestCounts = previous?.totals ?? { records: 0, added: 0, changed: 0, unchanged: 0 };
  let header: string | undefined;
  let seen = 0;
  let done = previous?.records_done ?? 0;
  let batch: string[] = [];
  let batches = 0;
  const skipped = done;

  const send = async (): Promise<void> => {
    // A refusal for size halves the batch (BatchTooLarge names the policy's limit) and tries again.
    let records = batch;
    while (records.length > 0) {
      const part = records.slice(0, batchSize);
      let counts: IngestCounts;
      try {
        counts = await sendWithRetry(recon, `${header}\n${part.join("\n")}\n`);
      } catch (error) {
        const limit = error instanceof ReconError ? sizeLimit(error, part.length) : undefined;
        if (limit === undefined || limit >= part.length) throw error;
        batchSize = limit;
        continue;
      }
      for (const r of part) hash.update(`${r}\n`);
      records = records.slice(part.length);
      done += part.length;
      batches++;
      for (const k of ["records", "added", "changed", "unchanged"] as const) totals[k] += counts[k];
      saveState(stateFile, { version: 1, file: path, url: options.url, identity, header: header!, records_done: done, digest: hash.copy().digest("hex"), totals });
      progress.update(done, batches, totals);
    }
    batch = [];
  };

  try {
    for await (const record of csvRecords(path)) {
      if (header === undefined) {
        header = record.replace(/^\uFEFF/, "");
        hash.update(`${header}\n`);
        if (previous !== undefined && previous.header !== header) throw new UsageError(`the header of ${file} changed since the interrupted run: use --restart`);
        continue;
      }
      if (seen < skipped) {
        // Already acknowledged by the service: only re-hash, to check the file is the one sent.
        seen++;
        hash.update(`${record}\n`);
        if (seen === skipped && hash.copy().digest("hex") !== previous!.digest) {
          throw new UsageError(`the first ${skipped} records of ${file} changed since the interrupted run: use --restart`);
        }
        continue;
      }
      batch.push(record);
      if (batch.length >= batchSize) await send();
    }
    if (header === undefined) throw new UsageError(`${file} is empty`);
    if (seen < skipped) throw new UsageError(`${file} has fewer records than the interrupted run sent: use --restart`);
    if (batch.length > 0) await send();
  } catch (error) {
    progress.finish();
    if (!(error instanceof UsageError) && done > 0) process.stderr.write(`stopped after ${done} records; run the same command again to resume (state in ${stateFile})\n`);
    throw error;
  } finally {
    client.close();
  }
  progress.finish();
  rmSync(stateFile, { force: true });
  const summary = { file, records: done, resumed_after: skipped, sent: done - skipped, batches, batch_size: batchSize, totals };
  process.stdout.write(
    options.json === true
      ? `${JSON.stringify(summary)}\n`
      : `${file}: ${done} records${skipped > 0 ? ` (resumed after ${skipped})` : ""} in ${batches} batch(es) of up to ${batchSize}: added ${totals.added}, changed ${totals.changed}, unchanged ${totals.unchanged}\n`,
  );
}

function sizeLimit(error: ReconError, sent: number): number | undefined {
  if (error.status === 413) return Math.max(1, Math.floor(sent / 2));
  const m = error.errorType === "BatchTooLarge" ? /at most (\d+)/.exec(error.message) : null;
  return m === null ? undefined : Number(m[1]);
}

async function sendWithRetry(recon: ReconClient, body: string): Promise<IngestCounts> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await recon.ingestCsv(body);
    } catch (error) {
      const transient = !(error instanceof ReconError) || error.status >= 500;
      if (!transient || attempt >= SEND_ATTEMPTS) throw error;
      await sleep(200 * attempt);
    }
  }
}

// --- report ---------------------------------------------------------------

interface ReportOptions extends Connection {
  status?: string;
  attribute?: string;
  detailed?: boolean;
  csv?: boolean;
  verify?: boolean;
}

/** A row as flat columns: detailed rows' attributes become <name>.<field>. */
function flatten(row: Record<string, unknown>): Record<string, unknown> {
  const flat: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name === "attributes" && typeof value === "object" && value !== null) {
      for (const [attribute, fields] of Object.entries(value as Record<string, Record<string, unknown>>)) {
        for (const [field, v] of Object.entries(fields)) flat[`${attribute}.${field}`] = v;
      }
    } else {
      flat[name] = value;
    }
  }
  return flat;
}

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function report(options: ReportOptions): Promise<void> {
  const client = clientOf(options);
  const recon = new ReconClient(client);
  try {
    const query = { ...(options.status ? { status: options.status } : {}), ...(options.attribute ? { attribute: options.attribute } : {}), ...(options.detailed ? { view: "detailed" as const } : {}) };
    const rows: Record<string, unknown>[] = [];
    let summary: Record<string, unknown> | undefined;
    let round: Record<string, unknown> | undefined;
    const verified: string[] = [];
    for await (const page of recon.reportPages(query)) {
      rows.push(...page.rows.map(flatten));
      summary ??= page.summary;
      round ??= page.round;
      if (options.verify === true) verified.push((await verifyReportReceipt(client, page.response)).txId);
    }
    if (options.csv === true) {
      const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      process.stdout.write([columns.join(","), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n");
    } else if (options.json === true) {
      process.stdout.write(`${JSON.stringify({ rows, summary, ...(round ? { round } : {}), ...(options.verify ? { verified } : {}) })}\n`);
    } else {
      for (const r of rows) process.stdout.write(`${Object.entries(r).map(([k, v]) => `${k}=${v === null ? "-" : String(v)}`).join("  ")}\n`);
      if (summary !== undefined) process.stdout.write(`summary: ${JSON.stringify(summary)}\n`);
      if (round !== undefined) process.stdout.write(`round: ${JSON.stringify(round)}\n`);
    }
    // Receipts go to stderr, so --csv output stays a clean CSV.
    if (options.verify === true) process.stderr.write(`verified the receipt of every page (${verified.join(", ")}): claims digest = SHA-256 of the body\n`);
  } finally {
    client.close();
  }
}

// --- generate -------------------------------------------------------------

interface GenerateFlags {
  parties: number;
  keys: number;
  overlap: number;
  disagree: number;
  fields: string;
  out: string;
  seed?: string;
  json?: boolean;
}

async function generateCommand(options: GenerateFlags): Promise<void> {
  const fields = options.fields.split(",").map((f) => f.trim());
  for (const f of fields) if (!(GENERATED_FIELDS as readonly string[]).includes(f)) throw new UsageError(`--fields takes ${GENERATED_FIELDS.join(", ")}; got ${f}`);
  const result = await generate({ parties: options.parties, keys: options.keys, overlap: options.overlap, disagree: options.disagree, fields: fields as GeneratedField[], out: options.out, ...(options.seed === undefined ? {} : { seed: options.seed }) });
  process.stdout.write(
    options.json === true
      ? `${JSON.stringify(result)}\n`
      : `${result.files.map((f, i) => `wrote ${f} (${result.records[i]} records)`).join("\n")}\nwrote ${result.schemaFile} (the set_reconciliation_schema proposal these files fit)\n`,
  );
}

export function reconCommand(): Command {
  // Set before the subcommands are made, which inherit them: usage errors then reach confide's exit code 2.
  const recon = new Command("recon")
    .description("the reconciliation app: ingest CSV files, read reports, generate demo data")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)");

  connection(recon.command("ingest"))
    .description("stream a CSV file (header row naming schema fields) to /app/csv/ingest in batches; a failed or killed run resumes where it stopped")
    .argument("<file>", "CSV file")
    .option("--batch-size <n>", `records per batch (default ${DEFAULT_BATCH_SIZE}, the policy's default; lowered to the policy's limit if it is smaller)`, positive(100_000))
    .option("--state <file>", "progress file (default <file>.confide-ingest.json)")
    .option("--restart", "ignore a previous run's progress and send the whole file")
    .action(guarded(ingest));

  connection(recon.command("report"))
    .description("your report: every row (following cursors), with the summary")
    .addOption(new Option("--status <status>", "only rows with this status").choices(["IN_CONSENSUS", "LACK_OF_CONSENSUS", "NOT_ENOUGH_DATA"]))
    .option("--attribute <name>", "status of this attribute (and detailed rows show only it)")
    .option("--detailed", "detailed rows (per attribute counts) even for a one-attribute schema")
    .option("--csv", "print rows as CSV")
    .option("--verify", "fetch each page's receipt, verify it and check its claims digest is SHA-256 of the page")
    .action(guarded(report));

  recon
    .command("generate")
    .description("write demo data: one CSV per party (party-<n>.csv) over shared LEI-like keys with valid check digits")
    .option("--parties <n>", "number of parties", positive(1000), 5)
    .requiredOption("--keys <n>", "number of distinct keys", positive())
    .option("--overlap <fraction>", "chance that a party holds a given key", fraction(), 0.6)
    .option("--disagree <fraction>", "chance that a held value differs from the true one, per field", fraction(), 0.1)
    .option("--fields <list>", `attribute columns after lei, from ${GENERATED_FIELDS.join(",")} (nace alone fits the default schema)`, "nace")
    .option("--out <dir>", "directory to write into", ".")
    .option("--seed <text>", "same seed, same files")
    .option("--json", "print JSON, for scripts")
    .action(guarded(generateCommand));

  return recon;
}
