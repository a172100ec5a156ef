// SHA-256 through Node's one-shot hash: the per-call overhead dominates for
// the small inputs (Merkle nodes, leaves) hashed on every commit.
import { hash } from "node:crypto";

export const DIGEST_BYTES = 32;

export function sha256(data: Uint8Array | string): Buffer {
  return hash("sha256", data, "buffer");
}

/** SHA-256 of a‖b without the caller building the concatenation. */
export function sha256Pair(a: Uint8Array, b: Uint8Array): Buffer {
  const joined = Buffer.allocUnsafe(a.length + b.length);
  joined.set(a, 0);
  joined.set(b, a.length);
  return hash("sha256", joined, "buffer");
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
