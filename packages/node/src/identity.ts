// A node's identity and secrets on disk, created on first start and reused after:
//   service_cert.pem / service_privk.pem   the service identity (self-signed, P-384)
//   node_cert.pem / node_privk.pem         this node's key and its certificate endorsed by the service
//   ledger_secret                          the key of the private ledger domain (32 bytes)
// Private keys and the ledger secret are written with mode 0600. Beside them the
// node keeps ledger/, snapshots/ and view (see node.ts).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createNodeCertificate, createServiceIdentity, type SubjectAltName } from "./crypto/certs.ts";
import { generateP384KeyPair, nodeIdOf, publicKeyPemOf, writePrivateKeyFile, writePublicFile } from "./crypto/keys.ts";
import { LedgerSecret } from "./crypto/ledger-secret.ts";

export interface NodeIdentity {
  serviceCertPem: string;
  servicePrivateKeyPem: string;
  nodeId: string;
  nodeCertPem: string;
  nodePrivateKeyPem: string;
  ledgerSecret: LedgerSecret;
}

export const IDENTITY_FILES = {
  serviceCert: "service_cert.pem",
  serviceKey: "service_privk.pem",
  nodeCert: "node_cert.pem",
  nodeKey: "node_privk.pem",
  ledgerSecret: "ledger_secret",
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
  if (!existsSync(path(IDENTITY_FILES.ledgerSecret))) {
    writePrivateKeyFile(path(IDENTITY_FILES.ledgerSecret), LedgerSecret.generate().key.toString("hex") + "\n");
  }
  const nodePrivateKeyPem = readFileSync(path(IDENTITY_FILES.nodeKey), "utf8");
  return {
    serviceCertPem,
    servicePrivateKeyPem,
    nodeId: nodeIdOf(publicKeyPemOf(nodePrivateKeyPem)),
    nodeCertPem: readFileSync(path(IDENTITY_FILES.nodeCert), "utf8"),
    nodePrivateKeyPem,
    ledgerSecret: readLedgerSecret(path(IDENTITY_FILES.ledgerSecret)),
  };
}

export function readLedgerSecret(file: string): LedgerSecret {
  const text = readFileSync(file, "utf8").trim();
  if (!/^[0-9a-f]{64}$/i.test(text)) throw new Error(`${file} does not hold a 32-byte hex ledger secret`);
  return new LedgerSecret(Buffer.from(text, "hex"));
}
