// A node's identity on disk, created on first start and reused after:
//   service_cert.pem / service_privk.pem   the service identity (self-signed, P-384)
//   node_cert.pem / node_privk.pem         this node's key and its certificate endorsed by the service
// Private keys are written with mode 0600. Beside them the node keeps ledger/,
// snapshots/ and view (see node.ts). The ledger secrets are never written to
// disk: they live in the node's memory and, for disaster recovery, in the
// ledger itself, wrapped under the members' recovery shares (recovery/).
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { createNodeCertificate, createServiceIdentity, type SubjectAltName } from "./crypto/certs.ts";
import { generateP384KeyPair, nodeIdOf, publicKeyPemOf, writePrivateKeyFile, writePublicFile } from "./crypto/keys.ts";

export interface NodeIdentity {
  serviceCertPem: string;
  servicePrivateKeyPem: string;
  nodeId: string;
  nodeCertPem: string;
  nodePrivateKeyPem: string;
}

export const IDENTITY_FILES = {
  serviceCert: "service_cert.pem",
  serviceKey: "service_privk.pem",
  nodeCert: "node_cert.pem",
  nodeKey: "node_privk.pem",
} as const;

export async function loadOrCreateIdentity(dir: string, subjectAltNames?: SubjectAltName[]): Promise<NodeIdentity> {
  const path = (name: string) => join(dir, name);
  if (!existsSync(path(IDENTITY_FILES.serviceCert))) {
    const service = await createServiceIdentity();
    writePrivateKeyFile(path(IDENTITY_FILES.serviceKey), service.privateKeyPem);
    writePublicFile(path(IDENTITY_FILES.serviceCert), service.certPem);
  }
  const serviceCertPem = readFileSync(path(IDENTITY_FILES.serviceCert), "utf8");
  const servicePrivateKeyPem = readFileSync(path(IDENTITY_FILES.serviceKey), "utf8");
  if (!existsSync(path(IDENTITY_FILES.nodeCert))) {
    const nodeKeys = generateP384KeyPair();
    const certPem = await createNodeCertificate({
      nodePublicKeyPem: nodeKeys.publicKeyPem,
      servicePrivateKeyPem,
      serviceCertPem,
      ...(subjectAltNames ? { subjectAltNames } : {}),
    });
    writePrivateKeyFile(path(IDENTITY_FILES.nodeKey), nodeKeys.privateKeyPem);
    writePublicFile(path(IDENTITY_FILES.nodeCert), certPem);
  }
  const nodePrivateKeyPem = readFileSync(path(IDENTITY_FILES.nodeKey), "utf8");
  return {
    serviceCertPem,
    servicePrivateKeyPem,
    nodeId: nodeIdOf(publicKeyPemOf(nodePrivateKeyPem)),
    nodeCertPem: readFileSync(path(IDENTITY_FILES.nodeCert), "utf8"),
    nodePrivateKeyPem,
  };
}

/** A recovering node's identity: a new service identity, and a new node key endorsed by it (as CCF, recovery starts a new service). */
export async function createRecoveryIdentity(dir: string, subjectAltNames?: SubjectAltName[]): Promise<NodeIdentity> {
  for (const name of Object.values(IDENTITY_FILES)) rmSync(join(dir, name), { force: true });
  return loadOrCreateIdentity(dir, subjectAltNames);
}
