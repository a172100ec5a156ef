// The first transaction of a new service, as CCF's genesis writes it: the
// service identity and status, this node (trusted), the initial members (and,
// until governance can add them, users), and the service configuration. Every
// later change to these tables is a transaction too.
import { certId } from "./crypto/keys.ts";
import type { Tx } from "./kv/tx.ts";
import { RECENT_COSE_PROPOSALS_WINDOW } from "./limits.ts";
import { SENTINEL_KEY, Tables, idKey } from "./tables.ts";

export interface InitialMember {
  certPem: string;
  /** RSA public key (PEM) for recovery shares; members without one are not recovery members. */
  encryptionPublicKeyPem?: string;
  data?: unknown;
}

export interface InitialUser {
  certPem: string;
  data?: unknown;
}

export interface GenesisOptions {
  serviceCertPem: string;
  nodeId: string;
  nodeCertPem: string;
  rpcAddress: string;
  /** Where the node takes node-to-node channels (a node of a multi-node service). */
  nodeToNodeAddress?: string;
  members: InitialMember[];
  users: InitialUser[];
  serviceData?: unknown;
  recoveryThreshold?: number;
  /** The constitution's JS source (CCF's constitution_files, concatenated). */
  constitution: string;
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

export function writeGenesis(tx: Tx, options: GenesisOptions): void {
  tx.map(Tables.serviceInfo).set(SENTINEL_KEY, json({ cert: options.serviceCertPem, status: "Opening", recovery_count: 0, service_data: options.serviceData ?? null }));
  tx.map(Tables.serviceConfig).set(
    SENTINEL_KEY,
    json({ recovery_threshold: options.recoveryThreshold ?? 1, consensus: "CFT", maximum_node_certificate_validity_days: 365, recent_cose_proposals_window_size: RECENT_COSE_PROPOSALS_WINDOW }),
  );
  writeNodeInfo(tx, options);
  for (const member of options.members) {
    const id = idKey(certId(member.certPem));
    tx.map(Tables.membersCerts).set(id, Buffer.from(member.certPem));
    const info: Record<string, unknown> = { status: "Accepted", member_data: member.data ?? null };
    if (member.encryptionPublicKeyPem !== undefined) {
      tx.map(Tables.membersEncryptionKeys).set(id, Buffer.from(member.encryptionPublicKeyPem));
      info.recovery_role = "Participant";
    }
    tx.map(Tables.membersInfo).set(id, json(info));
    // As CCF's genesis: an ack record of the all-zero digest (no signature yet), which the classic
    // POST /gov/ack/update_state_digest requires before it refreshes the digest.
    tx.map(Tables.membersAcks).set(id, json({ state_digest: "0".repeat(64) }));
  }
  for (const user of options.users) addUser(tx, user);
  // Stored as a JSON string, as CCF's set_constitution stores it.
  tx.map(Tables.constitution).set(SENTINEL_KEY, json(options.constitution));
}

/** A service's own node, Trusted, with its endorsed certificate and addresses (genesis, and a recovered service's start). */
export function writeNodeInfo(tx: Tx, node: Pick<GenesisOptions, "nodeId" | "nodeCertPem" | "rpcAddress" | "nodeToNodeAddress">): void {
  tx.map(Tables.nodesInfo).set(
    idKey(node.nodeId),
    json({
      status: "Trusted",
      cert: node.nodeCertPem,
      quote_info: { format: "Insecure_Virtual", quote: "", endorsements: "" },
      encryption_pub_key: "",
      rpc_interfaces: { primary_rpc_interface: { bind_address: node.rpcAddress, published_address: node.rpcAddress } },
      ...(node.nodeToNodeAddress === undefined ? {} : { node_to_node_interface: { bind_address: node.nodeToNodeAddress, published_address: node.nodeToNodeAddress } }),
      node_data: null,
      ledger_secret_seqno: 0,
    }),
  );
  tx.map(Tables.nodesEndorsedCerts).set(idKey(node.nodeId), Buffer.from(node.nodeCertPem));
}

export function addUser(tx: Tx, user: InitialUser): string {
  const id = certId(user.certPem);
  tx.map(Tables.usersCerts).set(idKey(id), Buffer.from(user.certPem));
  tx.map(Tables.usersInfo).set(idKey(id), json(user.data === undefined ? {} : { user_data: user.data }));
  return id;
}

/** Dev shortcut until governance opens the service by proposal: mark it Open. */
export function openService(tx: Tx): void {
  const map = tx.map(Tables.serviceInfo);
  const info = JSON.parse(map.get(SENTINEL_KEY)!.toString("utf8")) as Record<string, unknown>;
  map.set(SENTINEL_KEY, json({ ...info, status: "Open" }));
}
