// The sandbox's workspace on disk, as CCF's sandbox.sh lays out its own
// (sandbox_common/ for identities, one directory per node):
//   keys/            every member's and user's certificate and keys (private ones mode 0600)
//   <service>/       its node 0: node.json (its config), service_cert.pem, its identity, ledger/, snapshots/, node.log
//   <service>/node<i>/  with --nodes N, each further node of the service, laid out the same way
//   sandbox.json     what scripts need: services, members, users and their file paths
//   sandbox.lock     the pid of the sandbox running on this workspace
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IDENTITY_FILES } from "@confide/node";
import type { Party } from "./demo.ts";

export const SANDBOX_JSON = "sandbox.json";
export const LOCK_FILE = "sandbox.lock";
export const KEYS_DIR = "keys";
/** What the sandbox creates in a workspace; --fresh removes exactly these. */
/** The demo identity provider's keys (sandbox/idp.ts). */
export const IDP_DIR = "idp";
const OWNED = [SANDBOX_JSON, KEYS_DIR, IDP_DIR, "reconciliation", "banking"];

export type ServiceName = "reconciliation" | "banking";
export const SERVICE_NAMES: readonly ServiceName[] = ["reconciliation", "banking"];

export interface ServiceEntry {
  name: ServiceName;
  /** The app it runs (CCF runs one app per service). */
  app: string;
  /** Node 0's URL (any node serves: a backup forwards writes to the primary). */
  url: string;
  serviceCertificate: string;
  /** Node 0's directory: identity, ledger/, snapshots/, node.log. */
  nodeDirectory: string;
  /** Every node of the service, each its own process (one unless --nodes). */
  nodes: NodeEntry[];
}

export interface NodeEntry {
  nodeId: string;
  url: string;
  /** host:port, as the node publishes it in public:ccf.gov.nodes.info. */
  rpcAddress: string;
  /** Its role when the sandbox became ready; GET /node/network/nodes/primary says who is primary now. */
  role: "primary" | "backup";
  /** Its directory: node.json (its config), identity, ledger/, snapshots/, node.log. */
  directory: string;
  /** The node's process, e.g. to kill the primary and watch the failover. */
  pid: number;
}

export interface MemberEntry {
  name: string;
  party: Party;
  id: string;
  certificate: string;
  signingKey: string;
  encryptionPublicKey: string;
  encryptionKey: string;
}

export interface UserEntry {
  name: string;
  party: Party;
  id: string;
  certificate: string;
  key: string;
}

/** workspace/sandbox.json. Paths are absolute, so a script may run from anywhere. */
export interface SandboxDescription {
  workspace: string;
  services: ServiceEntry[];
  members: MemberEntry[];
  users: UserEntry[];
  /** The web console, served over HTTPS with the node's certificate. */
  console?: { url: string };
  /** The demo identity provider the reconciliation service trusts (a JWT issuer). */
  identityProvider?: { issuer: string; jwksUrl: string; tokenUrl: string; caCertificate: string };
}

export function serviceDir(workspace: string, service: ServiceName): string {
  return join(workspace, service);
}

export function serviceCertFile(workspace: string, service: ServiceName): string {
  return join(serviceDir(workspace, service), IDENTITY_FILES.serviceCert);
}

export function writeDescription(workspace: string, description: SandboxDescription): string {
  const path = join(workspace, SANDBOX_JSON);
  writeFileSync(path, JSON.stringify(description, null, 2) + "\n");
  return path;
}

export function readDescription(workspace: string): SandboxDescription {
  return JSON.parse(readFileSync(join(workspace, SANDBOX_JSON), "utf8")) as SandboxDescription;
}

/** --fresh: removes what an earlier sandbox made, nothing else (workspace/ may also hold confide-node's node0/). */
export function clearWorkspace(workspace: string): void {
  for (const entry of OWNED) rmSync(join(workspace, entry), { recursive: true, force: true });
}

/** True when the workspace has a node that has run before (its ledger will be replayed). */
export function hasLedger(workspace: string, service: ServiceName): boolean {
  return existsSync(serviceCertFile(workspace, service));
}

// ---------------------------------------------------------------- lock

/** Another live sandbox holds the workspace: two nodes must never write one ledger. */
export class WorkspaceBusyError extends Error {
  override name = "WorkspaceBusyError";
}

/** Takes the workspace (writes our pid); a lock left by a process that is gone is taken over. */
export function lockWorkspace(workspace: string): () => void {
  const path = join(workspace, LOCK_FILE);
  try {
    writeFileSync(path, `${process.pid}\n`, { flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    const pid = Number(readFileSync(path, "utf8").trim());
    if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
      throw new WorkspaceBusyError(`workspace ${workspace} is in use by a sandbox running as pid ${pid}; stop it (Ctrl-C) or pass --workspace <another dir>`);
    }
    writeFileSync(path, `${process.pid}\n`);
  }
  return () => rmSync(path, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
