// The nodes of one sandbox service, each its own `confide-node` process with its own directory,
// ledger and ports, configured as CCF's cchost is (docs/configuration.md): the first node starts
// the service (command.type "Start", the consortium as its members), or recovers it from its
// ledger (command.type "Recover", docs/recovery.md); with --nodes N the others
// join it (command.type "Join") and the members let them in by proposal
// (transition_node_to_trusted, as `confide node trust` does).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { IDENTITY_FILES } from "@confide/node";
import { ConfideClient } from "../client.ts";
import { Member } from "../governance.ts";
import { listNodes, trustNodes } from "../nodes.ts";
import { VOTERS_PER_PROPOSAL } from "./demo.ts";
import type { Consortium } from "./identities.ts";
import { freePort, NODE_START_TIMEOUT_MS, NodeProcess } from "./node-process.ts";
import { serviceDir, type ServiceName } from "./workspace.ts";

/**
 * The sandbox's consensus timeouts (those of the multi-node tests and bench/network.ts's sandbox
 * case): a failover within a second or two. CCF's defaults (consensus.message_timeout 100ms,
 * election_timeout 5000ms) suit real networks; on a heavily loaded machine these short ones may
 * let a backup call an election while the primary is merely slow.
 */
export const SANDBOX_CONSENSUS = { messageTimeout: "50ms", electionTimeout: "1000ms" } as const;
/** Signature every 100 ms instead of CCF's 1 s (ledger_signatures.delay), so set-up and demo writes commit without a visible wait. */
export const SANDBOX_SIGNATURE_DELAY = "100ms";
/** A joiner asks its target again this often until the members trust it (CCF's default is 1 s). */
const JOIN_RETRY = "100ms";
/** Node directories of a service: node 0 is the service's directory itself (as before multi-node), node i its node<i>/. */
const NODE_SUBDIR = /^node([1-9]\d*)$/;

export interface ServiceNode {
  index: number;
  /** "banking node 1" */
  name: string;
  dir: string;
  process: NodeProcess;
  url: string;
  /** host:port, as the node publishes it. */
  rpcAddress: string;
  nodeId: string;
  /** The service certificate from the node's service_cert.pem. */
  serviceCertPem: string;
}

export interface NodeHooks {
  /** Every node process as soon as it is spawned, so a failed start can still stop it. */
  spawned: (node: NodeProcess) => void;
  show: (line: string) => void;
  onCrash: (why: string) => void;
  signal?: AbortSignal;
}

export function nodeDir(workspace: string, service: ServiceName, index: number): string {
  return index === 0 ? serviceDir(workspace, service) : join(serviceDir(workspace, service), `node${index}`);
}

/** How many nodes of `service` have run in this workspace (each has an identity on disk). */
export function nodesOnDisk(workspace: string, service: ServiceName): number {
  const dir = serviceDir(workspace, service);
  if (!existsSync(join(dir, IDENTITY_FILES.serviceCert))) return 0;
  return 1 + readdirSync(dir).filter((entry) => NODE_SUBDIR.test(entry) && existsSync(join(dir, entry, IDENTITY_FILES.serviceCert))).length;
}

interface FirstNode {
  service: ServiceName;
  workspace: string;
  port: number;
  /** Whether other nodes will join: the first node then listens for node-to-node channels and runs consensus. */
  multiNode: boolean;
  consortium: Consortium;
  /** Disaster recovery: node 0's ledger is of the lost service, whose members and constitution it holds. */
  recover: boolean;
  /** The new service's constitution (absent: the node's default). */
  constitution?: string;
}

/** Starts node 0: a new service from the consortium, or one recovered from node 0's ledger. */
export async function startFirstNode(first: FirstNode, hooks: NodeHooks): Promise<ServiceNode> {
  const dir = nodeDir(first.workspace, first.service, 0);
  const n2n = first.multiNode ? "127.0.0.1:0" : undefined;
  if (first.recover) return launch(first.service, 0, dir, `127.0.0.1:${first.port}`, n2n, { type: "Recover", recover: {} }, hooks);
  const startDir = join(dir, "start");
  mkdirSync(startDir, { recursive: true });
  const members = first.consortium.members.map((m) => {
    const data = join(startDir, `${m.name}_data.json`);
    writeFileSync(data, JSON.stringify({ party: m.party }) + "\n");
    return { certificate_file: m.files.cert, encryption_public_key_file: m.files.encryptionPublicKey, data_json_file: data };
  });
  const start: Record<string, unknown> = { members };
  if (first.constitution !== undefined) {
    const file = join(startDir, "constitution.js");
    writeFileSync(file, first.constitution);
    start["constitution_files"] = [file];
  }
  return launch(first.service, 0, dir, `127.0.0.1:${first.port}`, n2n, { type: "Start", start }, hooks);
}

/** Nodes on their way in: started, joining, not yet trusted. */
export interface Joining {
  count: number;
  /** Resolves once every one serves (after the members trust them). */
  nodes: Promise<ServiceNode[]>;
}

export interface Joined {
  nodes: ServiceNode[];
  /** The transition_node_to_trusted proposal that let them in. */
  proposalId: string;
  /** The latest transaction of the trust proposal: once Committed everywhere, every node knows them all. */
  lastTxId: string | undefined;
}

/**
 * Starts `count` more nodes that join through `first` (they wait, Pending, until trusted); resolves
 * once each serves. Started early, their start-up overlaps the service's set-up.
 */
export async function startJoiners(service: ServiceName, workspace: string, first: ServiceNode, count: number, hooks: NodeHooks): Promise<Joining> {
  const command = {
    type: "Join",
    service_certificate_file: join(first.dir, IDENTITY_FILES.serviceCert),
    join: { target_rpc_address: first.rpcAddress, retry_timeout: JOIN_RETRY },
  };
  // A joiner names its addresses in its join request, so its ports are chosen before it starts.
  const joining: Promise<ServiceNode>[] = [];
  for (let index = 1; index <= count; index++) {
    const [rpcPort, n2nPort] = [await freePort(), await freePort()];
    joining.push(launch(service, index, nodeDir(workspace, service, index), `127.0.0.1:${rpcPort}`, `127.0.0.1:${n2nPort}`, command, hooks));
  }
  const nodes = Promise.all(joining);
  // Awaited by trustJoiners; a failure before then must not go unhandled.
  nodes.catch(() => undefined);
  return { count, nodes };
}

/** Once `count` joiners are Pending on `first`, two members trust them in one proposal (transition_node_to_trusted); resolves once they serve. */
export async function trustJoiners(first: ServiceNode, joining: Joining, consortium: Consortium, signal?: AbortSignal): Promise<Joined> {
  const { count, nodes } = joining;
  if (count === 0) return { nodes: [], proposalId: "", lastTxId: undefined };
  const client = new ConfideClient({ url: first.url, serviceCertPem: first.serviceCertPem });
  try {
    const voters = consortium.members.slice(0, VOTERS_PER_PROPOSAL).map((m) => new Member(client, m.identity));
    const pending = await waitForPending(client, count, nodes, signal);
    const proposal = await trustNodes(pending, voters);
    return { nodes: await nodes, proposalId: proposal.proposalId, lastTxId: client.lastTxId };
  } finally {
    client.close();
  }
}

/** The ids of the nodes that have joined and wait (Pending), once there are `count`; fails if a joiner fails first. */
async function waitForPending(client: ConfideClient, count: number, joiners: Promise<unknown>, signal?: AbortSignal): Promise<string[]> {
  let failure: unknown;
  joiners.catch((error: unknown) => (failure = error));
  const deadline = Date.now() + NODE_START_TIMEOUT_MS;
  for (;;) {
    if (failure !== undefined) throw failure;
    signal?.throwIfAborted();
    const pending = (await listNodes(client)).filter((node) => node.status === "Pending").map((node) => node.nodeId);
    if (pending.length >= count) return pending;
    if (Date.now() > deadline) throw new Error(`only ${pending.length} of ${count} joining nodes are Pending after ${NODE_START_TIMEOUT_MS} ms`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

/** Each node's role now, as the given node sees the service (GET /node/network/nodes). */
export async function roles(node: ServiceNode): Promise<Map<string, "primary" | "backup">> {
  const client = new ConfideClient({ url: node.url, serviceCertPem: node.serviceCertPem });
  try {
    return new Map((await listNodes(client)).map((n) => [n.nodeId, n.primary ? "primary" : "backup"]));
  } finally {
    client.close();
  }
}

async function launch(service: ServiceName, index: number, dir: string, rpcAddress: string, nodeToNode: string | undefined, command: unknown, hooks: NodeHooks): Promise<ServiceNode> {
  mkdirSync(dir, { recursive: true });
  const config = join(dir, "node.json");
  writeFileSync(
    config,
    JSON.stringify(
      {
        network: {
          rpc_interfaces: { primary_rpc_interface: { bind_address: rpcAddress } },
          ...(nodeToNode === undefined ? {} : { node_to_node_interface: { bind_address: nodeToNode } }),
        },
        ...(nodeToNode === undefined ? {} : { consensus: { message_timeout: SANDBOX_CONSENSUS.messageTimeout, election_timeout: SANDBOX_CONSENSUS.electionTimeout } }),
        workspace: ".",
        ledger_signatures: { delay: SANDBOX_SIGNATURE_DELAY },
        logging: { host_level: "Info" },
        command,
      },
      null,
      2,
    ) + "\n",
  );
  const name = `${service} node ${index}`;
  const process = new NodeProcess({ name, config, dir, show: (line) => hooks.show(`[${service}${index === 0 ? "" : ` ${index}`}] ${line}`), onCrash: hooks.onCrash });
  hooks.spawned(process);
  const { url, nodeId } = await process.ready(hooks.signal);
  return { index, name, dir, process, url, rpcAddress: new URL(url).host, nodeId, serviceCertPem: readFileSync(join(dir, IDENTITY_FILES.serviceCert), "utf8") };
}
