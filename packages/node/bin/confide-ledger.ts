// confide-ledger: offline tools over a node's ledger files.
//
//   confide-ledger verify <ledger-dir> [--service-cert <pem>] [--json]
//
// Checks every chunk file (framing, digests, seqno order, chunk names), rebuilds
// the Merkle tree and checks every signature (and, with the service
// certificate, that the signing node was endorsed), and decodes every public
// write set. Private write sets stay sealed: the ledger secrets are never on
// disk (members restore them by recovery, and a recovering node checks every
// entry). In a node directory layout (<node>/ledger) the node's
// service_cert.pem is used unless given explicitly or --no-node-files is
// passed. Nothing is written.
//
// Exit status: 0 verified (warnings, such as a torn tail or unsigned entries
// after the last signature, are printed but do not fail), 1 the ledger is
// inconsistent (or could not be read), 2 usage error.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Command, CommanderError } from "commander";
import { auditLedger, type AuditReport } from "../src/history/audit.ts";
import { IDENTITY_FILES } from "../src/identity.ts";
import { LedgerCorruptionError } from "../src/ledger/reader.ts";

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

interface VerifyFlags {
  serviceCert?: string;
  json?: boolean;
  nodeFiles: boolean;
}

interface Inputs {
  dir: string;
  serviceCertFile: string | undefined;
  serviceCertPem: string | undefined;
}

function resolveInputs(ledgerDir: string, flags: VerifyFlags): Inputs {
  const dir = resolve(ledgerDir);
  if (!existsSync(dir)) throw new UsageError(`ledger directory ${ledgerDir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`${ledgerDir} is not a directory`);
  const nodeDir = dirname(dir);
  const fromNode = (name: string) => {
    const path = join(nodeDir, name);
    return flags.nodeFiles && existsSync(path) ? path : undefined;
  };
  const serviceCertFile = flags.serviceCert ?? fromNode(IDENTITY_FILES.serviceCert);
  let serviceCertPem: string | undefined;
  if (serviceCertFile !== undefined) {
    if (!existsSync(serviceCertFile)) throw new UsageError(`service certificate ${serviceCertFile} does not exist`);
    serviceCertPem = readFileSync(serviceCertFile, "utf8");
    if (!serviceCertPem.includes("-----BEGIN CERTIFICATE-----")) throw new UsageError(`${serviceCertFile} is not a PEM certificate`);
  }
  return { dir, serviceCertFile, serviceCertPem };
}

function summary(report: AuditReport, inputs: Inputs): string {
  const lines = [`ledger ${report.dir}: verified`];
  lines.push(`  chunk files: ${report.chunks.length}`);
  const width = Math.max(0, ...report.chunks.map((c) => c.name.length));
  for (const c of report.chunks) {
    lines.push(`    ${c.name.padEnd(width)}  seqnos ${c.firstSeqno}-${c.lastSeqno}  ${c.entries} entries  ${c.bytes} bytes${c.committed ? "  committed" : ""}`);
  }
  lines.push(`  transactions: ${report.transactions} (${report.signatures} signatures), last seqno ${report.lastSeqno}`);
  lines.push(`  last signed seqno: ${report.lastSignedSeqno}${report.lastSignedRoot ? ` (signed root ${report.lastSignedRoot})` : ""}`);
  const views = report.views.map((v) => `${v.view} (from seqno ${v.firstSeqno})`).join(", ");
  lines.push(`  views: ${views || "none"}`);
  lines.push(`  private entries: ${report.privateEntries}, sealed (the ledger secrets are never on disk: a recovery by the members checks them)`);
  lines.push(
    `  node endorsement: ${report.endorsementChecked ? `every signing node certified by ${inputs.serviceCertFile}` : "NOT checked (no service certificate)"}`,
  );
  if (report.warnings.length > 0) {
    lines.push("warnings:");
    for (const w of report.warnings) lines.push(`  - ${w}`);
  }
  return lines.join("\n");
}

function failureLine(error: unknown): string {
  if (error instanceof LedgerCorruptionError) {
    return `ledger verification FAILED: ${error.file} seqno ${error.seqno ?? "?"} (offset ${error.offset}): ${error.detail}`;
  }
  return `ledger verification FAILED: ${error instanceof Error ? error.message : String(error)}`;
}

function verify(ledgerDir: string, flags: VerifyFlags): number {
  const inputs = resolveInputs(ledgerDir, flags);
  let report: AuditReport;
  try {
    report = auditLedger(inputs.dir, {
      ...(inputs.serviceCertPem === undefined ? {} : { serviceCertPem: inputs.serviceCertPem }),
    });
  } catch (error) {
    process.stderr.write(failureLine(error) + "\n");
    if (flags.json) {
      const failure =
        error instanceof LedgerCorruptionError
          ? { file: error.file, seqno: error.seqno ?? null, offset: error.offset, detail: error.detail }
          : { detail: error instanceof Error ? error.message : String(error) };
      process.stdout.write(JSON.stringify({ ok: false, dir: inputs.dir, error: failure }, null, 2) + "\n");
    }
    return EXIT_FAILED;
  }
  if (flags.json) {
    const out = {
      ok: true,
      ...report,
      serviceCertFile: inputs.serviceCertFile ?? null,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } else {
    process.stdout.write(summary(report, inputs) + "\n");
  }
  return EXIT_OK;
}

function main(argv: string[]): number {
  let status = EXIT_OK;
  const program = new Command("confide-ledger")
    .description("Offline tools over a Confide (CCF-compatible) node's ledger files")
    .exitOverride()
    .showHelpAfterError();
  program
    .command("verify")
    .description("verify every ledger entry, Merkle root and signature")
    .argument("<ledger-dir>", "directory holding the ledger chunk files (ledger_<start>[-<end>[.committed]])")
    .option("--service-cert <pem>", "service certificate: every signing node must be endorsed by it (default: <ledger-dir>/../service_cert.pem if present)")
    .option("--no-node-files", "do not use service_cert.pem from the ledger dir's parent")
    .option("--json", "print the report as JSON")
    .action((ledgerDir: string, flags: VerifyFlags) => {
      status = verify(ledgerDir, flags);
    });
  try {
    program.parse(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every other commander error is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`confide-ledger: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(failureLine(error) + "\n");
    return EXIT_FAILED;
  }
  return status;
}

process.exitCode = main(process.argv);
