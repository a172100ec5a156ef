// CCF's join from a snapshot (command.join.fetch_recent_snapshot), through real TLS sockets and real
// files: once trusted, a joiner fetches its target's latest committed snapshot (GET /node/snapshot,
// then /node/snapshot/{name}), verifies it, installs it and replicates only the ledger after it; it
// holds no ledger entry below the snapshot's seqno, so a receipt for one is refused clearly. A
// corrupted or truncated snapshot is refused and the joiner replicates the whole ledger instead.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatTxId, type TxId } from "../src/ids.ts";
import type { Log } from "../src/log.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { committedSnapshots } from "../src/history/snapshots.ts";
import { History } from "../src/history/history.ts";
import { LedgerSecret } from "../src/crypto/ledger-secret.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { fetchLatestSnapshot, SnapshotFetchError } from "../src/network/snapshot-transfer.ts";
import type { Store } from "../src/kv/store.ts";
import { joinTarget, TEST_CONSENSUS, waitFor } from "./helpers/in-process-network.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient } from "./helpers/https-client.ts";

const SNAPSHOT_INTERVAL_TX = 20;
let root: string;
let member: GovMember;
const nodes: ServingNode[] = [];
const clients: HttpsClient[] = [];
/** Each node's log lines, to check what a joiner said. */
const logs = new Map<string, string[]>();

function logOf(name: string): Log {
  const lines: string[] = [];
  logs.set(name, lines);
  const line = (m: string) => {
    lines.push(m);
    if (process.env.CONFIDE_TEST_LOG) console.error(`[${name}] ${m}`);
  };
  return { debug: () => undefined, info: line, warn: line, error: line };
}

function clientOf(node: ServingNode): HttpsClient {
  const c = new HttpsClient(node.url, node.core.identity.serviceCertPem);
  clients.push(c);
  return c;
}

async function writeRecords(node: ServingNode, count: number, prefix: string): Promise<TxId> {
  let id: TxId | undefined;
  for (let i = 0; i < count; i++) {
    const tx = node.core.history.begin();
    tx.map("public:records").set(Buffer.from(`${prefix}${i}`), Buffer.from(`value ${i}`));
    tx.map("records").set(Buffer.from(`${prefix}${i}`), Buffer.from(`private ${i}`));
    id = node.core.history.commit(tx)!;
  }
  await node.core.history.waitForCommit(id!.seqno);
  return id!;
}

/** Every map's keys, values and versions, as text: two stores at one seqno must print the same. */
function contents(store: Store): string {
  const lines: string[] = [];
  for (const name of store.mapNames().sort()) {
    const entries = [...store.mapState(name)!.entries].map(([key, { value, version }]) => `${JSON.stringify(key)}=${value.toString("hex")}@${version}`).sort();
    lines.push(`${name}: ${entries.join(" ")}`);
  }
  return lines.join("\n");
}

const ledgerStarts = (node: ServingNode) => readdirSync(node.core.ledgerDir).map((name) => Number(/^ledger_(\d+)/.exec(name)?.[1])).sort((a, b) => a - b);

async function joinNode(name: string, target: ServingNode): Promise<ServingNode> {
  const options = { dir: join(root, name), signatureIntervalMs: 20, snapshotIntervalTx: SNAPSHOT_INTERVAL_TX, log: logOf(name) };
  const node = await joinTarget(target, options, async (nodeId) => {
    const via = clientOf(target);
    const created = await member.propose(via, [{ name: "transition_node_to_trusted", args: { node_id: nodeId, valid_from: "20260101000000Z" } }]);
    assert.equal(created.status, 200, created.text);
    const voted = await member.vote(via, created.json.proposalId);
    assert.equal(voted.json.proposalState, "Accepted", voted.text);
  });
  nodes.push(node);
  return node;
}

async function caughtUp(node: ServingNode, primary: ServingNode): Promise<void> {
  const committed = primary.core.history.lastCommitted.seqno;
  await waitFor(`commit ${committed} on the joiner`, () => node.core.history.lastCommitted.seqno >= committed);
}

let snapshotSeqno = 0;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-snapshot-join-"));
  member = await GovMember.create();
  const first = await startNode({
    dir: join(root, "n0"),
    port: 0,
    members: [{ certPem: member.certPem }],
    signatureIntervalMs: 20,
    snapshotIntervalTx: SNAPSHOT_INTERVAL_TX,
    log: logOf("n0"),
    network: { nodeToNodeAddress: "127.0.0.1:0", consensus: TEST_CONSENSUS },
  });
  nodes.push(first);
  await member.activate(clientOf(first));
  // More than the snapshot interval, in several signatures: a committed snapshot, and a ledger tail after it.
  for (let round = 0; round < 4; round++) await writeRecords(first, 15, `r${round}-`);
  snapshotSeqno = await waitFor("a committed snapshot on n0", () => committedSnapshots(first.core.history.snapshotsDir!)[0]?.seqno);
  await writeRecords(first, 10, "tail-");
});

after(async () => {
  for (const c of clients) c.close();
  for (const node of nodes) await node.close().catch(() => undefined);
  rmSync(root, { recursive: true, force: true });
});

describe("a node joining from a snapshot", () => {
  it("GET /node/snapshot redirects to the latest committed snapshot, which GET /node/snapshot/{name} serves", async () => {
    const [n0] = nodes;
    const client = clientOf(n0!);
    const latest = committedSnapshots(n0!.core.history.snapshotsDir!)[0]!;
    const redirect = await client.get("/node/snapshot");
    assert.equal(redirect.status, 308, redirect.text);
    assert.equal(redirect.headers.location, `/node/snapshot/${latest.name}`);
    const file = await client.get(redirect.headers.location!);
    assert.equal(file.status, 200);
    assert.deepEqual(file.body, readFileSync(join(n0!.core.history.snapshotsDir!, latest.name)));
    const none = await client.get(`/node/snapshot?since=${latest.seqno}`);
    assert.equal(none.status, 404);
    assert.equal(none.json.error.code, "ResourceNotFound");
    const outside = await client.get("/node/snapshot/..%2Fview");
    assert.equal(outside.status, 404);
  });

  it("installs the target's snapshot and replicates only the ledger after it", async () => {
    const [n0] = nodes;
    const latest = committedSnapshots(n0!.core.history.snapshotsDir!)[0]!;
    const n1 = await joinNode("n1", n0!);
    await caughtUp(n1, n0!);
    assert.ok(latest.seqno >= snapshotSeqno);
    assert.ok(logs.get("n1")!.some((m) => m.includes(`fetched snapshot ${latest.name}`)), logs.get("n1")!.join("\n"));
    assert.equal(n1.core.history.firstLedgerSeqno, latest.seqno + 1);
    const starts = ledgerStarts(n1);
    assert.ok(starts.length > 0 && starts[0] === latest.seqno + 1, `n1's ledger files start at ${starts.join(", ")}, not after snapshot ${latest.seqno}`);
    assert.equal(n1.core.history.preSnapshotCheck?.state, "notHeld");
  });

  it("its store equals the primary's, with the same Merkle root at a common signature", async () => {
    const [n0, n1] = nodes;
    const id = await writeRecords(n0!, 5, "common-");
    await n0!.core.history.waitForCommit(n0!.core.history.emitSignature());
    const signature = n0!.core.history.lastCommitted.seqno;
    await waitFor("the signature on n1", () => n1!.core.history.lastCommitted.seqno >= signature);
    assert.ok(signature > id.seqno);
    assert.equal(n1!.core.history.lastSeqno, n0!.core.history.lastSeqno);
    assert.equal(contents(n1!.core.history.store), contents(n0!.core.history.store));
    assert.deepEqual(n1!.core.history.merkleRoot(signature), n0!.core.history.merkleRoot(signature));
  });

  it("is a working backup: a proposal sent to it is forwarded and commits on both", async () => {
    const [n0, n1] = nodes;
    const via = clientOf(n1!);
    const created = await member.propose(via, [{ name: "set_member_data", args: { member_id: member.id, member_data: { via: "snapshot joiner" } } }]);
    assert.equal(created.status, 200, created.text);
    const voted = await member.vote(via, created.json.proposalId);
    assert.equal(voted.json.proposalState, "Accepted", voted.text);
    const seqno = Number(voted.headers["x-ms-ccf-transaction-id"]!.split(".")[1]);
    await n0!.core.history.waitForCommit(seqno);
    await waitFor("the forwarded write on n1", () => n1!.core.history.lastCommitted.seqno >= seqno);
  });

  it("refuses a receipt below its snapshot with TransactionNotFound; the primary, holding the whole ledger, gives it", async () => {
    const [n0, n1] = nodes;
    const old = formatTxId({ view: n0!.core.history.viewOf(5)!, seqno: 5 } as TxId);
    const refused = await clientOf(n1!).get(`/node/receipt?transaction_id=${old}`);
    assert.equal(refused.status, 404, refused.text);
    assert.equal(refused.json.error.code, "TransactionNotFound");
    assert.match(refused.json.error.message, /does not hold its ledger entry.*starts at seqno \d+/);
    const given = await clientOf(n0!).getEventually(`/node/receipt?transaction_id=${old}`);
    assert.equal(given.status, 200, given.text);
    // A transaction after the snapshot has its receipt on the joiner too.
    const recent = n1!.core.history.lastCommitted;
    const tail = await clientOf(n1!).getEventually(`/node/receipt?transaction_id=${formatTxId({ view: recent.view, seqno: recent.seqno - 1 } as TxId)}`);
    assert.equal(tail.status, 200, tail.text);
  });

  it("refuses a truncated or corrupted snapshot from its target and keeps nothing of it", async () => {
    const [n0] = nodes;
    const dir = n0!.core.history.snapshotsDir!;
    const latest = committedSnapshots(dir)[0]!;
    const path = join(dir, latest.name);
    const saved = join(root, "saved-snapshot");
    copyFileSync(path, saved);
    const source = { targetRpcAddress: n0!.server.address, serviceCertPem: n0!.core.identity.serviceCertPem };
    const bytes = readFileSync(saved);
    try {
      for (const [what, damaged, reason] of [
        ["truncated", bytes.subarray(0, bytes.length - 100), /truncated/],
        ["corrupted", Buffer.from(bytes).fill(0x41, 200, 210), /do not match the digest/],
      ] as const) {
        writeFileSync(path, damaged);
        const into = mkdtempSync(join(root, `fetch-${what}-`));
        await assert.rejects(fetchLatestSnapshot(source, into), (error: Error) => {
          assert.ok(error instanceof SnapshotFetchError, String(error));
          assert.match(error.message, new RegExp(`snapshot ${latest.name} from .* fails verification, not used: .*${reason.source}`));
          return true;
        });
        assert.deepEqual(readdirSync(into), [], `${what}: nothing kept`);
      }
    } finally {
      copyFileSync(saved, path);
    }
  });

  it("refuses a snapshot whose seqno has no ledger secret among those it holds, and starts without it", async () => {
    const [n0] = nodes;
    const latest = committedSnapshots(n0!.core.history.snapshotsDir!)[0]!;
    const dir = mkdtempSync(join(root, "no-secret-"));
    mkdirSync(join(dir, "snapshots"));
    copyFileSync(join(n0!.core.history.snapshotsDir!, latest.name), join(dir, "snapshots", latest.name));
    // Secrets from after the snapshot only (as a node joining a service still recovering would hold).
    const secrets = new LedgerSecrets([{ version: latest.seqno + 1, secret: LedgerSecret.generate() }]);
    const identity = n0!.core.identity;
    const lines: string[] = [];
    const history = await History.open({
      ledgerDir: join(dir, "ledger"),
      secrets,
      signer: { nodeId: identity.nodeId, certPem: identity.nodeCertPem, privateKeyPem: identity.nodePrivateKeyPem },
      serviceCertPem: identity.serviceCertPem,
      snapshotsDir: join(dir, "snapshots"),
      startAs: "backup",
      log: (m) => lines.push(m),
    });
    try {
      assert.equal(history.lastSeqno, 0, "the node did not start from the snapshot");
      const refusal = new RegExp(`snapshot ${latest.name} rejected.*holds no ledger secret for seqno ${latest.seqno}.*cover seqno ${latest.seqno + 1} on`);
      assert.ok(lines.some((m) => refusal.test(m)), lines.join("\n"));
    } finally {
      await history.close();
    }
  });

  it("a joiner offered a corrupted snapshot does not start from it: it replicates the whole ledger", async () => {
    const [n0] = nodes;
    const dir = n0!.core.history.snapshotsDir!;
    // Every committed snapshot is corrupted while the node joins (the join's own transactions may commit a newer one).
    const originals = new Map<string, Buffer>();
    const corruptAll = () => {
      for (const { name } of committedSnapshots(dir)) {
        if (originals.has(name)) continue;
        const bytes = readFileSync(join(dir, name));
        originals.set(name, bytes);
        writeFileSync(join(dir, name), Buffer.from(bytes).fill(0x41, 200, 210));
      }
    };
    corruptAll();
    const corrupting = setInterval(corruptAll, 2);
    let n2: ServingNode;
    try {
      n2 = await joinNode("n2", n0!);
    } finally {
      clearInterval(corrupting);
      for (const [name, bytes] of originals) writeFileSync(join(dir, name), bytes);
    }
    await caughtUp(n2, n0!);
    assert.ok(logs.get("n2")!.some((m) => /fails verification, not used/.test(m)), logs.get("n2")!.join("\n"));
    assert.equal(n2.core.history.firstLedgerSeqno, 1);
    assert.deepEqual(committedSnapshots(n2.core.history.snapshotsDir!), []);
    assert.equal(contents(n2.core.history.store), contents(n0!.core.history.store));
  });

  it("when the primary stops, the survivors (one of them the snapshot joiner) elect a primary and commit writes", async () => {
    const old = nodes[0]!;
    await old.close();
    nodes.splice(0, 1);
    const next = await waitFor("a new primary", () => nodes.find((n) => n.role === "primary"), 20_000);
    const id = await writeRecords(next, 3, "after-failover-");
    for (const node of nodes) {
      await waitFor("commit after failover", () => node.core.history.lastCommitted.seqno >= id.seqno);
      assert.equal(node.core.history.store.beginReadOnly().map("public:records").get(Buffer.from("after-failover-2"))?.toString(), "value 2");
    }
  });
});
