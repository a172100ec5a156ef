// The console's ledger explorer over a real node's ledger files (CCF's chunk files
// ledger_<start>[-<end>[.committed]]): transactions newest first and paged, public
// writes as text or hex (cut to a preview), private writes only as their sealed
// size, signature transactions with the root and node they sign, the chunk of
// each; a ledger being appended to (or ending in a torn entry) shows its whole entries.
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startNodeCore, type NodeCore } from "@confide/node";
import { LEDGER_LIST_VALUE_BYTES, LEDGER_LIST_WRITES_MAX, LedgerTxNotFound, readLedgerPage, readLedgerTransaction, renderBytes } from "../src/sandbox/ledger-explorer.ts";

const SECRET_VALUE = "the private value nobody without the ledger secret may read";

describe("ledger explorer", () => {
  let dir: string;
  let core: NodeCore;
  /** The seqno of each transaction written in before(). */
  const written = {} as Record<"json" | "private" | "binary" | "long" | "many" | "deletion" | "signature" | "last" | "closing", number>;

  const commit = (write: (tx: ReturnType<NodeCore["history"]["begin"]>) => void): number => {
    const tx = core.history.begin();
    write(tx);
    const id = core.history.commit(tx);
    assert.ok(id);
    return id.seqno;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "confide-explorer-"));
    // Small chunks: the ledger spans several files, committed and open.
    core = await startNodeCore({ dir: join(dir, "node"), chunkBytes: 4096, signatureIntervalTx: 1_000_000, signatureIntervalMs: 1_000_000 });
    written.json = commit((tx) => tx.map("public:records").set(Buffer.from("k1"), Buffer.from(JSON.stringify({ price: "10.00" }))));
    written.private = commit((tx) => {
      tx.map("public:records").set(Buffer.from("k2"), Buffer.from("clear"));
      tx.map("records_private").set(Buffer.from("k2"), Buffer.from(SECRET_VALUE));
    });
    written.binary = commit((tx) => tx.map("public:bin").set(Buffer.from([0, 1, 2, 255]), Buffer.from([0xde, 0xad, 0xbe, 0xef])));
    written.long = commit((tx) => tx.map("public:long").set(Buffer.from("big"), Buffer.from("é".repeat(LEDGER_LIST_VALUE_BYTES))));
    written.many = commit((tx) => {
      for (let i = 0; i < LEDGER_LIST_WRITES_MAX + 5; i++) tx.map("public:many").set(Buffer.from(`key${i}`), Buffer.from(String(i)));
    });
    written.deletion = commit((tx) => tx.map("public:records").delete(Buffer.from("k1")));
    written.signature = core.history.emitSignature();
    await core.history.waitForCommit(written.signature);
    // Enough more to fill a few 4 KiB chunks, each ended by a signature.
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 10; i++) commit((tx) => tx.map("public:filler").set(Buffer.from(`f${round}.${i}`), Buffer.alloc(200, 0x61)));
      await core.history.waitForCommit(core.history.emitSignature());
    }
    written.last = commit((tx) => tx.map("public:records").set(Buffer.from("k3"), Buffer.from("pending")));
    // Closing signs what is not yet signed: the ledger ends with that signature.
    await core.close();
    written.closing = written.last + 1;
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const ledgerDir = () => join(dir, "node", "ledger");
  const find = (seqno: number) => readLedgerTransaction(ledgerDir(), seqno);

  it("pages transactions newest first down to genesis, each in its chunk file", () => {
    const seen: number[] = [];
    let before: number | undefined;
    let pages = 0;
    let lastSeqno = 0;
    do {
      const page = readLedgerPage(ledgerDir(), { limit: 7, ...(before === undefined ? {} : { before }) });
      lastSeqno = page.lastSeqno;
      assert.ok(page.transactions.length <= 7);
      for (const tx of page.transactions) {
        seen.push(tx.seqno);
        assert.equal(tx.txId, `${tx.view}.${tx.seqno}`);
        const chunk = page.chunks.find((c) => c.name === tx.chunk)!;
        assert.ok(chunk.start <= tx.seqno && (chunk.end === null || tx.seqno <= chunk.end), `${tx.seqno} in ${tx.chunk}`);
        assert.equal(tx.chunkState, chunk.state);
      }
      before = page.nextBefore ?? undefined;
      pages++;
    } while (before !== undefined);
    assert.equal(lastSeqno, written.closing);
    assert.deepEqual(seen, Array.from({ length: lastSeqno }, (_, i) => lastSeqno - i));
    assert.equal(pages, Math.ceil(lastSeqno / 7));
    const { chunks } = readLedgerPage(ledgerDir());
    assert.ok(chunks.some((c) => c.state === "committed"), JSON.stringify(chunks));
    assert.equal(chunks.at(-1)!.state, "open");
    assert.equal(find(written.last).chunkState, "open");
    assert.ok(find(written.closing).signature);
    assert.equal(find(1).chunkState, "committed");
  });

  it("shows public writes as text, private writes only as a sealed size", () => {
    const json = find(written.json);
    assert.deepEqual(json.publicWrites, [{ table: "public:records", key: { text: "k1", encoding: "text", bytes: 2, truncated: false }, value: { text: '{"price":"10.00"}', encoding: "text", bytes: 17, truncated: false } }]);
    assert.equal(json.privateBytes, 0);
    const priv = find(written.private);
    assert.deepEqual(priv.publicWrites.map((w) => w.table), ["public:records"]);
    // Sealed: IV and tag around a ciphertext at least as long as the value.
    assert.ok(priv.privateBytes > SECRET_VALUE.length, String(priv.privateBytes));
    assert.ok(!JSON.stringify(readLedgerPage(ledgerDir(), { limit: 100 })).includes(SECRET_VALUE));
    assert.ok(!JSON.stringify(priv).includes("records_private"));
    assert.equal(find(written.deletion).publicWrites[0]!.value, null);
  });

  it("shows bytes that are not UTF-8 text as hex, and cuts long values and long write lists", () => {
    const [binary] = find(written.binary).publicWrites;
    assert.deepEqual(binary!.key, { text: "000102ff", encoding: "hex", bytes: 4, truncated: false });
    assert.deepEqual(binary!.value, { text: "deadbeef", encoding: "hex", bytes: 4, truncated: false });

    const listed = readLedgerPage(ledgerDir(), { before: written.long + 1, limit: 1 }).transactions[0]!;
    const value = listed.publicWrites[0]!.value!;
    // "é" is two bytes: the preview ends on a whole character, still text.
    assert.deepEqual([value.encoding, value.bytes, value.truncated, value.text], ["text", 2 * LEDGER_LIST_VALUE_BYTES, true, "é".repeat(LEDGER_LIST_VALUE_BYTES / 2)]);
    assert.equal(find(written.long).publicWrites[0]!.value!.truncated, false);

    const many = readLedgerPage(ledgerDir(), { before: written.many + 1, limit: 1 }).transactions[0]!;
    assert.equal(many.publicWrites.length, LEDGER_LIST_WRITES_MAX);
    assert.equal(many.publicWriteCount, LEDGER_LIST_WRITES_MAX + 5);
    assert.equal(find(written.many).publicWrites.length, LEDGER_LIST_WRITES_MAX + 5);
    assert.deepEqual(renderBytes(Buffer.from("a\u0001b"), 10).encoding, "hex");
  });

  it("marks signature transactions with the root and node they sign", () => {
    const sig = find(written.signature);
    assert.ok(sig.signature);
    assert.match(sig.signature.root, /^[0-9a-f]{64}$/);
    assert.equal(sig.signature.node, core.identity.nodeId);
    assert.ok(sig.publicWrites.some((w) => w.table === "public:ccf.internal.signatures"));
    assert.equal(find(written.json).signature, null);
    assert.equal(find(1).signature, null);
  });

  it("refuses a seqno the files do not hold", () => {
    assert.throws(() => find(written.closing + 1), LedgerTxNotFound);
    assert.throws(() => readLedgerTransaction(join(dir, "nowhere"), 1), LedgerTxNotFound);
    assert.deepEqual(readLedgerPage(join(dir, "nowhere")).transactions, []);
  });

  it("reads an open chunk that ends inside an entry: the whole entries, and the torn bytes said", () => {
    const open = readLedgerPage(ledgerDir()).chunks.at(-1)!;
    const path = join(ledgerDir(), open.name);
    const before = readLedgerPage(ledgerDir(), { limit: 3 });
    assert.equal(before.tornTail, null);
    // The first bytes of a frame, as a write in progress leaves them.
    appendFileSync(path, readFileSync(join(ledgerDir(), readLedgerPage(ledgerDir()).chunks[0]!.name)).subarray(0, 30));
    const torn = readLedgerPage(ledgerDir(), { limit: 3 });
    assert.deepEqual(torn.transactions, before.transactions);
    assert.equal(torn.lastSeqno, before.lastSeqno);
    assert.deepEqual(torn.tornTail && { chunk: torn.tornTail.chunk, tornBytes: torn.tornTail.tornBytes }, { chunk: open.name, tornBytes: 30 });
  });
});

describe("ledger explorer while the node appends", () => {
  it("reads whole entries, newest first without gaps, as chunks fill, finish and commit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "confide-explorer-live-"));
    const core = await startNodeCore({ dir: join(dir, "node"), chunkBytes: 8192, signatureIntervalTx: 20 });
    try {
      const ledgerDir = join(dir, "node", "ledger");
      let reads = 0;
      let newest = 0;
      let chunkNames = new Set<string>();
      for (let batch = 0; batch < 60; batch++) {
        for (let i = 0; i < 20; i++) {
          const tx = core.history.begin();
          tx.map("public:live").set(Buffer.from(`b${batch}.${i}`), Buffer.alloc(100, 0x62));
          core.history.commit(tx);
        }
        // Yield so the thread pool writes (and the ledger renames) happen between and during reads.
        await new Promise((resolve) => setImmediate(resolve));
        const page = readLedgerPage(ledgerDir, { limit: 50 });
        const seqnos = page.transactions.map((t) => t.seqno);
        assert.deepEqual(seqnos, Array.from({ length: seqnos.length }, (_, i) => page.lastSeqno - i));
        assert.ok(page.lastSeqno >= newest, "the ledger never shrinks");
        newest = page.lastSeqno;
        for (const c of page.chunks) chunkNames.add(c.name);
        reads++;
      }
      await core.history.waitForCommit(core.history.emitSignature());
      assert.equal(reads, 60);
      assert.ok([...chunkNames].some((n) => n.endsWith(".committed")), [...chunkNames].join(" "));
      assert.ok(newest > 0);
    } finally {
      await core.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
