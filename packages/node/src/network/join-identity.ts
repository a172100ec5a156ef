// A joining node's first start (CCF's command.type "Join"): it makes its own key (kept, mode
// 0600, so a restart during the wait asks again as the same node), joins through a node of the
// service, and once members have trusted it writes what the service handed it in the layout
// identity.ts reads: the service identity, its endorsed certificate and the ledger secret.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createNodeCertificateRequest, createSelfSignedNodeCertificate, type SubjectAltName } from "../crypto/certs.ts";
import { generateP384KeyPair, writePrivateKeyFile, writePublicFile } from "../crypto/keys.ts";
import { IDENTITY_FILES } from "../identity.ts";
import type { NodeId } from "../consensus/messages.ts";
import { joinService } from "./joiner.ts";

export interface JoinTarget {
  /** "host:port" of a node of the service (CCF's join.target_rpc_address). */
  targetRpcAddress: string;
  /** The service certificate (CCF's command.service_certificate_file). */
  serviceCertPem: string;
  /** CCF's join.retry_timeout. */
  retryMs: number;
  /** CCF's join.fetch_recent_snapshot: once trusted, start from the target's latest committed snapshot (true unless false). */
  fetchRecentSnapshot?: boolean;
}

export interface JoinedService {
  /** The trusted nodes when this one was trusted (itself among them) and their node-to-node addresses. */
  nodes: Map<NodeId, string>;
}

/** Whether `dir` already holds a node identity (a joiner that joined, or any started node). */
export function hasIdentity(dir: string): boolean {
  return existsSync(join(dir, IDENTITY_FILES.serviceCert));
}

export async function joinAndWriteIdentity(
  dir: string,
  target: JoinTarget,
  self: { rpcAddress: string; nodeToNodeAddress: string; subjectAltNames?: SubjectAltName[]; log: (message: string) => void; signal?: AbortSignal },
): Promise<JoinedService> {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, IDENTITY_FILES.nodeKey);
  if (!existsSync(keyFile)) writePrivateKeyFile(keyFile, generateP384KeyPair().privateKeyPem);
  const nodePrivateKeyPem = readFileSync(keyFile, "utf8");
  const csrPem = await createNodeCertificateRequest({ nodePrivateKeyPem, ...(self.subjectAltNames ? { subjectAltNames: self.subjectAltNames } : {}) });
  const address = { bind_address: self.rpcAddress, published_address: self.rpcAddress };
  const { secrets } = await joinService({
    targetRpcAddress: target.targetRpcAddress,
    serviceCertPem: target.serviceCertPem,
    nodePrivateKeyPem,
    nodeCertPem: await createSelfSignedNodeCertificate(nodePrivateKeyPem),
    request: {
      node_info_network: {
        rpc_interfaces: { primary_rpc_interface: address },
        node_to_node_interface: { bind_address: self.nodeToNodeAddress, published_address: self.nodeToNodeAddress },
      },
      quote_info: { format: "Insecure_Virtual", quote: "", endorsements: "" },
      certificate_signing_request: csrPem,
    },
    retryMs: target.retryMs,
    log: self.log,
    ...(self.signal ? { signal: self.signal } : {}),
  });
  writePrivateKeyFile(join(dir, IDENTITY_FILES.serviceKey), secrets.service_private_key);
  writePrivateKeyFile(join(dir, IDENTITY_FILES.ledgerSecret), `${secrets.ledger_secret}\n`);
  writePublicFile(join(dir, IDENTITY_FILES.nodeCert), secrets.endorsed_certificate);
  const nodes = secrets.nodes ?? [];
  writePublicFile(join(dir, JOINED_FILE), `${JSON.stringify({ nodes })}\n`);
  // Last: its presence says the identity is complete (hasIdentity).
  writePublicFile(join(dir, IDENTITY_FILES.serviceCert), secrets.service_certificate);
  return { nodes: new Map(nodes.map((node) => [node.node_id, node.node_to_node_address])) };
}

/** What the join response said of the service's nodes, kept for a restart before the first entry arrives. */
const JOINED_FILE = "joined.json";

export function readJoinedService(dir: string): JoinedService {
  const { nodes } = JSON.parse(readFileSync(join(dir, JOINED_FILE), "utf8")) as { nodes: Array<{ node_id: string; node_to_node_address: string }> };
  return { nodes: new Map(nodes.map((node) => [node.node_id, node.node_to_node_address])) };
}
