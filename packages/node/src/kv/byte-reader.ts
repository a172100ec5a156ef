// Reads little-endian binary layouts with bounds checks, so every decoder of
// untrusted bytes (ledger write sets, snapshots) reports truncation the same way.

/** Bytes that do not decode as the expected layout (truncated, padded, inconsistent). */
export class WriteSetFormatError extends Error {}

/** Store values are copied into slabs of their own (see ownedCopy). */
const SLAB_BYTES = 8192;
/** Values this large get an allocation each: a slab would hold too few of them to be worth it. */
const OWN_ALLOCATION_BYTES = 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

/**
 * A copy of `bytes` for keeping in the store. Not a slice of Node's shared
 * Buffer pool: such a slice keeps its whole pool chunk alive, mostly filled with
 * a transaction's throwaway buffers (measured: ~0.7 KB wasted per stored key).
 * Slabs hold only values, and one allocation per value costs ~0.5 µs, so small
 * values share slabs that hold nothing else.
 */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const length = bytes.length;
  if (length >= OWN_ALLOCATION_BYTES) {
    const copy = Buffer.allocUnsafeSlow(length);
    copy.set(bytes);
    return copy;
  }
  if (slabUsed + length > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const copy = slab.subarray(slabUsed, slabUsed + length);
  copy.set(bytes);
  slabUsed += length;
  return copy;
}

export class ByteReader {
  private at = 0;

  constructor(
    private readonly bytes: Buffer,
    /** Names the structure in errors ("write set", "snapshot maps"). */
    private readonly what: string,
  ) {}

  u16(): number {
    this.need(2);
    const value = this.bytes.readUInt16LE(this.at);
    this.at += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.bytes.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.bytes.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  /** A copy in memory of its own (see ownedCopy). */
  bytesCopy(length: number): Buffer {
    this.need(length);
    const value = ownedCopy(this.bytes.subarray(this.at, this.at + length));
    this.at += length;
    return value;
  }

  text(length: number, encoding: "utf8" | "latin1"): string {
    this.need(length);
    const value = this.bytes.toString(encoding, this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.at !== this.bytes.length) throw new WriteSetFormatError(`${this.what} has ${this.bytes.length - this.at} trailing bytes`);
  }

  private need(n: number): void {
    if (this.at + n > this.bytes.length) throw new WriteSetFormatError(`${this.what} truncated at byte ${this.at} (needs ${n} more)`);
  }
}
