// CCF commit semantics on a real ledger: transactions are Pending until a durable
// signature covers them, signatures come every N txs or T ms, chunks end at
// signatures, a restart starts a new view (lost Pending txs become Invalid),
// receipts verify from memory and from ledger files, snapshots restart a node.
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SimulatedClock } from "../src/clock.ts";
import { sha256 } from "../src/crypto/hash.ts";
import { readSignature } from "../src/history/signatures.ts";
import { view as toView, seqNo } from "../src/ids.ts";
import { decodeFrame } from "../src/ledger/entry.ts";
import { verifyReceipt } from "../src/merkle/receipt.ts";
import type { NodeCore, NodeOptions } from "../src/node.ts";
import { startNodeCoreKeepingSecrets } from "./helpers/held-secrets.ts";
import { PENDING_SNAPSHOTS_MAX } from "../src/limits.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "confide-history-"));
  dirs.push(dir);
  return dir;
}

const b = (s: string) => Buffer.from(s);

function write(core: NodeCore, i: number) {
  const tx = core.history.begin();
  tx.map("public:records").set(b(`k${i}`), b(`v${i}`));
  tx.map("records").set(b(`k${i}`), b(`private${i}`));
  return core.history.commit(tx)!;
}

async function start(dir: string, options: Partial<NodeOptions> = {}) {
  const logs: string[] = [];
  const core = await startNodeCoreKeepingSecrets({ dir, signatureIntervalMs: 60_000, log: (m) => logs.push(m), ...options });
  return { core, logs };
}

describe("commit and signatures", () => {
  it("a transaction is Pending until the signature covering it is durable, then Committed", async () => {
    const { core } = await start(tempDir(), { signatureIntervalTx: 5 });
    const first = write(core, 0);
    assert.deepEqual(first, { view: 1, seqno: 1 });
    assert.equal(core.history.txStatus(first), "Pending");
    assert.equal(core.history.txStatus({ view: toView(1), seqno: seqNo(99) }), "Unknown");
    for (let i = 1; i < 5; i++) write(core, i);
    // The 5th transaction triggers the signature at seqno 6.
    assert.deepEqual(core.history.signatures, [6]);
    await core.history.waitForCommit(6);
    assert.equal(core.history.txStatus(first), "Committed");
    assert.deepEqual(core.history.lastCommitted, { view: 1, seqno: 6 });
    await core.close();
  });

  it("the signature interval runs on the clock it is given: a simulated one signs exactly when advanced past it", async () => {
    const clock = new SimulatedClock();
    const { core } = await start(tempDir(), { signatureIntervalTx: 1000, signatureIntervalMs: 50, clock });
    const id = write(core, 0);
    clock.advance(49);
    assert.deepEqual(core.history.signatures, []);
    clock.advance(1);
    assert.deepEqual(core.history.signatures, [id.seqno + 1]);
    await core.history.waitForCommit(id.seqno);
    // Nothing new to sign: the timer does not sign again.
    clock.advance(500);
    assert.deepEqual(core.history.signatures, [id.seqno + 1]);
    await core.close();
  });

  it("signs after signatureIntervalMs even when fewer than N transactions arrived", async () => {
    const { core } = await start(tempDir(), { signatureIntervalTx: 1000, signatureIntervalMs: 20 });
    const id = write(core, 0);
    await core.history.waitForCommit(id.seqno);
    assert.equal(core.history.txStatus(id), "Committed");
    assert.equal(core.history.signatures.length, 1);
    await core.close();
  });

  it("a transaction that writes nothing gets no seqno", async () => {
    const { core } = await start(tempDir());
    const tx = core.history.begin();
    tx.map("public:x").get(b("k"));
    assert.equal(core.history.commit(tx), undefined);
    assert.equal(core.history.lastSeqno, 0);
    await core.close();
  });

  it("chunks end at signatures, are named ledger_<start>-<end>.committed, and trigger_ledger_chunk cuts one early", async () => {
    const dir = tempDir();
    const { core } = await start(dir, { signatureIntervalTx: 4, chunkBytes: 1500 });
    for (let i = 0; i < 30; i++) write(core, i);
    core.history.triggerLedgerChunk();
    write(core, 30);
    const cut = core.history.emitSignature();
    await core.history.waitForCommit(cut);
    const names = readdirSync(join(dir, "ledger")).sort((x, y) => Number(x.split(/[_-]/)[1]) - Number(y.split(/[_-]/)[1]));
    assert.ok(names.length >= 3, `several chunks: ${names}`);
    for (const name of names) assert.match(name, /^ledger_\d+-\d+\.committed$/);
    for (const name of names) assert.ok(core.history.signatures.includes(Number(name.split(/[-.]/)[1])), `${name} ends at a signature`);
    assert.ok(names.at(-1)!.endsWith(`-${cut}.committed`), "the triggered chunk ends at the next signature");
    await core.close();
  });
});

describe("background ledger writes", () => {
  it("a burst of commits filling many write buffers in one event-loop turn is written in order and reads back", async () => {
    const dir = tempDir();
    let { core } = await start(dir, { signatureIntervalTx: 1_000_000, chunkBytes: 64 << 20 });
    // ~1 KiB entries, ~10 MiB in all without returning to the event loop: more buffers than may be queued.
    const value = (i: number) => Buffer.alloc(1000, i % 251);
    for (let i = 0; i < 10_000; i++) {
      const tx = core.history.begin();
      tx.map("records").set(b(`k${i}`), value(i));
      core.history.commit(tx);
    }
    const signature = core.history.emitSignature();
    await core.history.waitForCommit(signature);
    for (const seqno of [1, 2500, 4999, 10_000]) {
      const writes = core.history.writesAt(seqno).get("records");
      assert.deepEqual(writes?.get(`k${seqno - 1}`), value(seqno - 1), `entry ${seqno} reads back`);
    }
    await core.close();
    ({ core } = await start(dir));
    const tx = core.history.store.beginReadOnly();
    for (const i of [0, 1234, 9999]) assert.deepEqual(tx.map("records").get(b(`k${i}`)), value(i));
    await core.close();
  });
});

describe("write failures", () => {
  it("a ledger that cannot be written (disk full) stops all writes with the error; nothing is reported committed", async () => {
    const dir = tempDir();
    const logs: string[] = [];
    const { core } = await start(dir, { signatureIntervalTx: 3, log: (m) => logs.push(m) });
    // The first append creates ledger_1; as a link to /dev/full every write to it fails with ENOSPC.
    symlinkSync("/dev/full", join(dir, "ledger", "ledger_1"));
    const first = write(core, 0);
    // The background write at the end of this event-loop turn fails: the node stops its writes at once.
    await assert.rejects(core.history.waitForCommit(first.seqno), /ENOSPC/);
    assert.throws(() => write(core, 1), /ENOSPC/);
    assert.throws(() => write(core, 2), /ENOSPC/);
    assert.equal(core.history.txStatus(first), "Pending");
    assert.ok(logs.some((m) => /refusing further writes/.test(m)), logs.join("\n"));
    await core.history.abandon();
  });
});

describe("restart", () => {
  it("replays the same state, starts a new view, and reports lost Pending transactions Invalid", async () => {
    const dir = tempDir();
    let { core } = await start(dir, { signatureIntervalTx: 10 });
    for (let i = 0; i < 10; i++) write(core, i);
    await core.history.waitForCommit(11);
    const rootAtSignature = core.history.merkleRoot(10);
    const lost = write(core, 99); // Pending, never signed
    await new Promise(setImmediate); // its bytes are handed to the OS, as a crash after a write would leave them
    await core.history.abandon();
    const restarted = await start(dir, { signatureIntervalTx: 10 });
    core = restarted.core;
    assert.equal(core.history.view, 2);
    assert.ok(restarted.logs.some((m) => /discarding 1 unsigned entries/.test(m)), restarted.logs.join("\n"));
    assert.equal(core.history.txStatus(lost), "Invalid");
    assert.equal(core.history.txStatus({ view: toView(1), seqno: seqNo(5) }), "Committed");
    assert.deepEqual(core.history.merkleRoot(10), rootAtSignature);
    const tx = core.history.store.beginReadOnly();
    assert.equal(tx.map("records").get(b("k9"))?.toString(), "private9");
    assert.equal(tx.map("records").get(b("k99")), undefined);
    assert.equal(tx.map("public:records").getVersionOfPreviousWrite(b("k3")), 4);
    const next = write(core, 100);
    assert.equal(next.view, 2);
    await core.close();
  });
});

describe("node files", () => {
  it("a damaged view file stops the start with an error naming the file", async () => {
    const dir = tempDir();
    const { core } = await start(dir);
    write(core, 0);
    await core.close();
    writeFileSync(join(dir, "view"), "not a number\n");
    await assert.rejects(start(dir), /view does not hold a view number/);
  });
});

describe("receipts", () => {
  it("verify against the service certificate, for data and signature transactions, from memory and from ledger files", async () => {
    const dir = tempDir();
    let { core } = await start(dir, { signatureIntervalTx: 7, merkleLeavesInMemory: 1 });
    for (let i = 0; i < 40; i++) write(core, i);
    await core.history.waitForCommit(core.history.emitSignature());
    const service = core.identity.serviceCertPem;
    for (let s = 1; s <= core.history.lastCommitted.seqno; s++) {
      const receipt = core.history.receipt(s);
      verifyReceipt(receipt, service);
      if (core.history.signatures.includes(s)) assert.equal(receipt.leaf, core.history.merkleRoot(s - 1).toString("hex"));
      else assert.match(receipt.leaf_components!.commit_evidence, new RegExp(`^ce:1\\.${s}:[0-9a-f]{64}$`));
    }
    assert.throws(() => core.history.receipt(core.history.lastSeqno + 1), /not committed/);
    await core.close();
    ({ core } = await start(dir, { merkleLeavesInMemory: 1 }));
    verifyReceipt(core.history.receipt(3), service);
    await core.close();
  });

  it("rebuilt from ledger files refuse altered entries: the receipt's own by its digest, a neighbour's by its block, the signed tree by the root", async () => {
    const dir = tempDir();
    let { core } = await start(dir, { signatureIntervalTx: 100 });
    for (let i = 0; i < 600; i++) write(core, i);
    await core.close();
    // Blocks of 256 leaves: with one leaf kept in memory, block 0 (seqnos 1-256) is evicted.
    ({ core } = await start(dir, { merkleLeavesInMemory: 1 }));
    const service = core.identity.serviceCertPem;
    verifyReceipt(core.history.receipt(5), service);

    const chunk = join(dir, "ledger", readdirSync(join(dir, "ledger")).find((name) => /^ledger_1(\D|$)/.test(name))!);
    const frameAt = (seqno: number) => {
      const bytes = readFileSync(chunk);
      let at = 0;
      for (let s = 1; s < seqno; s++) at += 40 + bytes.readUInt32LE(at);
      return at;
    };
    const flip = (offset: number) => {
      const fd = openSync(chunk, "r+");
      const byte = Buffer.alloc(1);
      readSync(fd, byte, 0, 1, offset);
      byte[0]! ^= 0x01;
      writeSync(fd, byte, 0, 1, offset);
      closeSync(fd);
    };
    // The stored digest of seqno 7 is its leaf's first component: block 0 no longer hashes to the tree's.
    flip(frameAt(7) + 8);
    assert.throws(() => core.history.receipt(5), /do not match the Merkle tree/);
    flip(frameAt(7) + 8);
    verifyReceipt(core.history.receipt(5), service);
    // A byte of seqno 5's own write set: its digest no longer matches.
    flip(frameAt(6) - 1);
    assert.throws(() => core.history.receipt(5), /entry digest mismatch/);
    flip(frameAt(6) - 1);
    // A signature's recorded tree (its peaks), altered with the entry digest recomputed: a receipt built
    // from it would not lead to the signed root, so none is given. Seqno 210 (block 0) is signed at 303,
    // whose own leaf is in block 1: only the root check can see this.
    assert.ok(core.history.signatures.includes(303) && !core.history.signatures.some((s) => s > 210 && s < 303));
    verifyReceipt(core.history.receipt(210), service);
    const signature = frameAt(303);
    const bytes = readFileSync(chunk);
    const frame = bytes.subarray(signature, signature + 40 + bytes.readUInt32LE(signature));
    const frontier = readSignature(decodeFrame(frame).publicWriteSet).treeFrontier!;
    flip(signature + frame.indexOf(frontier) + frontier.length - 1);
    const entry = readFileSync(chunk).subarray(signature + 40, signature + frame.length);
    const fd = openSync(chunk, "r+");
    writeSync(fd, sha256(entry), 0, 32, signature + 8);
    closeSync(fd);
    assert.throws(() => core.history.receipt(210), /does not lead to the root signed at seqno 303: the ledger files were altered/);
    await core.close();
  });

  it("carry the application's claims digest", async () => {
    const { core } = await start(tempDir());
    const tx = core.history.begin();
    tx.map("public:claims").set(b("k"), b("v"));
    const claims = Buffer.alloc(32, 0xab);
    tx.claimsDigest = claims;
    const id = core.history.commit(tx)!;
    await core.history.waitForCommit(core.history.emitSignature());
    const receipt = core.history.receipt(id.seqno);
    assert.equal(receipt.leaf_components!.claims_digest, claims.toString("hex"));
    verifyReceipt(receipt, core.identity.serviceCertPem);
    await core.close();
  });
});

describe("snapshots", () => {
  it("a restart loads the latest committed snapshot and replays only what follows; old receipts still come from the ledger", async () => {
    const dir = tempDir();
    const options = { signatureIntervalTx: 10, snapshotIntervalTx: 25, chunkBytes: 2000 };
    let { core } = await start(dir, options);
    // 10 distinct keys per map, so the store stays smaller than the snapshot interval.
    for (let i = 0; i < 70; i++) write(core, i % 10);
    await core.close();
    const snapshots = readdirSync(join(dir, "snapshots"));
    assert.ok(snapshots.filter((n) => /^snapshot_\d+_\d+\.committed$/.test(n)).length >= 2, snapshots.join());
    const restarted = await start(dir, { ...options, merkleLeavesInMemory: 1 });
    core = restarted.core;
    assert.ok(restarted.logs.some((m) => /starting from snapshot_/.test(m)), restarted.logs.join("\n"));
    const tx = core.history.store.beginReadOnly();
    assert.equal(tx.map("public:records").size, 10);
    assert.equal(tx.map("records").get(b("k3"))?.toString(), "private3");
    assert.ok(tx.map("records").getVersionOfPreviousWrite(b("k3"))! > 60);
    verifyReceipt(core.history.receipt(2), core.identity.serviceCertPem);
    await core.close();
  });

  it("a large store is not snapshotted until the ledger has grown by as much, so snapshot cost per byte stays bounded", async () => {
    const countSnapshots = async (bigValueBytes: number) => {
      const dir = tempDir();
      const { core } = await start(dir, { signatureIntervalTx: 10, snapshotIntervalTx: 20 });
      const tx = core.history.begin();
      tx.map("public:big").set(b("blob"), Buffer.alloc(bigValueBytes, 1));
      core.history.commit(tx);
      for (let i = 0; i < 200; i++) write(core, i % 10);
      await core.close();
      return readdirSync(join(dir, "snapshots")).length;
    };
    const small = await countSnapshots(10);
    const large = await countSnapshots(1_000_000);
    assert.ok(small >= 5, `a small store is snapshotted every ~20 transactions (${small} snapshots)`);
    assert.equal(large, 1, "a 1 MB store: only the first snapshot, once the big write itself filled the ledger");
  });

  it("trigger_snapshot takes one at the next signature, before the interval is reached", async () => {
    const dir = tempDir();
    const { core } = await start(dir, { signatureIntervalTx: 5, snapshotIntervalTx: 1_000_000 });
    for (let i = 0; i < 7; i++) write(core, i);
    assert.deepEqual(readdirSync(join(dir, "snapshots")), []);
    core.history.triggerSnapshot();
    const signature = core.history.emitSignature();
    await core.close();
    assert.deepEqual(readdirSync(join(dir, "snapshots")), [`snapshot_${signature}_${signature + 1}.committed`]);
  });

  it(`keeps at most PENDING_SNAPSHOTS_MAX (${PENDING_SNAPSHOTS_MAX}) snapshots awaiting commit; a skipped one is retried at the next signature`, async () => {
    const dir = tempDir();
    const { core, logs } = await start(dir, { signatureIntervalTx: 1_000_000, snapshotIntervalTx: 1_000_000 });
    // Signatures back to back, none durable yet: each snapshot's evidence waits for a commit that has not happened.
    for (let i = 0; i < PENDING_SNAPSHOTS_MAX + 3; i++) {
      write(core, i);
      core.history.triggerSnapshot();
      core.history.emitSignature();
    }
    assert.equal(readdirSync(join(dir, "snapshots")).length, PENDING_SNAPSHOTS_MAX);
    assert.equal(logs.filter((m) => /snapshots already await commit/.test(m)).length, 3, logs.join("\n"));
    await core.history.waitForCommit(core.history.lastSeqno);
    write(core, 99);
    core.history.emitSignature(); // the request still stands: taken now that the others completed
    await core.close();
    const files = readdirSync(join(dir, "snapshots"));
    assert.equal(files.length, PENDING_SNAPSHOTS_MAX + 1, files.join());
    assert.ok(files.every((name) => name.endsWith(".committed")), files.join());
  });

  it("an altered snapshot is rejected with a warning and the node replays the whole ledger instead", async () => {
    const dir = tempDir();
    const options = { signatureIntervalTx: 10, snapshotIntervalTx: 20 };
    let { core } = await start(dir, options);
    for (let i = 0; i < 45; i++) write(core, i % 5);
    await core.close();
    for (const name of readdirSync(join(dir, "snapshots"))) {
      const path = join(dir, "snapshots", name);
      const bytes = readFileSync(path);
      bytes[40] = bytes[40]! ^ 1;
      writeFileSync(path, bytes);
    }
    const restarted = await start(dir, options);
    core = restarted.core;
    assert.ok(restarted.logs.some((m) => /rejected, replaying the ledger instead/.test(m)), restarted.logs.join("\n"));
    assert.equal(core.history.store.beginReadOnly().map("records").get(b("k4"))?.toString(), "private4");
    await core.close();
  });
});
