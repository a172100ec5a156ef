// CCF KV semantics: transactions read a consistent state plus their own writes,
// commit assigns versions (getVersionOfPreviousWrite), rollback discards,
// read-only transactions refuse writes, and concurrent commits are conflicts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { seqNo } from "../src/ids.ts";
import { Store } from "../src/kv/store.ts";
import { ReadOnlyError, TxConflictError } from "../src/kv/tx.ts";
import { decodeWriteSet, encodeWriteSet, isPublicMap, splitByDomain, WriteSetFormatError, type ReadonlyWriteSet, type WriteSet } from "../src/kv/write-set.ts";

const b = (s: string) => Buffer.from(s);

/** Both stores hold the same maps, entries, versions and byte count. */
function assertSameStore(got: Store, want: Store): void {
  assert.equal(got.lastSeqno, want.lastSeqno);
  assert.equal(got.byteCount, want.byteCount);
  assert.deepEqual(got.mapNames().sort(), want.mapNames().sort());
  for (const name of want.mapNames()) {
    const [wantState, gotState] = [want.mapState(name)!, got.mapState(name)!];
    assert.equal(gotState.lastWriteVersion, wantState.lastWriteVersion, name);
    assert.deepEqual(new Map(gotState.entries), new Map(wantState.entries), name);
  }
}

/** Random write sets over a few maps and keys, deletions included. */
const key = fc.constantFrom("a", "b", "c", "\u0000\u00ff");
const value = fc.option(fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)), { freq: 4 });
const mapWrites = fc.array(fc.tuple(key, value), { maxLength: 4 }).map((pairs) => new Map(pairs));
const writeSet = fc.array(fc.tuple(fc.constantFrom("public:m", "m", "other"), mapWrites), { minLength: 1, maxLength: 3 }).map((maps) => new Map(maps));

/** Commits a transaction straight into the store at the next seqno (what the commit pipeline does, minus the ledger). */
function commit(store: Store, build: (tx: ReturnType<Store["begin"]>) => void): number {
  const tx = store.begin();
  build(tx);
  const writes = tx.finish();
  const seqno = seqNo(store.lastSeqno + 1);
  store.apply(writes, seqno);
  return seqno;
}

describe("kv transactions", () => {
  it("reads its own writes before commit and hides them from others", () => {
    const store = new Store();
    const tx = store.begin();
    const m = tx.map("public:accounts");
    m.set(b("alice"), b("10"));
    assert.equal(m.get(b("alice"))?.toString(), "10");
    assert.equal(m.has(b("alice")), true);
    assert.equal(m.size, 1);
    assert.equal(store.begin().map("public:accounts").get(b("alice")), undefined);
  });

  it("assigns the commit seqno as each written key's version", () => {
    const store = new Store();
    const first = commit(store, (tx) => tx.map("m").set(b("k"), b("1")));
    commit(store, (tx) => tx.map("other").set(b("x"), b("y")));
    const tx = store.begin();
    assert.equal(tx.map("m").getVersionOfPreviousWrite(b("k")), first);
    assert.equal(tx.map("m").getVersionOfPreviousWrite(b("absent")), undefined);
    // The transaction's own writes do not change it: it is the committed version (CCF).
    const writer = store.begin();
    writer.map("m").set(b("k"), b("local"));
    assert.equal(writer.map("m").getVersionOfPreviousWrite(b("k")), first);
    writer.abort();
    const third = commit(store, (t) => t.map("m").set(b("k"), b("2")));
    assert.equal(store.begin().map("m").getVersionOfPreviousWrite(b("k")), third);
  });

  it("discards writes on abort", () => {
    const store = new Store();
    const tx = store.begin();
    tx.map("m").set(b("k"), b("v"));
    tx.abort();
    assert.equal(store.lastSeqno, 0);
    assert.equal(store.begin().map("m").get(b("k")), undefined);
    assert.throws(() => tx.map("m"), /finished/);
  });

  it("delete, clear, size and forEach see the transaction's view", () => {
    const store = new Store();
    commit(store, (tx) => {
      const m = tx.map("m");
      for (const k of ["a", "b", "c"]) m.set(b(k), b(k.toUpperCase()));
    });
    const tx = store.begin();
    const m = tx.map("m");
    assert.equal(m.delete(b("a")), true);
    assert.equal(m.delete(b("zz")), false);
    m.set(b("d"), b("D"));
    const seen: string[] = [];
    m.forEach((value, key) => seen.push(`${key}=${value}`));
    assert.deepEqual(seen.sort(), ["b=B", "c=C", "d=D"]);
    assert.equal(m.size, 3);
    m.clear();
    assert.equal(m.size, 0);
    m.set(b("e"), b("E"));
    assert.deepEqual([...tx.finish().get("m")!.entries()].map(([k, v]) => [k, v?.toString() ?? null]).sort(), [
      ["a", null],
      ["b", null],
      ["c", null],
      ["e", "E"],
    ]);
  });

  it("read-only transactions refuse writes with a TypeError", () => {
    const store = new Store();
    const tx = store.beginReadOnly();
    assert.throws(() => tx.map("m").set(b("k"), b("v")), ReadOnlyError);
    assert.throws(() => tx.map("m").delete(b("k")), TypeError);
    assert.throws(() => tx.map("m").clear(), /Cannot call clear on read-only map/);
    assert.equal(tx.finish().size, 0);
  });

  it("a transaction that read a map changed by a later commit conflicts instead of reading a mixed state", () => {
    const store = new Store();
    commit(store, (tx) => tx.map("m").set(b("k"), b("1")));
    const slow = store.begin();
    assert.equal(slow.map("m").get(b("k"))?.toString(), "1");
    commit(store, (tx) => tx.map("m").set(b("k"), b("2")));
    assert.throws(() => slow.map("m").get(b("k")), TxConflictError);
    assert.throws(() => slow.finish(), TxConflictError);
    // Maps untouched since begin() stay readable.
    const other = store.begin();
    commit(store, (tx) => tx.map("elsewhere").set(b("x"), b("y")));
    assert.equal(other.map("m").get(b("k"))?.toString(), "2");
  });

  it("keeps the byte count of the committed state through overwrites and deletions", () => {
    const store = new Store();
    commit(store, (tx) => {
      tx.map("a").set(b("k1"), b("12345"));
      tx.map("b").set(b("k2"), b("1"));
    });
    assert.equal(store.byteCount, 2 + 5 + 2 + 1);
    commit(store, (tx) => {
      tx.map("a").set(b("k1"), b("1"));
      tx.map("b").delete(b("k2"));
    });
    assert.equal(store.byteCount, 3);
    commit(store, (tx) => tx.map("a").clear());
    assert.equal(store.byteCount, 0);
  });

  it("overwritten values do not accumulate: value memory stays proportional to the live data, values intact", () => {
    const store = new Store();
    commit(store, (tx) => tx.map("config").set(b("kept"), b("long-lived value")));
    for (let i = 0; i < 5000; i++) {
      commit(store, (tx) => tx.map("counter").set(b("c"), Buffer.alloc(1000 + (i % 7), i % 256)));
      if (i % 500 === 0) commit(store, (tx) => tx.map("audit").set(b(`a${i}`), b(`entry ${i}`)));
    }
    // 5 MB of values were written; the live data is ~1 KB.
    assert.ok(store.valueMemoryBytes < 1_000_000, `value memory ${store.valueMemoryBytes} bytes`);
    const tx = store.beginReadOnly();
    assert.equal(tx.map("config").get(b("kept"))?.toString(), "long-lived value");
    assert.deepEqual(tx.map("counter").get(b("c")), Buffer.alloc(1000 + (4999 % 7), 4999 % 256));
    assert.equal(tx.map("audit").get(b("a4500"))?.toString(), "entry 4500");
    assert.equal(tx.map("audit").size, 10);
  });

  it("a key is its bytes, whether given as a Buffer, a Uint8Array or a view into a larger array", () => {
    const store = new Store();
    const backing = new Uint8Array([9, 9, 0, 255, 7, 9]);
    commit(store, (tx) => tx.map("m").set(backing.subarray(2, 5), b("by view")));
    const tx = store.begin();
    assert.equal(tx.map("m").get(Buffer.from([0, 255, 7]))?.toString(), "by view");
    assert.equal(tx.map("m").get(new Uint8Array([0, 255, 7]))?.toString(), "by view");
    assert.equal(tx.map("m").has(new Uint8Array([9, 0, 255, 7])), false);
  });

  it("values are copied: mutating the caller's buffer after set changes nothing", () => {
    const store = new Store();
    const value = b("original");
    commit(store, (tx) => tx.map("m").set(b("k"), value));
    value.write("mutated!");
    assert.equal(store.begin().map("m").get(b("k"))?.toString(), "original");
  });
});

describe("write sets", () => {
  it("public: prefix makes a map public, everything else is private", () => {
    assert.equal(isPublicMap("public:ccf.gov.members.certs"), true);
    assert.equal(isPublicMap("records"), false);
    assert.equal(isPublicMap("private:x"), false);
  });

  it("splitByDomain puts each map in its domain, for one-domain and mixed write sets alike", () => {
    const writes = (...names: string[]): WriteSet => new Map(names.map((name) => [name, new Map([["k", Buffer.from(name)]])]));
    const names = (set: ReadonlyWriteSet) => [...set.keys()].sort();
    for (const [all, expectedPublic, expectedPrivate] of [
      [["public:a", "public:b"], ["public:a", "public:b"], []],
      [["x", "y"], [], ["x", "y"]],
      [["public:a", "x", "public:b", "y"], ["public:a", "public:b"], ["x", "y"]],
      [[], [], []],
    ] as const) {
      const { publicWrites, privateWrites } = splitByDomain(writes(...all));
      assert.deepEqual(names(publicWrites), expectedPublic, `public of ${all}`);
      assert.deepEqual(names(privateWrites), expectedPrivate, `private of ${all}`);
      for (const name of names(publicWrites).concat(names(privateWrites))) {
        assert.equal(publicWrites.get(name)?.get("k")?.toString() ?? privateWrites.get(name)?.get("k")?.toString(), name);
      }
    }
  });

  it("encode/decode round-trips keys, values, empty values and deletions", () => {
    const writes: WriteSet = new Map([
      ["émoji map ✓", new Map<string, Buffer | null>([["k1", b("v1")], ["\u0000\u00ff", Buffer.alloc(0)], ["gone", null]])],
      ["other", new Map([["x", Buffer.alloc(1000, 7)]])],
    ]);
    const decoded = decodeWriteSet(encodeWriteSet(writes), "private");
    assert.deepEqual([...decoded.keys()], [...writes.keys()]);
    for (const [name, mapWrites] of writes) assert.deepEqual(decoded.get(name), mapWrites);
  });

  it("rejects truncated or padded bytes with a clear error", () => {
    const bytes = encodeWriteSet(new Map([["m", new Map([["k", b("value")]])]]));
    for (let cut = 1; cut < bytes.length; cut++) {
      assert.throws(() => decodeWriteSet(bytes.subarray(0, cut), "private"), WriteSetFormatError);
    }
    assert.throws(() => decodeWriteSet(Buffer.concat([bytes, Buffer.from([0])]), "private"), /trailing/);
  });

  it("applyEncoded (replay's path) leaves the store exactly as apply of the decoded write sets", () => {
    fc.assert(
      fc.property(fc.array(writeSet, { minLength: 1, maxLength: 12 }), (writeSets) => {
        const decoded = new Store();
        const encoded = new Store();
        for (const writes of writeSets) {
          const seqno = seqNo(decoded.lastSeqno + 1);
          decoded.apply(writes, seqno);
          const { publicWrites, privateWrites } = splitByDomain(writes);
          encoded.applyEncoded({ public: encodeWriteSet(publicWrites), private: encodeWriteSet(privateWrites) }, seqno);
        }
        assertSameStore(encoded, decoded);
      }),
      { numRuns: 200 },
    );
  });

  it("applyEncoded refuses a malformed write set and a seqno out of order", () => {
    const store = new Store();
    const bytes = encodeWriteSet(new Map([["m", new Map([["k", b("value")]])]]));
    const empty = encodeWriteSet(new Map());
    assert.throws(() => store.applyEncoded({ public: empty, private: bytes.subarray(0, bytes.length - 1) }, seqNo(1)), WriteSetFormatError);
    assert.throws(() => new Store().applyEncoded({ public: empty, private: bytes }, seqNo(2)), /cannot apply seqno 2/);
  });

  it("a write set naming one map twice is malformed, for both decoders (no merge on one path, replace on the other)", () => {
    const once = encodeWriteSet(new Map([["m", new Map([["k", b("v")]])]]));
    const mapPart = once.subarray(4); // everything after the map count
    const twice = Buffer.concat([Buffer.from([2, 0, 0, 0]), mapPart, mapPart]);
    assert.throws(() => decodeWriteSet(twice, "private"), /names map "m" twice/);
    assert.throws(() => new Store().applyEncoded({ public: encodeWriteSet(new Map()), private: twice }, seqNo(1)), /names map "m" twice/);
    // Two distinct maps are fine.
    const two = encodeWriteSet(new Map([["m", new Map([["k", b("v")]])], ["n", new Map([["k", b("w")]])]]));
    assert.deepEqual([...decodeWriteSet(two, "private").keys()], ["m", "n"]);
  });

  it("a map in the wrong domain's write set is malformed, for both decoders", () => {
    const privateMap = encodeWriteSet(new Map([["m", new Map([["k", b("v")]])]]));
    const publicMap = encodeWriteSet(new Map([["public:m", new Map([["k", b("v")]])]]));
    assert.throws(() => decodeWriteSet(privateMap, "public"), /public write set holds private map "m"/);
    assert.throws(() => decodeWriteSet(publicMap, "private"), /private write set holds public map "public:m"/);
    assert.throws(() => new Store().applyEncoded({ public: privateMap }, seqNo(1)), /public write set holds private map "m"/);
    assert.throws(() => new Store().applyEncoded({ public: publicMap, private: publicMap }, seqNo(1)), /private write set holds public map/);
    assert.equal(decodeWriteSet(publicMap, "public").size, 1);
  });
});

describe("rollback of uncommitted transactions", () => {
  it("rolling back to s leaves the store exactly as applying only 1..s did", () => {
    fc.assert(
      fc.property(fc.array(writeSet, { minLength: 1, maxLength: 12 }), fc.nat(), fc.nat(), (writeSets, committedPick, targetPick) => {
        const store = new Store();
        writeSets.forEach((writes, i) => store.apply(writes, seqNo(i + 1)));
        const committed = committedPick % (writeSets.length + 1);
        store.markCommitted(seqNo(committed));
        const target = committed + (targetPick % (writeSets.length - committed + 1));
        store.rollback(seqNo(target));
        const expected = new Store();
        writeSets.slice(0, target).forEach((writes, i) => expected.apply(writes, seqNo(i + 1)));
        assertSameStore(store, expected);
        // And it goes on from there as the other one would.
        const next = writeSets[0]!;
        store.apply(next, seqNo(target + 1));
        expected.apply(next, seqNo(target + 1));
        assertSameStore(store, expected);
      }),
      { numRuns: 300 },
    );
  });

  it("a long run of commits and rollbacks (the undo log compacts its committed rows) matches a store that applied only what was kept", () => {
    const store = new Store();
    const kept: WriteSet[] = [];
    const writesAt = (i: number): WriteSet => new Map([[i % 7 === 0 ? "public:m" : "m", new Map([[`k${i % 13}`, i % 5 === 0 ? null : b(`v${i}`)]])]]);
    for (let i = 1; i <= 5000; i++) {
      const seqno = seqNo(store.lastSeqno + 1);
      store.apply(writesAt(i), seqno);
      kept[seqno - 1] = writesAt(i);
      if (i % 10 === 0) store.markCommitted(seqNo(seqno - 3));
      if (i % 97 === 0) {
        store.rollback(seqNo(seqno - 2));
        kept.length = seqno - 2;
      }
    }
    const expected = new Store();
    kept.forEach((writes, i) => expected.apply(writes, seqNo(i + 1)));
    assertSameStore(store, expected);
  });

  it("committed seqnos cannot be rolled back", () => {
    const store = new Store();
    for (let i = 1; i <= 5; i++) store.apply(new Map([["m", new Map([["k", b(`v${i}`)]])]]), seqNo(i));
    store.markCommitted(seqNo(3));
    assert.equal(store.committedSeqno, 3);
    assert.throws(() => store.rollback(seqNo(2)), /cannot roll back to seqno 2: .*committed up to 3/);
    assert.throws(() => store.rollback(seqNo(6)), /cannot roll back to seqno 6/);
    store.rollback(seqNo(3));
    assert.equal(store.beginReadOnly().map("m").get(b("k"))?.toString(), "v3");
    assert.throws(() => store.markCommitted(seqNo(4)), /cannot mark seqno 4 committed/);
  });

  it("a transaction that began before a rollback conflicts, even if later seqnos look older than its read version", () => {
    const store = new Store();
    for (let i = 1; i <= 4; i++) store.apply(new Map([["m", new Map([["k", b(`v${i}`)]])]]), seqNo(i));
    const tx = store.begin();
    assert.equal(tx.map("m").get(b("k"))?.toString(), "v4");
    store.rollback(seqNo(2));
    store.apply(new Map([["m", new Map([["k", b("other3")]])]]), seqNo(3));
    assert.throws(() => tx.finish(), (error: unknown) => error instanceof TxConflictError && /rolled back/.test(error.message));
    // One that begins after it is fine.
    const after = store.begin();
    assert.equal(after.map("m").get(b("k"))?.toString(), "other3");
    after.finish();
  });

  it("replay's committed path keeps no undo records", () => {
    const store = new Store();
    store.applyEncoded({ public: encodeWriteSet(new Map([["public:m", new Map([["k", b("v")]])]])) }, seqNo(1));
    assert.equal(store.committedSeqno, 1);
    assert.throws(() => store.rollback(seqNo(0)), /committed up to 1/);
  });
});
