// SHA-256 through Node's one-shot hash. For the small inputs hashed on every
// commit (Merkle nodes, leaves) the per-call overhead dominates, and most of it
// is the "buffer" output: Node gives each digest its own ArrayBuffer (about
// 1 µs more per call here than the digest itself). Taking the digest as a
// "binary" (latin1) string, one byte per char on V8's heap, and copying it into
// a pooled or caller-owned buffer costs a fraction of that.
import { hash } from "node:crypto";

export const DIGEST_BYTES = 32;

/** The digest in a small Buffer from Node's pool: copy it (as the Merkle tree does) before keeping it long. */
export function sha256(data: Uint8Array | string): Buffer {
  return Buffer.from(hash("sha256", data, "binary"), "latin1");
}

/** The digest as a binary (latin1) string: to compare with stored bytes without making a Buffer. */
export function sha256Binary(data: Uint8Array | string): string {
  return hash("sha256", data, "binary");
}

/** Writes the digest of `data` into `target` at `offset` (no allocation besides the digest string). */
export function sha256Into(data: Uint8Array | string, target: Buffer, offset: number): void {
  target.write(hash("sha256", data, "binary"), offset, DIGEST_BYTES, "latin1");
}

/** SHA-256 of a‖b without the caller building the concatenation. */
export function sha256Pair(a: Uint8Array, b: Uint8Array): Buffer {
  const joined = Buffer.allocUnsafe(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return sha256(joined);
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

export function fromHex(text: string, expectedBytes?: number): Buffer {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`not a hex string: ${text.slice(0, 20)}`);
  const bytes = Buffer.from(text, "hex");
  if (expectedBytes !== undefined && bytes.length !== expectedBytes) {
    throw new Error(`expected ${expectedBytes} bytes of hex, got ${bytes.length}`);
  }
  return bytes;
}
