// A backup appends the entries its primary replicates: each is checked as replay checks a ledger
// (framing, order, signatures against the rebuilt tree, the service's endorsement, decryption), so
// a backup ends with the primary's exact state, tree and ledger, and refuses a bad entry without
// changing anything. Roles move as consensus says: a backup becomes primary of a later view and
// the old primary, rolled back to its last signature, follows it.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ReplicationError } from "../src/history/history.ts";
import type { CommitSource } from "../src/history/pipeline.ts";
import { seqNo, view, type TxId } from "../src/ids.ts";
import { IDENTITY_FILES } from "../src/identity.ts";
import type { Store } from "../src/kv/store.ts";
import { startNodeCore, type NodeCore, type NodeOptions } from "../src/node.ts";

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Durable is not committed: the test commits, as consensus would. */
const consensus: CommitSource = { durable: () => undefined };
const OPTIONS = { signatureIntervalTx: 3, signatureIntervalMs: 60_000, chunkBytes: 700, commitSource: consensus, log: () => {} };

function write(core: NodeCore, i: number): TxId {
  const tx = core.history.begin();
  tx.map("public:records").set(Buffer.from(`k${i % 4}`), Buffer.from(`public-${i}`));
  tx.map("records").set(Buffer.from(`k${i % 5}`), Buffer.from(`private-${i}`));
  return core.history.commit(tx)!;
}

function dump(store: Store): string {
  const tx = store.beginReadOnly();
  const out: string[] = [];
  for (const name of store.mapNames().sort()) {
    const map = tx.map(name);
    map.forEach((value, key) => out.push(`${name} ${key.toString("latin1")}=${value.toString("hex")}@${map.getVersionOfPreviousWrite(key)}`));
  }
  return out.join("\n");
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "confide-replication-"));
  dirs.push(dir);
  return dir;
}

/** A node of the same service as `primaryDir` (its service identity), with its own node key; it is handed the primary's ledger secrets as a joiner is. */
function serviceMemberDir(primaryDir: string): string {
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  for (const name of [IDENTITY_FILES.serviceCert, IDENTITY_FILES.serviceKey]) copyFileSync(join(primaryDir, name), join(dir, name));
  return dir;
}

function start(dir: string, extra: Partial<NodeOptions> = {}): Promise<NodeCore> {
  return startNodeCore({ dir, ...OPTIONS, ...extra });
}

/** Ships the primary's entries the backup lacks, as replication does. */
function replicate(from: NodeCore, to: NodeCore): void {
  const first = to.history.lastSeqno + 1;
  if (first > from.history.lastSeqno) return;
  for (const frame of from.history.frames(first, from.history.lastSeqno)) to.history.appendReplicated(frame);
}

describe("a backup appends replicated entries", () => {
  it("ends with the primary's state, tree and statuses; commits when told; restarts as a backup in the same view", async () => {
    const primaryDir = tempDir();
    const primary = await start(primaryDir);
    const backupDir = serviceMemberDir(primaryDir);
    const backup = await start(backupDir, { startAs: "backup", ledgerSecrets: primary.history.ledgerSecrets });
    assert.equal(backup.history.currentRole, "backup");
    assert.equal(backup.history.lastSeqno, 0);
    const ids = Array.from({ length: 8 }, (_, i) => write(primary, i));
    replicate(primary, backup);
    assert.equal(backup.history.lastSeqno, primary.history.lastSeqno);
    assert.equal(dump(backup.history.store), dump(primary.history.store));
    assert.ok(backup.history.merkleRoot().equals(primary.history.merkleRoot()));
    assert.deepEqual(backup.history.signatures, primary.history.signatures);
    assert.equal(backup.history.view, primary.history.view);
    assert.equal(backup.history.txStatus(ids[0]!), "Pending");
    const lastSignature = seqNo(primary.history.signatures.at(-1)!);
    primary.history.advanceCommit(lastSignature);
    backup.history.advanceCommit(lastSignature);
    assert.equal(backup.history.txStatus(ids[0]!), "Committed");
    // The backup proves what it holds with the primary's signatures.
    assert.deepEqual(backup.history.receipt(ids[0]!.seqno), primary.history.receipt(ids[0]!.seqno));
    assert.throws(() => write(backup, 99), (error: Error & { statusCode?: number }) => /not the primary/.test(error.message));

    const viewBefore = backup.history.view;
    const lastBefore = backup.history.lastSeqno;
    await backup.close();
    const restarted = await start(backupDir, { startAs: "backup", ledgerSecrets: backup.history.ledgerSecrets });
    // No view of its own and no signature: consensus owns both.
    assert.equal(restarted.history.view, viewBefore);
    assert.ok(restarted.history.lastSeqno <= lastBefore);
    assert.equal(restarted.history.lastSeqno, lastSignature);
    replicate(primary, restarted);
    assert.equal(dump(restarted.history.store), dump(primary.history.store));
    await restarted.close();
    await primary.close();
  });

  it("refuses a damaged, out-of-order or foreign entry and keeps its state", async () => {
    const primaryDir = tempDir();
    const primary = await start(primaryDir);
    const backup = await start(serviceMemberDir(primaryDir), { startAs: "backup", ledgerSecrets: primary.history.ledgerSecrets });
    const other = await start(tempDir()); // another service: its signatures are not endorsed by ours
    for (let i = 0; i < 4; i++) {
      write(primary, i);
      write(other, i);
    }
    const frames = primary.history.frames(1, primary.history.lastSeqno);
    backup.history.appendReplicated(frames[0]!);
    const before = dump(backup.history.store);
    const refused = (frame: Buffer, pattern: RegExp) => {
      assert.throws(() => backup.history.appendReplicated(frame), (error: Error) => error instanceof ReplicationError && pattern.test(error.message));
      assert.equal(backup.history.lastSeqno, 1);
      assert.equal(dump(backup.history.store), before);
    };
    const flipped = Buffer.from(frames[1]!);
    flipped[flipped.length - 3]! ^= 0xff;
    refused(flipped, /digest|decrypt|malformed/);
    refused(frames[2]!, /expected seqno 2/);
    refused(frames[1]!.subarray(0, frames[1]!.length - 5), /replicated entry after seqno 1/);
    // The other service's entry 2 has its own ledger secret: its commit evidence and private writes do not open with ours.
    refused(other.history.frames(2, 2)[0]!, /ledger secret|decrypt/);
    // The good entries still go in after the refusals.
    for (const frame of frames.slice(1)) backup.history.appendReplicated(frame);
    assert.equal(dump(backup.history.store), dump(primary.history.store));
    await Promise.all([primary.close(), backup.close(), other.close()]);
  });

  it("a backup becomes primary of a later view; the old primary rolls back its unsigned suffix and follows", async () => {
    const aDir = tempDir();
    const a = await start(aDir);
    const b = await start(serviceMemberDir(aDir), { startAs: "backup", ledgerSecrets: a.history.ledgerSecrets });
    for (let i = 0; i < 6; i++) write(a, i);
    replicate(a, b);
    const signed = seqNo(a.history.signatures.at(-1)!);
    a.history.advanceCommit(signed);
    b.history.advanceCommit(signed);
    // A's last writes reach nobody before it is deposed.
    const lost = write(a, 100);
    assert.equal(a.history.lastSeqno, signed + 1);

    const newView = view(a.history.view + 1);
    b.history.becomePrimary(newView);
    const firstSignature = b.history.emitSignature();
    const written = write(b, 200);
    assert.equal(written.view, newView);
    a.history.becomeBackup();
    await a.history.rollback(signed);
    assert.equal(a.history.txStatus(lost), "Invalid");
    replicate(b, a);
    assert.equal(dump(a.history.store), dump(b.history.store));
    assert.equal(a.history.viewOf(firstSignature), newView);
    assert.throws(() => a.history.emitSignature(), /only the primary signs/);
    await Promise.all([a.close(), b.close()]);
  });
});
