// A node started from a snapshot checks the chunks behind it in the background: damage there makes the
// node unhealthy (readiness 503, a log line naming file and seqno), and receipts of damaged entries are a
// definite error instead of 202 "not currently available" on every call.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { listChunks } from "../src/ledger/chunk-files.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { heldSecrets, startNodeCoreKeepingSecrets } from "./helpers/held-secrets.ts";
import type { Log } from "../src/log.ts";
import { HttpsClient } from "./helpers/https-client.ts";

const OPTIONS = { signatureIntervalTx: 10, snapshotIntervalTx: 25, chunkBytes: 2000, signatureIntervalMs: 60_000 };
const DAMAGED_VALUE = "public-value-4";

let root: string;
/** A node dir whose ledger has several committed chunks before its latest snapshot; never modified. */
let pristine: string;

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-pre-snapshot-"));
  pristine = join(root, "pristine");
  const core = await startNodeCoreKeepingSecrets({ dir: pristine, ...OPTIONS, log: () => {} });
  for (let i = 0; i < 70; i++) {
    const tx = core.history.begin();
    tx.map("public:records").set(Buffer.from(`k${i % 10}`), Buffer.from(`public-value-${i}`));
    tx.map("records").set(Buffer.from(`k${i % 10}`), Buffer.from(`private-value-${i}`));
    core.history.commit(tx);
  }
  await core.close();
});

after(() => rmSync(root, { recursive: true, force: true }));

interface Started {
  node: ServingNode;
  client: HttpsClient;
  warnings: string[];
}

async function startCopy(name: string, damage?: (ledgerDir: string) => void): Promise<Started> {
  const dir = join(root, name);
  cpSync(pristine, dir, { recursive: true });
  damage?.(join(dir, "ledger"));
  const warnings: string[] = [];
  const log: Log = { debug() {}, info() {}, warn: (m: string) => warnings.push(m), error: (m: string) => warnings.push(m) };
  const node = await startNode({ dir, port: 0, ...OPTIONS, log, ledgerSecrets: heldSecrets(pristine)! });
  assert.ok(warnings.some((m) => /starting from snapshot_/.test(m)), `the node must start from a snapshot:\n${warnings.join("\n")}`);
  return { node, client: new HttpsClient(node.url, node.core.identity.serviceCertPem), warnings };
}

async function checkOutcome(node: ServingNode): Promise<string> {
  for (let i = 0; i < 500; i++) {
    const check = node.core.history.preSnapshotCheck;
    assert.ok(check, "a node started from a snapshot checks the entries behind it");
    if (check.state !== "checking") return check.state;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("the pre-snapshot check did not finish");
}

/** Polls /node/receipt as a client waiting for 200 would; returns every status seen, at most `calls`. */
interface ReceiptReply {
  status: number;
  body: { error?: { code: string; message: string } } | undefined;
}

async function pollReceipt(client: HttpsClient, txId: string, calls: number): Promise<ReceiptReply[]> {
  const seen: ReceiptReply[] = [];
  for (let i = 0; i < calls; i++) {
    const reply = await client.get(`/node/receipt?transaction_id=${txId}`);
    seen.push({ status: reply.status, body: reply.json as ReceiptReply["body"] });
    if (reply.status !== 202) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return seen;
}

/** Flips the last byte of DAMAGED_VALUE where it is stored (a committed chunk before the snapshot). */
function flipValue(ledgerDir: string): { file: string } {
  for (const chunk of listChunks(ledgerDir)) {
    const path = join(ledgerDir, chunk.name);
    const bytes = readFileSync(path);
    const at = bytes.indexOf(Buffer.from(DAMAGED_VALUE));
    if (at < 0) continue;
    bytes[at + DAMAGED_VALUE.length - 1]! ^= 1;
    writeFileSync(path, bytes);
    return { file: chunk.name };
  }
  throw new Error(`${DAMAGED_VALUE} not found in the ledger`);
}

describe("the chunks behind the snapshot a node started from", () => {
  it("intact: the check passes, the node is ready and old receipts are served", async () => {
    const { node, client } = await startCopy("intact");
    try {
      assert.equal(await checkOutcome(node), "verified");
      assert.equal((await client.get("/node/ready/app")).status, 204);
      const view = node.core.history.viewOf(3);
      const replies = await pollReceipt(client, `${view}.3`, 50);
      assert.equal(replies.at(-1)!.status, 200, JSON.stringify(replies));
    } finally {
      await node.close();
    }
  });

  it("a flipped byte: the node logs file and seqno, readiness answers 503, and the entry's receipt is a definite 500 after one 202", async () => {
    let damaged!: { file: string };
    const { node, client, warnings } = await startCopy("flipped", (ledgerDir) => (damaged = flipValue(ledgerDir)));
    try {
      assert.ok(damaged.file.endsWith(".committed"), damaged.file);
      assert.equal(await checkOutcome(node), "damaged");
      // Seqno 5 wrote public-value-4 (seqno 1 is the genesis transaction).
      const line = warnings.find((m) => m.includes("fail verification"));
      assert.ok(line, warnings.join("\n"));
      assert.match(line, new RegExp(`${damaged.file.replace(/\./g, "\\.")} seqno 5 \\(offset \\d+\\): entry digest mismatch`));
      const ready = await client.get("/node/ready/app");
      assert.equal(ready.status, 503);
      assert.match(ready.json.error.message, /Node is unhealthy: its ledger fails verification: .* seqno 5/);
      assert.equal((await client.get("/node/ready/gov")).status, 503);
      // The node still serves its current state.
      assert.equal((await client.get("/node/commit")).status, 200);

      const view = node.core.history.viewOf(5);
      const replies = await pollReceipt(client, `${view}.5`, 50);
      const last = replies.at(-1)!;
      assert.equal(last.status, 500, JSON.stringify(replies));
      assert.ok(replies.length <= 2, `at most one 202 before the definite answer: ${JSON.stringify(replies.map((r) => r.status))}`);
      assert.equal(last.body?.error?.code, "InternalError");
      assert.match(last.body?.error?.message ?? "", new RegExp(`seqno 5 \\(${damaged.file.replace(/\./g, "\\.")}\\) fails verification: entry digest mismatch`));
      // And stays so: asking again is the same error at once.
      const again = await client.get(`/node/receipt?transaction_id=${view}.5`);
      assert.equal(again.status, 500);
    } finally {
      await node.close();
    }
  });

  it("a missing chunk before the snapshot: reported as damage", async () => {
    let removed!: string;
    const { node, warnings } = await startCopy("missing", (ledgerDir) => {
      removed = listChunks(ledgerDir)[1]!.name;
      rmSync(join(ledgerDir, removed));
    });
    try {
      assert.equal(await checkOutcome(node), "damaged");
      assert.ok(warnings.some((m) => /fail verification: .*missing chunk/.test(m)), warnings.join("\n"));
    } finally {
      await node.close();
    }
  });
});
