// Moving values between Node and the app's QuickJS context. Host functions
// receive QuickJS handles; these helpers read them as Node values and turn Node
// values back into guest values (Uint8Array → ArrayBuffer, objects recursively).
// Bytes and strings, which every KV operation moves, go through the engine's
// memory directly (one copy each way), not through quickjs-emscripten's
// managed handles.
import { isUtf8 } from "node:buffer";
import { Lifetime, StaticLifetime, type QuickJSContext, type QuickJSHandle } from "quickjs-emscripten";

/** What a host function may return to the guest. */
export type HostValue = undefined | null | boolean | number | string | Uint8Array | HostValue[] | { [key: string]: HostValue };

/** A value a host function made in the engine itself: the engine takes it over as the call's result. */
export class EngineValue {
  constructor(readonly pointer: number) {}
}

export type HostFunction = (...args: QuickJSHandle[]) => HostValue | EngineValue | void;

/** The parts of quickjs-emscripten's QuickJSContext behind its public API that direct host calls use. */
interface ContextInternals {
  cToHostCallbacks: { callFunction: (ctx: number, thisPtr: number, argc: number, argv: number, fnId: number) => number };
  getFunction(fnId: number): (...args: QuickJSHandle[]) => QuickJSHandle | number | undefined;
  errorToHandle(error: unknown): QuickJSHandle;
  memory: { heapValueHandle(pointer: number): QuickJSHandle };
  ctx: { value: number };
  module: { HEAPU8: Uint8Array; _malloc(bytes: number): number; _free(pointer: number): void };
  ffi: {
    QTS_ArgvGetJSValueConstPointer(argv: number, i: number): number;
    QTS_DupValuePointer(ctx: number, value: unknown): number;
    QTS_Throw(ctx: number, value: unknown): number;
    QTS_GetFloat64(ctx: number, value: number): number;
    QTS_GetString(ctx: number, value: number): number;
    QTS_FreeCString(ctx: number, pointer: number): void;
    QTS_GetArrayBufferLength(ctx: number, value: number): number;
    QTS_GetArrayBuffer(ctx: number, value: number): number;
    QTS_NewArrayBuffer(ctx: number, pointer: number, length: number): number;
    QTS_NewString(ctx: number, pointer: number): number;
  };
}

const FFI_FUNCTIONS = [
  "QTS_ArgvGetJSValueConstPointer",
  "QTS_DupValuePointer",
  "QTS_Throw",
  "QTS_GetFloat64",
  "QTS_GetString",
  "QTS_FreeCString",
  "QTS_GetArrayBufferLength",
  "QTS_GetArrayBuffer",
  "QTS_NewArrayBuffer",
  "QTS_NewString",
] as const;

/**
 * The context's internals, or a clear error if this quickjs-emscripten lacks
 * them: the runtime writes engine memory through them, so a changed library
 * must fail here, not corrupt memory later.
 */
function checkedInternals(ctx: QuickJSContext): ContextInternals {
  const internals = ctx as unknown as Partial<ContextInternals>;
  const missing: string[] = [];
  if (typeof internals.cToHostCallbacks?.callFunction !== "function") missing.push("cToHostCallbacks.callFunction");
  if (typeof internals.getFunction !== "function") missing.push("getFunction");
  if (typeof internals.errorToHandle !== "function") missing.push("errorToHandle");
  if (typeof internals.memory?.heapValueHandle !== "function") missing.push("memory.heapValueHandle");
  if (typeof internals.ctx?.value !== "number") missing.push("ctx.value");
  if (!(internals.module?.HEAPU8 instanceof Uint8Array) || typeof internals.module._malloc !== "function" || typeof internals.module._free !== "function") {
    missing.push("module (HEAPU8, _malloc, _free)");
  }
  for (const name of FFI_FUNCTIONS) if (typeof internals.ffi?.[name] !== "function") missing.push(`ffi.${name}`);
  if (missing.length > 0) {
    throw new Error(`quickjs-emscripten is not the version the runtime was written against (0.32.0): missing ${missing.join(", ")}`);
  }
  return internals as ContextInternals;
}

export class Vm {
  private readonly internals: ContextInternals;
  /** The engine's JSContext pointer, for direct FFI calls. */
  private readonly ctxPointer: number;

  constructor(readonly ctx: QuickJSContext) {
    this.internals = checkedInternals(ctx);
    this.ctxPointer = this.internals.ctx.value;
    this.callHostDirectly();
  }

  /**
   * quickjs-emscripten routes every guest → host call through a generator
   * meant for its asynchronous build and wraps each argument in a managed
   * lifetime (~8 µs a call). Host functions here are synchronous and only read
   * their arguments during the call, so the call is dispatched directly, with
   * the arguments as borrowed handles. A function registered by `functions`
   * returns a pointer to a new guest value, which the engine takes over as
   * the call's result (0: undefined). (Pinned to quickjs-emscripten 0.32.)
   */
  private callHostDirectly(): void {
    const { internals } = this;
    const { ffi } = internals;
    internals.cToHostCallbacks.callFunction = (ctx, _thisPtr, argc, argv, fnId) => {
      const fn = internals.getFunction(fnId);
      const args = new Array<QuickJSHandle>(argc);
      for (let i = 0; i < argc; i++) args[i] = new StaticLifetime(ffi.QTS_ArgvGetJSValueConstPointer(argv, i)) as unknown as QuickJSHandle;
      try {
        const result = fn(...args);
        if (result === undefined) return 0;
        if (typeof result === "number") return result;
        const pointer = ffi.QTS_DupValuePointer(ctx, result.value);
        if (result instanceof Lifetime) result.dispose();
        return pointer;
      } catch (error) {
        return internals.errorToHandle(error).consume((handle) => ffi.QTS_Throw(ctx, handle.value));
      }
    };
  }

  /** A copy of an ArrayBuffer argument; TypeError (as CCF) for anything else. */
  bytes(handle: QuickJSHandle | undefined): Buffer {
    return this.withArrayBuffer(handle, (bytes) => Buffer.from(bytes));
  }

  /**
   * Runs `use` on a view of an ArrayBuffer argument's bytes, in a copy the
   * engine makes in its own memory and that is freed afterwards. The view is
   * valid only until `use` allocates engine memory.
   */
  private withArrayBuffer<T>(handle: QuickJSHandle | undefined, use: (bytes: Uint8Array, pointer: number) => T): T {
    if (handle === undefined) throw new TypeError("Argument must be an ArrayBuffer");
    const { ffi, module } = this.internals;
    const length = ffi.QTS_GetArrayBufferLength(this.ctxPointer, handle.value);
    const pointer = ffi.QTS_GetArrayBuffer(this.ctxPointer, handle.value);
    if (pointer === 0) throw new TypeError("Argument must be an ArrayBuffer");
    try {
      return use(module.HEAPU8.subarray(pointer, pointer + length), pointer);
    } finally {
      module._free(pointer);
    }
  }

  string(handle: QuickJSHandle | undefined, what = "Argument"): string {
    if (handle === undefined || this.ctx.typeof(handle) !== "string") throw new TypeError(`${what} must be a string`);
    return this.ctx.getString(handle);
  }

  number(handle: QuickJSHandle | undefined, what = "Argument"): number {
    if (handle === undefined || this.ctx.typeof(handle) !== "number") throw new TypeError(`${what} must be a number`);
    return this.ctx.getNumber(handle);
  }

  /** A number the prelude passes (a store or map id, held where app code cannot change it), read without a type check. */
  preludeNumber(handle: QuickJSHandle): number {
    return this.internals.ffi.QTS_GetFloat64(this.ctxPointer, handle.value);
  }

  /** The UTF-8 bytes of a guest string the prelude has checked holds no U+0000, copied straight from the engine's encoding. */
  stringBytes(handle: QuickJSHandle): Buffer {
    const { ffi, module } = this.internals;
    const text = ffi.QTS_GetString(this.ctxPointer, handle.value);
    try {
      return Buffer.from(module.HEAPU8.subarray(text, module.HEAPU8.indexOf(0, text)));
    } finally {
      ffi.QTS_FreeCString(this.ctxPointer, text);
    }
  }

  /** A boolean the prelude passes (it converts with Boolean() first). */
  preludeBoolean(handle: QuickJSHandle): boolean {
    return this.preludeNumber(handle) === 1;
  }

  /**
   * The UTF-8 bytes of a string the prelude has checked is a string without
   * U+0000, as a new guest ArrayBuffer made from the engine's own encoding
   * (nothing crosses into Node).
   */
  preludeStringToArrayBuffer(handle: QuickJSHandle): EngineValue {
    const { ffi, module } = this.internals;
    const text = ffi.QTS_GetString(this.ctxPointer, handle.value);
    try {
      const length = module.HEAPU8.indexOf(0, text) - text;
      // The new ArrayBuffer owns (and later frees) a buffer of its own.
      const buffer = module._malloc(Math.max(length, 1));
      module.HEAPU8.copyWithin(buffer, text, text + length);
      return new EngineValue(ffi.QTS_NewArrayBuffer(this.ctxPointer, buffer, length));
    } finally {
      ffi.QTS_FreeCString(this.ctxPointer, text);
    }
  }

  /**
   * ccf.bufToStr: UTF-8 bytes as a guest string. Valid UTF-8 without NUL is
   * decoded by the engine straight from its own memory; anything else is
   * decoded by Node (invalid sequences become U+FFFD, as CCF).
   */
  preludeArrayBufferToString(handle: QuickJSHandle): EngineValue {
    return this.withArrayBuffer(handle, (bytes, copy) => {
      if (bytes.indexOf(0) !== -1 || !isUtf8(bytes)) return new EngineValue(this.toGuestPointer(Buffer.from(bytes).toString("utf8")));
      const { ffi, module } = this.internals;
      // Growing the engine's memory (in _malloc) detaches `bytes`: take its length first.
      const length = bytes.length;
      const text = module._malloc(length + 1);
      try {
        const heap = module.HEAPU8;
        heap.copyWithin(text, copy, copy + length);
        heap[text + length] = 0;
        return new EngineValue(ffi.QTS_NewString(this.ctxPointer, text));
      } finally {
        module._free(text);
      }
    });
  }

  /** A new guest string (the caller owns the handle); U+0000 included, which C strings cannot carry. */
  newString(value: string): QuickJSHandle {
    const utf8 = Buffer.from(value, "utf8");
    if (utf8.indexOf(0) === -1) return this.internals.memory.heapValueHandle(this.stringPointer(utf8));
    // Rare: evaluated as a string literal (JSON's escapes are JavaScript's), which runs no guest code.
    return this.ctx.unwrapResult(this.ctx.evalCode(JSON.stringify(value), "/__confide__/string.js"));
  }

  /** A new guest ArrayBuffer holding a copy of `bytes` (the caller owns the handle). */
  newArrayBuffer(bytes: Uint8Array): QuickJSHandle {
    return this.internals.memory.heapValueHandle(this.arrayBufferPointer(bytes));
  }

  /** A new guest value as a pointer the engine takes over (what functions registered by `functions` return). */
  private toGuestPointer(value: HostValue | EngineValue): number {
    if (value === undefined) return 0;
    if (value instanceof EngineValue) return value.pointer;
    if (value instanceof Uint8Array) return this.arrayBufferPointer(value);
    if (typeof value === "string") {
      const utf8 = Buffer.from(value, "utf8");
      // A C string ends at the first NUL byte: strings holding U+0000 take the general path.
      if (utf8.indexOf(0) === -1) return this.stringPointer(utf8);
    }
    const handle = this.toGuest(value);
    const pointer = this.internals.ffi.QTS_DupValuePointer(this.ctxPointer, handle.value);
    handle.dispose();
    return pointer;
  }

  /** Copies bytes into engine memory once; the new ArrayBuffer owns (and later frees) that memory. */
  private arrayBufferPointer(bytes: Uint8Array): number {
    const { ffi, module } = this.internals;
    const pointer = module._malloc(Math.max(bytes.length, 1));
    // Read HEAPU8 after _malloc: growing the engine's memory replaces it.
    module.HEAPU8.set(bytes, pointer);
    return ffi.QTS_NewArrayBuffer(this.ctxPointer, pointer, bytes.length);
  }

  /** A guest string from UTF-8 without NUL bytes (emscripten's stringToUTF8 encodes char by char in JS). */
  private stringPointer(utf8: Buffer): number {
    const { ffi, module } = this.internals;
    const pointer = module._malloc(utf8.length + 1);
    try {
      const heap = module.HEAPU8;
      heap.set(utf8, pointer);
      heap[pointer + utf8.length] = 0;
      return ffi.QTS_NewString(this.ctxPointer, pointer);
    } finally {
      module._free(pointer);
    }
  }

  /** A JSON-like argument (algorithm parameters, JWKs) as plain data. */
  plain(handle: QuickJSHandle | undefined): unknown {
    return handle === undefined ? undefined : this.ctx.dump(handle);
  }

  isUndefined(handle: QuickJSHandle | undefined): boolean {
    return handle === undefined || this.ctx.typeof(handle) === "undefined";
  }

  /** A new guest value; the caller owns the returned handle. */
  toGuest(value: HostValue): QuickJSHandle {
    const { ctx } = this;
    if (value === undefined) return ctx.undefined;
    if (value === null) return ctx.null;
    if (typeof value === "boolean") return value ? ctx.true : ctx.false;
    if (typeof value === "number") return ctx.newNumber(value);
    if (typeof value === "string") return this.newString(value);
    if (value instanceof Uint8Array) return this.newArrayBuffer(value);
    if (Array.isArray(value)) {
      const array = ctx.newArray();
      value.forEach((item, i) => this.toGuest(item).consume((handle) => ctx.setProp(array, i, handle)));
      return array;
    }
    const object = ctx.newObject();
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined) this.toGuest(item).consume((handle) => ctx.setProp(object, key, handle));
    }
    return object;
  }

  /** An object of host functions, e.g. the `host` argument of the prelude. */
  functions(fns: Record<string, HostFunction>): QuickJSHandle {
    const object = this.ctx.newObject();
    for (const [name, fn] of Object.entries(fns)) {
      // `null` stays null in the guest (e.g. getViewForSeqno, getStateRange); only void becomes undefined.
      const call = (...args: QuickJSHandle[]) => this.toGuestPointer(fn(...args) as HostValue | EngineValue);
      this.ctx.newFunction(name, call as unknown as Parameters<QuickJSContext["newFunction"]>[1]).consume((handle) => this.ctx.setProp(object, name, handle));
    }
    return object;
  }
}
