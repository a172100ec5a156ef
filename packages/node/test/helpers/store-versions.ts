// "Stored data unchanged", as the bad-input tests check it: the last write
// version of every app and governance map. Signature transactions, which the
// node emits on its own, write only public:ccf.internal.* maps, so those are left out.
import type { Store } from "../../src/kv/store.ts";

export function dataVersions(store: Store): string {
  const maps = store.mapNames().filter((name) => !name.startsWith("public:ccf.internal."));
  return JSON.stringify(maps.map((name) => [name, store.mapState(name)!.lastWriteVersion]));
}
