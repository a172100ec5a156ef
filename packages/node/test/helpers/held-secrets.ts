// No file holds a node's ledger secrets: a real node that stops is recovered by
// its members (recovery.test.ts). Tests that stop and reopen a node directory
// within one process keep the secrets it held, as the node's memory would have.
import { LedgerSecrets } from "../../src/crypto/ledger-secrets.ts";
import { startNodeCore, type NodeCore, type NodeOptions } from "../../src/node.ts";

const held = new Map<string, LedgerSecrets>();

/** startNodeCore, handed the ledger secrets of the last node this process ran on the same ledger directory. */
export async function startNodeCoreKeepingSecrets(options: NodeOptions, hooks?: Parameters<typeof startNodeCore>[1]): Promise<NodeCore> {
  const ledgerDir = options.ledgerDir ?? `${options.dir}/ledger`;
  const secrets = held.get(ledgerDir);
  const core = await startNodeCore({ ...(secrets ? { ledgerSecrets: secrets } : {}), ...options }, hooks);
  held.set(ledgerDir, core.history.ledgerSecrets);
  return core;
}

/** The ledger secrets held for a directory (e.g. to hand to a copy of it). */
export function heldSecrets(dir: string): LedgerSecrets | undefined {
  return held.get(`${dir}/ledger`);
}

/** A copy of a node directory made by a test has the same ledger: its secrets too. */
export function holdSecretsFor(copyDir: string, of: string): void {
  const secrets = heldSecrets(of);
  if (secrets) held.set(`${copyDir}/ledger`, secrets);
}
