// The app's JS interpreter: one QuickJS runtime (CCF's engine family, as
// WebAssembly: no native install) holding the app's modules and the `ccf`
// global. Each call runs under CCF's js_runtime_options: a heap limit, a stack
// limit and an execution time limit; breaking one is a clean error for that
// call and the interpreter keeps serving.
//
// CCF gives each request a fresh interpreter unless its endpoint asks for
// reuse. A "fresh" interpreter here does the same without rebuilding one: it
// keeps a snapshot of its memory taken once the modules were evaluated, and
// before each call it is back in that state (restored after the previous call
// in the background, or at the latest when the next call starts).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { History } from "../history/history.ts";
import {
  CONSTITUTION_BALLOTS_CACHED_MAX,
  JS_CACHED_INTERPRETERS_DEFAULT,
  JS_MAX_EXECUTION_TIME_MS,
  JS_MAX_HEAP_BYTES,
  JS_MAX_STACK_BYTES,
  JS_MODULE_LOAD_TIME_MS,
  JS_STACK_BYTES_HOST_CAP,
} from "../limits.ts";
import type { AppDefinition } from "./bundle.ts";
import type { CallState } from "./call-state.ts";
import { consensusHostFunctions } from "./globals/consensus.ts";
import { converterHostFunctions } from "./globals/converters.ts";
import { Engine, GuestError, type EngineSnapshot, type GuestRef } from "./engine.ts";
import { resolveModuleName } from "./modules.ts";
import { cryptoHostFunctions } from "./globals/crypto.ts";
import { environmentHostFunctions, type LogLevel } from "./globals/environment.ts";
import { guestHistoricalState, historicalHostFunctions } from "./globals/historical.ts";
import { kvHostFunctions } from "./globals/kv.ts";
import { rpcHostFunctions } from "./globals/rpc.ts";
import type { HistoricalStates, HistoricalTx } from "./historical.ts";
import { Vm, type HostFunction, type HostValue } from "./vm.ts";

/** CCF's js_runtime_options (set by the set_js_runtime_options proposal). */
export interface JsRuntimeOptions {
  maxHeapBytes: number;
  maxStackBytes: number;
  maxExecutionTimeMs: number;
  /** Put the JS exception and its stack in the 500 response (`details`). */
  returnExceptionDetails: boolean;
  /** Write the JS exception and its stack to the node log. */
  logExceptionDetails: boolean;
  /** Interpreters kept for endpoints with `interpreter_reuse` (see InterpreterCache). */
  maxCachedInterpreters: number;
}

export const DEFAULT_JS_RUNTIME_OPTIONS: JsRuntimeOptions = {
  maxHeapBytes: JS_MAX_HEAP_BYTES,
  maxStackBytes: JS_MAX_STACK_BYTES,
  maxExecutionTimeMs: JS_MAX_EXECUTION_TIME_MS,
  returnExceptionDetails: false,
  logExceptionDetails: false,
  maxCachedInterpreters: JS_CACHED_INTERPRETERS_DEFAULT,
};

export interface RuntimeServices {
  history: History;
  historical: HistoricalStates;
  log(level: LogLevel, message: string): void;
  /** Governance-only ccf APIs (ccf.pemToId, ccf.node, ccf.network, JWT keys): only the constitution's interpreter has them. */
  governance?: (vm: Vm, call: () => CallState) => Record<string, HostFunction>;
}

/** The request as the handler sees it (CCF's request object, before the body methods are added). */
export interface AppRequest {
  method: string;
  path: string;
  query: string;
  url: string;
  route: string;
  hostname: string | null;
  headers: Record<string, string>;
  params: Record<string, string>;
  body: Buffer;
  caller: Record<string, unknown> | null;
}

export interface AppResponse {
  status: number;
  headers: Record<string, string>;
  /** The content type CCF derives from the body's type; headers set by the handler override it. */
  contentType: string | undefined;
  body: Buffer | undefined;
}

export type JsFailure = "exception" | "timeout" | "memory" | "stack";

/** The handler did not produce a response: it threw, ran too long, or hit a memory or stack limit. */
export class JsExecutionError extends Error {
  constructor(
    readonly failure: JsFailure,
    message: string,
    readonly jsError: { name: string; message: string; stack: string },
  ) {
    super(message);
  }
}

const PRELUDE = readFileSync(new URL("./guest/prelude.js", import.meta.url), "utf8");

/** Whether a call sees what earlier calls left (module variables, globals, prototypes): "fresh" never does. */
export type CallRealm = "fresh" | "reused";

export class AppInterpreter {
  private readonly engine: Engine;
  private readonly vm: Vm;
  /** Namespaces of the bundle's modules, by module name. */
  private readonly namespaces = new Map<string, GuestRef>();
  /** Namespaces of evaluated ballot sources, by the name made from their hash. */
  private readonly ballots = new Map<string, GuestRef>();
  private readonly invokeRef: GuestRef;
  private current: CallState | undefined;
  private deadline = Infinity;
  private hostFailure = false;
  /** The state once created (modules evaluated), and the namespaces it held. */
  private pristine: { memory: EngineSnapshot; namespaces: Map<string, GuestRef> } | undefined;
  /** A "fresh" interpreter that ran a call since it was last restored. */
  private used = false;
  private restoreScheduled = false;

  private constructor(
    app: AppDefinition,
    private readonly services: RuntimeServices,
    readonly options: JsRuntimeOptions,
    readonly realm: CallRealm,
  ) {
    this.engine = new Engine({
      shouldInterrupt: () => Date.now() > this.deadline,
      normalize: resolveModuleName,
      load: (name) => {
        const bytecode = app.bytecode?.get(name);
        if (bytecode !== undefined) return { bytecode };
        const source = app.modules.get(name);
        if (source === undefined) throw new Error(`Module '${name}' not found in the app bundle`);
        return { source };
      },
    });
    this.engine.setLimits(options.maxHeapBytes, Math.min(options.maxStackBytes, JS_STACK_BYTES_HOST_CAP));
    this.vm = new Vm(this.engine);
    this.invokeRef = this.installGlobals();
  }

  /**
   * A new interpreter (its own WebAssembly instance) for `app`, with every
   * endpoint's module compiled and evaluated, so that deploying pays the cost
   * of a big bundle rather than its first request. That state is its pristine
   * one: a "fresh" interpreter starts every call in it.
   */
  static async create(
    app: AppDefinition,
    services: RuntimeServices,
    options: JsRuntimeOptions = DEFAULT_JS_RUNTIME_OPTIONS,
    realm: CallRealm = "reused",
  ): Promise<AppInterpreter> {
    const interpreter = new AppInterpreter(app, services, options, realm);
    for (const module of new Set(app.endpoints.map((endpoint) => endpoint.properties.js_module))) {
      try {
        interpreter.namespace(module);
      } catch (error) {
        // Reported to each request that calls into the module, as CCF does.
        services.log("warn", `app module ${module} failed to load: ${(error as Error).message}`);
      }
    }
    interpreter.pristine = { memory: interpreter.engine.snapshot(), namespaces: new Map(interpreter.namespaces) };
    return interpreter;
  }

  /** Ballot sources evaluated and kept (bounded by CONSTITUTION_BALLOTS_CACHED_MAX). */
  get ballotsCached(): number {
    return this.ballots.size;
  }

  /** Bytes of WebAssembly memory the interpreter holds. */
  get memoryBytes(): number {
    return this.engine.memoryBytes;
  }

  /**
   * Back to the state `create` left: module variables, globals, prototypes
   * and evaluated ballots as they were then. (Not for a broken interpreter.)
   */
  private restore(): void {
    const { pristine } = this;
    if (pristine === undefined) throw new Error("The interpreter has no pristine state yet");
    this.engine.restore(pristine.memory);
    this.namespaces.clear();
    for (const [name, ref] of pristine.namespaces) this.namespaces.set(name, ref);
    this.ballots.clear();
    this.used = false;
  }

  /** A "fresh" interpreter about to run a call: restored now if the background restore has not run yet. */
  private beginCall(): void {
    if (this.realm !== "fresh" || !this.used) return;
    try {
      this.restore();
    } catch (error) {
      // As in the background restore: an interpreter that cannot be restored is rebuilt, not used.
      this.hostFailure = true;
      throw error;
    }
  }

  /**
   * A "fresh" interpreter after a call: restored once this turn of the event
   * loop is over (the response is on its way), so the next call finds it ready.
   */
  private endCall(): void {
    if (this.realm !== "fresh" || this.hostFailure) return;
    this.used = true;
    if (this.restoreScheduled) return;
    this.restoreScheduled = true;
    setImmediate(() => {
      this.restoreScheduled = false;
      if (!this.used || this.hostFailure) return;
      try {
        this.restore();
      } catch (error) {
        // Cannot happen at rest; if it does, the interpreter is rebuilt rather than trusted.
        this.hostFailure = true;
        this.services.log("error", `JS interpreter restore failed: ${(error as Error).message}`);
      }
    }).unref();
  }

  /**
   * True once the WebAssembly engine itself failed (e.g. Node's own stack ran
   * out inside it): its state can no longer be trusted, so build a new one.
   */
  get broken(): boolean {
    return this.hostFailure;
  }

  /** Runs `module`'s exported `functionName` on `request` within the call's transaction. */
  call(module: string, functionName: string, request: AppRequest, state: CallState, historical?: HistoricalTx): AppResponse {
    this.beginCall();
    this.current = state;
    const { engine, vm } = this;
    const args: GuestRef[] = [];
    try {
      const { meta, coseContent } = requestMeta(request);
      args.push(
        this.handler(this.namespace(module), module, functionName),
        vm.newString(meta),
        vm.newArrayBuffer(request.body),
        coseContent === undefined ? engine.undefined : vm.newArrayBuffer(coseContent),
        historical === undefined ? engine.undefined : vm.newString(JSON.stringify(guestHistoricalState(historical, state))),
      );
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      const result = this.run(() => engine.call(this.invokeRef, engine.undefined, args), `${module}:${functionName}`);
      return this.readResponse(result);
    } finally {
      for (const ref of args) engine.free(ref);
      this.deadline = Infinity;
      this.current = undefined;
      this.endCall();
    }
  }

  /** Calls `module`'s exported `functionName` with plain arguments and returns its result as plain data (the constitution's entry points). */
  callExport(module: string, functionName: string, args: HostValue[], state: CallState): unknown {
    return this.callFunction(() => this.handler(this.namespace(module), module, functionName), `${module}:${functionName}`, args, state);
  }

  /**
   * Evaluates `source` as a module (once per distinct source) and calls its
   * exported `functionName`: ballots are such modules, `export function vote(...)`.
   * QuickJS keeps every module it evaluates, so past CONSTITUTION_BALLOTS_CACHED_MAX
   * distinct sources the interpreter is restored to its pristine state, which drops them all.
   */
  callModuleSource(source: string, functionName: string, args: HostValue[], state: CallState): unknown {
    const name = `/__source__/${createHash("sha256").update(source).digest("hex")}.js`;
    // Restoring after the lookup would drop the namespace found.
    this.beginCall();
    let namespace = this.ballots.get(name);
    if (namespace === undefined) {
      if (this.ballots.size >= CONSTITUTION_BALLOTS_CACHED_MAX) {
        this.services.log("info", `${this.ballots.size} ballot scripts evaluated (the most kept): the interpreter starts again from its pristine state`);
        this.restore();
      }
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      try {
        namespace = this.run(() => this.engine.evalModule(source, name), "ballot");
      } finally {
        this.deadline = Infinity;
      }
      this.ballots.set(name, namespace);
    }
    const evaluated = namespace;
    return this.callFunction(() => this.handler(evaluated, "ballot", functionName), `${functionName}()`, args, state);
  }

  private callFunction(target: () => GuestRef, where: string, args: HostValue[], state: CallState): unknown {
    this.beginCall();
    this.current = state;
    const { engine } = this;
    const refs: GuestRef[] = [];
    try {
      refs.push(target());
      for (const arg of args) refs.push(this.vm.toGuest(arg));
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      const value = this.run(() => engine.call(refs[0]!, engine.undefined, refs.slice(1)), where);
      try {
        return this.vm.plain(value);
      } finally {
        engine.free(value);
      }
    } finally {
      for (const ref of refs) engine.free(ref);
      this.deadline = Infinity;
      this.current = undefined;
      this.endCall();
    }
  }

  /** The exports of `module`, evaluated once per interpreter with a longer time allowance for big bundles. */
  private namespace(module: string): GuestRef {
    let namespace = this.namespaces.get(module);
    if (namespace !== undefined) return namespace;
    const { engine } = this;
    this.deadline = Date.now() + Math.max(JS_MODULE_LOAD_TIME_MS, this.options.maxExecutionTimeMs);
    try {
      const entry = this.run(() => engine.evalModule(`import * as ns from ${JSON.stringify(module)}; export { ns };`, `/__entry__${module}`), module);
      try {
        namespace = engine.getProperty(entry, "ns");
      } finally {
        engine.free(entry);
      }
    } finally {
      this.deadline = Infinity;
    }
    this.namespaces.set(module, namespace);
    return namespace;
  }

  private handler(namespace: GuestRef, module: string, functionName: string): GuestRef {
    const { engine } = this;
    const handler = this.run(() => engine.getProperty(namespace, functionName), module);
    if (engine.type(handler) !== "function") {
      engine.free(handler);
      throw new JsExecutionError("exception", `Export '${functionName}' of module '${module}' is not a function`, {
        name: "TypeError",
        message: `Export '${functionName}' of module '${module}' is not a function`,
        stack: "",
      });
    }
    return handler;
  }

  /**
   * Runs guest code: what it throws becomes a JsExecutionError naming `where`;
   * a failure of the engine itself (not a JS exception) also marks the
   * interpreter broken.
   */
  private run<T>(guest: () => T, where: string): T {
    try {
      return guest();
    } catch (error) {
      if (error instanceof JsExecutionError) throw error;
      if (!(error instanceof GuestError)) {
        this.hostFailure = true;
        const message = error instanceof Error ? error.message : String(error);
        throw new JsExecutionError("stack", `JS engine failure: ${message}`, { name: "InternalError", message, stack: "" });
      }
      const jsError = { name: error.guestName, message: error.message, stack: error.guestStack };
      const failure: JsFailure =
        jsError.name === "InternalError" && jsError.message === "interrupted"
          ? "timeout"
          : jsError.name === "InternalError" && jsError.message === "out of memory"
            ? "memory"
            : jsError.name === "InternalError" && jsError.message === "stack overflow"
              ? "stack"
              : "exception";
      throw new JsExecutionError(failure, `${where}: ${jsError.name}: ${jsError.message}`, jsError);
    }
  }

  private readResponse(result: GuestRef): AppResponse {
    const { engine } = this;
    try {
      if (engine.type(result) === "string") {
        const [status, headers, contentType, body] = JSON.parse(engine.stringOf(result)) as [number, Record<string, string>, string | null, string | null];
        return { status, headers, contentType: contentType ?? undefined, body: body === null ? undefined : Buffer.from(body, "utf8") };
      }
      const field = <T>(i: number, read: (ref: GuestRef) => T): T => {
        const ref = engine.getProperty(result, i);
        try {
          return read(ref);
        } finally {
          engine.free(ref);
        }
      };
      const status = field(0, (ref) => engine.number(ref));
      const headers = field(1, (ref) => JSON.parse(engine.stringOf(ref)) as Record<string, string>);
      const contentType = field(2, (ref) => (engine.type(ref) === "string" ? engine.stringOf(ref) : undefined));
      const body = field(3, (ref) => {
        const type = engine.type(ref);
        if (type === "string") return this.vm.stringBytes(ref);
        return type === "object" && contentType !== undefined ? this.vm.bytes(ref) : undefined;
      });
      return { status, headers, contentType, body };
    } finally {
      engine.free(result);
    }
  }

  private installGlobals(): GuestRef {
    const { vm, engine } = this;
    const call = () => {
      if (this.current === undefined) throw new Error("This ccf API can only be used while handling a request");
      return this.current;
    };
    const log = (level: LogLevel, message: string) => this.services.log(level, message);
    const host = vm.functions({
      ...converterHostFunctions(vm),
      ...kvHostFunctions(vm, call),
      ...rpcHostFunctions(vm, call),
      ...consensusHostFunctions(vm, this.services.history),
      ...historicalHostFunctions(vm, this.services.historical, call),
      ...environmentHostFunctions(vm, () => this.current, log),
    });
    const attach = (name: string, fns: Record<string, HostFunction>) => {
      const object = vm.functions(fns);
      engine.setProperty(host, name, object);
      engine.free(object);
    };
    attach("crypto", cryptoHostFunctions(vm));
    if (this.services.governance) attach("gov", this.services.governance(vm, call));
    const prelude = this.run(() => engine.evalScript(PRELUDE, "/__confide__/prelude.js"), "prelude");
    const entryPoints = this.run(() => engine.call(prelude, engine.undefined, [host]), "prelude");
    engine.free(prelude);
    engine.free(host);
    const invoke = engine.getProperty(entryPoints, "invoke");
    engine.free(entryPoints);
    return invoke;
  }
}

/** The request as JSON for the guest; a COSE payload (binary) travels beside it. */
function requestMeta(request: AppRequest): { meta: string; coseContent: Buffer | undefined } {
  let coseContent: Buffer | undefined;
  const { headers, params, query, path, url, route, method, hostname, caller } = request;
  const fields = { headers, params, query, path, url, route, method, hostname, caller };
  if (!hasCose(caller)) return { meta: JSON.stringify(fields), coseContent: undefined };
  const meta = JSON.stringify(fields, function (this: Record<string, unknown>, key, value: unknown) {
    // `this[key]` is the value before Buffer.toJSON turned it into {type, data}.
    const original = this[key];
    if (key === "content" && Buffer.isBuffer(original)) {
      coseContent = original;
      return null;
    }
    return value;
  });
  return { meta, coseContent };
}

/** Whether the caller (or, for all_of, one of its parts) came from a COSE Sign1 policy. */
function hasCose(caller: Record<string, unknown> | null): boolean {
  if (caller === null) return false;
  return "cose" in caller || Object.values(caller).some((part) => typeof part === "object" && part !== null && "cose" in part);
}
