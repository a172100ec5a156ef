// Node-to-node framing: each message is a 4-byte big-endian length, then that many bytes.
// The reader is bounded: a length over the limit is refused before any of its bytes are held,
// so a peer (even an authenticated one) cannot make a node buffer more than one frame.

export const FRAME_HEADER_BYTES = 4;

export class FrameError extends Error {
  override name = "FrameError";
}

/** The header to write before `payloadBytes` bytes of payload. */
export function frameHeader(payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadBytes, 0);
  return header;
}

/** Turns a byte stream back into frames, holding at most one partial frame. */
export class FrameReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload length of the frame being read, once its header is in. */
  private expected: number | undefined;

  constructor(private readonly payloadBytesMax: number) {}

  /** Feeds the next bytes; returns the frames they complete. Throws FrameError for a frame over the bound. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.expected === undefined) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length > this.payloadBytesMax) {
          throw new FrameError(`frame of ${length} bytes is over the ${this.payloadBytesMax}-byte bound`);
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = undefined;
    }
    return frames;
  }

  /** Whether part of a frame has arrived: the stream ending now would truncate it. */
  get midFrame(): boolean {
    return this.buffered > 0 || this.expected !== undefined;
  }

  /** The next `n` buffered bytes (n <= buffered); copies only when they span chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      this.buffered -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.chunks[0]!;
      const used = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, used);
      filled += used;
      if (used === chunk.length) this.chunks.shift();
      else this.chunks[0] = chunk.subarray(used);
    }
    this.buffered -= n;
    return out;
  }
}
