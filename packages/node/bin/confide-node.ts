// confide-node: runs a node. Until the HTTP frontend exists it is a bare node:
// it creates or replays its ledger, signs, and serves nothing over the network.
import { Command, InvalidArgumentError } from "commander";
import { join, resolve } from "node:path";
import { startNodeCore } from "../src/node.ts";
import { IDENTITY_FILES } from "../src/identity.ts";

function positiveInteger(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError("expected a positive integer");
  return value;
}

const program = new Command("confide-node").description("Run a Confide (CCF-compatible) node");

program
  .command("start")
  .description("start a node in <dir>, creating the service identity and ledger on first start")
  .requiredOption("--dir <dir>", "node directory (identity files, ledger/, snapshots/)")
  .option("--sig-tx-interval <n>", "sign the Merkle root every n transactions", positiveInteger)
  .option("--sig-ms-interval <ms>", "sign within ms milliseconds of a transaction", positiveInteger)
  .option("--ledger-chunk-bytes <bytes>", "start a new ledger chunk after this size", positiveInteger)
  .option("--snapshot-tx-interval <n>", "snapshot every n transactions", positiveInteger)
  .action(async (options: { dir: string; sigTxInterval?: number; sigMsInterval?: number; ledgerChunkBytes?: number; snapshotTxInterval?: number }) => {
    const dir = resolve(options.dir);
    const core = await startNodeCore({
      dir,
      ...(options.sigTxInterval ? { signatureIntervalTx: options.sigTxInterval } : {}),
      ...(options.sigMsInterval ? { signatureIntervalMs: options.sigMsInterval } : {}),
      ...(options.ledgerChunkBytes ? { chunkBytes: options.ledgerChunkBytes } : {}),
      ...(options.snapshotTxInterval ? { snapshotIntervalTx: options.snapshotTxInterval } : {}),
      log: (message) => console.warn(message),
    });
    const committed = core.history.lastCommitted;
    console.log(`node ${core.identity.nodeId} started (view ${core.history.view})`);
    console.log(`  service certificate: ${join(dir, IDENTITY_FILES.serviceCert)}`);
    const state = committed.seqno === 0 ? "empty" : `last committed ${committed.view}.${committed.seqno}`;
    console.log(`  ledger:              ${core.ledgerDir} (${state})`);
    console.log(`  audit it with:       npx confide-ledger verify ${core.ledgerDir}`);
    console.log("Ctrl-C stops the node cleanly.");
    const stop = async () => {
      await core.close();
      console.log("node stopped; ledger flushed and signed");
      process.exit(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // Nothing listens yet: keep the process alive until a signal stops it.
    setInterval(() => undefined, 1 << 30);
  });

await program.parseAsync();
