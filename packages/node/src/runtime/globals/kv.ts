// Installs the host side of `ccf.kv`: map operations on the call's transaction
// (store 0) or on a historical transaction's writes, under CCF's table access
// rules (check_kv_map_access): app code may write only application tables.
import type { Tx } from "../../kv/tx.ts";
import { isPublicMap, keyString, type MapWrites } from "../../kv/write-set.ts";
import type { JsAccess, CallState } from "../call-state.ts";
import type { GuestRef } from "../engine.ts";
import type { HostFunction, HostValue, Vm } from "../vm.ts";

type Permission = "read-write" | "read-only" | "write-only" | "inaccessible";

const RESTRICTIONS_URL = "https://microsoft.github.io/CCF/main/audit/read_write_restrictions.html";

/** CCF's permission of JS code on a table (check_kv_map_access), by execution context. */
export function mapPermission(access: JsAccess, name: string): Permission {
  const isPublic = isPublicMap(name);
  const bare = isPublic ? name.slice("public:".length) : name;
  const governance = access === "read-only governance" || access === "read-write governance";
  if (!isPublic) return bare.startsWith("ccf.") || governance ? "inaccessible" : access === "application" ? "read-write" : "read-only";
  if (bare.startsWith("ccf.gov.")) return access === "read-write governance" ? "read-write" : "read-only";
  if (bare.startsWith("ccf.")) return "read-only";
  // Public application tables: apps own them; governance may read them, and apply() may only write them.
  if (access === "application") return "read-write";
  return access === "read-write governance" ? "write-only" : "read-only";
}

function permissionError(access: JsAccess, permission: Permission): TypeError {
  return new TypeError(`This table is ${permission} in current (${access}) execution context. See ${RESTRICTIONS_URL} for more detail.`);
}

/** Read access to one map: of the live transaction, or of a historical write set. */
interface MapReader {
  get(key: Buffer): Buffer | undefined;
  version(key: Buffer): number | undefined;
  entries(): HostValue[];
  size(): number;
}

function txReader(tx: Tx, name: string): MapReader {
  const map = tx.map(name);
  return {
    get: (key) => map.get(key),
    version: (key) => map.getVersionOfPreviousWrite(key),
    entries() {
      const flat: HostValue[] = [];
      map.forEach((value, key) => flat.push(key, value));
      return flat;
    },
    size: () => map.size,
  };
}

/** A historical transaction's map holds exactly the values that transaction wrote. */
function historicalReader(writes: MapWrites | undefined, seqno: number): MapReader {
  const get = (key: Buffer) => writes?.get(keyString(key)) ?? undefined;
  return {
    get,
    version: (key) => (get(key) === undefined ? undefined : seqno),
    entries() {
      const flat: HostValue[] = [];
      for (const [key, value] of writes ?? []) if (value !== null) flat.push(Buffer.from(key, "latin1"), value);
      return flat;
    },
    size: () => [...(writes?.values() ?? [])].filter((value) => value !== null).length,
  };
}

/** What one call has resolved of the live transaction's maps, by map id: permission checked once per map and call. */
interface LiveMaps {
  readers: (MapReader | undefined)[];
  writers: (ReturnType<Tx["map"]> | undefined)[];
}

export function kvHostFunctions(vm: Vm, call: () => CallState): Record<string, HostFunction> {
  // The prelude names each map once (kvMapId) and then passes its id: no map name crosses per operation.
  const names: string[] = [];
  const ids = new Map<string, number>();
  const live = new WeakMap<CallState, LiveMaps>();
  const nameOf = (idHandle: GuestRef): string => {
    const name = names[vm.preludeNumber(idHandle)];
    if (name === undefined) throw new TypeError("Unknown map");
    return name;
  };
  const liveMaps = (state: CallState): LiveMaps => {
    let maps = live.get(state);
    if (maps === undefined) live.set(state, (maps = { readers: [], writers: [] }));
    return maps;
  };
  const reader = (storeHandle: GuestRef, idHandle: GuestRef): MapReader => {
    const state = call();
    const store = vm.preludeNumber(storeHandle);
    if (store === 0) {
      const maps = liveMaps(state);
      const id = vm.preludeNumber(idHandle);
      const cached = maps.readers[id];
      if (cached !== undefined) return cached;
      const name = nameOf(idHandle);
      const permission = mapPermission(state.access, name);
      if (permission === "inaccessible" || permission === "write-only") throw permissionError(state.access, permission);
      return (maps.readers[id] = txReader(state.tx, name));
    }
    const historical = state.historicalStores.get(store);
    if (historical === undefined) throw new Error("This historical state is no longer available (it belongs to an earlier request)");
    return historicalReader(historical.writes.get(nameOf(idHandle)), historical.seqno);
  };
  const writer = (storeHandle: GuestRef, idHandle: GuestRef) => {
    const state = call();
    const live = vm.preludeNumber(storeHandle) === 0;
    const maps = live ? liveMaps(state) : undefined;
    const id = vm.preludeNumber(idHandle);
    const cached = maps?.writers[id];
    if (cached !== undefined) return cached;
    const name = nameOf(idHandle);
    const access = live ? state.access : "read-only application";
    const permission = mapPermission(access, name);
    if (permission !== "read-write" && permission !== "write-only") throw permissionError(access, permission);
    const map = state.tx.map(name);
    if (maps !== undefined) maps.writers[id] = map;
    return map;
  };
  return {
    kvMapId: (nameHandle) => {
      const name = vm.string(nameHandle, "Map name");
      let id = ids.get(name);
      if (id === undefined) {
        id = names.push(name) - 1;
        ids.set(name, id);
      }
      return id;
    },
    // Keys and values are read in place (vm.bytesInPlace): a lookup only turns the key into its
    // map key, and a set copies the value into its write set, before the engine runs again.
    kvHas: (store, id, key) => reader(store, id).get(vm.bytesInPlace(key)) !== undefined,
    kvGet: (store, id, key) => reader(store, id).get(vm.bytesInPlace(key)),
    kvVersion: (store, id, key) => reader(store, id).version(vm.bytesInPlace(key)),
    kvEntries: (store, id) => reader(store, id).entries(),
    kvSize: (store, id) => reader(store, id).size(),
    kvSet: (store, id, key, value) => void writer(store, id).set(vm.bytesInPlace(key), vm.bytesInPlace(value)),
    kvDelete: (store, id, key) => void writer(store, id).delete(vm.bytesInPlace(key)),
    kvClear: (store, id) => void writer(store, id).clear(),
  };
}
