// CCF's interpreter cache: which interpreter runs an endpoint's handler. An
// endpoint without `interpreter_reuse` gets a pristine realm on every call
// (the deployment's "fresh" interpreter, restored between calls). Endpoints
// naming the same `interpreter_reuse.key` share one interpreter whose state
// carries from call to call; at most max_cached_interpreters of those are
// kept, the least recently used dropped (its key starts afresh next time).
// One cache serves one deployment of the app with one set of runtime options:
// changing either builds a new, empty cache.
import type { AppDefinition } from "./bundle.ts";
import { AppInterpreter, type CallRealm, type JsRuntimeOptions, type RuntimeServices } from "./interpreter.ts";

export class InterpreterCache {
  private fresh: Promise<AppInterpreter>;
  /** By reuse key, least recently used first (a Map keeps insertion order). */
  private readonly reused = new Map<string, Promise<AppInterpreter>>();

  constructor(
    private readonly app: AppDefinition,
    private readonly services: RuntimeServices,
    private readonly options: JsRuntimeOptions,
  ) {
    this.fresh = this.create("fresh");
  }

  /** Reuse keys with a cached interpreter, least recently used first. */
  get cachedKeys(): string[] {
    return [...this.reused.keys()];
  }

  /** Bytes of WebAssembly memory held by every interpreter of the cache. */
  async memoryBytes(): Promise<number> {
    const interpreters = await Promise.all([this.fresh, ...this.reused.values()]);
    return interpreters.reduce((sum, interpreter) => sum + interpreter.memoryBytes, 0);
  }

  /** Waits until the fresh interpreter is built (after a deployment), so no request pays for it. */
  async prepare(): Promise<void> {
    await this.fresh;
  }

  /**
   * The interpreter for an endpoint's reuse policy. One whose engine failed
   * underneath the app (not a JS error) is replaced by a new one.
   */
  async get(reuse: { key: string } | null | undefined): Promise<AppInterpreter> {
    // With no cache (max_cached_interpreters 0) a reuse key gets what CCF then gives: a fresh interpreter.
    if (typeof reuse?.key !== "string" || this.options.maxCachedInterpreters === 0) {
      let interpreter = await this.fresh;
      if (interpreter.broken) {
        this.fresh = this.create("fresh");
        interpreter = await this.fresh;
      }
      return interpreter;
    }
    const entry = this.promote(reuse.key);
    const interpreter = await entry;
    if (!interpreter.broken) return interpreter;
    if (this.reused.get(reuse.key) === entry) this.reused.delete(reuse.key);
    return this.promote(reuse.key);
  }

  /** The key's interpreter, made the most recently used (created if none is cached); evicts past the bound. */
  private promote(key: string): Promise<AppInterpreter> {
    const entry = this.reused.get(key) ?? this.create("reused");
    this.reused.delete(key);
    this.reused.set(key, entry);
    for (const oldest of this.reused.keys()) {
      if (this.reused.size <= this.options.maxCachedInterpreters) break;
      this.reused.delete(oldest);
    }
    return entry;
  }

  private create(realm: CallRealm): Promise<AppInterpreter> {
    return AppInterpreter.create(this.app, this.services, this.options, realm);
  }
}
