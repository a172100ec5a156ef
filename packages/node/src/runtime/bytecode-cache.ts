// CCF's app bytecode cache: when an app is deployed, each of its modules is
// compiled once to QuickJS bytecode and stored beside its source
// (public:ccf.gov.modules_quickjs_bytecode), tagged with the engine build
// (public:ccf.gov.modules_quickjs_version). An interpreter then loads modules
// from bytecode instead of parsing source, which is most of the cost of
// starting a big bundle, on every node and after every restart.
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { BYTECODE_VERSION, Engine } from "./engine.ts";
import { resolveModuleName } from "./modules.ts";

/**
 * ccf.refreshAppBytecodeCache: compiles every stored module in `tx` and
 * replaces the cache with the result. A module that does not compile gets no
 * bytecode: it is loaded from source, so its error reaches the requests that
 * use it, as before.
 */
export function refreshBytecodeCache(tx: Tx): void {
  const cache = tx.map(Tables.modulesQuickjsBytecode);
  cache.clear();
  const compiler = new Engine({
    // Compiling runs no code: nothing to interrupt.
    shouldInterrupt: () => false,
    normalize: resolveModuleName,
    // QuickJS resolves a module's imports even when only compiling it. The
    // bytecode records import names, not what they resolve to, so an empty
    // stand-in serves, and each module compiles on its own.
    load: () => ({ source: "" }),
  });
  tx.map(Tables.modules).forEach((source, key) => {
    try {
      cache.set(key, compiler.compileModule(source.toString("utf8"), key.toString("utf8")));
    } catch {
      // Left to the source path (see above).
    }
  });
  tx.map(Tables.modulesQuickjsVersion).set(SENTINEL_KEY, Buffer.from(BYTECODE_VERSION));
}

/** The cached bytecode by module name, if this engine build wrote it; empty otherwise (modules then load from source). */
export function readBytecodeCache(tx: Tx): Map<string, Buffer> {
  const bytecode = new Map<string, Buffer>();
  if (tx.map(Tables.modulesQuickjsVersion).get(SENTINEL_KEY)?.toString("utf8") !== BYTECODE_VERSION) return bytecode;
  tx.map(Tables.modulesQuickjsBytecode).forEach((value, key) => bytecode.set(key.toString("utf8"), value));
  return bytecode;
}
