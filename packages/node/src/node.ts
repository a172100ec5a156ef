// Wires a node's core: its identity and secrets, and the history (store,
// ledger, Merkle tree, signatures) replayed from its ledger directory.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { SubjectAltName } from "./crypto/certs.ts";
import { History, type HistoryOptions } from "./history/history.ts";
import { loadOrCreateIdentity, type NodeIdentity } from "./identity.ts";

export interface NodeOptions {
  /** Directory holding the node's identity files and its ledger/ subdirectory. */
  dir: string;
  subjectAltNames?: SubjectAltName[];
  signatureIntervalTx?: number;
  signatureIntervalMs?: number;
  chunkBytes?: number;
  merkleLeavesInMemory?: number;
  snapshotIntervalTx?: number;
  log?: (message: string) => void;
}

export interface NodeCore {
  identity: NodeIdentity;
  history: History;
  ledgerDir: string;
  close(): Promise<void>;
}

export async function startNodeCore(options: NodeOptions): Promise<NodeCore> {
  mkdirSync(options.dir, { recursive: true });
  const identity = await loadOrCreateIdentity(options.dir, options.subjectAltNames);
  const ledgerDir = join(options.dir, "ledger");
  const historyOptions: HistoryOptions = {
    ledgerDir,
    secret: identity.ledgerSecret,
    serviceCertPem: identity.serviceCertPem,
    snapshotsDir: join(options.dir, "snapshots"),
    viewFile: join(options.dir, "view"),
    signer: { nodeId: identity.nodeId, certPem: identity.nodeCertPem, privateKeyPem: identity.nodePrivateKeyPem },
  };
  for (const key of ["signatureIntervalTx", "signatureIntervalMs", "chunkBytes", "merkleLeavesInMemory", "snapshotIntervalTx", "log"] as const) {
    if (options[key] !== undefined) Object.assign(historyOptions, { [key]: options[key] });
  }
  const history = await History.open(historyOptions);
  return { identity, history, ledgerDir, close: () => history.close() };
}
