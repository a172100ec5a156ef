// Moving values between Node and the app's QuickJS context. Host functions
// receive QuickJS handles; these helpers read them as Node values and turn Node
// values back into guest values (Uint8Array → ArrayBuffer, objects recursively).
import { Lifetime, StaticLifetime, type QuickJSContext, type QuickJSHandle } from "quickjs-emscripten";

/** What a host function may return to the guest. */
export type HostValue = undefined | null | boolean | number | string | Uint8Array | HostValue[] | { [key: string]: HostValue };

export type HostFunction = (...args: QuickJSHandle[]) => HostValue | void;

/** The parts of quickjs-emscripten's QuickJSContext behind its public API that direct host calls use. */
interface ContextInternals {
  cToHostCallbacks: { callFunction: (ctx: number, thisPtr: number, argc: number, argv: number, fnId: number) => number };
  getFunction(fnId: number): (...args: QuickJSHandle[]) => QuickJSHandle | undefined;
  errorToHandle(error: unknown): QuickJSHandle;
  ffi: {
    QTS_ArgvGetJSValueConstPointer(argv: number, i: number): number;
    QTS_DupValuePointer(ctx: number, value: unknown): number;
    QTS_Throw(ctx: number, value: unknown): number;
  };
}

export class Vm {
  constructor(readonly ctx: QuickJSContext) {
    this.callHostDirectly();
  }

  /**
   * quickjs-emscripten routes every guest → host call through a generator
   * meant for its asynchronous build and wraps each argument in a managed
   * lifetime (~8 µs a call). Host functions here are synchronous and only read
   * their arguments during the call, so the call is dispatched directly, with
   * the arguments as borrowed handles. (Pinned to quickjs-emscripten 0.32.)
   */
  private callHostDirectly(): void {
    const internals = this.ctx as unknown as ContextInternals;
    const { ffi } = internals;
    internals.cToHostCallbacks.callFunction = (ctx, _thisPtr, argc, argv, fnId) => {
      const fn = internals.getFunction(fnId);
      const args = new Array<QuickJSHandle>(argc);
      for (let i = 0; i < argc; i++) args[i] = new StaticLifetime(ffi.QTS_ArgvGetJSValueConstPointer(argv, i)) as unknown as QuickJSHandle;
      try {
        const result = fn(...args);
        if (result === undefined) return 0;
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
    if (handle === undefined) throw new TypeError("Argument must be an ArrayBuffer");
    let view;
    try {
      view = this.ctx.getArrayBuffer(handle);
    } catch {
      throw new TypeError("Argument must be an ArrayBuffer");
    }
    try {
      return Buffer.from(view.value);
    } finally {
      view.dispose();
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
    if (typeof value === "string") return ctx.newString(value);
    if (value instanceof Uint8Array) return ctx.newArrayBuffer(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
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
      this.ctx.newFunction(name, (...args) => this.toGuest(fn(...args) as HostValue)).consume((handle) => this.ctx.setProp(object, name, handle));
    }
    return object;
  }
}
