// A node rolls back what was never committed, as a backup or a deposed primary must: the store,
// the Merkle tree and the ledger files forget the entries after the cut, their tx ids read
// Invalid, those waiting for them are told, and the node goes on (and restarts) from the cut.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import type { CommitSource } from "../src/history/pipeline.ts";
import { seqNo, type TxId } from "../src/ids.ts";
import { listChunks } from "../src/ledger/chunk-files.ts";
import type { Store } from "../src/kv/store.ts";
import type { NodeCore } from "../src/node.ts";
import { startNodeCoreKeepingSecrets } from "./helpers/held-secrets.ts";

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** Durable is not committed: the test says what is, as consensus would. */
const consensus: CommitSource = { durable: () => undefined };
const OPTIONS = { signatureIntervalTx: 3, signatureIntervalMs: 60_000, chunkBytes: 600, commitSource: consensus, log: () => {} };
/** A restart on its own commits what it finds (one node: durable is committed). */
const { commitSource: _, ...RESTART } = OPTIONS;

function write(core: NodeCore, i: number): TxId {
  const tx = core.history.begin();
  tx.map("public:records").set(Buffer.from(`k${i % 4}`), Buffer.from(`public-${i}`));
  tx.map("records").set(Buffer.from(`k${i % 5}`), Buffer.from(`private-${i}`));
  return core.history.commit(tx)!;
}

/** Every map's entries with their versions, to compare states (`internal`: with the signatures' tables). */
function dump(store: Store, internal = true): string {
  const tx = store.beginReadOnly();
  const out: string[] = [];
  for (const name of store.mapNames().sort()) {
    if (!internal && name.startsWith("public:ccf.internal.")) continue;
    const map = tx.map(name);
    map.forEach((value, key) => out.push(`${name} ${key.toString("latin1")}=${value.toString("latin1")}@${map.getVersionOfPreviousWrite(key)}`));
  }
  return out.join("\n");
}

async function started(): Promise<{ dir: string; core: NodeCore }> {
  const dir = mkdtempSync(join(tmpdir(), "confide-rollback-"));
  dirs.push(dir);
  return { dir, core: await startNodeCoreKeepingSecrets({ dir, ...OPTIONS }) };
}

describe("rollback of uncommitted entries", () => {
  it("takes back store, tree and ledger files after the cut, across chunks, and the node goes on and restarts from it", async () => {
    const { dir, core } = await started();
    const { history } = core;
    for (let i = 0; i < 6; i++) write(core, i);
    const committed = history.signatures[0]!;
    history.advanceCommit(seqNo(committed));
    for (let i = 6; i < 10; i++) write(core, i);
    const cut = history.lastSeqno; // mid-way: neither committed nor the end
    const stateAtCut = dump(history.store);
    const rootAtCut = history.merkleRoot(cut);
    const idsAfter: TxId[] = [];
    for (let i = 10; i < 30; i++) idsAfter.push(write(core, i));
    await history.waitForCommit(committed);
    const chunksBefore = listChunks(core.ledgerDir).length;
    assert.ok(listChunks(core.ledgerDir).some((c) => c.start > cut), "entries after the cut fill chunk files of their own");
    const waiting = assert.rejects(history.waitForCommit(idsAfter.at(-1)!.seqno), /seqno \d+ was rolled back/);

    const oldView = history.view;
    await history.rollback(seqNo(cut));
    await waiting;
    assert.equal(history.lastSeqno, cut);
    assert.equal(history.view, oldView + 1, "a rollback starts a new view");
    assert.equal(dump(history.store), stateAtCut);
    assert.ok(history.merkleRoot(cut).equals(rootAtCut));
    assert.ok(history.signatures.every((s) => s <= cut));
    assert.ok(listChunks(core.ledgerDir).every((c) => c.start <= cut), "no chunk file after the cut");
    assert.ok(listChunks(core.ledgerDir).length < chunksBefore);
    for (const id of idsAfter) assert.equal(history.txStatus(id), "Invalid", `${id.view}.${id.seqno}`);
    assert.equal(history.txStatus({ view: oldView, seqno: seqNo(committed) }), "Committed");

    // The same seqnos again, in the new view, then committed and read back after a restart.
    const next = write(core, 100);
    assert.deepEqual(next, { view: oldView + 1, seqno: cut + 1 });
    const signature = history.emitSignature();
    history.advanceCommit(signature);
    await history.waitForCommit(signature);
    // A restart signs its new view: compare what the transactions wrote.
    const stateBeforeRestart = dump(history.store, false);
    await core.close();

    const warnings: string[] = [];
    const restarted = await startNodeCoreKeepingSecrets({ dir, ...RESTART, log: (m) => warnings.push(m) });
    assert.equal(dump(restarted.history.store, false), stateBeforeRestart);
    assert.equal(restarted.history.txStatus(next), "Committed");
    assert.deepEqual(warnings.filter((w) => !/discarding \d+ unsigned/.test(w)), [], warnings.join("\n"));
    await restarted.close();
  });

  it("a cut at the end of a finished chunk keeps it finished; the next entry starts a new chunk", async () => {
    const { dir, core } = await started();
    const { history } = core;
    for (let i = 0; i < 30; i++) write(core, i);
    // A chunk followed by another is finished (its name may not say so until its fsync is done).
    const ends = listChunks(core.ledgerDir).slice(1).map((next) => next.start - 1);
    assert.ok(ends.length >= 2, "several finished chunks");
    history.advanceCommit(seqNo(ends[0]!));
    await history.waitForCommit(ends[0]!);
    await history.rollback(seqNo(ends[1]!));
    const chunks = listChunks(core.ledgerDir);
    assert.equal(chunks.at(-1)!.start, ends[0]! + 1);
    assert.equal(chunks.at(-1)!.end, ends[1]!);
    write(core, 99);
    history.advanceCommit(history.emitSignature());
    await core.close();
    const restarted = await startNodeCoreKeepingSecrets({ dir, ...RESTART });
    assert.equal(restarted.history.lastSeqno, ends[1]! + 3, "the entry, the signature, and the restart's own signature");
    assert.equal(listChunks(join(dir, "ledger")).find((c) => c.start === ends[1]! + 1)?.start, ends[1]! + 1, "a new chunk after the cut");
    await restarted.close();
  });

  it("refuses to roll back committed entries, and refuses writes while rolling back", async () => {
    const { core } = await started();
    const { history } = core;
    for (let i = 0; i < 3; i++) write(core, i);
    const signature = history.signatures[0]!;
    history.advanceCommit(seqNo(signature));
    await history.waitForCommit(signature);
    for (let i = 3; i < 5; i++) write(core, i);
    await assert.rejects(history.rollback(seqNo(signature - 1)), /cannot roll back to seqno \d+: seqno \d+ is committed/);
    await assert.rejects(history.rollback(seqNo(history.lastSeqno + 1)), /cannot roll back to seqno \d+: the last seqno is/);
    const view = history.view;
    await history.rollback(seqNo(history.lastSeqno));
    assert.equal(history.view, view, "rolling back nothing starts no view");
    const rolling = history.rollback(seqNo(signature));
    assert.throws(() => write(core, 9), (error: Error & { statusCode?: number }) => /rolling back/.test(error.message));
    await rolling;
    write(core, 10);
    history.advanceCommit(history.emitSignature());
    await core.close();
  });
});
