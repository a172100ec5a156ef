// What consensus reads of the service's node table (public:ccf.gov.nodes.info): the trusted
// node set, which is the configuration (CCF: the nodes with status Trusted), and where each node
// listens for node-to-node channels. Governance writes that table; consensus only follows it.
import type { Store } from "../kv/store.ts";
import type { WriteSet } from "../kv/write-set.ts";
import { Tables } from "../tables.ts";
import type { NodeId } from "./messages.ts";

interface NodeRecord {
  status?: string;
  rpc_interfaces?: Record<string, { bind_address?: string; published_address?: string }>;
  node_to_node_interface?: { bind_address?: string; published_address?: string } | null;
}

function forEachNode(store: Store, visit: (id: NodeId, record: NodeRecord) => void): void {
  store.beginReadOnly().map(Tables.nodesInfo).forEach((value, key) => visit(key.toString("utf8"), JSON.parse(value.toString("utf8")) as NodeRecord));
}

/** The trusted node ids, sorted (so equal sets compare equal). */
export function trustedNodes(store: Store): NodeId[] {
  const ids: NodeId[] = [];
  forEachNode(store, (id, record) => {
    if (record.status === "Trusted") ids.push(id);
  });
  return ids.sort();
}

/** Each node's node-to-node address (published, else bound), for those that gave one. */
export function nodeToNodeAddresses(store: Store): Map<NodeId, string> {
  const addresses = new Map<NodeId, string>();
  forEachNode(store, (id, record) => {
    const n2n = record.node_to_node_interface;
    const address = n2n?.published_address ?? n2n?.bind_address;
    if (address !== undefined) addresses.set(id, address);
  });
  return addresses;
}

/** Where clients (and forwarding backups) reach a node: its first RPC interface's published address. */
export function rpcAddressOf(store: Store, id: NodeId): string | undefined {
  let address: string | undefined;
  forEachNode(store, (nodeId, record) => {
    if (nodeId !== id) return;
    const first = Object.values(record.rpc_interfaces ?? {})[0];
    address = first?.published_address ?? first?.bind_address;
  });
  return address;
}

/** Whether a transaction's writes touch the node table (and so may change the configuration). */
export function writesNodes(writes: WriteSet): boolean {
  return writes.has(Tables.nodesInfo);
}

export function sameNodes(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}
