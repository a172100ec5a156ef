// Reads little-endian binary layouts with bounds checks, so every decoder of
// untrusted bytes (ledger write sets, snapshots) reports truncation the same way.

/** Bytes that do not decode as the expected layout (truncated, padded, inconsistent). */
export class WriteSetFormatError extends Error {}

/**
 * A copy of `bytes` in an allocation of its own. Values kept in the store must
 * not be slices of Node's shared Buffer pool: a slice keeps its whole 8 KiB pool
 * chunk alive, mostly filled with a transaction's throwaway buffers (measured:
 * ~0.7 KB wasted per stored key).
 */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
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
