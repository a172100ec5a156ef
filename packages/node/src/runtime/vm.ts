// Moving values between Node and the app's engine. Host functions receive
// guest refs; these helpers read them as Node values and turn Node values back
// into guest values (Uint8Array → ArrayBuffer, objects recursively). Bytes and
// strings, which every KV operation moves, are read in place in the engine's
// memory and copied once.
import { isUtf8 } from "node:buffer";
import type { Engine, GuestRef } from "./engine.ts";

/** What a host function may return to the guest. */
export type HostValue = undefined | null | boolean | number | string | Uint8Array | HostValue[] | { [key: string]: HostValue };

/** A value a host function made in the engine itself: the engine takes it over as the call's result. */
export class EngineValue {
  constructor(readonly ref: GuestRef) {}
}

export type HostFunction = (...args: GuestRef[]) => HostValue | EngineValue | void;

export class Vm {
  constructor(readonly engine: Engine) {}

  /** A copy of an ArrayBuffer argument; TypeError (as CCF) for anything else. */
  bytes(ref: GuestRef | undefined): Buffer {
    return Buffer.from(this.bytesInPlace(ref));
  }

  /**
   * An ArrayBuffer argument's bytes where they lie in the engine's memory, not
   * copied (TypeError, as CCF, for anything else): for a host function that
   * reads them, or copies them itself, before the engine runs or allocates again.
   * Every KV operation passes its key so (and a set its value, which the
   * transaction copies).
   */
  bytesInPlace(ref: GuestRef | undefined): Buffer {
    const bytes = ref === undefined ? undefined : this.engine.withArrayBuffer(ref, (view) => view);
    if (bytes === undefined) throw new TypeError("Argument must be an ArrayBuffer");
    return bytes;
  }

  string(ref: GuestRef | undefined, what = "Argument"): string {
    if (ref === undefined || this.engine.type(ref) !== "string") throw new TypeError(`${what} must be a string`);
    return this.engine.stringOf(ref);
  }

  number(ref: GuestRef | undefined, what = "Argument"): number {
    if (ref === undefined || this.engine.type(ref) !== "number") throw new TypeError(`${what} must be a number`);
    return this.engine.number(ref);
  }

  /** A number the prelude passes (a store or map id, held where app code cannot change it), read without a type check. */
  preludeNumber(ref: GuestRef): number {
    return this.engine.number(ref);
  }

  /** A boolean the prelude passes (it converts with Boolean() first). */
  preludeBoolean(ref: GuestRef): boolean {
    return this.engine.number(ref) === 1;
  }

  /** The UTF-8 bytes of a guest string, copied straight from the engine's encoding. */
  stringBytes(ref: GuestRef): Buffer {
    return this.engine.withStringBytes(ref, (utf8) => Buffer.from(utf8));
  }

  /** ccf.strToBuf of a string the prelude has checked: its UTF-8 bytes as a new ArrayBuffer, made in the engine. */
  preludeStringToArrayBuffer(ref: GuestRef): EngineValue {
    return new EngineValue(this.engine.utf8ArrayBuffer(ref));
  }

  /**
   * ccf.bufToStr: UTF-8 bytes as a guest string. Valid UTF-8 is decoded by the
   * engine in place; anything else is decoded by Node (invalid sequences
   * become U+FFFD, as CCF).
   */
  preludeArrayBufferToString(ref: GuestRef): EngineValue {
    const decoded = this.engine.stringFromArrayBuffer(ref, (bytes) => isUtf8(bytes));
    return new EngineValue(decoded ?? this.newString(this.bytes(ref).toString("utf8")));
  }

  /** A new guest string (the caller owns the ref). */
  newString(value: string): GuestRef {
    return this.engine.newString(value);
  }

  /** A new guest ArrayBuffer holding a copy of `bytes` (the caller owns the ref). */
  newArrayBuffer(bytes: Uint8Array): GuestRef {
    return this.engine.newArrayBuffer(bytes);
  }

  /** A JSON-like argument (algorithm parameters, JWKs) as plain data. */
  plain(ref: GuestRef | undefined): unknown {
    if (ref === undefined) return undefined;
    const json = this.engine.json(ref);
    return json === undefined ? undefined : JSON.parse(json);
  }

  isUndefined(ref: GuestRef | undefined): boolean {
    return ref === undefined || this.engine.type(ref) === "undefined";
  }

  /** A new guest value; the caller owns the returned ref. */
  toGuest(value: HostValue | EngineValue): GuestRef {
    const { engine } = this;
    if (value instanceof EngineValue) return value.ref;
    if (value === undefined) return engine.undefined;
    if (value === null) return engine.null;
    if (typeof value === "boolean") return value ? engine.true : engine.false;
    if (typeof value === "number") return engine.newNumber(value);
    if (typeof value === "string") return engine.newString(value);
    if (value instanceof Uint8Array) return engine.newArrayBuffer(value);
    const container = Array.isArray(value) ? engine.newArray() : engine.newObject();
    const set = (key: string | number, item: HostValue) => {
      const ref = this.toGuest(item);
      try {
        engine.setProperty(container, key, ref);
      } finally {
        engine.free(ref);
      }
    };
    if (Array.isArray(value)) value.forEach((item, i) => set(i, item));
    else for (const [key, item] of Object.entries(value)) if (item !== undefined) set(key, item);
    return container;
  }

  /** An object of host functions, e.g. the `host` argument of the prelude. */
  functions(fns: Record<string, HostFunction>): GuestRef {
    const { engine } = this;
    const object = engine.newObject();
    for (const [name, fn] of Object.entries(fns)) {
      // `null` stays null in the guest (e.g. getViewForSeqno, getStateRange); only void becomes undefined.
      const fnRef = engine.newFunction(name, (args) => {
        const result = fn(...args) as HostValue | EngineValue;
        if (result === undefined) return undefined;
        const ref = this.toGuest(result);
        // The engine frees what a host function returns: constants are handed over as new refs.
        return ref === engine.null || ref === engine.true || ref === engine.false ? engine.dup(ref) : ref;
      });
      try {
        engine.setProperty(object, name, fnRef);
      } finally {
        engine.free(fnRef);
      }
    }
    return object;
  }
}
