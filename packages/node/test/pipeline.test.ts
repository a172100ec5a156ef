// The commit pipeline's decisions, with no I/O: what each input makes the driver do.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CommitPipeline, type CommitSource } from "../src/history/pipeline.ts";
import { seqNo, view } from "../src/ids.ts";

function pipeline(overrides: Partial<ConstructorParameters<typeof CommitPipeline>[0]> = {}): CommitPipeline {
  return new CommitPipeline({
    view: view(2),
    lastSeqno: seqNo(10),
    committedSeqno: seqNo(10),
    signatureIntervalTx: 3,
    snapshotIntervalTx: 20,
    lastSnapshotSeqno: 10,
    ...overrides,
  });
}

describe("CommitPipeline", () => {
  it("assigns tx ids in order and asks for a signature every signatureIntervalTx entries", () => {
    const p = pipeline();
    assert.deepEqual(p.nextTxId(), { view: 2, seqno: 11 });
    assert.deepEqual(p.appended(100, false), [{ type: "keepAlive", on: true }]);
    assert.deepEqual(p.appended(100, false), []);
    assert.deepEqual(p.appended(100, false), [{ type: "sign" }]);
    assert.deepEqual(p.nextTxId(), { view: 2, seqno: 14 });
    assert.deepEqual(p.appended(100, true), [{ type: "keepAlive", on: false }, { type: "sync", seqno: 14 }]);
    assert.equal(p.unsignedCount, 0);
    // An entry appended inside a signature (a snapshot's evidence) does not ask for another one.
    p.appended(1, false);
    p.appended(1, false);
    assert.deepEqual(p.appended(1, false, { signWhenDue: false }), []);
  });

  it("the timer signs only when entries await a signature", () => {
    const p = pipeline();
    assert.deepEqual(p.timerFired(), []);
    p.appended(10, false);
    assert.deepEqual(p.timerFired(), [{ type: "sign" }]);
  });

  it("one node: a durable signature is committed", () => {
    const p = pipeline();
    p.appended(10, false);
    p.appended(10, true);
    assert.deepEqual(p.durable(seqNo(12)), [{ type: "commit", seqno: 12 }]);
    assert.equal(p.committedSeqno, 12);
    assert.deepEqual(p.durable(seqNo(12)), [], "already committed");
  });

  it("another commit source (consensus) decides: durable alone commits nothing, advanceCommit does", () => {
    const acked: number[] = [];
    const consensus: CommitSource = { durable: (s) => (acked.push(s), undefined) };
    const p = pipeline({ commitSource: consensus });
    p.appended(10, false);
    p.appended(10, true);
    assert.deepEqual(p.durable(seqNo(12)), []);
    assert.deepEqual(acked, [12]);
    assert.equal(p.committedSeqno, 10);
    assert.deepEqual(p.advanceCommit(seqNo(12)), [{ type: "commit", seqno: 12 }]);
    assert.throws(() => p.advanceCommit(seqNo(13)), /cannot commit seqno 13: the last seqno is 12/);
  });

  it("rolls back uncommitted entries only, and counts what stays unsigned", () => {
    const p = pipeline();
    for (let i = 0; i < 2; i++) p.appended(10, false); // 11, 12
    p.appended(10, true); // 13: signature
    for (let i = 0; i < 2; i++) p.appended(10, false); // 14, 15
    p.durable(seqNo(13));
    assert.throws(() => p.rollback(seqNo(12), 0), /cannot roll back to seqno 12: seqno 13 is committed/);
    assert.throws(() => p.rollback(seqNo(14), 15), /after the rollback point/);
    assert.deepEqual(p.rollback(seqNo(14), 13), [{ type: "truncate", seqno: 14 }, { type: "keepAlive", on: true }]);
    assert.equal(p.lastSeqno, 14);
    assert.equal(p.unsignedCount, 1);
    assert.deepEqual(p.nextTxId(), { view: 2, seqno: 15 });
    assert.deepEqual(p.rollback(seqNo(14), 13), [], "nothing after it");
  });

  it("snapshots at a signature when asked, or every snapshotIntervalTx once the ledger grew by the store's size", () => {
    const p = pipeline();
    assert.deepEqual(p.snapshotAfterSignature(seqNo(30), 0, true), [{ type: "snapshot", seqno: 30 }]);
    p.snapshotTaken(seqNo(30));
    assert.deepEqual(p.snapshotAfterSignature(seqNo(45), 0, true), [], "interval not reached");
    p.appended(500, false);
    assert.deepEqual(p.snapshotAfterSignature(seqNo(50), 1000, true), [], "ledger grew less than the store holds");
    p.appended(600, false);
    assert.deepEqual(p.snapshotAfterSignature(seqNo(50), 1000, true), [{ type: "snapshot", seqno: 50 }]);
    assert.deepEqual(p.snapshotAfterSignature(seqNo(50), 1000, false), [], "paused");
    p.snapshotTaken(seqNo(50));
    p.requestSnapshot();
    assert.deepEqual(p.snapshotAfterSignature(seqNo(52), 1000, true), [{ type: "snapshot", seqno: 52 }]);
  });

  it("views only move forward", () => {
    const p = pipeline();
    assert.throws(() => p.startView(view(2)), /does not follow/);
    p.startView(view(3));
    assert.deepEqual(p.nextTxId(), { view: 3, seqno: 11 });
  });
});
