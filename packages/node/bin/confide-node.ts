// confide-node: runs a serving node, from a CCF-style JSON config
// (`start --config node.json`, see docs/configuration.md) or with defaults in
// a directory (`start --dir workspace/node0`). Ctrl-C or SIGTERM stops it
// cleanly: the HTTPS server closes, the ledger is signed and flushed, the log
// is written out, and the process exits 0. A bad config exits 2.
import { Command, InvalidArgumentError } from "commander";
import { isIPv6 } from "node:net";
import { join, resolve } from "node:path";
import { ConfigError, parseConfig, parseConfigFile, readConfigFiles, type NodeConfig, type ParsedConfig } from "../src/config.ts";
import { IDENTITY_FILES } from "../src/identity.ts";
import { createLogger } from "../src/logger.ts";
import { startNode, type ServingNode } from "../src/node.ts";

/** Exit code for a configuration the node cannot start with. */
const EXIT_CONFIG = 2;

interface StartFlags {
  config?: string;
  dir?: string;
  port?: number;
  jsAppBundle?: string;
  sigTxInterval?: number;
  sigMsInterval?: number;
  ledgerChunkBytes?: number;
  snapshotTxInterval?: number;
}

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError("expected a positive integer");
  return value;
}

function portNumber(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError("expected a port number (0-65535; 0 picks a free port)");
  return value;
}

/** The flags of `--dir` mode as the config they stand for, so both modes share one parser and its defaults. */
function configFromFlags(flags: StartFlags & { dir: string }): ParsedConfig {
  const json = {
    workspace: flags.dir,
    ...(flags.ledgerChunkBytes !== undefined ? { ledger: { chunk_size: flags.ledgerChunkBytes } } : {}),
    ...(flags.snapshotTxInterval !== undefined ? { snapshots: { tx_count: flags.snapshotTxInterval } } : {}),
    ledger_signatures: {
      ...(flags.sigTxInterval !== undefined ? { tx_count: flags.sigTxInterval } : {}),
      ...(flags.sigMsInterval !== undefined ? { delay: flags.sigMsInterval } : {}),
    },
  };
  return parseConfig(json, process.cwd());
}

function buildConfig(flags: StartFlags): NodeConfig {
  if ((flags.config === undefined) === (flags.dir === undefined)) throw new ConfigError("", "give exactly one of --config <file> and --dir <dir>");
  const tuning = [flags.sigTxInterval, flags.sigMsInterval, flags.ledgerChunkBytes, flags.snapshotTxInterval];
  if (flags.config !== undefined && tuning.some((flag) => flag !== undefined)) {
    throw new ConfigError("", "--sig-tx-interval, --sig-ms-interval, --ledger-chunk-bytes and --snapshot-tx-interval go with --dir; with --config set them in the file");
  }
  const parsed = flags.config !== undefined ? parseConfigFile(flags.config) : configFromFlags({ ...flags, dir: flags.dir! });
  if (flags.port !== undefined) parsed.node.port = flags.port;
  if (flags.jsAppBundle !== undefined) parsed.files.jsAppBundle = resolve(flags.jsAppBundle);
  return readConfigFiles(parsed);
}

/** The URL a client on this machine uses: a wildcard bind address is reached through loopback. */
function clientUrl(host: string | undefined, port: number): string {
  const reachable = host === undefined || host === "0.0.0.0" ? "127.0.0.1" : host === "::" ? "::1" : host;
  return `https://${isIPv6(reachable) ? `[${reachable}]` : reachable}:${port}`;
}

function printStarted(node: ServingNode, config: NodeConfig): void {
  const url = clientUrl(config.node.host, node.server.port);
  const serviceCert = join(config.node.dir, IDENTITY_FILES.serviceCert);
  const committed = node.core.history.lastCommitted;
  console.log(`Node [0] = ${url}`);
  console.log(`  node id:             ${node.core.identity.nodeId}`);
  console.log(`  service certificate: ${serviceCert}`);
  console.log(`  ledger:              ${node.core.ledgerDir} (committed ${committed.view}.${committed.seqno})`);
  console.log(`  try:                 curl --cacert ${serviceCert} ${url}/node/state`);
  console.log("Ctrl-C stops the node cleanly.");
}

async function start(flags: StartFlags): Promise<void> {
  let config: NodeConfig;
  try {
    config = buildConfig(flags);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`confide-node: ${error.message}`);
    process.exit(EXIT_CONFIG);
  }
  const log = createLogger({ level: config.logLevel });
  let node: ServingNode;
  try {
    node = await startNode({ ...config.node, log });
  } catch (error) {
    log.error(`Cannot start the node: ${(error as Error).message}`);
    await log.close();
    process.exit(1);
  }
  printStarted(node, config);
  const stop = async (signal: string) => {
    log.info(`${signal}: stopping the node`);
    let code = 0;
    try {
      await node.close();
      log.info("Node stopped: ledger signed and flushed");
    } catch (error) {
      log.error(`Cannot stop the node cleanly: ${(error as Error).message}`);
      code = 1;
    }
    await log.close();
    process.exit(code);
  };
  // A second Ctrl-C while stopping takes Node's default action and ends the process at once.
  process.once("SIGINT", () => void stop("SIGINT"));
  process.once("SIGTERM", () => void stop("SIGTERM"));
}

const program = new Command("confide-node").description("Run a Confide (CCF-compatible) node");

program
  .command("start")
  .description("start a serving node; a new workspace gets a new service identity and ledger, an existing one is replayed")
  .option("--config <file>", "JSON node configuration (docs/configuration.md)")
  .option("--dir <dir>", "start with defaults in this workspace directory instead of a config")
  .option("--port <port>", "listen on this port (0 picks a free one); overrides the config", portNumber)
  .option("--js-app-bundle <path>", "dev: deploy this bundle (JSON file or app directory) and open the service")
  .option("--sig-tx-interval <n>", "with --dir: sign the Merkle root every n transactions", positiveInteger)
  .option("--sig-ms-interval <ms>", "with --dir: sign within ms milliseconds of a transaction", positiveInteger)
  .option("--ledger-chunk-bytes <bytes>", "with --dir: start a new ledger chunk after this size", positiveInteger)
  .option("--snapshot-tx-interval <n>", "with --dir: snapshot every n transactions", positiveInteger)
  .action(start);

await program.parseAsync();
