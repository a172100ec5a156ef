// A node joins a service as CCF's do: POST /node/join over TLS with a certificate for its own
// key and a CSR; it is recorded Pending; once members trust it by proposal (the constitution's
// transition_node_to_trusted endorses its CSR) and that commits, the same call hands it the
// service identity, the ledger secret and its endorsed certificate. Bad requests change nothing.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createNodeCertificateRequest, createSelfSignedNodeCertificate, isCertIssuedBy } from "../src/crypto/certs.ts";
import { generateP384KeyPair, nodeIdOf } from "../src/crypto/keys.ts";
import type { JoinRequest } from "../src/network/join.ts";
import { ledgerSecretsForJoiner } from "../src/network/join-identity.ts";
import { JoinRefusedError, joinService } from "../src/network/joiner.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { idKey, Tables } from "../src/tables.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient } from "./helpers/https-client.ts";

let dir: string;
let node: ServingNode;
let member: GovMember;
let client: HttpsClient;
const clients: HttpsClient[] = [];

interface Joiner {
  keyPem: string;
  certPem: string;
  nodeId: string;
  request: JoinRequest;
}

async function newJoiner(): Promise<Joiner> {
  const keys = generateP384KeyPair();
  return {
    keyPem: keys.privateKeyPem,
    certPem: await createSelfSignedNodeCertificate(keys.privateKeyPem),
    nodeId: nodeIdOf(keys.publicKeyPem),
    request: {
      node_info_network: {
        rpc_interfaces: { primary_rpc_interface: { bind_address: "127.0.0.1:9100", published_address: "127.0.0.1:9100" } },
        node_to_node_interface: { bind_address: "127.0.0.1:9101" },
      },
      certificate_signing_request: await createNodeCertificateRequest({ nodePrivateKeyPem: keys.privateKeyPem }),
      node_data: { operator: "Bank B ops" },
    },
  };
}

function clientOf(joiner: Pick<Joiner, "certPem" | "keyPem">): HttpsClient {
  const c = new HttpsClient(node.url, node.core.identity.serviceCertPem, { certPem: joiner.certPem, keyPem: joiner.keyPem });
  clients.push(c);
  return c;
}

function nodeInfo(nodeId: string): Record<string, unknown> | undefined {
  const value = node.core.history.store.beginReadOnly().map(Tables.nodesInfo).get(idKey(nodeId));
  return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as Record<string, unknown>);
}

async function passProposal(actions: unknown[]): Promise<void> {
  const created = await member.propose(client, actions);
  assert.equal(created.status, 200, created.text);
  const voted = await member.vote(client, created.json.proposalId);
  assert.equal(voted.json.proposalState, "Accepted", voted.text);
}

const trust = (nodeId: string) => passProposal([{ name: "transition_node_to_trusted", args: { node_id: nodeId, valid_from: "20260101000000Z" } }]);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-join-"));
  member = await GovMember.create();
  node = await startNode({ dir, port: 0, members: [{ certPem: member.certPem }], signatureIntervalMs: 20 });
  client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
  await member.activate(client);
});

after(async () => {
  for (const c of [client, ...clients]) c.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("joining a node to the service", () => {
  it("is Pending until members trust it, then receives the service's secrets and its endorsed certificate", async () => {
    const joiner = await newJoiner();
    const first = await clientOf(joiner).post("/node/join", JSON.stringify(joiner.request), { "content-type": "application/json" });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, { node_status: "Pending", node_id: joiner.nodeId });
    const pending = nodeInfo(joiner.nodeId)!;
    assert.equal(pending.status, "Pending");
    assert.deepEqual(pending.node_data, { operator: "Bank B ops" });
    assert.equal(pending.certificate_signing_request, joiner.request.certificate_signing_request);
    // Asking again changes nothing while it is Pending.
    const again = await clientOf(joiner).post("/node/join", JSON.stringify(joiner.request), { "content-type": "application/json" });
    assert.deepEqual(again.json, first.json);
    assert.equal(again.headers["x-ms-ccf-transaction-id"], undefined);

    const logs: string[] = [];
    const joined = joinService({
      targetRpcAddress: node.server.address,
      serviceCertPem: node.core.identity.serviceCertPem,
      nodePrivateKeyPem: joiner.keyPem,
      nodeCertPem: joiner.certPem,
      request: joiner.request,
      retryMs: 20,
      log: (message) => logs.push(message),
      // The test fails rather than asking forever.
      signal: AbortSignal.timeout(10_000),
    });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await trust(joiner.nodeId);
    const { nodeId, secrets } = await joined;
    assert.equal(nodeId, joiner.nodeId);
    assert.ok(logs.some((line) => /Pending: members must propose and accept transition_node_to_trusted/.test(line)), logs.join("\n"));
    const { identity } = node.core;
    assert.equal(secrets.service_certificate, identity.serviceCertPem);
    assert.equal(secrets.service_private_key, identity.servicePrivateKeyPem);
    assert.deepEqual(secrets.ledger_secrets, ledgerSecretsForJoiner(node.core.history.ledgerSecrets));
    assert.ok(isCertIssuedBy(secrets.endorsed_certificate, identity.serviceCertPem));
    assert.equal(nodeIdOf(new X509Certificate(secrets.endorsed_certificate).publicKey.export({ type: "spki", format: "pem" }).toString()), joiner.nodeId);
    assert.equal(new Date(new X509Certificate(secrets.endorsed_certificate).validFrom).toISOString(), "2026-01-01T00:00:00.000Z");
    assert.equal(nodeInfo(joiner.nodeId)!.status, "Trusted");
    const nodes = await client.get("/node/network/nodes");
    assert.ok(nodes.json.nodes.some((n: { node_id: string; status: string }) => n.node_id === joiner.nodeId && n.status === "Trusted"));
  });

  it("a retired node may not join again", async () => {
    const joiner = await newJoiner();
    const joinOnce = () => clientOf(joiner).post("/node/join", JSON.stringify(joiner.request), { "content-type": "application/json" });
    assert.equal((await joinOnce()).status, 200);
    await trust(joiner.nodeId);
    await passProposal([{ name: "remove_node", args: { node_id: joiner.nodeId } }]);
    const refused = await joinOnce();
    assert.equal(refused.status, 403);
    assert.equal(refused.json.error.code, "AuthorizationFailed");
    await assert.rejects(
      joinService({ targetRpcAddress: node.server.address, serviceCertPem: node.core.identity.serviceCertPem, nodePrivateKeyPem: joiner.keyPem, nodeCertPem: joiner.certPem, request: joiner.request, retryMs: 10 }),
      (error: Error) => error instanceof JoinRefusedError && /403/.test(error.message),
    );
  });

  it("refuses a request without a client certificate, a malformed body, or a CSR for another key, recording nothing", async () => {
    const joiner = await newJoiner();
    const other = await newJoiner();
    const lastSeqno = node.core.history.lastSeqno;
    const post = (c: HttpsClient, body: string) => c.post("/node/join", body, { "content-type": "application/json" });
    const cases: Array<[HttpsClient, string, number, string, RegExp]> = [
      [client, JSON.stringify(joiner.request), 401, "InvalidAuthenticationInfo", /TLS client certificate/],
      [clientOf(joiner), "{not json", 400, "InvalidInput", /not valid JSON/],
      [clientOf(joiner), JSON.stringify({ ...joiner.request, certificate_signing_request: 7 }), 400, "InvalidInput", /certificate_signing_request must be a PEM/],
      [clientOf(joiner), JSON.stringify({ ...joiner.request, certificate_signing_request: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----" }), 400, "InvalidInput", /malformed certificate signing request/],
      [clientOf(joiner), JSON.stringify({ ...joiner.request, node_info_network: {} }), 400, "InvalidInput", /rpc_interfaces/],
      [clientOf(joiner), JSON.stringify({ ...joiner.request, certificate_signing_request: other.request.certificate_signing_request }), 400, "InvalidInput", /another key/],
    ];
    for (const [c, body, status, code, message] of cases) {
      const reply = await post(c, body);
      assert.equal(reply.status, status, reply.text);
      assert.equal(reply.json.error.code, code);
      assert.match(reply.json.error.message, message);
    }
    assert.equal(nodeInfo(joiner.nodeId), undefined);
    assert.equal(nodeInfo(other.nodeId), undefined);
    // Only signatures were written meanwhile.
    for (let seqno = lastSeqno + 1; seqno <= node.core.history.lastSeqno; seqno++) assert.ok(node.core.history.signatures.includes(seqno));
  });
});
