// A joining node's first start (CCF's command.type "Join"): it makes its own key (kept, mode
// 0600, so a restart during the wait asks again as the same node), joins through a node of the
// service, and once members have trusted it writes what the service handed it in the layout
// identity.ts reads: the service identity and its endorsed certificate. The ledger secrets it
// was handed stay in memory (no file holds them), so a joined node cannot restart: as in CCF, a
// new node joins in its place.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createNodeCertificateRequest, createSelfSignedNodeCertificate, type SubjectAltName } from "../crypto/certs.ts";
import { generateP384KeyPair, writePrivateKeyFile, writePublicFile } from "../crypto/keys.ts";
import { IDENTITY_FILES } from "../identity.ts";
import type { NodeId } from "../consensus/messages.ts";
import { joinService } from "./joiner.ts";
import type { NetworkSecrets } from "./join.ts";
import { LedgerSecret } from "../crypto/ledger-secret.ts";
import { LedgerSecrets } from "../crypto/ledger-secrets.ts";

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
  secrets: LedgerSecrets;
  /** The service's earlier identities, whose nodes signed its older entries. */
  previousServiceIdentities: string[];
}

/** Whether `dir` already holds a node identity (a joiner that joined, or any started node). */
export function hasIdentity(dir: string): boolean {
  return existsSync(join(dir, IDENTITY_FILES.serviceCert));
}

export async function joinAndWriteIdentity(
  dir: string,
  target: JoinTarget,
  self: { rpcAddress: string; nodeToNodeAddress: string; encryptionPublicKeyPem: string; subjectAltNames?: SubjectAltName[]; log: (message: string) => void; signal?: AbortSignal },
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
      public_encryption_key: self.encryptionPublicKeyPem,
      certificate_signing_request: csrPem,
    },
    retryMs: target.retryMs,
    log: self.log,
    ...(self.signal ? { signal: self.signal } : {}),
  });
  const ledgerSecrets = readLedgerSecrets(secrets.ledger_secrets);
  writePrivateKeyFile(join(dir, IDENTITY_FILES.serviceKey), secrets.service_private_key);
  writePublicFile(join(dir, IDENTITY_FILES.nodeCert), secrets.endorsed_certificate);
  // Last: its presence says the identity is complete (hasIdentity).
  writePublicFile(join(dir, IDENTITY_FILES.serviceCert), secrets.service_certificate);
  const nodes = secrets.nodes ?? [];
  return {
    nodes: new Map(nodes.map((node) => [node.node_id, node.node_to_node_address])),
    secrets: ledgerSecrets,
    previousServiceIdentities: secrets.previous_service_identities ?? [],
  };
}

/** network_info.ledger_secrets: version → base64 secret. */
function readLedgerSecrets(listed: NetworkSecrets["ledger_secrets"] | undefined): LedgerSecrets {
  if (typeof listed !== "object" || listed === null) throw new Error("the join response holds no ledger_secrets");
  const versions = Object.entries(listed)
    .map(([version, { secret }]) => ({ version: Number(version), secret: new LedgerSecret(Buffer.from(secret, "base64")) }))
    .sort((a, b) => a.version - b.version);
  return new LedgerSecrets(versions);
}

/** The service's secrets a node hands a trusted joiner (network_info), from what it holds. */
export function ledgerSecretsForJoiner(secrets: LedgerSecrets): NetworkSecrets["ledger_secrets"] {
  return Object.fromEntries(secrets.all().map(({ version, secret }) => [String(version), { secret: secret.key.toString("base64") }]));
}
