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
import { LedgerSecret } from "../src/crypto/ledger-secret.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { decodeFrame, txIdBytes } from "../src/ledger/entry.ts";
import { writeLedgerSecretsForNodes } from "../src/recovery/rekey.ts";
import { idKey, SENTINEL_KEY, Tables } from "../src/tables.ts";

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

function readLedgerEntries(core: NodeCore, seqno: number) {
  return core.history.frames(seqno, seqno).map((frame) => decodeFrame(frame));
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

  it("a rekey entry hands a backup the new secret sealed to it; one that does not open is refused; a rolled-back rekey is forgotten", async () => {
    const aDir = tempDir();
    const a = await start(aDir);
    // Its own copy of the secrets, as a joiner's: what a rekey adds on the primary is not in it.
    const b = await start(serviceMemberDir(aDir), { startAs: "backup", ledgerSecrets: new LedgerSecrets([...a.history.ledgerSecrets.all()]) });
    const first = a.history.ledgerSecrets.latest;
    const trust = a.history.begin();
    for (const node of [a, b]) {
      trust.map(Tables.nodesInfo).set(idKey(node.identity.nodeId), Buffer.from(JSON.stringify({ status: "Trusted", encryption_pub_key: node.encryptionKey.publicKeyPem })));
    }
    a.history.commit(trust);
    for (let i = 0; i < 3; i++) write(a, i);
    const signed = seqNo(a.history.emitSignature());
    replicate(a, b);

    // An altered part: the backup stops at that entry with a clear error and keeps nothing of it.
    const altered = LedgerSecret.generate();
    const bad = a.history.begin();
    writeLedgerSecretsForNodes(bad, altered);
    const record = JSON.parse(bad.map(Tables.encryptedLedgerSecrets).get(SENTINEL_KEY)!.toString()) as Record<string, Array<{ encrypted_secret: string }>>;
    const sealed = Buffer.from(record[b.identity.nodeId]![0]!.encrypted_secret, "base64");
    sealed[sealed.length - 1]! ^= 0x01;
    record[b.identity.nodeId]![0]!.encrypted_secret = sealed.toString("base64");
    bad.map(Tables.encryptedLedgerSecrets).set(SENTINEL_KEY, Buffer.from(JSON.stringify(record)));
    a.history.commit(bad, { rekeyTo: altered });
    const before = dump(b.history.store);
    assert.throws(
      () => replicate(a, b),
      (error: Error) => error instanceof ReplicationError && /new ledger secret sealed to this node does not open with its encryption key/.test(error.message),
    );
    assert.equal(b.history.lastSeqno, signed);
    assert.equal(dump(b.history.store), before);
    assert.deepEqual(b.history.ledgerSecrets.all(), [first]);
    // The primary takes the bad entry back as consensus would (a deposed primary, then elected again).
    a.history.becomeBackup();
    await a.history.rollback(signed);
    a.history.becomePrimary(a.history.view);

    // A good rekey: the backup takes its part and reads the entries after it, sealed with the new secret.
    const secret = LedgerSecret.generate();
    const rekey = a.history.begin();
    writeLedgerSecretsForNodes(rekey, secret);
    const rekeyId = a.history.commit(rekey, { rekeyTo: secret })!;
    write(a, 10);
    replicate(a, b);
    assert.deepEqual(b.history.ledgerSecrets.all().map((v) => [v.version, v.secret.fingerprint]), [[first.version, first.secret.fingerprint], [rekeyId.seqno + 1, secret.fingerprint]]);
    assert.equal(dump(b.history.store), dump(a.history.store));

    // Consensus takes the rekey back (never committed): the backup forgets its secret, and seals with the old one as primary.
    await b.history.rollback(signed);
    assert.deepEqual(b.history.ledgerSecrets.all(), [first]);
    b.history.becomePrimary(view(b.history.view + 1));
    const after = write(b, 20);
    assert.equal(after.seqno, rekeyId.seqno);
    const [entry] = [...readLedgerEntries(b, after.seqno)];
    first.secret.open(entry!.privateSealed, txIdBytes(entry!.view, entry!.seqno));
    await Promise.all([a.close(), b.close()]);
  });
});
