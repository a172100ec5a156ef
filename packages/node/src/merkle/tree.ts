// The ledger's Merkle tree, shaped like CCF's: RFC 6962 splits (largest power
// of two strictly below n goes left) but without RFC 6962's 0x00/0x01 domain
// prefixes, so an internal node is SHA-256(left ‖ right) and a one-leaf tree's
// root is the leaf itself. Leaf i is transaction seqno i+1.
//
// Storage: level h holds the floor(size / 2^h) complete nodes of height h, in
// chunked Buffers (no object per hash). A tree over any prefix of n leaves is
// the right fold of its "peaks" (one complete node per set bit of n), so roots
// and proofs only read stored complete nodes: O(log n), no range rehashing.
// Levels below blockLeavesLog2 are evictable in whole blocks of 2^blockLeavesLog2
// leaves; levels at or above it cost 1/2^blockLeavesLog2 of the leaves and stay.
import { DIGEST_BYTES, sha256, sha256Into, sha256Pair } from "../crypto/hash.ts";
import { MERKLE_BLOCK_LEAVES_LOG2 } from "../limits.ts";

export type ProofStep = { left: Buffer } | { right: Buffer };

/** Loads the 2^blockLeavesLog2 leaf hashes of an evicted (always complete) block, e.g. by re-reading ledger files. */
export type BlockLoader = (blockIndex: number) => Buffer[];

/** Hashes per chunk at most: 4096 × 32 B = 128 KiB, large enough that per-Buffer overhead is noise. */
const CHUNK_HASHES_LOG2 = 12;
/** Largest accepted block: 2^30 leaves would already be 32 GiB of leaf hashes per block. */
const BLOCK_LEAVES_LOG2_MAX = 30;

const SNAPSHOT_MAGIC = Buffer.from("CMT1", "ascii");
/** magic(4) ‖ blockLeavesLog2(1) ‖ size(u64 BE) ‖ firstLeaf(u64 BE) */
const SNAPSHOT_HEADER_BYTES = SNAPSHOT_MAGIC.length + 1 + 8 + 8;
/** A frontier: size(u64 BE) ‖ the hash of each peak, largest first. */
const FRONTIER_HEADER_BYTES = 8;

/**
 * One level's complete node hashes, packed into fixed-size chunks. Chunks can be
 * freed from the front (eviction) and the array truncated from the back.
 * Chunk capacity is a power of two ≥ 2, so sibling pairs (2k, 2k+1) are always
 * adjacent in one chunk and can be hashed without copying.
 */
class HashStore {
  count = 0;
  private readonly chunks: (Buffer | undefined)[] = [];
  private readonly capacity: number;
  private freedChunks = 0;

  constructor(chunkLog2: number) {
    this.capacity = 2 ** chunkLog2;
  }

  push(hash: Uint8Array): void {
    this.nextSlot().set(hash, this.slotOffset());
    this.count++;
  }

  /** Appends SHA-256(data), hashed straight into the chunk. */
  pushDigestOf(data: Uint8Array): void {
    sha256Into(data, this.nextSlot(), this.slotOffset());
    this.count++;
  }

  /** The chunk that holds node `count` (allocated on first use). */
  private nextSlot(): Buffer {
    const c = Math.floor(this.count / this.capacity);
    let chunk = this.chunks[c];
    if (chunk === undefined) {
      // Not from the shared pool: a long-lived slice would pin a pool chunk full of transient buffers.
      chunk = Buffer.allocUnsafeSlow(this.capacity * DIGEST_BYTES);
      this.chunks[c] = chunk;
    }
    return chunk;
  }

  private slotOffset(): number {
    return (this.count % this.capacity) * DIGEST_BYTES;
  }

  /** View (not a copy) of nodes [index, index + n); the range must not cross a chunk. */
  view(index: number, n = 1): Buffer {
    const c = Math.floor(index / this.capacity);
    const chunk = this.chunks[c];
    if (chunk === undefined || index < 0 || index + n > this.count) {
      throw new Error(`internal: Merkle node ${index} is not in memory`);
    }
    const offset = (index - c * this.capacity) * DIGEST_BYTES;
    return chunk.subarray(offset, offset + n * DIGEST_BYTES);
  }

  truncate(count: number): void {
    this.count = count;
    // Drop whole chunks past the end; a partial last chunk is simply overwritten later.
    this.chunks.length = Math.min(this.chunks.length, Math.ceil(count / this.capacity));
  }

  /** Frees every chunk lying entirely before node `index` (callers keep `index` chunk-aligned). */
  freeBefore(index: number): void {
    const end = Math.floor(index / this.capacity);
    for (let c = this.freedChunks; c < end; c++) this.chunks[c] = undefined;
    this.freedChunks = Math.max(this.freedChunks, end);
  }

  /** For an empty store: start at node `count`, everything before it already evicted. */
  startAt(count: number): void {
    this.count = count;
    this.freedChunks = Math.floor(count / this.capacity);
    this.chunks.length = this.freedChunks;
  }
}

/** A complete node of the tree over the first n leaves' right-fold decomposition. */
type Peak = { level: number; index: number; start: number };

/** Per-call sources of nodes: evicted blocks rebuilt from the loader (each loaded once), and known peak hashes. */
type Lookup = { loadBlock: BlockLoader | undefined; loaded: Map<number, Buffer[][]>; peakHashes?: Buffer | undefined };

export class MerkleTree {
  readonly blockLeavesLog2: number;
  private readonly blockLeaves: number;
  private readonly levels: HashStore[] = [];
  private leafCount = 0;
  /** Blocks before this one have their levels below blockLeavesLog2 freed. */
  private firstInMemoryBlock = 0;

  constructor(options?: { blockLeavesLog2?: number }) {
    const log2 = options?.blockLeavesLog2 ?? MERKLE_BLOCK_LEAVES_LOG2;
    if (!Number.isInteger(log2) || log2 < 1 || log2 > BLOCK_LEAVES_LOG2_MAX) {
      throw new Error(`blockLeavesLog2 must be an integer in 1..${BLOCK_LEAVES_LOG2_MAX}, got ${log2}`);
    }
    this.blockLeavesLog2 = log2;
    this.blockLeaves = 2 ** log2;
  }

  /** Leaves appended so far. */
  get size(): number {
    return this.leafCount;
  }

  /** Index of the first leaf whose hash (and lower-level nodes) is still in memory. */
  get firstInMemoryLeaf(): number {
    return this.firstInMemoryBlock * this.blockLeaves;
  }

  append(leaf: Uint8Array): void {
    if (leaf.length !== DIGEST_BYTES) {
      throw new Error(`Merkle leaf must be ${DIGEST_BYTES} bytes, got ${leaf.length}`);
    }
    this.pushNode(0, leaf);
    this.leafCount++;
  }

  /** Appends the leaf SHA-256(leafInput), hashed straight into the tree's storage (the commit path). */
  appendLeafOf(leafInput: Uint8Array): void {
    const leaves = this.store(0);
    leaves.pushDigestOf(leafInput);
    this.completeParents(0, leaves);
    this.leafCount++;
  }

  /** Root over all leaves. */
  root(): Buffer {
    if (this.leafCount === 0) throw new Error("Merkle tree is empty: no root");
    return this.rootAt(this.leafCount);
  }

  /**
   * Root over the first treeSize leaves. The loader is only needed when treeSize
   * ends inside an evicted block (never the case for treeSize = size).
   */
  rootAt(treeSize: number, loadBlock?: BlockLoader): Buffer {
    checkInteger("treeSize", treeSize, 1, this.leafCount);
    const lookup: Lookup = { loadBlock, loaded: new Map() };
    return this.foldPeaks(this.peaks(treeSize), 0, lookup);
  }

  /**
   * The input whose SHA-256 is root(): the concatenation of the root's two
   * children. Undefined for a tree of one leaf, whose root is that leaf (the
   * tree does not keep leaf inputs). Lets node:crypto sign and verify the root.
   */
  rootPreimage(): Buffer | undefined {
    const peaks = this.peaks(this.leafCount);
    const [top] = peaks;
    if (top === undefined || (peaks.length === 1 && top.level === 0)) return undefined;
    const lookup: Lookup = { loadBlock: undefined, loaded: new Map() };
    // The root folds the peaks (largest first), or, for one complete subtree, is its top node.
    const [left, right] =
      peaks.length > 1
        ? [this.node(top.level, top.index, lookup), this.foldPeaks(peaks, 1, lookup)]
        : [this.node(top.level - 1, 0, lookup), this.node(top.level - 1, 1, lookup)];
    return Buffer.concat([left, right]);
  }

  /**
   * The tree as a signature transaction records it (CCF's public:ccf.internal.tree;
   * CCF's own bytes are merklecpp's): its size and the hashes of its peaks, from
   * which its root and every proof's steps outside the leaf's own peak follow.
   */
  frontier(): Buffer {
    const peaks = this.peaks(this.leafCount);
    const out = Buffer.allocUnsafe(FRONTIER_HEADER_BYTES + peaks.length * DIGEST_BYTES);
    out.writeBigUInt64BE(BigInt(this.leafCount), 0);
    peaks.forEach((peak, p) => out.set(this.store(peak.level).view(peak.index), FRONTIER_HEADER_BYTES + p * DIGEST_BYTES));
    return out;
  }

  /**
   * Receipt path for leafIndex in the tree of the first treeSize leaves, ordered
   * leaf → root. With that tree's frontier (as recorded by its signature), the
   * other peaks come from it rather than from evicted blocks; the caller then
   * checks the path against the signed root, since nothing here can.
   */
  proof(leafIndex: number, treeSize: number, loadBlock?: BlockLoader, frontier?: Buffer): ProofStep[] {
    checkInteger("treeSize", treeSize, 1, this.leafCount);
    checkInteger("leafIndex", leafIndex, 0, treeSize - 1);
    const peaks = this.peaks(treeSize);
    const lookup: Lookup = { loadBlock, loaded: new Map(), peakHashes: frontier && peakHashesOf(frontier, treeSize, peaks.length) };
    const k = peaks.findIndex((p) => leafIndex < p.start + 2 ** p.level);
    const own = peaks[k];
    if (own === undefined) throw new Error("internal: leaf not under any peak");

    const steps: ProofStep[] = [];
    // Inside the complete subtree holding the leaf: plain binary siblings.
    for (let h = 0; h < own.level; h++) {
      const j = Math.floor(leafIndex / 2 ** h);
      if (j % 2 === 0) steps.push({ right: Buffer.from(this.node(h, j + 1, lookup)) });
      else steps.push({ left: Buffer.from(this.node(h, j - 1, lookup)) });
    }
    // Smaller peaks to the right fold into one right sibling; larger ones are left siblings.
    if (k + 1 < peaks.length) steps.push({ right: this.foldPeaks(peaks, k + 1, lookup) });
    for (let p = k - 1; p >= 0; p--) steps.push({ left: Buffer.from(this.peakNode(peaks, p, lookup)) });
    return steps;
  }

  /** A copy of leaf `index`, or undefined if it is evicted or out of range. */
  leaf(index: number): Buffer | undefined {
    if (!Number.isInteger(index) || index < this.firstInMemoryLeaf || index >= this.leafCount) return undefined;
    return Buffer.from(this.store(0).view(index));
  }

  /** Drops leaves >= newSize; only in-memory leaves can be dropped (a rollback of uncommitted entries). */
  truncate(newSize: number): void {
    checkInteger("newSize", newSize, 0, this.leafCount);
    if (newSize < this.firstInMemoryLeaf) {
      throw new Error(
        `cannot truncate Merkle tree to ${newSize}: leaves before ${this.firstInMemoryLeaf} are evicted`,
      );
    }
    // Complete nodes over leaves < newSize are unchanged; only nodes touching the cut go.
    for (let h = 0; h < this.levels.length; h++) this.store(h).truncate(Math.floor(newSize / 2 ** h));
    this.leafCount = newSize;
  }

  /**
   * Frees levels below blockLeavesLog2 for every complete block entirely before
   * leafIndex, keeping the block that holds the last leaf (appends and root() need it).
   */
  evictBlocksBefore(leafIndex: number): void {
    checkInteger("leafIndex", leafIndex, 0, Number.MAX_SAFE_INTEGER);
    if (this.leafCount === 0) return;
    const lastBlock = Math.floor((this.leafCount - 1) / this.blockLeaves);
    const limit = Math.min(Math.floor(leafIndex / this.blockLeaves), lastBlock);
    if (limit <= this.firstInMemoryBlock) return;
    this.firstInMemoryBlock = limit;
    for (let h = 0; h < this.blockLeavesLog2 && h < this.levels.length; h++) {
      this.store(h).freeBefore(limit * 2 ** (this.blockLeavesLog2 - h));
    }
  }

  /**
   * Snapshot state: size, block size, the level-blockLeavesLog2 nodes (upper
   * levels are recomputed from them on load, so a snapshot cannot hold an
   * inconsistent upper tree), and the leaves of the last block, i.e. as if
   * everything before the last (possibly partial) block were evicted.
   */
  serialize(): Buffer {
    const size = this.leafCount;
    const lastBlockStart = size === 0 ? 0 : Math.floor((size - 1) / this.blockLeaves) * this.blockLeaves;
    // After truncate() to exactly an eviction boundary the last block may itself be evicted.
    const firstLeaf = Math.max(lastBlockStart, this.firstInMemoryLeaf);
    const blockNodes = Math.floor(size / this.blockLeaves);
    const out = Buffer.allocUnsafe(SNAPSHOT_HEADER_BYTES + (blockNodes + size - firstLeaf) * DIGEST_BYTES);
    let offset = SNAPSHOT_MAGIC.copy(out, 0);
    offset = out.writeUInt8(this.blockLeavesLog2, offset);
    offset = out.writeBigUInt64BE(BigInt(size), offset);
    offset = out.writeBigUInt64BE(BigInt(firstLeaf), offset);
    if (blockNodes > 0) {
      const level = this.store(this.blockLeavesLog2);
      for (let i = 0; i < blockNodes; i++) offset += level.view(i).copy(out, offset);
    }
    const leaves = this.store(0);
    for (let i = firstLeaf; i < size; i++) offset += leaves.view(i).copy(out, offset);
    return out;
  }

  static deserialize(bytes: Buffer): MerkleTree {
    const fail = (why: string): never => {
      throw new Error(`malformed Merkle tree snapshot: ${why}`);
    };
    if (bytes.length < SNAPSHOT_HEADER_BYTES) fail(`${bytes.length} bytes, shorter than the header`);
    if (!bytes.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) fail("bad magic");
    let offset = SNAPSHOT_MAGIC.length;
    const log2 = bytes.readUInt8(offset);
    offset += 1;
    if (log2 < 1 || log2 > BLOCK_LEAVES_LOG2_MAX) fail(`blockLeavesLog2 ${log2} out of range`);
    const size = readSafeU64(bytes, offset) ?? fail("size too large");
    offset += 8;
    const firstLeaf = readSafeU64(bytes, offset) ?? fail("first leaf too large");
    offset += 8;

    const blockLeaves = 2 ** log2;
    const lastBlockStart = size === 0 ? 0 : Math.floor((size - 1) / blockLeaves) * blockLeaves;
    if (firstLeaf % blockLeaves !== 0 || firstLeaf < lastBlockStart || firstLeaf > size) {
      fail(`first leaf ${firstLeaf} is not the start of the last block of ${size} leaves`);
    }
    const blockNodes = Math.floor(size / blockLeaves);
    const expected = SNAPSHOT_HEADER_BYTES + (blockNodes + size - firstLeaf) * DIGEST_BYTES;
    if (bytes.length !== expected) fail(`${bytes.length} bytes, expected ${expected}`);

    const tree = new MerkleTree({ blockLeavesLog2: log2 });
    const evictedBlocks = firstLeaf / blockLeaves;
    const nodeAt = (i: number): Buffer => bytes.subarray(offset + i * DIGEST_BYTES, offset + (i + 1) * DIGEST_BYTES);
    // Evicted blocks enter at level blockLeavesLog2; their lower levels start empty.
    for (let h = 0; h < log2; h++) tree.store(h).startAt(evictedBlocks * 2 ** (log2 - h));
    for (let b = 0; b < evictedBlocks; b++) tree.pushNode(log2, nodeAt(b));
    tree.leafCount = firstLeaf;
    tree.firstInMemoryBlock = evictedBlocks;
    // The last block's leaves rebuild its lower levels (and its block node, if complete).
    const leavesOffset = blockNodes;
    for (let i = 0; i < size - firstLeaf; i++) tree.append(nodeAt(leavesOffset + i));
    for (let b = evictedBlocks; b < blockNodes; b++) {
      if (!tree.store(log2).view(b).equals(nodeAt(b))) fail(`block ${b} hash does not match its leaves`);
    }
    return tree;
  }

  private store(level: number): HashStore {
    let store = this.levels[level];
    while (store === undefined) {
      const h = this.levels.length;
      // Lower-level chunks never straddle blocks, so eviction frees exactly whole blocks.
      const chunkLog2 =
        h < this.blockLeavesLog2 ? Math.min(this.blockLeavesLog2 - h, CHUNK_HASHES_LOG2) : CHUNK_HASHES_LOG2;
      this.levels.push(new HashStore(chunkLog2));
      store = this.levels[level];
    }
    return store;
  }

  /** Appends a complete node at `level`, then every parent it completes (amortised one hash). */
  private pushNode(level: number, hash: Uint8Array): void {
    const store = this.store(level);
    store.push(hash);
    this.completeParents(level, store);
  }

  /** After a push at `level`: appends every parent the new node completes (amortised one hash). */
  private completeParents(level: number, store: HashStore): void {
    let h = level;
    while (store.count % 2 === 0) {
      const children = store.view(store.count - 2, 2);
      store = this.store(++h);
      store.pushDigestOf(children);
    }
  }

  /** The complete nodes whose right fold is the root of the first n leaves, largest first. */
  private peaks(n: number): Peak[] {
    let top = 0;
    while (2 ** (top + 1) <= n) top++;
    const peaks: Peak[] = [];
    let start = 0;
    for (let h = top; h >= 0; h--) {
      const span = 2 ** h;
      if (n - start >= span) {
        peaks.push({ level: h, index: start / span, start });
        start += span;
      }
    }
    return peaks;
  }

  /** Root of peaks[from..]: H(p_from, H(p_from+1, … p_last)). Returns a fresh Buffer. */
  private foldPeaks(peaks: Peak[], from: number, lookup: Lookup): Buffer {
    let acc: Buffer | undefined;
    for (let p = peaks.length - 1; p >= from; p--) {
      const node = this.peakNode(peaks, p, lookup);
      acc = acc === undefined ? Buffer.from(node) : sha256Pair(node, acc);
    }
    if (acc === undefined) throw new Error("internal: no peaks to fold");
    return acc;
  }

  /** Peak p's hash: from the given frontier if there is one, else looked up like every other node. */
  private peakNode(peaks: Peak[], p: number, lookup: Lookup): Buffer {
    if (lookup.peakHashes) return lookup.peakHashes.subarray(p * DIGEST_BYTES, (p + 1) * DIGEST_BYTES);
    const peak = peaks[p];
    if (peak === undefined) throw new Error("internal: missing peak");
    return this.node(peak.level, peak.index, lookup);
  }

  /** A stored complete node, or one rebuilt from the loader if its block is evicted. */
  private node(level: number, index: number, lookup: Lookup): Buffer {
    if (level < this.blockLeavesLog2) {
      const perBlock = 2 ** (this.blockLeavesLog2 - level);
      const block = Math.floor(index / perBlock);
      if (block < this.firstInMemoryBlock) {
        const levels = this.loadedBlock(block, lookup);
        const node = levels[level]?.[index - block * perBlock];
        if (node === undefined) throw new Error("internal: node missing from rebuilt block");
        return node;
      }
    }
    return this.store(level).view(index);
  }

  /** Loads an evicted block once per call and rebuilds its lower levels (not kept after the call). */
  private loadedBlock(block: number, lookup: Lookup): Buffer[][] {
    const cached = lookup.loaded.get(block);
    if (cached !== undefined) return cached;
    const first = block * this.blockLeaves;
    if (lookup.loadBlock === undefined) {
      throw new Error(
        `Merkle block ${block} (leaves ${first}..${first + this.blockLeaves - 1}) ` +
          "is evicted from memory and no BlockLoader was given",
      );
    }
    const leaves = lookup.loadBlock(block);
    if (leaves.length !== this.blockLeaves || leaves.some((l) => l.length !== DIGEST_BYTES)) {
      throw new Error(
        `BlockLoader returned ${leaves.length} leaves for block ${block}, ` +
          `expected ${this.blockLeaves} of ${DIGEST_BYTES} bytes`,
      );
    }
    const levels: Buffer[][] = [leaves];
    for (let h = 0; h < this.blockLeavesLog2; h++) {
      const below = levels[h] ?? [];
      const above: Buffer[] = [];
      for (let i = 0; i + 1 < below.length; i += 2) {
        above.push(sha256Pair(below[i] ?? missing(), below[i + 1] ?? missing()));
      }
      levels.push(above);
    }
    // The kept block node authenticates what the loader read back (e.g. from ledger files).
    const top = levels[this.blockLeavesLog2]?.[0];
    if (top === undefined || !top.equals(this.store(this.blockLeavesLog2).view(block))) {
      throw new Error(`BlockLoader returned leaves for block ${block} that do not match the Merkle tree`);
    }
    lookup.loaded.set(block, levels);
    return levels;
  }
}

/** Folds receipt steps (leaf → root) over a leaf and returns the resulting root. */
export function verifyProof(leaf: Uint8Array, proof: ProofStep[]): Buffer {
  return foldProof(leaf, proof).root;
}

/** verifyProof's root, and the input of its last hash (undefined for an empty proof, whose root is the leaf). */
export function foldProof(leaf: Uint8Array, proof: ProofStep[]): { root: Buffer; lastInput: Buffer | undefined } {
  let root: Buffer = Buffer.from(leaf);
  let lastInput: Buffer | undefined;
  for (const step of proof) {
    lastInput = "left" in step ? Buffer.concat([step.left, root]) : Buffer.concat([root, step.right]);
    root = sha256(lastInput);
  }
  return { root, lastInput };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/** The peak hashes of a frontier() of a tree of treeSize leaves; throws if it is not one. */
function peakHashesOf(frontier: Buffer, treeSize: number, peakCount: number): Buffer {
  const expected = FRONTIER_HEADER_BYTES + peakCount * DIGEST_BYTES;
  if (frontier.length !== expected || readSafeU64(frontier, 0) !== treeSize) {
    throw new Error(`not the frontier of a Merkle tree of ${treeSize} leaves (${frontier.length} bytes, expected ${expected})`);
  }
  return frontier.subarray(FRONTIER_HEADER_BYTES);
}

function readSafeU64(bytes: Buffer, offset: number): number | undefined {
  const value = bytes.readBigUInt64BE(offset);
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : undefined;
}

function missing(): never {
  throw new Error("internal: index out of range");
}
