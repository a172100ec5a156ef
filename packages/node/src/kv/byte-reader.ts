// Reads little-endian binary layouts with bounds checks, so every decoder of
// untrusted bytes (ledger write sets, snapshots) reports truncation the same way.

/** Bytes that do not decode as the expected layout (truncated, padded, inconsistent). */
export class WriteSetFormatError extends Error {}

export class ByteReader {
  private at = 0;

  constructor(
    private readonly input: Buffer,
    /** Names the structure in errors ("write set", "snapshot maps"). */
    private readonly what: string,
  ) {}

  u16(): number {
    this.need(2);
    const value = this.input.readUInt16LE(this.at);
    this.at += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.input.readUInt32LE(this.at);
    this.at += 4;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.input.readDoubleLE(this.at);
    this.at += 8;
    return value;
  }

  /** A view of the next `length` bytes (the store copies what it keeps). */
  bytes(length: number): Buffer {
    this.need(length);
    const value = this.input.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }

  text(length: number, encoding: "utf8" | "latin1"): string {
    this.need(length);
    const value = this.input.toString(encoding, this.at, this.at + length);
    this.at += length;
    return value;
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.at !== this.input.length) throw new WriteSetFormatError(`${this.what} has ${this.input.length - this.at} trailing bytes`);
  }

  private need(n: number): void {
    if (this.at + n > this.input.length) throw new WriteSetFormatError(`${this.what} truncated at byte ${this.at} (needs ${n} more)`);
  }
}
