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
  const parts: Buffer[] = [];
  const names = store.mapNames().filter(include);
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32LE(names.length);
  parts.push(count);
  for (const name of names) {
    const entries = store.mapState(name)!.entries;
    const nameBytes = Buffer.from(name, "utf8");
    const head = Buffer.allocUnsafe(2 + nameBytes.length + 4);
    head.writeUInt16LE(nameBytes.length, 0);
    nameBytes.copy(head, 2);
    head.writeUInt32LE(entries.size, 2 + nameBytes.length);
    parts.push(head);
    for (const [key, { value, version }] of entries) {
      const entry = Buffer.allocUnsafe(4 + key.length + 4 + value.length + 8);
      let at = entry.writeUInt32LE(key.length, 0);
      at += entry.write(key, at, "latin1");
      at = entry.writeUInt32LE(value.length, at);
      at += value.copy(entry, at);
      entry.writeDoubleLE(version, at);
      parts.push(entry);
    }
  }
  return Buffer.concat(parts);
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
      const value = reader.bytesCopy(reader.u32());
      entries.push([key, { value, version: seqNo(reader.f64()) }]);
    }
    store.loadMap(name, entries);
  }
  reader.end();
}
