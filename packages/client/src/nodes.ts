// The nodes of a service, from an operator's side: who they are (GET /node/network/nodes, answered
// by any node from its copy of public:ccf.gov.nodes.info and its view of consensus), and the
// members' proposals that let a joined node in (transition_node_to_trusted) or retire one
// (remove_node). The checks before proposing give an operator a clear error for a node id that
// does not exist or is in the wrong state, where the constitution would quietly do nothing.
import { COMMIT_TIMEOUT_MS, type ConfideClient } from "./client.ts";
import { proposeAndAccept, type AcceptOptions, type Member, type Proposal } from "./governance.ts";

export type NodeStatus = "Pending" | "Trusted" | "Retired";

export interface NodeInfo {
  nodeId: string;
  status: NodeStatus;
  /** Whether the node that answered sees this node as primary now. */
  primary: boolean;
  /** The node's published RPC address (host:port), as it named it when it joined. */
  rpcAddress: string | undefined;
}

/** A node operation refused before proposing: the node is unknown or not in a state the operation applies to. */
export class NodeStateError extends Error {
  override name = "NodeStateError";
}

interface WireNode {
  node_id: string;
  status: NodeStatus;
  primary: boolean;
  rpc_interfaces?: Record<string, { published_address?: string; bind_address?: string }>;
}

export async function listNodes(client: ConfideClient): Promise<NodeInfo[]> {
  const { nodes } = (await client.call("GET", "/node/network/nodes")).json as { nodes: WireNode[] };
  return nodes.map((node) => {
    const rpc = node.rpc_interfaces?.["primary_rpc_interface"] ?? Object.values(node.rpc_interfaces ?? {})[0];
    return { nodeId: node.node_id, status: node.status, primary: node.primary, rpcAddress: rpc?.published_address ?? rpc?.bind_address };
  });
}

/** CCF's ASN.1 time (YYYYMMDDHHMMSSZ), the form transition_node_to_trusted's valid_from takes. */
export function asn1Time(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace(/[-T:]/g, "")}Z`;
}

function nodeNamed(nodes: readonly NodeInfo[], nodeId: string): NodeInfo {
  const node = nodes.find((n) => n.nodeId === nodeId);
  if (node === undefined) throw new NodeStateError(`no node ${nodeId} in this service (known: ${nodes.map((n) => `${n.nodeId.slice(0, 12)}… ${n.status}`).join(", ")})`);
  return node;
}

/**
 * transition_node_to_trusted for each node in `nodeIds` (all of them Pending) in one proposal,
 * proposed by the first voter and voted for by each in turn; its node certificate is valid from now.
 */
export async function trustNodes(nodeIds: readonly string[], voters: readonly Member[], options: AcceptOptions = {}): Promise<Proposal> {
  const client = clientOf(voters);
  if (nodeIds.length === 0) throw new NodeStateError("no node to trust");
  const nodes = await listNodes(client);
  for (const nodeId of nodeIds) {
    const node = nodeNamed(nodes, nodeId);
    if (node.status !== "Pending") throw new NodeStateError(`node ${nodeId} is ${node.status}, not Pending: only a node that has joined and waits can be trusted`);
  }
  const validFrom = asn1Time(new Date());
  return proposeAndAccept(
    nodeIds.map((node_id) => ({ name: "transition_node_to_trusted", args: { node_id, valid_from: validFrom } })),
    voters,
    options,
  );
}

/** The Pending nodes: those that have joined and wait for the members. */
export async function pendingNodes(client: ConfideClient): Promise<NodeInfo[]> {
  return (await listNodes(client)).filter((node) => node.status === "Pending");
}

/** How often to look again for a retirement to reach the node that answers. */
const POLL_MS = 100;

/**
 * remove_node: a Trusted node is Retired (it stays on record), a Pending one is forgotten, as in
 * CCF. Returns the proposal and the node's status once the node that answers shows the change
 * (a backup forwards the ballot to the primary and learns the outcome by replication).
 */
export async function retireNode(nodeId: string, voters: readonly Member[], options: AcceptOptions = {}): Promise<{ proposal: Proposal; status: "Retired" | "removed" }> {
  const client = clientOf(voters);
  const node = nodeNamed(await listNodes(client), nodeId);
  if (node.status === "Retired") throw new NodeStateError(`node ${nodeId} is already Retired`);
  const proposal = await proposeAndAccept([{ name: "remove_node", args: { node_id: nodeId } }], voters, options);
  const deadline = Date.now() + COMMIT_TIMEOUT_MS;
  for (;;) {
    const status = (await listNodes(client)).find((n) => n.nodeId === nodeId)?.status ?? "removed";
    if (status === "Retired" || status === "removed") return { proposal, status };
    if (Date.now() > deadline) throw new Error(`proposal ${proposal.proposalId} was Accepted, but ${client.url} still shows node ${nodeId} ${status} after ${COMMIT_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function clientOf(voters: readonly Member[]): ConfideClient {
  const client = voters[0]?.client;
  if (client === undefined) throw new Error("a node proposal needs at least one voter");
  return client;
}
