// Where a ledger's chunk files live, as a port: the ledger, its reader and
// replay do every file operation through it, so the same code runs on real
// files (FileLedgerStorage) and, in a seeded simulation, on an in-memory twin
// that can crash (MemoryLedgerStorage). Snapshots and the view file stay on
// node:fs for now: a simulation runs without them.
import { closeSync, fsync, fsyncSync, ftruncateSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync, writev } from "node:fs";
import { join } from "node:path";
import { fsyncDirectory } from "../durable.ts";

/** An open file, as the storage numbers it. */
export type FileHandle = number;

export interface LedgerStorage {
  /** Where it is, for messages. */
  readonly location: string;
  /** Names of the files in it. */
  list(): string[];
  size(name: string): number;
  readFile(name: string): Buffer;
  /** Opens `name` for reading and writing: "create" makes it empty (creating it if absent). */
  open(name: string, mode: "create" | "existing"): FileHandle;
  /** Reads into `into` from `position`; returns the bytes read (0 at the end). */
  read(file: FileHandle, into: Buffer, offset: number, length: number, position: number): number;
  /** Writes `buffers` at `position` in the background; resolves with the bytes written (maybe fewer). */
  write(file: FileHandle, buffers: Buffer[], position: number): Promise<number>;
  /** Writes at `position` now; returns the bytes written (maybe fewer). */
  writeNow(file: FileHandle, bytes: Buffer, offset: number, length: number, position: number): number;
  /** Makes the file's bytes durable. */
  sync(file: FileHandle): Promise<void>;
  syncNow(file: FileHandle): void;
  truncate(file: FileHandle, size: number): void;
  close(file: FileHandle): void;
  rename(from: string, to: string): void;
  remove(name: string): void;
  /** Makes creations, renames and removals durable. */
  syncDirectory(): void;
}

/** A directory of real files (node:fs; background writes on libuv's thread pool). */
export class FileLedgerStorage implements LedgerStorage {
  constructor(readonly location: string) {}

  list(): string[] {
    return readdirSync(this.location);
  }
  size(name: string): number {
    return statSync(join(this.location, name)).size;
  }
  readFile(name: string): Buffer {
    return readFileSync(join(this.location, name));
  }
  open(name: string, mode: "create" | "existing"): FileHandle {
    return openSync(join(this.location, name), mode === "create" ? "w+" : "r+");
  }
  read(file: FileHandle, into: Buffer, offset: number, length: number, position: number): number {
    return readSync(file, into, offset, length, position);
  }
  write(file: FileHandle, buffers: Buffer[], position: number): Promise<number> {
    return new Promise((resolve, reject) => writev(file, buffers, position, (error, n) => (error ? reject(error) : resolve(n))));
  }
  writeNow(file: FileHandle, bytes: Buffer, offset: number, length: number, position: number): number {
    return writeSync(file, bytes, offset, length, position);
  }
  sync(file: FileHandle): Promise<void> {
    return new Promise((resolve, reject) => fsync(file, (error) => (error ? reject(error) : resolve())));
  }
  syncNow(file: FileHandle): void {
    fsyncSync(file);
  }
  truncate(file: FileHandle, size: number): void {
    ftruncateSync(file, size);
  }
  close(file: FileHandle): void {
    closeSync(file);
  }
  rename(from: string, to: string): void {
    renameSync(join(this.location, from), join(this.location, to));
  }
  remove(name: string): void {
    rmSync(join(this.location, name));
  }
  syncDirectory(): void {
    fsyncDirectory(this.location);
  }
}

/** Storage for a directory path or a given storage. */
export function storageOf(dirOrStorage: string | LedgerStorage): LedgerStorage {
  return typeof dirOrStorage === "string" ? new FileLedgerStorage(dirOrStorage) : dirOrStorage;
}

class MemoryFile {
  /** What a read sees now. */
  bytes = Buffer.alloc(0);
  /** What survives a crash: the bytes as of the last sync. */
  durable = Buffer.alloc(0);
}

class NoSuchFileError extends Error {
  readonly code = "ENOENT";
}

/**
 * The simulated twin: files in memory, with a crash model. A file's bytes are durable once it is
 * synced; its name (a creation, rename or removal) once the directory is synced. crash() keeps the
 * durable names and bytes, plus, per file, a prefix (chosen by `random`) of what was written after
 * its last sync: a torn write. Background writes land when the event loop next runs them.
 */
export class MemoryLedgerStorage implements LedgerStorage {
  readonly location = "memory";
  private names = new Map<string, MemoryFile>();
  /** The names as of the last syncDirectory. */
  private durableNames = new Map<string, MemoryFile>();
  private readonly handles = new Map<FileHandle, MemoryFile>();
  private nextHandle = 1;

  list(): string[] {
    return [...this.names.keys()];
  }
  size(name: string): number {
    return this.file(name).bytes.length;
  }
  readFile(name: string): Buffer {
    return Buffer.from(this.file(name).bytes);
  }
  open(name: string, mode: "create" | "existing"): FileHandle {
    let file = this.names.get(name);
    if (mode === "create") {
      if (file) file.bytes = Buffer.alloc(0);
      else this.names.set(name, (file = new MemoryFile()));
    } else if (!file) throw new NoSuchFileError(`no file ${name}`);
    const handle = this.nextHandle++;
    this.handles.set(handle, file);
    return handle;
  }
  read(file: FileHandle, into: Buffer, offset: number, length: number, position: number): number {
    const bytes = this.handle(file).bytes;
    const n = Math.max(0, Math.min(length, bytes.length - position));
    bytes.copy(into, offset, position, position + n);
    return n;
  }
  async write(file: FileHandle, buffers: Buffer[], position: number): Promise<number> {
    await Promise.resolve();
    const all = Buffer.concat(buffers);
    return this.writeNow(file, all, 0, all.length, position);
  }
  writeNow(file: FileHandle, bytes: Buffer, offset: number, length: number, position: number): number {
    const target = this.handle(file);
    const end = position + length;
    if (end > target.bytes.length) {
      const grown = Buffer.alloc(end);
      target.bytes.copy(grown);
      target.bytes = grown;
    }
    bytes.copy(target.bytes, position, offset, offset + length);
    return length;
  }
  async sync(file: FileHandle): Promise<void> {
    await Promise.resolve();
    this.syncNow(file);
  }
  syncNow(file: FileHandle): void {
    const target = this.handle(file);
    target.durable = Buffer.from(target.bytes);
  }
  truncate(file: FileHandle, size: number): void {
    const target = this.handle(file);
    target.bytes = Buffer.from(target.bytes.subarray(0, size));
  }
  close(file: FileHandle): void {
    this.handle(file);
    this.handles.delete(file);
  }
  rename(from: string, to: string): void {
    const file = this.file(from);
    this.names.delete(from);
    this.names.set(to, file);
  }
  remove(name: string): void {
    this.file(name);
    this.names.delete(name);
  }
  syncDirectory(): void {
    this.durableNames = new Map(this.names);
  }

  /**
   * A power cut: open handles are gone, and each file keeps its synced bytes plus a prefix of
   * those written after (`random()` in [0, 1) picks how many). Names go back to the last directory
   * sync, or, with `names: "as-written"`, stay as they were (a file system may persist a name
   * change with no directory sync). A file truncated below its synced size keeps the shorter size
   * only if it was synced.
   */
  crash(random: () => number, options: { names?: "durable" | "as-written" } = {}): void {
    this.handles.clear();
    const survivors = new Map<string, MemoryFile>();
    for (const [name, file] of options.names === "as-written" ? this.names : this.durableNames) {
      const after = file.bytes.length > file.durable.length && file.bytes.subarray(0, file.durable.length).equals(file.durable)
        ? file.bytes.subarray(file.durable.length)
        : Buffer.alloc(0);
      const kept = Math.floor(random() * (after.length + 1));
      const survivor = new MemoryFile();
      survivor.bytes = Buffer.concat([file.durable, after.subarray(0, kept)]);
      survivor.durable = Buffer.from(survivor.bytes);
      survivors.set(name, survivor);
    }
    this.names = survivors;
    this.durableNames = new Map(survivors);
  }

  private file(name: string): MemoryFile {
    const file = this.names.get(name);
    if (!file) throw new NoSuchFileError(`no file ${name}`);
    return file;
  }

  private handle(handle: FileHandle): MemoryFile {
    const file = this.handles.get(handle);
    if (!file) throw new Error(`file handle ${handle} is not open`);
    return file;
  }
}
