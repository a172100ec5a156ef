// The JS engine: QuickJS compiled with Confide's binding (packages/node/quickjs)
// to one standalone WebAssembly module. Each Engine is its own WebAssembly
// instance holding one QuickJS runtime and context, so one app's engine can
// be thrown away without touching another's.
//
// Guest values are refs: pointers to slots in the engine's memory. A ref an
// Engine method returns is owned by the caller (free it); the arguments a host
// function receives are borrowed for the call. An exception in the guest
// surfaces as a GuestError.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export type GuestRef = number;

/** The guest's `typeof`, with null told apart. */
export type GuestType = "undefined" | "null" | "boolean" | "number" | "string" | "symbol" | "bigint" | "function" | "object";
const TYPES: GuestType[] = ["undefined", "null", "boolean", "number", "string", "symbol", "bigint", "function", "object"];

/** A host function: borrowed argument refs in; an owned ref (or undefined) out. */
export type EngineFunction = (args: GuestRef[]) => GuestRef | undefined;

/** What a module name resolves to: its source, or bytecode this engine build compiled. */
export type ModuleCode = { source: string } | { bytecode: Uint8Array };

export interface EngineHooks {
  /** Called often while guest code runs: true stops it with an "interrupted" InternalError. */
  shouldInterrupt(): boolean;
  /** The full name of a module `requested` from module `base`. */
  normalize(base: string, requested: string): string;
  /** The code of a module; throws if there is none. */
  load(name: string): ModuleCode;
}

/** A value the guest threw, read as plain data. */
export class GuestError extends Error {
  constructor(
    readonly guestName: string,
    message: string,
    readonly guestStack: string,
  ) {
    super(message);
  }
}

interface Exports {
  memory: WebAssembly.Memory;
  _initialize(): void;
  stackSave(): number;
  cq_new_context(): number;
  cq_set_limits(ctx: number, heapBytes: number, stackBytes: number): void;
  cq_take_limit_refused(): number;
  cq_constant(which: number): GuestRef;
  cq_free(ctx: number, ref: GuestRef): void;
  cq_dup(ctx: number, ref: GuestRef): GuestRef;
  cq_take_exception(ctx: number): GuestRef;
  cq_eval_script(ctx: number, source: number, length: number, name: number): GuestRef;
  cq_eval_module(ctx: number, source: number, length: number, name: number): GuestRef;
  cq_compile_module(ctx: number, source: number, length: number, name: number, outLength: number): number;
  cq_free_bytes(ctx: number, bytes: number): void;
  cq_call(ctx: number, fn: GuestRef, thisRef: GuestRef, argc: number, argv: number): GuestRef;
  cq_type(ctx: number, ref: GuestRef): number;
  cq_to_number(ctx: number, ref: GuestRef): number;
  cq_to_string(ctx: number, ref: GuestRef, outLength: number): number;
  cq_to_json(ctx: number, ref: GuestRef, outLength: number): number;
  cq_free_string(ctx: number, text: number): void;
  cq_array_buffer(ctx: number, ref: GuestRef, outLength: number): number;
  cq_new_object(ctx: number): GuestRef;
  cq_new_array(ctx: number): GuestRef;
  cq_new_number(ctx: number, value: number): GuestRef;
  cq_new_string(ctx: number, utf8: number, length: number): GuestRef;
  cq_new_array_buffer(ctx: number, bytes: number, length: number): GuestRef;
  cq_get_property(ctx: number, object: GuestRef, name: number): GuestRef;
  cq_get_index(ctx: number, object: GuestRef, index: number): GuestRef;
  cq_set_property(ctx: number, object: GuestRef, name: number, value: GuestRef): number;
  cq_set_index(ctx: number, object: GuestRef, index: number, value: GuestRef): number;
  cq_new_host_function(ctx: number, name: number, functionId: number, length: number): GuestRef;
  cq_throw_error(ctx: number, name: number, message: number): void;
  cq_malloc(bytes: number): number;
  cq_free_memory(pointer: number): void;
}

const WASM_BYTES = readFileSync(new URL("../../quickjs/quickjs.wasm", import.meta.url));
/** The QuickJS release inside the engine, as /node/version reports it. */
export const ENGINE_VERSION = readFileSync(new URL("../../quickjs/quickjs.version", import.meta.url), "utf8").trim();
/** Tags cached bytecode: it loads only into the engine build that wrote it, so the tag names the exact build. */
export const BYTECODE_VERSION = `${ENGINE_VERSION} confide-wasm-sha256:${createHash("sha256").update(WASM_BYTES).digest("hex").slice(0, 16)}`;

let compiled: WebAssembly.Module | undefined;

/** The engine's WebAssembly module, compiled once per process (instances are then cheap). */
export function engineModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(WASM_BYTES);
  return compiled;
}

const HOST_EXCEPTION = 1;
/** cq_to_json's length when JSON has no text for the value (SIZE_MAX in wasm32). */
const NO_JSON_TEXT = 0xffffffff;
/** Module kinds the binding's loader understands. */
const MODULE_SOURCE = 1;
const MODULE_BYTECODE = 2;
/** Bytes reserved for out-parameters and argument arrays. */
const SCRATCH_BYTES = 4096;
const MAX_SCRATCH_ARGS = (SCRATCH_BYTES - 8) / 4;
/**
 * Bytes reserved for handing small byte strings to the engine, which copies
 * them (a KV value to a new ArrayBuffer): one malloc and free fewer per call.
 */
const STAGING_BYTES = 16 * 1024;
/**
 * The build's C stack (build.sh: TOTAL_STACK=1MB). Memory is laid out as
 * [static data][stack, growing down][heap]: below the stack pointer at rest
 * the stack holds only dead frames, so a snapshot leaves it out.
 */
const STACK_BYTES = 1024 * 1024;
/** The step of the scan for the end of the used heap, and the zero run that must start the stack. */
const SCAN_BYTES = 4096;
const ZERO_PAGE = Buffer.alloc(SCAN_BYTES);

/**
 * An engine's whole live state at one moment between calls: its static data
 * (QuickJS's and the allocator's globals) and its heap up to the last byte in
 * use, with the host-side tables that point into them.
 */
export interface EngineSnapshot {
  readonly data: Buffer;
  /** Where the heap starts: the stack pointer at rest. */
  readonly heapStart: number;
  readonly heap: Buffer;
  readonly names: ReadonlyMap<string, number>;
  readonly functions: number;
}

export class Engine {
  readonly undefined: GuestRef;
  readonly null: GuestRef;
  readonly false: GuestRef;
  readonly true: GuestRef;
  private readonly exports: Exports;
  private readonly ctx: number;
  private readonly functions: EngineFunction[] = [];
  /** out-parameter (size_t) at scratch, argument pointers after it. */
  private readonly scratch: number;
  /** STAGING_BYTES for bytes the engine copies at once (newArrayBuffer). */
  private readonly staging: number;
  private heapBuffer: ArrayBuffer;
  private heapBytes: Buffer;
  private heapView: DataView;

  constructor(private readonly hooks: EngineHooks) {
    const memory = () => this.exports.memory;
    const imports = {
      confide: {
        interrupt: () => (this.hooks.shouldInterrupt() ? 1 : 0),
        normalize: (base: number, requested: number) => this.hostNormalize(base, requested),
        load: (name: number, out: number, outLength: number) => this.hostLoad(name, out, outLength),
        call: (functionId: number, argc: number, argv: number) => this.hostCall(functionId, argc, argv),
      },
      wasi_snapshot_preview1: {
        clock_time_get: (clock: number, _precision: bigint, out: number) => {
          // 0: realtime (Date); anything else: monotonic.
          const nanoseconds = clock === 0 ? BigInt(Date.now()) * 1_000_000n : process.hrtime.bigint();
          new DataView(memory().buffer).setBigUint64(out, nanoseconds, true);
          return 0;
        },
        // QuickJS writes to stdio only on internal failure: the bytes are dropped, counted as written.
        fd_write: (_fd: number, iovs: number, count: number, written: number) => {
          const view = new DataView(memory().buffer);
          let total = 0;
          for (let i = 0; i < count; i++) total += view.getUint32(iovs + i * 8 + 4, true);
          view.setUint32(written, total, true);
          return 0;
        },
        fd_close: () => 0,
        fd_seek: () => 0,
        environ_sizes_get: (count: number, size: number) => {
          const view = new DataView(memory().buffer);
          view.setUint32(count, 0, true);
          view.setUint32(size, 0, true);
          return 0;
        },
        environ_get: () => 0,
        proc_exit: (code: number) => {
          throw new Error(`QuickJS aborted (exit ${code})`);
        },
      },
      env: { emscripten_notify_memory_growth: () => undefined },
    };
    const instance = new WebAssembly.Instance(engineModule(), imports);
    this.exports = instance.exports as unknown as Exports;
    this.exports._initialize();
    this.heapBuffer = this.exports.memory.buffer;
    this.heapBytes = Buffer.from(this.heapBuffer);
    this.heapView = new DataView(this.heapBuffer);
    this.ctx = this.exports.cq_new_context();
    if (this.ctx === 0) throw new Error("QuickJS could not create a context");
    this.scratch = this.exports.cq_malloc(SCRATCH_BYTES);
    this.staging = this.exports.cq_malloc(STAGING_BYTES);
    if (this.scratch === 0 || this.staging === 0) throw new Error("QuickJS could not reserve its scratch memory");
    this.undefined = this.exports.cq_constant(0);
    this.null = this.exports.cq_constant(1);
    this.false = this.exports.cq_constant(2);
    this.true = this.exports.cq_constant(3);
  }

  /** Bytes of WebAssembly memory the engine holds (its heap grows it, never shrinks it). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /**
   * The engine's state now, to restore() later. Every byte of guest state is
   * in the static data or the heap below its last non-zero byte: the
   * allocator writes a header at the start of every block and of the free
   * space at the top, so nothing in use lies past that byte.
   */
  snapshot(): EngineSnapshot {
    const heap = this.heap();
    const heapStart = this.exports.stackSave();
    const dataEnd = heapStart - STACK_BYTES;
    if (dataEnd < 0 || !heap.subarray(dataEnd, dataEnd + SCAN_BYTES).equals(ZERO_PAGE)) {
      throw new Error("The engine's memory is not laid out as this build's (static data, 1 MiB stack, heap)");
    }
    let heapEnd = heap.length;
    while (heapEnd > heapStart && heap.subarray(heapEnd - SCAN_BYTES, heapEnd).equals(ZERO_PAGE)) heapEnd -= SCAN_BYTES;
    return {
      data: Buffer.from(heap.subarray(0, dataEnd)),
      heapStart,
      heap: Buffer.from(heap.subarray(heapStart, Math.max(heapStart, heapEnd))),
      names: new Map(this.names),
      functions: this.functions.length,
    };
  }

  /**
   * Puts the engine back in the state of `snapshot` (taken from this engine):
   * everything a call since then changed or allocated is gone. What lies past
   * the snapshot's heap is free space to the restored allocator, as the dead
   * stack is to the restored stack pointer: no code reads either before writing it.
   */
  restore(snapshot: EngineSnapshot): void {
    if (this.exports.stackSave() !== snapshot.heapStart) throw new Error("The engine is not at rest: its stack pointer moved");
    const heap = this.heap();
    heap.set(snapshot.data, 0);
    heap.set(snapshot.heap, snapshot.heapStart);
    // Names and host functions made since point into memory that is free again.
    this.names.clear();
    for (const [name, pointer] of snapshot.names) this.names.set(name, pointer);
    this.functions.length = snapshot.functions;
  }

  setLimits(heapBytes: number, stackBytes: number): void {
    this.exports.cq_set_limits(this.ctx, heapBytes, stackBytes);
  }

  /** The engine's memory; replaced when it grows, so take it after any call that may allocate. */
  private heap(): Buffer {
    if (this.heapBuffer !== this.exports.memory.buffer) {
      this.heapBuffer = this.exports.memory.buffer;
      this.heapBytes = Buffer.from(this.heapBuffer);
      this.heapView = new DataView(this.heapBuffer);
    }
    return this.heapBytes;
  }

  private view(): DataView {
    this.heap();
    return this.heapView;
  }

  /** A NUL-terminated UTF-8 copy of `text` in engine memory (free with cq_free_memory), and its length without the NUL. */
  private cString(text: string): { pointer: number; length: number } {
    const length = Buffer.byteLength(text, "utf8");
    const pointer = this.exports.cq_malloc(length + 1);
    if (pointer === 0) throw new RangeError("QuickJS is out of memory");
    const heap = this.heap();
    heap.write(text, pointer, length, "utf8");
    heap[pointer + length] = 0;
    return { pointer, length };
  }

  private withCString<T>(text: string, use: (pointer: number, length: number) => T): T {
    const { pointer, length } = this.cString(text);
    try {
      return use(pointer, length);
    } finally {
      this.exports.cq_free_memory(pointer);
    }
  }

  private readCString(pointer: number): string {
    const heap = this.heap();
    return heap.toString("utf8", pointer, heap.indexOf(0, pointer));
  }

  /** A ref from a binding call, or the pending exception thrown as a GuestError. */
  private checked(ref: GuestRef): GuestRef {
    if (ref === 0) throw this.takeException();
    return ref;
  }

  /**
   * The pending exception, read as a GuestError (the guest value itself is
   * freed). At the heap limit QuickJS may lack the memory to build its "out of
   * memory" error (it throws null, or an error without a message): the
   * binding's record of a refused block tells that apart.
   */
  private takeException(): GuestError {
    const limitRefused = this.exports.cq_take_limit_refused() === 1;
    const exception = this.exports.cq_take_exception(this.ctx);
    const isNull = this.type(exception) === "null";
    const error = this.readException(exception);
    const unbuilt = isNull || (error.guestName === "InternalError" && error.message === "");
    return limitRefused && unbuilt ? new GuestError("InternalError", "out of memory", "") : error;
  }

  /** A guest exception as a GuestError; frees it. */
  private readException(exception: GuestRef): GuestError {
    try {
      if (this.type(exception) !== "object") return new GuestError("Error", this.stringOf(exception), "");
      const field = (name: string) => {
        const value = this.exports.cq_get_property(this.ctx, exception, this.constantName(name));
        if (value === 0) {
          this.exports.cq_free(this.ctx, this.exports.cq_take_exception(this.ctx));
          return "";
        }
        try {
          return this.type(value) === "undefined" ? "" : this.stringOf(value);
        } finally {
          this.free(value);
        }
      };
      return new GuestError(field("name") || "Error", field("message"), field("stack"));
    } finally {
      this.free(exception);
    }
  }

  /** Property names used by the engine itself, kept in engine memory for the engine's life. */
  private readonly names = new Map<string, number>();
  private constantName(name: string): number {
    let pointer = this.names.get(name);
    if (pointer === undefined) {
      pointer = this.cString(name).pointer;
      this.names.set(name, pointer);
    }
    return pointer;
  }

  free(ref: GuestRef): void {
    if (ref !== 0 && ref !== this.undefined && ref !== this.null && ref !== this.false && ref !== this.true) this.exports.cq_free(this.ctx, ref);
  }

  /** A new owned ref to the same value (e.g. to return a borrowed argument or a constant). */
  dup(ref: GuestRef): GuestRef {
    return this.checked(this.exports.cq_dup(this.ctx, ref));
  }

  /** Runs a script (strict mode): its completion value. */
  evalScript(source: string, name: string): GuestRef {
    this.exports.cq_take_limit_refused();
    return this.withCString(name, (namePointer) =>
      this.withCString(source, (pointer, length) => this.checked(this.exports.cq_eval_script(this.ctx, pointer, length, namePointer))),
    );
  }

  /** Evaluates a module and what it imports: its namespace. */
  evalModule(source: string, name: string): GuestRef {
    this.exports.cq_take_limit_refused();
    return this.withCString(name, (namePointer) =>
      this.withCString(source, (pointer, length) => this.checked(this.exports.cq_eval_module(this.ctx, pointer, length, namePointer))),
    );
  }

  /** Compiles a module without running it: bytecode that `load` may return for it in any engine of this build. */
  compileModule(source: string, name: string): Buffer {
    return this.withCString(name, (namePointer) =>
      this.withCString(source, (pointer, length) => {
        const bytecode = this.exports.cq_compile_module(this.ctx, pointer, length, namePointer, this.scratch);
        if (bytecode === 0) throw this.takeException();
        try {
          const size = this.view().getUint32(this.scratch, true);
          return Buffer.from(this.heap().subarray(bytecode, bytecode + size));
        } finally {
          this.exports.cq_free_bytes(this.ctx, bytecode);
        }
      }),
    );
  }

  call(fn: GuestRef, thisRef: GuestRef, args: readonly GuestRef[]): GuestRef {
    // A refusal recorded by an earlier call says nothing about this one.
    this.exports.cq_take_limit_refused();
    const inScratch = args.length <= MAX_SCRATCH_ARGS;
    const argv = inScratch ? this.scratch + 8 : this.exports.cq_malloc(args.length * 4);
    const view = this.view();
    for (let i = 0; i < args.length; i++) view.setUint32(argv + i * 4, args[i]!, true);
    try {
      return this.checked(this.exports.cq_call(this.ctx, fn, thisRef, args.length, argv));
    } finally {
      if (!inScratch) this.exports.cq_free_memory(argv);
    }
  }

  type(ref: GuestRef): GuestType {
    return TYPES[this.exports.cq_type(this.ctx, ref)]!;
  }

  /** A number value (anything else converts as ToNumber would; failures give 0). */
  number(ref: GuestRef): number {
    return this.exports.cq_to_number(this.ctx, ref);
  }

  /** A value converted to string, as UTF-8 bytes in engine memory, handed to `use` (valid until the engine allocates). */
  withStringBytes<T>(ref: GuestRef, use: (utf8: Buffer) => T): T {
    const text = this.exports.cq_to_string(this.ctx, ref, this.scratch);
    if (text === 0) throw this.takeException();
    try {
      const length = this.view().getUint32(this.scratch, true);
      return use(this.heap().subarray(text, text + length));
    } finally {
      this.exports.cq_free_string(this.ctx, text);
    }
  }

  /** A value converted to string (String(value)). */
  stringOf(ref: GuestRef): string {
    return this.withStringBytes(ref, (utf8) => utf8.toString("utf8"));
  }

  /** JSON.stringify(value), or undefined where JSON has no text for it. */
  json(ref: GuestRef): string | undefined {
    const text = this.exports.cq_to_json(this.ctx, ref, this.scratch);
    if (text === 0) {
      if (this.view().getUint32(this.scratch, true) === NO_JSON_TEXT) return undefined;
      throw this.takeException();
    }
    try {
      const length = this.view().getUint32(this.scratch, true);
      return this.heap().toString("utf8", text, text + length);
    } finally {
      this.exports.cq_free_string(this.ctx, text);
    }
  }

  /** Runs `use` on an ArrayBuffer's bytes in place (valid until the engine allocates); undefined if the value is not an ArrayBuffer. */
  withArrayBuffer<T>(ref: GuestRef, use: (bytes: Buffer) => T): T | undefined {
    const bytes = this.exports.cq_array_buffer(this.ctx, ref, this.scratch);
    if (bytes === 0) return undefined;
    const length = this.view().getUint32(this.scratch, true);
    return use(this.heap().subarray(bytes, bytes + length));
  }

  newObject(): GuestRef {
    return this.checked(this.exports.cq_new_object(this.ctx));
  }

  newArray(): GuestRef {
    return this.checked(this.exports.cq_new_array(this.ctx));
  }

  newNumber(value: number): GuestRef {
    return this.checked(this.exports.cq_new_number(this.ctx, value));
  }

  newString(value: string): GuestRef {
    return this.withCString(value, (pointer, length) => this.checked(this.exports.cq_new_string(this.ctx, pointer, length)));
  }

  newArrayBuffer(bytes: Uint8Array): GuestRef {
    if (bytes.length <= STAGING_BYTES) {
      this.heap().set(bytes, this.staging);
      return this.checked(this.exports.cq_new_array_buffer(this.ctx, this.staging, bytes.length));
    }
    const pointer = this.exports.cq_malloc(bytes.length);
    if (pointer === 0) throw new RangeError("QuickJS is out of memory");
    try {
      this.heap().set(bytes, pointer);
      return this.checked(this.exports.cq_new_array_buffer(this.ctx, pointer, bytes.length));
    } finally {
      this.exports.cq_free_memory(pointer);
    }
  }

  /** A new ArrayBuffer of a string's UTF-8 bytes, made from the engine's own encoding (nothing crosses into Node). */
  utf8ArrayBuffer(ref: GuestRef): GuestRef {
    const text = this.exports.cq_to_string(this.ctx, ref, this.scratch);
    if (text === 0) throw this.takeException();
    try {
      return this.checked(this.exports.cq_new_array_buffer(this.ctx, text, this.view().getUint32(this.scratch, true)));
    } finally {
      this.exports.cq_free_string(this.ctx, text);
    }
  }

  /**
   * A new string decoded by the engine from an ArrayBuffer's bytes in place,
   * if `decodable` accepts them; undefined if it does not or the value is no
   * ArrayBuffer.
   */
  stringFromArrayBuffer(ref: GuestRef, decodable: (bytes: Buffer) => boolean): GuestRef | undefined {
    const bytes = this.exports.cq_array_buffer(this.ctx, ref, this.scratch);
    if (bytes === 0) return undefined;
    const length = this.view().getUint32(this.scratch, true);
    if (!decodable(this.heap().subarray(bytes, bytes + length))) return undefined;
    return this.checked(this.exports.cq_new_string(this.ctx, bytes, length));
  }

  getProperty(object: GuestRef, key: string | number): GuestRef {
    if (typeof key === "number") return this.checked(this.exports.cq_get_index(this.ctx, object, key));
    return this.withCString(key, (name) => this.checked(this.exports.cq_get_property(this.ctx, object, name)));
  }

  /** Sets a property to the value (the caller keeps its ref). */
  setProperty(object: GuestRef, key: string | number, value: GuestRef): void {
    const status =
      typeof key === "number"
        ? this.exports.cq_set_index(this.ctx, object, key, value)
        : this.withCString(key, (name) => this.exports.cq_set_property(this.ctx, object, name, value));
    if (status < 0) throw this.takeException();
  }

  newFunction(name: string, fn: EngineFunction): GuestRef {
    const id = this.functions.push(fn) - 1;
    return this.withCString(name, (pointer) => this.checked(this.exports.cq_new_host_function(this.ctx, pointer, id, 0)));
  }

  /** Makes `error` the pending guest exception (a TypeError stays a TypeError). */
  private throwIntoGuest(error: unknown): void {
    const name = error instanceof GuestError ? error.guestName : error instanceof Error ? error.name : "Error";
    const message = error instanceof Error ? error.message : String(error);
    this.withCString(name, (namePointer) => this.withCString(message, (messagePointer) => this.exports.cq_throw_error(this.ctx, namePointer, messagePointer)));
  }

  private hostCall(functionId: number, argc: number, argv: number): number {
    try {
      const args = new Array<GuestRef>(argc);
      for (let i = 0; i < argc; i++) args[i] = argv + i * 8;
      return this.functions[functionId]!(args) ?? 0;
    } catch (error) {
      this.throwIntoGuest(error);
      return HOST_EXCEPTION;
    }
  }

  private hostNormalize(base: number, requested: number): number {
    try {
      return this.cString(this.hooks.normalize(this.readCString(base), this.readCString(requested))).pointer;
    } catch (error) {
      this.throwIntoGuest(error);
      return 0;
    }
  }

  private hostLoad(namePointer: number, out: number, outLength: number): number {
    try {
      const code = this.hooks.load(this.readCString(namePointer));
      let pointer: number;
      let length: number;
      if ("source" in code) {
        ({ pointer, length } = this.cString(code.source));
      } else {
        length = code.bytecode.length;
        pointer = this.exports.cq_malloc(Math.max(length, 1));
        if (pointer === 0) throw new RangeError("QuickJS is out of memory");
        this.heap().set(code.bytecode, pointer);
      }
      const view = this.view();
      view.setUint32(out, pointer, true);
      view.setUint32(outLength, length, true);
      return "source" in code ? MODULE_SOURCE : MODULE_BYTECODE;
    } catch (error) {
      this.throwIntoGuest(error);
      return 0;
    }
  }
}
