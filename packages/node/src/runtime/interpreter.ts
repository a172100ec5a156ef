// The app's JS interpreter: one QuickJS runtime (CCF's engine family, as
// WebAssembly: no native install) per deployed app, holding the app's modules
// and the `ccf` global. Each call runs under CCF's js_runtime_options: a heap
// limit, a stack limit and an execution time limit; breaking one is a clean
// error for that call and the interpreter keeps serving.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { QuickJSContext, QuickJSHandle, QuickJSRuntime } from "quickjs-emscripten";
import type { History } from "../history/history.ts";
import {
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
import { takeEngine } from "./engine.ts";
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
}

export const DEFAULT_JS_RUNTIME_OPTIONS: JsRuntimeOptions = {
  maxHeapBytes: JS_MAX_HEAP_BYTES,
  maxStackBytes: JS_MAX_STACK_BYTES,
  maxExecutionTimeMs: JS_MAX_EXECUTION_TIME_MS,
  returnExceptionDetails: false,
  logExceptionDetails: false,
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

function resolveModuleName(base: string, requested: string): string {
  if (!requested.startsWith(".")) return requested.startsWith("/") ? requested : `/${requested}`;
  return new URL(requested, `file://${base}`).pathname;
}

export class AppInterpreter {
  private readonly vm: Vm;
  private readonly namespaces = new Map<string, QuickJSHandle>();
  private readonly invokeHandle: QuickJSHandle;
  private current: CallState | undefined;
  private deadline = Infinity;
  private hostFailure = false;

  private constructor(
    runtime: QuickJSRuntime,
    context: QuickJSContext,
    app: AppDefinition,
    private readonly services: RuntimeServices,
    readonly options: JsRuntimeOptions,
  ) {
    this.vm = new Vm(context);
    runtime.setMemoryLimit(options.maxHeapBytes);
    runtime.setMaxStackSize(Math.min(options.maxStackBytes, JS_STACK_BYTES_HOST_CAP));
    runtime.setInterruptHandler(() => Date.now() > this.deadline);
    runtime.setModuleLoader(
      (name) => {
        const source = app.modules.get(name);
        if (source === undefined) throw new Error(`Module '${name}' not found in the app bundle`);
        return source;
      },
      (base, requested) => resolveModuleName(base, requested),
    );
    this.invokeHandle = this.installGlobals();
  }

  /**
   * A fresh interpreter (its own WebAssembly instance) for `app`, with every
   * endpoint's module compiled and evaluated, so that deploying pays the cost
   * of a big bundle rather than its first request.
   */
  static async create(app: AppDefinition, services: RuntimeServices, options: JsRuntimeOptions = DEFAULT_JS_RUNTIME_OPTIONS): Promise<AppInterpreter> {
    const runtime = (await takeEngine()).newRuntime();
    const interpreter = new AppInterpreter(runtime, runtime.newContext(), app, services, options);
    for (const module of new Set(app.endpoints.map((endpoint) => endpoint.properties.js_module))) {
      try {
        interpreter.namespace(module);
      } catch (error) {
        // Reported to each request that calls into the module, as CCF does.
        services.log("warn", `app module ${module} failed to load: ${(error as Error).message}`);
      }
    }
    return interpreter;
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
    this.current = state;
    try {
      const handler = this.handler(module, functionName);
      const { ctx } = this.vm;
      const { meta, coseContent } = requestMeta(request);
      const args = [
        handler,
        this.vm.newString(meta),
        this.vm.newArrayBuffer(request.body),
        coseContent === undefined ? ctx.undefined : this.vm.toGuest(coseContent),
        historical === undefined ? ctx.undefined : this.vm.newString(JSON.stringify(guestHistoricalState(historical, state))),
      ];
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      const result = this.guard(() => ctx.callFunction(this.invokeHandle, ctx.undefined, args));
      for (const handle of args) handle.dispose();
      return this.readResponse(this.unwrap(result, `${module}:${functionName}`));
    } finally {
      this.deadline = Infinity;
      this.current = undefined;
    }
  }

  /** Calls `module`'s exported `functionName` with plain arguments and returns its result as plain data (the constitution's entry points). */
  callExport(module: string, functionName: string, args: HostValue[], state: CallState): unknown {
    return this.callFunction(() => this.handler(module, functionName), `${module}:${functionName}`, args, state);
  }

  /**
   * Evaluates `source` as a module (once per distinct source) and calls its
   * exported `functionName`: ballots are such modules, `export function vote(...)`.
   */
  callModuleSource(source: string, functionName: string, args: HostValue[], state: CallState): unknown {
    const name = `/__source__/${createHash("sha256").update(source).digest("hex")}.js`;
    if (!this.namespaces.has(name)) {
      const { ctx } = this.vm;
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      try {
        const exports = this.unwrap(this.guard(() => ctx.evalCode(source, name, { type: "module" })), "ballot");
        this.namespaces.set(name, exports);
      } finally {
        this.deadline = Infinity;
      }
    }
    return this.callFunction(() => this.handler(name, functionName), `${functionName}()`, args, state);
  }

  private callFunction(target: () => QuickJSHandle, where: string, args: HostValue[], state: CallState): unknown {
    this.current = state;
    const { ctx } = this.vm;
    try {
      const fn = target();
      const handles = args.map((arg) => this.vm.toGuest(arg));
      this.deadline = Date.now() + this.options.maxExecutionTimeMs;
      const result = this.guard(() => ctx.callFunction(fn, ctx.undefined, handles));
      fn.dispose();
      for (const handle of handles) handle.dispose();
      const value = this.unwrap(result, where);
      try {
        return ctx.dump(value);
      } finally {
        value.dispose();
      }
    } finally {
      this.deadline = Infinity;
      this.current = undefined;
    }
  }

  /** The exports of `module`, evaluated once per interpreter with a longer time allowance for big bundles. */
  private namespace(module: string): QuickJSHandle {
    let namespace = this.namespaces.get(module);
    if (namespace !== undefined) return namespace;
    const { ctx } = this.vm;
    this.deadline = Date.now() + Math.max(JS_MODULE_LOAD_TIME_MS, this.options.maxExecutionTimeMs);
    try {
      const entry = this.guard(() => ctx.evalCode(`import * as ns from ${JSON.stringify(module)}; export { ns };`, `/__entry__${module}`, { type: "module" }));
      const exports = this.unwrap(entry, module);
      namespace = ctx.getProp(exports, "ns");
      exports.dispose();
    } finally {
      this.deadline = Infinity;
    }
    this.namespaces.set(module, namespace);
    return namespace;
  }

  private handler(module: string, functionName: string): QuickJSHandle {
    const { ctx } = this.vm;
    const handler = ctx.getProp(this.namespace(module), functionName);
    if (ctx.typeof(handler) !== "function") {
      handler.dispose();
      throw new JsExecutionError("exception", `Export '${functionName}' of module '${module}' is not a function`, {
        name: "TypeError",
        message: `Export '${functionName}' of module '${module}' is not a function`,
        stack: "",
      });
    }
    return handler;
  }

  /** Runs guest code, marking the interpreter broken if the engine itself throws (not a JS exception). */
  private guard<T>(run: () => T): T {
    try {
      return run();
    } catch (error) {
      this.hostFailure = true;
      const message = error instanceof Error ? error.message : String(error);
      throw new JsExecutionError("stack", `JS engine failure: ${message}`, { name: "InternalError", message, stack: "" });
    }
  }

  private unwrap(result: ReturnType<QuickJSContext["callFunction"]>, where: string): QuickJSHandle {
    if (!("error" in result) || result.error === undefined) return result.value;
    const dumped = this.vm.ctx.dump(result.error) as { name?: string; message?: string; stack?: string } | string;
    result.error.dispose();
    const jsError = typeof dumped === "object" && dumped !== null
      ? { name: String(dumped.name ?? "Error"), message: String(dumped.message ?? ""), stack: String(dumped.stack ?? "") }
      : { name: "Error", message: String(dumped), stack: "" };
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

  private readResponse(result: QuickJSHandle): AppResponse {
    const { ctx } = this.vm;
    if (ctx.typeof(result) === "string") {
      const [status, headers, contentType, body] = JSON.parse(result.consume((h) => ctx.getString(h))) as [number, Record<string, string>, string | null, string | null];
      return { status, headers, contentType: contentType ?? undefined, body: body === null ? undefined : Buffer.from(body, "utf8") };
    }
    try {
      const field = (i: number) => ctx.getProp(result, i);
      const status = field(0).consume((h) => ctx.getNumber(h));
      const headers = field(1).consume((h) => JSON.parse(ctx.getString(h)) as Record<string, string>);
      const contentType = field(2).consume((h) => (ctx.typeof(h) === "string" ? ctx.getString(h) : undefined));
      const body = field(3).consume((h) => {
        const type = ctx.typeof(h);
        if (type === "string") return this.vm.stringBytes(h);
        return type === "object" && contentType !== undefined ? this.vm.bytes(h) : undefined;
      });
      return { status, headers, contentType, body };
    } finally {
      result.dispose();
    }
  }

  private installGlobals(): QuickJSHandle {
    const { vm } = this;
    const { ctx } = vm;
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
    vm.functions(cryptoHostFunctions(vm)).consume((crypto) => ctx.setProp(host, "crypto", crypto));
    if (this.services.governance) vm.functions(this.services.governance(vm, call)).consume((gov) => ctx.setProp(host, "gov", gov));
    const prelude = this.unwrap(ctx.evalCode(PRELUDE, "/__confide__/prelude.js"), "prelude");
    const entryPoints = this.unwrap(ctx.callFunction(prelude, ctx.undefined, host), "prelude");
    prelude.dispose();
    host.dispose();
    const invoke = ctx.getProp(entryPoints, "invoke");
    entryPoints.dispose();
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
