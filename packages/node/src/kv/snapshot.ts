// Serialises the committed state of a store's maps, with each key's version,
// so a node can restart (or, later, join) from a snapshot instead of replaying
// the whole ledger. The caller chooses the maps (public and private domains are
// serialised apart, because the private one is sealed).
import { seqNo } from "../ids.ts";
import type { Store, VersionedValue } from "./store.ts";
import { ByteReader } from "./byte-reader.ts";
import type { KeyString } from "./write-set.ts";

// Layout (little-endian): u32 mapCount, then per map: u16 nameBytes, name,
// u32 entryCount, then per entry: u32 keyBytes, key, u32 valueBytes, value, f64 version.

export function serializeMaps(store: Store, include: (name: string) => boolean): Buffer {
  const names = store.mapNames().filter(include);
  const nameBytes = names.map((name) => Buffer.from(name, "utf8"));
  // One allocation for the whole domain: sizes first, then the bytes.
  let size = 4;
  for (const [i, name] of names.entries()) {
    size += 2 + nameBytes[i]!.length + 4;
    for (const [key, { value }] of store.mapState(name)!.entries) size += 4 + key.length + 4 + value.length + 8;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt32LE(names.length, 0);
  for (const [i, name] of names.entries()) {
    const entries = store.mapState(name)!.entries;
    at = out.writeUInt16LE(nameBytes[i]!.length, at);
    at += nameBytes[i]!.copy(out, at);
    at = out.writeUInt32LE(entries.size, at);
    for (const [key, { value, version }] of entries) {
      at = out.writeUInt32LE(key.length, at);
      at += out.write(key, at, "latin1");
      at = out.writeUInt32LE(value.length, at);
      at += value.copy(out, at);
      at = out.writeDoubleLE(version, at);
    }
  }
  return out;
}

/** Loads maps serialised by serializeMaps into the store (replacing maps of the same name). */
export function loadMaps(store: Store, bytes: Buffer): void {
  const reader = new ByteReader(bytes, "snapshot maps");
  const mapCount = reader.u32();
  for (let m = 0; m < mapCount; m++) {
    const name = reader.text(reader.u16(), "utf8");
    const entryCount = reader.u32();
    const entries: Array<[KeyString, VersionedValue]> = [];
    for (let e = 0; e < entryCount; e++) {
      const key = reader.text(reader.u32(), "latin1");
      const value = reader.bytes(reader.u32());
      entries.push([key, { value, version: seqNo(reader.f64()) }]);
    }
    store.loadMap(name, entries);
  }
  reader.end();
}
