// A transaction's writes: per map, key → new value, or null for a deletion.
// Keys are held as latin1 strings (one char per byte) so JS Maps can index them.

export type KeyString = string;
export type MapWrites = Map<KeyString, Buffer | null>;
export type WriteSet = Map<string, MapWrites>;

export const PUBLIC_PREFIX = "public:";

/** CCF: maps named "public:..." are written in clear to the ledger; every other map is private (encrypted). */
export function isPublicMap(name: string): boolean {
  return name.startsWith(PUBLIC_PREFIX);
}

export function keyString(key: Uint8Array): KeyString {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1");
}

export function keyBytes(key: KeyString): Buffer {
  return Buffer.from(key, "latin1");
}

/** Splits a write set into its public and private domains (each possibly empty). */
export function splitByDomain(writes: WriteSet): { publicWrites: WriteSet; privateWrites: WriteSet } {
  const publicWrites: WriteSet = new Map();
  const privateWrites: WriteSet = new Map();
  for (const [name, mapWrites] of writes) {
    (isPublicMap(name) ? publicWrites : privateWrites).set(name, mapWrites);
  }
  return { publicWrites, privateWrites };
}

import { ByteReader, WriteSetFormatError } from "./byte-reader.ts";

// Binary form, used inside ledger entries (all integers little-endian):
//   u32 mapCount, then per map: u16 nameBytes, name (UTF-8), u32 writeCount,
//   then per write: u32 keyBytes, key, u32 valueBytes+1 (0 = deletion), value.

export function encodeWriteSet(writes: WriteSet): Buffer {
  let size = 4;
  const names: Buffer[] = [];
  for (const [name, mapWrites] of writes) {
    const nameBuf = Buffer.from(name, "utf8");
    names.push(nameBuf);
    size += 2 + nameBuf.length + 4;
    for (const [key, value] of mapWrites) size += 8 + key.length + (value ? value.length : 0);
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32LE(writes.size, 0);
  let mapIndex = 0;
  for (const mapWrites of writes.values()) {
    const nameBuf = names[mapIndex++]!;
    at = out.writeUInt16LE(nameBuf.length, at);
    at += nameBuf.copy(out, at);
    at = out.writeUInt32LE(mapWrites.size, at);
    for (const [key, value] of mapWrites) {
      at = out.writeUInt32LE(key.length, at);
      at += out.write(key, at, "latin1");
      if (value === null) {
        at = out.writeUInt32LE(0, at);
      } else {
        at = out.writeUInt32LE(value.length + 1, at);
        at += value.copy(out, at);
      }
    }
  }
  return out;
}

export { WriteSetFormatError };

export function decodeWriteSet(bytes: Buffer): WriteSet {
  const writes: WriteSet = new Map();
  if (bytes.length === 0) return writes;
  const reader = new ByteReader(bytes, "write set");
  const mapCount = reader.u32();
  for (let m = 0; m < mapCount; m++) {
    const name = reader.text(reader.u16(), "utf8");
    const writeCount = reader.u32();
    const mapWrites: MapWrites = new Map();
    for (let w = 0; w < writeCount; w++) {
      const key = reader.text(reader.u32(), "latin1");
      const valueTag = reader.u32();
      mapWrites.set(key, valueTag === 0 ? null : reader.bytesCopy(valueTag - 1));
    }
    writes.set(name, mapWrites);
  }
  reader.end();
  return writes;
}
