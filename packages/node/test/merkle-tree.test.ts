// CCF ledger Merkle tree: RFC 6962 shape without leaf/node prefixes, and CCF receipt proof steps ({left}/{right}, leaf → root).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { sha256, sha256Pair } from "../src/crypto/hash.ts";
import { MERKLE_BLOCK_LEAVES_LOG2 } from "../src/limits.ts";
import { foldProof, MerkleTree, verifyProof, type BlockLoader, type ProofStep } from "../src/merkle/tree.ts";

function makeLeaves(seed: number, count: number, from = 0): Buffer[] {
  return Array.from({ length: count }, (_, i) => sha256(`leaf ${seed} ${from + i}`));
}

function buildTree(leaves: Buffer[], blockLeavesLog2: number): MerkleTree {
  const tree = new MerkleTree({ blockLeavesLog2 });
  for (const leaf of leaves) tree.append(leaf);
  return tree;
}

/** Largest power of two strictly less than n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Naive recursive tree straight from the definition, memoised per subtree range. */
function reference(leaves: Buffer[]) {
  const memo = new Map<string, Buffer>();
  const root = (start: number, n: number): Buffer => {
    if (n === 1) return leaves[start]!;
    const key = `${start}:${n}`;
    let hit = memo.get(key);
    if (hit === undefined) {
      const k = split(n);
      hit = sha256Pair(root(start, k), root(start + k, n - k));
      memo.set(key, hit);
    }
    return hit;
  };
  const proof = (i: number, start: number, n: number): ProofStep[] => {
    if (n === 1) return [];
    const k = split(n);
    return i < start + k
      ? [...proof(i, start, k), { right: root(start + k, n - k) }]
      : [...proof(i, start + k, n - k), { left: root(start, k) }];
  };
  return {
    rootAt: (n: number) => root(0, n),
    proof: (i: number, n: number) => proof(i, 0, n),
  };
}

/** Compact text form so mismatches print readably and comparisons stay cheap. */
function show(steps: ProofStep[]): string {
  return steps.map((s) => ("left" in s ? `L${s.left.toString("hex")}` : `R${s.right.toString("hex")}`)).join(",");
}

/** Hash equality without assert.deepEqual's cost on Buffers (it dominates the property loops). */
function assertSameHash(actual: Buffer | undefined, expected: Buffer | undefined, message?: string): void {
  if (actual === undefined || expected === undefined ? actual !== expected : !actual.equals(expected)) {
    assert.equal(actual?.toString("hex"), expected?.toString("hex"), message);
  }
}

/** Proof equality; cheap on the hot path, readable hex diff on a mismatch. */
function assertSameProof(actual: ProofStep[], expected: ProofStep[], message: string): void {
  const same =
    actual.length === expected.length &&
    actual.every((a, i) => {
      const e = expected[i]!;
      return "left" in a ? "left" in e && a.left.equals(e.left) : "right" in e && a.right.equals(e.right);
    });
  if (!same) assert.equal(show(actual), show(expected), message);
}

/** A loader over the true leaf list that records which blocks it was asked for. */
function recordingLoader(leaves: Buffer[], blockLeavesLog2: number): { load: BlockLoader; calls: number[] } {
  const calls: number[] = [];
  const size = 2 ** blockLeavesLog2;
  const load: BlockLoader = (block) => {
    calls.push(block);
    return leaves.slice(block * size, (block + 1) * size);
  };
  return { load, calls };
}

const blockLog2Arb = fc.integer({ min: 1, max: 4 });
const seedArb = fc.integer({ min: 0, max: 1_000_000 });

describe("MerkleTree", () => {
  it("matches a hand-built tree for 1, 2 and 3 leaves", () => {
    const [a, b, c] = makeLeaves(7, 3) as [Buffer, Buffer, Buffer];
    const tree = new MerkleTree({ blockLeavesLog2: 1 });
    tree.append(a);
    assert.deepEqual(tree.root(), a);
    assert.deepEqual(tree.proof(0, 1), []);
    tree.append(b);
    tree.append(c);
    const ab = sha256Pair(a, b);
    assert.deepEqual(tree.rootAt(2), ab);
    assert.deepEqual(tree.root(), sha256Pair(ab, c));
    assert.deepEqual(tree.proof(0, 3), [{ right: b }, { right: c }]);
    assert.deepEqual(tree.proof(1, 3), [{ left: a }, { right: c }]);
    assert.deepEqual(tree.proof(2, 3), [{ left: ab }]);
  });

  it("agrees with the naive reference on root, every rootAt and every proof", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), blockLog2Arb, seedArb, (n, log2, seed) => {
        const leaves = makeLeaves(seed, n);
        const tree = buildTree(leaves, log2);
        const ref = reference(leaves);
        assert.equal(tree.size, n);
        assert.deepEqual(tree.root(), ref.rootAt(n));
        for (let k = 1; k <= n; k++) {
          const root = tree.rootAt(k);
          assertSameHash(root, ref.rootAt(k), `rootAt(${k})`);
          for (let i = 0; i < k; i++) {
            const proof = tree.proof(i, k);
            assertSameProof(proof, ref.proof(i, k), `proof(${i}, ${k})`);
            assertSameHash(verifyProof(leaves[i]!, proof), root, `fold of proof(${i}, ${k})`);
          }
        }
      }),
      // Each run checks ~n²/2 proofs (up to 45k), so a few runs already cover thousands of shapes.
      { numRuns: 10 },
    );
  });

  it("rejects a tampered leaf or proof step (any byte)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), blockLog2Arb, seedArb, fc.nat(), fc.nat(), (n, log2, seed, a, b) => {
        const leaves = makeLeaves(seed, n);
        const tree = buildTree(leaves, log2);
        const k = 1 + (a % n);
        const i = b % k;
        const root = tree.rootAt(k);
        const proof = tree.proof(i, k);
        const leaf = leaves[i]!;
        assert.deepEqual(verifyProof(leaf, proof), root);
        for (let byte = 0; byte < leaf.length; byte++) {
          const bad = Buffer.from(leaf);
          bad[byte]! ^= 1 << (byte % 8);
          assert.notDeepEqual(verifyProof(bad, proof), root, `leaf byte ${byte}`);
        }
        proof.forEach((step, s) => {
          const sibling = "left" in step ? step.left : step.right;
          for (let byte = 0; byte < sibling.length; byte++) {
            const bad = Buffer.from(sibling);
            bad[byte]! ^= 0x80 >> (byte % 8);
            const tampered = proof.map((t, u) => (u !== s ? t : "left" in step ? { left: bad } : { right: bad }));
            assert.notDeepEqual(verifyProof(leaf, tampered), root, `step ${s} byte ${byte}`);
          }
          // Swapping the side is a tamper too (unless sibling and running hash are equal).
          const flipped = proof.map((t, u) => (u !== s ? t : "left" in step ? { right: sibling } : { left: sibling }));
          if (!sibling.equals(verifyProof(leaf, proof.slice(0, s)))) assert.notDeepEqual(verifyProof(leaf, flipped), root);
        });
      }),
      { numRuns: 100 },
    );
  });

  it("keeps roots and proofs after eviction, loading only evicted blocks", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 250 }),
        blockLog2Arb,
        seedArb,
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 3 }),
        (n, log2, seed, points) => {
          const leaves = makeLeaves(seed, n);
          const tree = buildTree(leaves, log2);
          const ref = reference(leaves);
          const bs = 2 ** log2;
          const rootBefore = tree.root();
          let firstBlock = 0;
          for (const point of points) {
            tree.evictBlocksBefore(point);
            firstBlock = Math.max(firstBlock, Math.min(Math.floor(point / bs), Math.floor((n - 1) / bs)));
            assert.equal(tree.firstInMemoryLeaf, firstBlock * bs);
            assert.deepEqual(tree.root(), rootBefore);
            const evicted = (leaf: number) => Math.floor(leaf / bs) < firstBlock;
            for (let i = 0; i < n; i++) assertSameHash(tree.leaf(i), evicted(i) ? undefined : leaves[i]);

            for (let k = 1; k <= n; k++) {
              // A tree size ending mid-block needs that block's lower nodes.
              const tailBlock = k % bs !== 0 && evicted(k - 1) ? [Math.floor((k - 1) / bs)] : [];
              const loader = recordingLoader(leaves, log2);
              assertSameHash(tree.rootAt(k, loader.load), ref.rootAt(k));
              assert.deepEqual(loader.calls, tailBlock);
              if (tailBlock.length > 0) assert.throws(() => tree.rootAt(k), /evicted/);
              else assertSameHash(tree.rootAt(k), ref.rootAt(k));

              // Every tree size for roots; proofs for a spread of sizes (all leaves each) to bound run time.
              if (k % Math.max(1, Math.floor(n / 16)) !== 0 && k < n - 1) continue;
              for (let i = 0; i < k; i++) {
                const expected = ref.proof(i, k);
                const withLoader = recordingLoader(leaves, log2);
                assertSameProof(tree.proof(i, k, withLoader.load), expected, `proof(${i}, ${k}) with loader`);
                // Only the leaf's block and the tree's last block can be read, each at most once,
                // and only if evicted (a lone leaf peak reads no node of its own block).
                const candidates = new Set(tailBlock);
                if (evicted(i)) candidates.add(Math.floor(i / bs));
                assert.ok(withLoader.calls.every((b) => candidates.has(b)), `loader calls ${withLoader.calls}`);
                assert.equal(new Set(withLoader.calls).size, withLoader.calls.length, "a block loaded twice");
                // A leaf inside a complete block of the tree has siblings in that block.
                if (evicted(i) && i < Math.floor(k / bs) * bs) assert.ok(withLoader.calls.includes(Math.floor(i / bs)));
                if (withLoader.calls.length > 0) assert.throws(() => tree.proof(i, k), /evicted.*no BlockLoader/);
                else assertSameProof(tree.proof(i, k), expected, `proof(${i}, ${k})`);
              }
            }
          }
        },
      ),
      { numRuns: 20 },
    );
  });

  it("a frontier recorded at size k gives the same proofs after eviction, reading only the leaf's own block", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 150 }), blockLog2Arb, seedArb, fc.integer({ min: 0, max: 200 }), (n, log2, seed, point) => {
        const leaves = makeLeaves(seed, n);
        const ref = reference(leaves);
        const tree = new MerkleTree({ blockLeavesLog2: log2 });
        // What a signature after k transactions records: the frontier at size k.
        const frontiers: Buffer[] = [];
        for (const leaf of leaves) {
          tree.append(leaf);
          frontiers[tree.size] = tree.frontier();
        }
        tree.evictBlocksBefore(point);
        const bs = 2 ** log2;
        const evicted = (leaf: number) => leaf < tree.firstInMemoryLeaf;
        for (let k = 1; k <= n; k++) {
          const frontier = frontiers[k]!;
          assert.equal(Number(frontier.readBigUInt64BE(0)), k);
          for (let i = 0; i < k; i++) {
            const loader = recordingLoader(leaves, log2);
            assertSameProof(tree.proof(i, k, loader.load, frontier), ref.proof(i, k), `proof(${i}, ${k}) from the frontier`);
            const own = evicted(i) ? [Math.floor(i / bs)] : [];
            assert.ok(loader.calls.every((b) => own.includes(b)), `loader calls ${loader.calls} for leaf ${i}`);
          }
          if (k > 1) assert.throws(() => tree.proof(0, k, undefined, frontiers[k - 1]), /not the frontier of a Merkle tree of \d+ leaves/);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("rootPreimage is the root's two children (SHA-256 gives the root), with blocks evicted as the node evicts them; none for one leaf", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), blockLog2Arb, seedArb, (n, log2, seed) => {
        const leaves = makeLeaves(seed, n);
        const ref = reference(leaves);
        const tree = new MerkleTree({ blockLeavesLog2: log2 });
        for (const leaf of leaves) {
          tree.append(leaf);
          // As a node with one leaf kept in memory: everything but the last block is evicted.
          tree.evictBlocksBefore(tree.size - 1);
          const preimage = tree.rootPreimage();
          if (tree.size === 1) {
            assert.equal(preimage, undefined);
            continue;
          }
          const k = split(tree.size);
          assertSameHash(preimage, Buffer.concat([ref.rootAt(k), reference(leaves.slice(k)).rootAt(tree.size - k)]), `rootPreimage at ${tree.size}`);
          assertSameHash(sha256(preimage!), tree.root(), `SHA-256 of rootPreimage at ${tree.size}`);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("foldProof gives verifyProof's root and the input of its last hash", () => {
    const leaves = makeLeaves(11, 37);
    const tree = buildTree(leaves, 2);
    for (let i = 0; i < leaves.length; i++) {
      const proof = tree.proof(i, leaves.length);
      const { root, lastInput } = foldProof(leaves[i]!, proof);
      assertSameHash(root, tree.root());
      assertSameHash(sha256(lastInput!), root);
    }
    assert.deepEqual(foldProof(leaves[0]!, []), { root: leaves[0], lastInput: undefined });
  });

  it("rejects a loader that returns the wrong leaves", () => {
    const leaves = makeLeaves(3, 20);
    const tree = buildTree(leaves, 2);
    tree.evictBlocksBefore(12);
    assert.throws(() => tree.proof(1, 20, () => makeLeaves(4, 4)), /do not match/);
    assert.throws(() => tree.proof(1, 20, () => leaves.slice(0, 3)), /expected 4/);
  });

  it("serializes and resumes: same roots as an uninterrupted tree, proofs with a loader", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 250 }),
        fc.integer({ min: 1, max: 80 }),
        blockLog2Arb,
        seedArb,
        fc.integer({ min: 0, max: 300 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 40 }),
        (n, extra, log2, seed, evictPoint, samples) => {
          const all = makeLeaves(seed, n + extra);
          const bs = 2 ** log2;
          const original = buildTree(all.slice(0, n), log2);
          original.evictBlocksBefore(evictPoint);
          const bytes = original.serialize();
          const restored = MerkleTree.deserialize(bytes);
          assert.equal(restored.size, n);
          assert.equal(restored.blockLeavesLog2, log2);
          assert.equal(restored.firstInMemoryLeaf, n === 0 ? 0 : Math.floor((n - 1) / bs) * bs);
          assert.deepEqual(restored.serialize(), bytes);
          if (n === 0) assert.throws(() => restored.root(), /empty/);
          else assert.deepEqual(restored.root(), original.root());

          const uninterrupted = buildTree(all.slice(0, n), log2);
          for (const leaf of all.slice(n)) {
            original.append(leaf);
            restored.append(leaf);
            uninterrupted.append(leaf);
            const root = uninterrupted.root();
            assert.deepEqual(restored.root(), root);
            assert.deepEqual(original.root(), root);
          }
          const total = n + extra;
          const ref = reference(all);
          const loader = recordingLoader(all, log2);
          for (let k = 1; k <= total; k++) assertSameHash(restored.rootAt(k, loader.load), ref.rootAt(k));
          for (let i = 0; i < total; i++) {
            assertSameProof(restored.proof(i, total, loader.load), ref.proof(i, total), `proof(${i}, ${total})`);
          }
          for (const [a, b] of samples) {
            const k = 1 + (a % total);
            const i = b % k;
            assertSameProof(restored.proof(i, k, loader.load), ref.proof(i, k), `proof(${i}, ${k})`);
          }
          const firstBlock = restored.firstInMemoryLeaf / bs;
          assert.ok(loader.calls.every((b) => b < firstBlock), "loader called for a block still in memory");
        },
      ),
      { numRuns: 60 },
    );
  });

  it("rejects truncated, extended or garbage snapshots", () => {
    for (const [n, log2] of [
      [0, 1],
      [1, 1],
      [8, 2],
      [37, 3],
    ] as const) {
      const tree = buildTree(makeLeaves(n, n), log2);
      tree.evictBlocksBefore(n);
      const bytes = tree.serialize();
      assert.equal(MerkleTree.deserialize(bytes).size, n);
      for (let len = 0; len < bytes.length; len++) {
        assert.throws(() => MerkleTree.deserialize(bytes.subarray(0, len)), /malformed Merkle tree snapshot/, `prefix ${len}`);
      }
      assert.throws(() => MerkleTree.deserialize(Buffer.concat([bytes, Buffer.alloc(1)])), /malformed/);
      const badMagic = Buffer.from(bytes);
      badMagic[0]! ^= 1;
      assert.throws(() => MerkleTree.deserialize(badMagic), /bad magic/);
      const badLog2 = Buffer.from(bytes);
      badLog2[4] = 0;
      assert.throws(() => MerkleTree.deserialize(badLog2), /blockLeavesLog2/);
      const hugeSize = Buffer.from(bytes);
      hugeSize.fill(0xff, 5, 13);
      assert.throws(() => MerkleTree.deserialize(hugeSize), /size too large/);
      if (n > 0) {
        const badFirstLeaf = Buffer.from(bytes);
        badFirstLeaf.writeBigUInt64BE(0n, 13);
        if (tree.firstInMemoryLeaf > 0) assert.throws(() => MerkleTree.deserialize(badFirstLeaf), /malformed/);
      }
    }
    // A complete last block is stored both as its block node and its leaves: they must agree.
    const complete = buildTree(makeLeaves(9, 16), 2);
    const bytes = complete.serialize();
    bytes[bytes.length - 1]! ^= 1;
    assert.throws(() => MerkleTree.deserialize(bytes), /does not match its leaves/);

    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (garbage) => {
        assert.throws(() => MerkleTree.deserialize(Buffer.from(garbage)), /malformed/);
      }),
      { numRuns: 200 },
    );
  });

  it("truncate then append matches the reference over the new leaf list", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 250 }),
        fc.integer({ min: 0, max: 80 }),
        blockLog2Arb,
        seedArb,
        fc.integer({ min: 0, max: 300 }),
        fc.nat(),
        (n, extra, log2, seed, evictPoint, cut) => {
          const leaves = makeLeaves(seed, n);
          const tree = buildTree(leaves, log2);
          tree.evictBlocksBefore(evictPoint);
          const first = tree.firstInMemoryLeaf;
          if (first > 0) assert.throws(() => tree.truncate(first - 1), /evicted/);
          const m = first + (cut % (n - first + 1));
          tree.truncate(m);
          assert.equal(tree.size, m);
          const next = [...leaves.slice(0, m), ...makeLeaves(seed + 1, extra)];
          for (const leaf of next.slice(m)) tree.append(leaf);
          assert.equal(tree.size, next.length);
          if (next.length === 0) {
            assert.throws(() => tree.root(), /empty/);
            return;
          }
          const ref = reference(next);
          const loader = recordingLoader(next, log2);
          assert.deepEqual(tree.root(), ref.rootAt(next.length));
          for (let k = 1; k <= next.length; k++) assertSameHash(tree.rootAt(k, loader.load), ref.rootAt(k));
          for (let i = 0; i < next.length; i++) {
            assertSameHash(tree.leaf(i), i < first ? undefined : next[i]);
            assertSameProof(tree.proof(i, next.length, loader.load), ref.proof(i, next.length), `proof(${i})`);
          }
          // The resumed tree still serializes to something that round-trips.
          assert.deepEqual(MerkleTree.deserialize(tree.serialize()).root(), ref.rootAt(next.length));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("defaults to MERKLE_BLOCK_LEAVES_LOG2 and never evicts the block holding the last leaf", () => {
    const tree = buildTree(makeLeaves(1, 2 * 2 ** MERKLE_BLOCK_LEAVES_LOG2 + 5), MERKLE_BLOCK_LEAVES_LOG2);
    const byDefault = new MerkleTree();
    assert.equal(byDefault.blockLeavesLog2, MERKLE_BLOCK_LEAVES_LOG2);
    tree.evictBlocksBefore(tree.size);
    assert.equal(tree.firstInMemoryLeaf, 2 * 2 ** MERKLE_BLOCK_LEAVES_LOG2);

    const exact = buildTree(makeLeaves(2, 8), 2);
    exact.evictBlocksBefore(100);
    assert.equal(exact.firstInMemoryLeaf, 4, "the full last block stays");
    assert.deepEqual(exact.leaf(7), makeLeaves(2, 8)[7]);
  });

  it("validates its inputs", () => {
    const tree = new MerkleTree({ blockLeavesLog2: 2 });
    assert.throws(() => tree.root(), /empty/);
    assert.throws(() => tree.append(Buffer.alloc(31)), /32 bytes/);
    assert.throws(() => new MerkleTree({ blockLeavesLog2: 0 }), /blockLeavesLog2/);
    for (const leaf of makeLeaves(5, 5)) tree.append(leaf);
    assert.throws(() => tree.rootAt(0), RangeError);
    assert.throws(() => tree.rootAt(6), RangeError);
    assert.throws(() => tree.proof(5, 5), RangeError);
    assert.throws(() => tree.proof(0, 6), RangeError);
    assert.throws(() => tree.proof(0.5, 5), RangeError);
    assert.throws(() => tree.truncate(6), RangeError);
    assert.throws(() => tree.evictBlocksBefore(-1), RangeError);
    assert.equal(tree.leaf(5), undefined);
    // Returned hashes are copies: mutating them must not corrupt the tree.
    const root = tree.root();
    tree.leaf(0)!.fill(0);
    tree.proof(0, 5).forEach((s) => ("left" in s ? s.left : s.right).fill(0));
    assert.deepEqual(tree.root(), root);
  });
});
