// Installs the host side of `ccf.kv`: map operations on the call's transaction
// (store 0) or on a historical transaction's writes, under CCF's table access
// rules (check_kv_map_access): app code may write only application tables.
import type { Tx } from "../../kv/tx.ts";
import { isPublicMap, keyString, type MapWrites } from "../../kv/write-set.ts";
import type { JsAccess, CallState } from "../call-state.ts";
import type { QuickJSHandle } from "quickjs-emscripten";
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

export function kvHostFunctions(vm: Vm, call: () => CallState): Record<string, HostFunction> {
  const reader = (storeHandle: QuickJSHandle, nameHandle: QuickJSHandle): MapReader => {
    const state = call();
    const store = vm.number(storeHandle );
    const name = vm.string(nameHandle , "Map name");
    if (store === 0) {
      const permission = mapPermission(state.access, name);
      if (permission === "inaccessible" || permission === "write-only") throw permissionError(state.access, permission);
      return txReader(state.tx, name);
    }
    const historical = state.historicalStores.get(store);
    if (historical === undefined) throw new Error("This historical state is no longer available (it belongs to an earlier request)");
    return historicalReader(historical.writes.get(name), historical.seqno);
  };
  const writer = (storeHandle: QuickJSHandle, nameHandle: QuickJSHandle) => {
    const state = call();
    const name = vm.string(nameHandle , "Map name");
    const access = vm.number(storeHandle ) === 0 ? state.access : "read-only application";
    const permission = mapPermission(access, name);
    if (permission !== "read-write" && permission !== "write-only") throw permissionError(access, permission);
    return state.tx.map(name);
  };
  return {
    kvHas: (store, name, key) => reader(store, name).get(vm.bytes(key)) !== undefined,
    kvGet: (store, name, key) => reader(store, name).get(vm.bytes(key)),
    kvVersion: (store, name, key) => reader(store, name).version(vm.bytes(key)),
    kvEntries: (store, name) => reader(store, name).entries(),
    kvSize: (store, name) => reader(store, name).size(),
    kvSet: (store, name, key, value) => void writer(store, name).set(vm.bytes(key), vm.bytes(value)),
    kvDelete: (store, name, key) => void writer(store, name).delete(vm.bytes(key)),
    kvClear: (store, name) => void writer(store, name).clear(),
  };
}
