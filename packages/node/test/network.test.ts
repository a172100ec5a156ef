// A three-node service in one process, through real TLS sockets and real files: a node starts a
// service with node-to-node channels, two more join it (command Join) and are trusted by
// proposal, every write on the primary is replicated and committed on every node; a ledger rekey
// hands the new secret to every node, which seals and reads what follows with it; stopping the
// primary elects another, writes resume (sealed with the new secret), and nothing committed is lost.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DecryptionError, type LedgerSecret } from "../src/crypto/ledger-secret.ts";
import { checkCommitEvidence } from "../src/history/replay.ts";
import { formatTxId, type TxId } from "../src/ids.ts";
import { txIdBytes } from "../src/ledger/entry.ts";
import { readLedger } from "../src/ledger/reader.ts";
import type { Log } from "../src/log.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { idKey, Tables } from "../src/tables.ts";
import { joinTarget, TEST_CONSENSUS, waitFor } from "./helpers/in-process-network.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient } from "./helpers/https-client.ts";

/** CONFIDE_TEST_LOG=1 shows each node's log on stderr. */
const logOf = (name: string): Log | undefined =>
  process.env.CONFIDE_TEST_LOG
    ? { debug: () => undefined, info: (m) => console.error(`[${name}] ${m}`), warn: (m) => console.error(`[${name}] ${m}`), error: (m) => console.error(`[${name}] ${m}`) }
    : undefined;
function withLog(name: string): { log?: Log } {
  const log = logOf(name);
  return log ? { log } : {};
}
let root: string;
let member: GovMember;
const nodes: ServingNode[] = [];
const clients: HttpsClient[] = [];

function clientOf(node: ServingNode): HttpsClient {
  const c = new HttpsClient(node.url, node.core.identity.serviceCertPem);
  clients.push(c);
  return c;
}

async function passProposal(via: HttpsClient, actions: unknown[]): Promise<void> {
  const created = await member.propose(via, actions);
  assert.equal(created.status, 200, created.text);
  const voted = await member.vote(via, created.json.proposalId);
  assert.equal(voted.json.proposalState, "Accepted", voted.text);
}

/** Writes `value` at public:records/k on `node` (the primary) and waits for it to commit there. */
async function writeRecord(node: ServingNode, value: string): Promise<TxId> {
  const tx = node.core.history.begin();
  tx.map("public:records").set(Buffer.from("k"), Buffer.from(value));
  const id = node.core.history.commit(tx)!;
  await node.core.history.waitForCommit(id.seqno);
  return id;
}

/** Writes `value` at the private map "records", keyed by nothing in particular, on the primary; waits for it to commit there. */
async function writePrivate(node: ServingNode, value: string): Promise<TxId> {
  const tx = node.core.history.begin();
  tx.map("records").set(Buffer.from(value), Buffer.from(value));
  const id = node.core.history.commit(tx)!;
  await node.core.history.waitForCommit(id.seqno);
  return id;
}

/** The node's private "records", as seqno of their write → value. */
function privateRecords(node: ServingNode): Record<number, string> {
  const out: Record<number, string> = {};
  const map = node.core.history.store.beginReadOnly().map("records");
  map.forEach((value, key) => (out[map.getVersionOfPreviousWrite(key)!] = value.toString()));
  return out;
}

/** Every entry of the node's ledger files from `version` on is sealed with `secret`, not with `old` (private writes and commit evidence). */
function assertSealedFrom(node: ServingNode, version: number, secret: LedgerSecret, old: LedgerSecret): void {
  let checked = 0;
  for (const { entry } of readLedger(node.core.ledgerDir)) {
    if (entry.seqno < version) continue;
    if (entry.isSignature) {
      checkCommitEvidence(entry, secret);
      assert.throws(() => checkCommitEvidence(entry, old));
    }
    if (entry.privateSealed.length > 0) {
      secret.open(entry.privateSealed, txIdBytes(entry.view, entry.seqno));
      assert.throws(() => old.open(entry.privateSealed, txIdBytes(entry.view, entry.seqno)), DecryptionError);
      checked++;
    }
  }
  assert.ok(checked > 0, "a private entry after the rekey");
}

const recordOn = (node: ServingNode) => node.core.history.store.beginReadOnly().map("public:records").get(Buffer.from("k"))?.toString();

function primaryOf(): ServingNode {
  const primaries = nodes.filter((n) => n.role === "primary");
  assert.equal(primaries.length, 1, `one primary, got ${primaries.length}`);
  return primaries[0]!;
}

async function joinNode(name: string, target: ServingNode): Promise<ServingNode> {
  const node = await joinTarget(target, { dir: join(root, name), signatureIntervalMs: 20, ...withLog(name) }, (nodeId) =>
    passProposal(clientOf(target), [{ name: "transition_node_to_trusted", args: { node_id: nodeId, valid_from: "20260101000000Z" } }]),
  );
  nodes.push(node);
  return node;
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-network-"));
  member = await GovMember.create();
  const first = await startNode({
    dir: join(root, "n0"),
    port: 0,
    members: [{ certPem: member.certPem }],
    signatureIntervalMs: 20,
    ...withLog("n0"),
    network: { nodeToNodeAddress: "127.0.0.1:0", consensus: TEST_CONSENSUS },
  });
  nodes.push(first);
  await member.activate(clientOf(first));
});

after(async () => {
  for (const c of clients) c.close();
  for (const node of nodes) await node.close().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe("a three-node service", () => {
  it("starts as one node that is its own primary, with its node-to-node address on record", async () => {
    const [n0] = nodes;
    assert.equal(n0!.role, "primary");
    const info = JSON.parse(n0!.core.history.store.beginReadOnly().map(Tables.nodesInfo).get(idKey(n0!.core.identity.nodeId))!.toString()) as Record<string, { bind_address: string }>;
    assert.equal(info.node_to_node_interface!.bind_address, n0!.consensus!.listenAddress);
  });

  it("two nodes join by proposal and replicate the whole ledger", async () => {
    await joinNode("n1", nodes[0]!);
    await joinNode("n2", nodes[0]!);
    const primary = primaryOf();
    const committed = primary.core.history.lastCommitted;
    for (const node of nodes) {
      await waitFor(`commit ${formatTxId(committed)} on ${node.core.identity.nodeId.slice(0, 8)}`, () => node.core.history.lastCommitted.seqno >= committed.seqno);
    }
    const { json } = await clientOf(nodes[1]!).get("/node/network/nodes");
    const listed = (json as { nodes: Array<{ node_id: string; status: string; primary: boolean }> }).nodes;
    assert.equal(listed.filter((n) => n.status === "Trusted").length, 3);
    assert.deepEqual(listed.filter((n) => n.primary).map((n) => n.node_id), [primary.core.identity.nodeId]);
    const consensus = await clientOf(nodes[2]!).get("/node/consensus");
    assert.equal((consensus.json as { details: { leadership_state: string } }).details.leadership_state, "Follower");
  });

  it("a write on the primary commits on every node, with the same Merkle root", async () => {
    const primary = primaryOf();
    const id = await writeRecord(primary, "v1");
    for (const node of nodes) {
      await waitFor("replicated commit", () => node.core.history.lastCommitted.seqno >= id.seqno);
      assert.equal(node.core.history.txStatus(id), "Committed");
      assert.equal(recordOn(node), "v1");
      assert.deepEqual(node.core.history.merkleRoot(id.seqno), primary.core.history.merkleRoot(id.seqno));
    }
  });

  it("a backup refuses a write with 503 and changes nothing", async () => {
    const backup = nodes.find((n) => n.role === "backup")!;
    const before = backup.core.history.lastSeqno;
    const tx = backup.core.history.begin();
    tx.map("public:records").set(Buffer.from("k"), Buffer.from("from a backup"));
    assert.throws(() => backup.core.history.commit(tx), /not the primary/);
    assert.equal(backup.core.history.lastSeqno, before);
  });

  it("a proposal sent to a backup is forwarded to the primary with the member's identity", async () => {
    const backup = nodes.find((n) => n.role === "backup")!;
    const primary = primaryOf();
    const via = clientOf(backup);
    const created = await member.propose(via, [{ name: "set_member_data", args: { member_id: member.id, member_data: { forwarded: true } } }]);
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.proposerId, member.id, "the primary saw the member, not the backup node");
    const voted = await member.vote(via, created.json.proposalId);
    assert.equal(voted.json.proposalState, "Accepted", voted.text);
    // The tx id is the primary's: the write happened there, and reaches the backup by replication.
    const seqno = Number(voted.headers["x-ms-ccf-transaction-id"]!.split(".")[1]);
    await primary.core.history.waitForCommit(seqno);
    await waitFor("the forwarded write on the backup", () => backup.core.history.lastCommitted.seqno >= seqno);
    const info = JSON.parse(backup.core.history.store.beginReadOnly().map(Tables.membersInfo).get(idKey(member.id))!.toString()) as { member_data: unknown };
    assert.deepEqual(info.member_data, { forwarded: true });
  });

  it("refuses a forwarded-identity header from anyone but a trusted node, changing nothing", async () => {
    const primary = primaryOf();
    const before = primary.core.history.lastSeqno;
    const forged = await clientOf(primary).post("/gov/members/proposals:create?api-version=2024-07-01", member.sign("proposal", { actions: [] }), {
      "content-type": "application/cose",
      "x-confide-forwarded-client-cert": "none",
    });
    assert.equal(forged.status, 403, forged.text);
    assert.equal(forged.json.error.code, "AuthorizationFailed");
    assert.equal(primary.core.history.lastSeqno, before);
  });

  it("trigger_ledger_rekey hands the new ledger secret to every node: each seals and reads what follows with it", async () => {
    const primary = primaryOf();
    const before = await writePrivate(primary, "before the rekey");
    const [first] = primary.core.history.ledgerSecrets.all();
    await passProposal(clientOf(primary), [{ name: "trigger_ledger_rekey" }]);
    const rekeyed = await waitFor("the rekey on the primary", () => primary.core.history.ledgerSecrets.all()[1]);
    const after = await writePrivate(primary, "after the rekey");
    for (const node of nodes) {
      await waitFor("the rekey's entries on every node", () => node.core.history.lastCommitted.seqno >= after.seqno);
      const held = node.core.history.ledgerSecrets.all();
      assert.deepEqual(held.map((v) => [v.version, v.secret.fingerprint]), [[first!.version, first!.secret.fingerprint], [rekeyed.version, rekeyed.secret.fingerprint]]);
      assert.deepEqual(privateRecords(node), { [before.seqno]: "before the rekey", [after.seqno]: "after the rekey" });
    }
    // Each node's ledger files: every entry from the rekey's version on opens with the new secret only.
    for (const node of nodes) assertSealedFrom(node, rekeyed.version, rekeyed.secret, first!.secret);
    assert.ok(after.seqno >= rekeyed.version);
  });

  it("when the primary stops, another is elected, writes resume and nothing committed is lost", async () => {
    const old = primaryOf();
    const committed = old.core.history.lastCommitted;
    await old.close();
    nodes.splice(nodes.indexOf(old), 1);
    const next = await waitFor("a new primary", () => nodes.find((n) => n.role === "primary"), 20_000);
    assert.ok(next.consensus!.view > committed.view);
    const id = await writeRecord(next, "v2");
    for (const node of nodes) {
      await waitFor("commit after failover", () => node.core.history.lastCommitted.seqno >= id.seqno);
      assert.equal(node.core.history.txStatus(committed), "Committed");
      assert.equal(recordOn(node), "v2");
    }
    // The new primary, a backup at the rekey, seals with the new secret; the other backup reads it.
    const [first, rekeyed] = next.core.history.ledgerSecrets.all();
    assert.ok(rekeyed !== undefined && id.seqno > rekeyed.version);
    const written = await writePrivate(next, "after the failover");
    for (const node of nodes) {
      await waitFor("the private write after failover", () => node.core.history.lastCommitted.seqno >= written.seqno);
      assert.equal(privateRecords(node)[written.seqno], "after the failover");
      assertSealedFrom(node, rekeyed.version, rekeyed.secret, first!.secret);
    }
  });

  it("refuses a rekey while a trusted node has no encryption key (a ledger from before nodes had one): the proposal fails saying so", async () => {
    const primary = primaryOf();
    const keyless = nodes.find((n) => n !== primary)!.core.identity.nodeId;
    const tx = primary.core.history.begin();
    const info = JSON.parse(tx.map(Tables.nodesInfo).get(idKey(keyless))!.toString()) as Record<string, unknown>;
    tx.map(Tables.nodesInfo).set(idKey(keyless), Buffer.from(JSON.stringify({ ...info, encryption_pub_key: "" })));
    await primary.core.history.waitForCommit(primary.core.history.commit(tx)!.seqno);
    const secretsBefore = primary.core.history.ledgerSecrets.all().length;
    const via = clientOf(primary);
    const created = await member.propose(via, [{ name: "trigger_ledger_rekey" }]);
    const voted = await member.vote(via, created.json.proposalId);
    assert.equal(voted.json.proposalState, "Failed", voted.text);
    assert.match(JSON.stringify(voted.json.failure), new RegExp(`ledger rekey refused: trusted node ${keyless} has no encryption_pub_key`));
    assert.equal(primary.core.history.ledgerSecrets.all().length, secretsBefore);
  });
});
