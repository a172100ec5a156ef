// Service and node identities for node-to-node tests, made as src/identity.ts makes them:
// a self-signed service certificate and node certificates it endorses.
import { createNodeCertificate, createServiceIdentity, type ServiceIdentity } from "../../src/crypto/certs.ts";
import { generateP384KeyPair, nodeIdOf } from "../../src/crypto/keys.ts";
import type { ChannelIdentity } from "../../src/consensus/channels.ts";

export { createServiceIdentity, type ServiceIdentity };

/**
 * A node of `service`: its key, and a certificate endorsed by `endorser` (the service itself unless
 * told otherwise, e.g. another service, to make a node the service must refuse).
 */
export async function createNodeIdentity(service: ServiceIdentity, endorser: ServiceIdentity = service): Promise<ChannelIdentity> {
  const keys = generateP384KeyPair();
  const nodeCertPem = await createNodeCertificate({
    nodePublicKeyPem: keys.publicKeyPem,
    servicePrivateKeyPem: endorser.privateKeyPem,
    serviceCertPem: endorser.certPem,
  });
  return { nodeId: nodeIdOf(keys.publicKeyPem), nodeCertPem, nodePrivateKeyPem: keys.privateKeyPem, serviceCertPem: service.certPem };
}

/** A node that trusts `service` but presents a self-signed certificate of its own. */
export async function createSelfSignedNodeIdentity(service: ServiceIdentity): Promise<ChannelIdentity> {
  const own = await createServiceIdentity();
  return { nodeId: nodeIdOf(own.certPem), nodeCertPem: own.certPem, nodePrivateKeyPem: own.privateKeyPem, serviceCertPem: service.certPem };
}
