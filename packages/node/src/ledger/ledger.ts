// The ledger of one node: appends framed entries to chunk files, makes them
// durable on request (group commit: many entries, one fsync), finishes chunks
// at signatures, and reads any entry back by seqno.
//
// Frames are encoded into a write buffer; a full buffer, or the buffer at the
// end of an event-loop turn, goes to the background writer (its file written on
// libuv's thread pool) while appends continue into a spare buffer. fsyncs are
// ordered after the writes handed over before them.
import { LEDGER_CHUNK_BYTES, LEDGER_ENTRY_BYTES_MAX, LEDGER_WRITE_BUFFER_BYTES } from "../limits.ts";
import { BackgroundWriter } from "./background-writer.ts";
import type { FileHandle, LedgerStorage } from "./storage.ts";
import { chunkName } from "./chunk-files.ts";
import { decodeFrame, frameLength, type DecodedEntry } from "./entry.ts";

/** Where each entry of a chunk starts: offsets[seqno - start]. */
export interface ChunkIndex {
  start: number;
  /** Set once the chunk is finished (its last entry is a signature). */
  end: number | undefined;
  committed: boolean;
  name: string;
  /** Undefined for chunks a snapshot let replay skip, until an old entry is read. */
  offsets: number[] | undefined;
  /** Bytes in the file, including those still buffered. */
  bytes: number;
}

export interface LedgerOptions {
  chunkBytes?: number;
  /** Called once when a background write fails (e.g. disk full); appends and syncs then fail with it too. */
  onWriteError?: (error: Error) => void;
}

/** Spare write buffers kept for reuse; more are left to the GC. */
const SPARE_BUFFERS_MAX = 2;

/** An entry this node's ledger does not hold: it is behind the snapshot the node joined from. */
export class EntryNotHeldError extends Error {
  constructor(
    readonly seqno: number,
    readonly firstHeldSeqno: number,
  ) {
    super(
      firstHeldSeqno > seqno
        ? `seqno ${seqno} is not in this node's ledger, which starts at seqno ${firstHeldSeqno} (the node started from a snapshot)`
        : `seqno ${seqno} is not in the ledger`,
    );
  }
}

export class Ledger {
  private readonly chunkBytes: number;
  private readonly writer: BackgroundWriter;
  /** The chunk receiving appends (always the last in `chunks`), or none until the next append. */
  private open: OpenChunk | undefined;
  /** Frames not yet handed to a write. */
  private buffer: Buffer = Buffer.allocUnsafeSlow(LEDGER_WRITE_BUFFER_BYTES);
  private bufferedBytes = 0;
  /** Write buffers whose write has landed, for reuse. */
  private readonly spareBuffers: Buffer[] = [];
  private flushScheduled = false;
  private finishAtNextSignature = false;
  /** Finished chunks waiting for the fsync that lets them be renamed ledger_<start>-<end>. */
  private finishing: OpenChunk[] = [];
  private closed = false;
  private abandoned = false;
  /** Finished chunks whose bytes no fsync has covered yet (a sync may be running for them). */
  private readonly finishedNotSynced = new Set<OpenChunk>();
  /** A chunk file was created since the directory was last synced: its name is not durable yet. */
  private createdSinceDirectorySync = false;
  /** Highest seqno markCommitted was told of: truncate never goes below it. */
  private committedSeqno = 0;
  /** A truncation in progress: appends wait for it (they are refused until it is done). */
  private truncation: Promise<void> | undefined;

  constructor(
    readonly storage: LedgerStorage,
    /** Chunks found by replay, in order; the last may be unfinished and is appended to. */
    private readonly chunks: ChunkIndex[],
    /** Seqno the next append must have. */
    private nextSeqno: number,
    options: LedgerOptions = {},
  ) {
    this.chunkBytes = options.chunkBytes ?? LEDGER_CHUNK_BYTES;
    // A failed write (e.g. disk full): nothing more may be appended or made durable.
    this.writer = new BackgroundWriter(options.onWriteError ?? (() => {}), storage);
    const last = chunks.at(-1);
    if (last && last.end === undefined) {
      // Drop whatever replay did not accept (torn or unsigned tail), then append after it.
      const fd = storage.open(last.name, "existing");
      storage.truncate(fd, last.bytes);
      this.open = { index: last, fd, written: last.bytes };
    }
  }

  get lastSeqno(): number {
    return this.nextSeqno - 1;
  }

  /** The first seqno the ledger files hold: 1, or later for a node that joined from a snapshot (CCF keeps no ledger before it). */
  get firstSeqno(): number {
    return this.chunks[0]?.start ?? this.nextSeqno;
  }

  /**
   * Appends one frame of `frameBytes`, which `encode` writes straight into the
   * write buffer (no allocation per entry); returns what `encode` returns. The
   * view passed to `encode` is only valid during the call. A signature frame may
   * finish the chunk (size reached, or forced).
   */
  append<T>(seqno: number, isSignature: boolean, frameBytes: number, encode: (frame: Buffer) => T): T {
    if (this.closed) throw new Error("ledger is closed");
    if (this.writer.error) throw this.writer.error;
    if (this.truncation) throw new Error("ledger is being truncated: append once truncate() resolves");
    if (seqno !== this.nextSeqno) throw new Error(`ledger expects seqno ${this.nextSeqno}, got ${seqno}`);
    const open = this.open ?? this.startChunk(seqno);
    if (this.bufferedBytes + frameBytes > this.buffer.length) this.flush();
    let result: T;
    if (frameBytes > this.buffer.length) {
      // Larger than the whole buffer: a frame of its own, written at once.
      const frame = Buffer.allocUnsafeSlow(frameBytes);
      result = encode(frame);
      this.handOver(open, frame);
    } else {
      result = encode(this.buffer.subarray(this.bufferedBytes, this.bufferedBytes + frameBytes));
      this.bufferedBytes += frameBytes;
    }
    offsetsOf(open.index).push(open.index.bytes);
    open.index.bytes += frameBytes;
    this.nextSeqno++;
    if (isSignature && (open.index.bytes >= this.chunkBytes || this.finishAtNextSignature)) {
      this.finishChunk(seqno);
    } else if (!this.flushScheduled && this.bufferedBytes > 0) {
      // Hand bytes to the OS soon even without an fsync, so a process crash loses little.
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        try {
          if (!this.closed) this.flush();
        } catch {
          // Reported through onWriteError, and by the next append or sync.
        }
      });
    }
    return result;
  }

  /** CCF's trigger_ledger_chunk: finish the current chunk at the next signature. */
  requestChunkAtNextSignature(): void {
    this.finishAtNextSignature = true;
  }

  /** Hands buffered frames to the background writer (no fsync). */
  flush(): void {
    if (this.bufferedBytes === 0 || !this.open) return;
    const full = this.buffer;
    const bytes = full.subarray(0, this.bufferedBytes);
    this.buffer = this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(LEDGER_WRITE_BUFFER_BYTES);
    this.bufferedBytes = 0;
    this.handOver(this.open, bytes, () => {
      if (this.spareBuffers.length < SPARE_BUFFERS_MAX) this.spareBuffers.push(full);
    });
  }

  /** Queues `bytes` to be written at the end of `chunk`'s file. */
  private handOver(chunk: OpenChunk, bytes: Buffer, landed?: () => void): void {
    const position = chunk.written;
    chunk.written += bytes.length;
    this.writer.write(chunk.fd, bytes, position, landed);
  }

  /** Every appended frame in its file now: for reads, and before a new chunk file is created. */
  private writePendingNow(): void {
    this.flush();
    this.writer.writeNow();
  }

  /**
   * Makes everything appended so far durable: flush, fsync every file with new
   * data, then give finished chunks their ledger_<start>-<end> name. Calls are
   * serialised, so durability is reported in append order.
   */
  sync(): Promise<void> {
    if (this.writer.error) return Promise.reject(this.writer.error);
    try {
      this.flush();
    } catch (error) {
      return Promise.reject(error);
    }
    const fds = [...this.finishing.map((c) => c.fd), ...(this.open ? [this.open.fd] : [])];
    const finished = this.finishing;
    this.finishing = [];
    // A new chunk's entries are durable only with its name: without a directory sync a power cut
    // can lose the whole file, committed signatures and all.
    const created = this.createdSinceDirectorySync;
    this.createdSinceDirectorySync = false;
    const run = async () => {
      if (this.abandoned) return;
      await Promise.all(fds.map((fd) => this.storage.sync(fd)));
      for (const chunk of finished) this.finishedNotSynced.delete(chunk);
      // A crash stops everything: an abandoned ledger must not rename files under its successor.
      if (this.abandoned) return;
      for (const chunk of finished) {
        this.storage.close(chunk.fd);
        this.rename(chunk.index, chunkName(chunk.index.start, chunk.index.end));
      }
      if (finished.length > 0 || created) this.storage.syncDirectory();
    };
    return this.writer.after(run);
  }

  /** Marks finished chunks up to `seqno` committed (rename to .committed). */
  markCommitted(seqno: number): void {
    if (this.abandoned) return;
    this.committedSeqno = Math.max(this.committedSeqno, seqno);
    let renamed = false;
    for (const chunk of this.chunks) {
      if (chunk.end === undefined || chunk.committed || chunk.end > seqno) continue;
      if (this.finishing.some((f) => f.index === chunk)) continue;
      chunk.committed = true;
      this.rename(chunk, chunkName(chunk.start, chunk.end, true));
      renamed = true;
    }
    if (renamed) this.storage.syncDirectory();
  }

  /**
   * Drops every entry after `seqno` (never below what markCommitted was told): a backup or a
   * deposed primary taking back entries that were never committed. Waits for every write and
   * fsync handed over before it, so none can land after the cut; then removes the chunk files
   * after `seqno`, cuts the chunk holding it at an entry boundary and makes that durable. The
   * chunk holding `seqno` becomes the one appended to, unless `seqno` ends a finished chunk, which
   * stays finished: so an unfinished chunk is still followed by no other, and a finished one
   * still ends with a signature. Appends are refused until the returned promise resolves.
   */
  async truncate(seqno: number): Promise<void> {
    if (this.closed) throw new Error("ledger is closed");
    if (this.truncation) throw new Error("ledger is already being truncated");
    if (seqno < this.committedSeqno) throw new RangeError(`cannot truncate the ledger to seqno ${seqno}: seqno ${this.committedSeqno} is committed`);
    if (seqno > this.lastSeqno) throw new RangeError(`cannot truncate the ledger to seqno ${seqno}: its last seqno is ${this.lastSeqno}`);
    if (seqno === this.lastSeqno) return;
    // Everything appended goes to its file first, so what precedes the cut is there when it is made.
    this.flush();
    const done = (async () => {
      await this.writer.idle();
      if (this.writer.error) throw this.writer.error;
      this.cutAfter(seqno);
    })();
    this.truncation = done;
    try {
      await done;
    } finally {
      this.truncation = undefined;
    }
  }

  /** truncate()'s file work, once no write is in flight. */
  private cutAfter(seqno: number): void {
    while (this.chunks.length > 0 && this.chunks.at(-1)!.start > seqno) {
      const chunk = this.chunks.pop()!;
      this.closeIfOpen(chunk);
      this.storage.remove(chunk.name);
    }
    this.nextSeqno = seqno + 1;
    const chunk = this.chunks.at(-1);
    // A chunk ending at seqno (with its signature) stays as it is, finished: the next append starts a
    // chunk, and the next sync fsyncs and renames it if it was still waiting for that.
    if (chunk && chunk.end !== seqno) {
      const offsets = offsetsOf(chunk);
      const keep = seqno - chunk.start + 1;
      const cutAt = offsets[keep] ?? chunk.bytes;
      offsets.length = keep;
      chunk.bytes = cutAt;
      const wasFinishing = this.finishing.find((f) => f.index === chunk);
      if (wasFinishing) {
        this.finishing = this.finishing.filter((f) => f !== wasFinishing);
        this.finishedNotSynced.delete(wasFinishing);
      }
      if (chunk.end !== undefined) {
        chunk.end = undefined;
        this.rename(chunk, chunkName(chunk.start));
      }
      const fd = this.open?.index === chunk ? this.open.fd : (wasFinishing?.fd ?? this.storage.open(chunk.name, "existing"));
      this.storage.truncate(fd, cutAt);
      this.storage.syncNow(fd);
      this.open = { index: chunk, fd, written: cutAt };
    }
    this.storage.syncDirectory();
  }

  /** Closes the chunk's file if the ledger holds it open (appending, or finished awaiting its fsync). */
  private closeIfOpen(chunk: ChunkIndex): void {
    if (this.open?.index === chunk) {
      this.storage.close(this.open.fd);
      this.open = undefined;
    }
    const finishing = this.finishing.find((f) => f.index === chunk);
    if (finishing) {
      this.finishedNotSynced.delete(finishing);
      this.storage.close(finishing.fd);
      this.finishing = this.finishing.filter((f) => f !== finishing);
    }
  }

  /** Name of the chunk file holding `seqno`, if any does. */
  chunkNameOf(seqno: number): string | undefined {
    return this.chunkOf(seqno)?.name;
  }

  /** Reads and decodes the entry at `seqno` from its chunk file. */
  readEntry(seqno: number): DecodedEntry {
    return this.readEntries(seqno, seqno)[0]!;
  }

  /** Reads and decodes entries `first..last` (inclusive) from their chunk files. */
  readEntries(first: number, last: number): DecodedEntry[] {
    return this.readFrames(first, last).map(decodeFrame);
  }

  /**
   * The frames of entries `first..last` (inclusive) as stored, unchecked: decodeFrame
   * checks one, or the caller checks what it derives from them some other way.
   */
  readFrames(first: number, last: number): Buffer[] {
    const frames: Buffer[] = [];
    let seqno = first;
    while (seqno <= last) {
      const chunk = this.chunkOf(seqno);
      if (!chunk) throw new EntryNotHeldError(seqno, this.firstSeqno);
      const offsets = this.indexOf(chunk);
      const firstIndex = seqno - chunk.start;
      const lastIndex = Math.min(last - chunk.start, offsets.length - 1);
      const from = offsets[firstIndex]!;
      const to = offsets[lastIndex + 1] ?? chunk.bytes;
      const bytes = this.readChunkBytes(chunk, from, to);
      for (let i = firstIndex; i <= lastIndex; i++) {
        const start = offsets[i]! - from;
        const end = (offsets[i + 1] ?? chunk.bytes) - from;
        frames.push(bytes.subarray(start, end));
      }
      seqno = chunk.start + lastIndex + 1;
    }
    return frames;
  }

  private readChunkBytes(chunk: ChunkIndex, from: number, to: number): Buffer {
    // Reading needs the bytes in the file now.
    this.writePendingNow();
    const isOpen = this.open?.index === chunk;
    const bytes = Buffer.allocUnsafe(to - from);
    const fd = isOpen ? this.open!.fd : this.storage.open(chunk.name, "existing");
    try {
      let done = 0;
      while (done < bytes.length) {
        const n = this.storage.read(fd, bytes, done, bytes.length - done, from + done);
        if (n === 0) throw new Error(`${chunk.name} is shorter than its index says`);
        done += n;
      }
    } finally {
      if (!isOpen) this.storage.close(fd);
    }
    return bytes;
  }

  /** Flushes, fsyncs and closes; the open chunk keeps its ledger_<start> name. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.sync();
    this.closed = true;
    if (this.open) {
      this.storage.syncNow(this.open.fd);
      this.storage.close(this.open.fd);
      this.open = undefined;
    }
  }

  /**
   * Stops as a crash right after the last write call would: buffered frames are lost, writes
   * already handed over land (awaited, so a successor never sees one land later), nothing more
   * is fsynced or renamed. For crash tests.
   */
  async abandon(): Promise<void> {
    this.closed = true;
    this.abandoned = true;
    this.bufferedBytes = 0;
    const fds = [...this.finishing.map((c) => c.fd), ...(this.open ? [this.open.fd] : [])];
    this.open = undefined;
    await this.writer.idle();
    for (const fd of fds) this.storage.close(fd);
  }

  private chunkOf(seqno: number): ChunkIndex | undefined {
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const chunk = this.chunks[mid]!;
      const last = chunk.end ?? chunk.start + offsetsOf(chunk).length - 1;
      if (seqno < chunk.start) hi = mid - 1;
      else if (seqno > last) lo = mid + 1;
      else return chunk;
    }
    return undefined;
  }

  /** The chunk's entry offsets, found by walking its frames if replay skipped it. */
  private indexOf(chunk: ChunkIndex): number[] {
    if (chunk.offsets) return chunk.offsets;
    const bytes = this.readChunkBytes(chunk, 0, chunk.bytes);
    const offsets: number[] = [];
    for (let at = 0; at < bytes.length; ) {
      const length = frameLength(bytes, at, LEDGER_ENTRY_BYTES_MAX);
      if (length === undefined || at + length > bytes.length) throw new Error(`${chunk.name} ends inside an entry`);
      offsets.push(at);
      at += length;
    }
    chunk.offsets = offsets;
    return offsets;
  }

  private startChunk(start: number): OpenChunk {
    // The chunk before must be durable before the next file exists: a file system may keep the
    // new name through a power cut without a directory sync, and replay takes a torn finished
    // chunk followed by another for damage (the node would not start). Costs one fsync per chunk,
    // only when the next chunk starts before the sync of the last one is done.
    for (const finished of this.finishedNotSynced) this.storage.syncNow(finished.fd);
    this.finishedNotSynced.clear();
    const index: ChunkIndex = { start, end: undefined, committed: false, name: chunkName(start), offsets: [], bytes: 0 };
    const fd = this.storage.open(index.name, "create");
    this.createdSinceDirectorySync = true;
    this.chunks.push(index);
    this.open = { index, fd, written: 0 };
    return this.open;
  }

  private finishChunk(end: number): void {
    const open = this.open!;
    // Its bytes reach the file before the next chunk's file exists: replay takes an unfinished
    // chunk followed by another for damage, so a crash must never leave that behind.
    this.writePendingNow();
    open.index.end = end;
    this.finishing.push(open);
    this.finishedNotSynced.add(open);
    this.open = undefined;
    this.finishAtNextSignature = false;
  }

  private rename(chunk: ChunkIndex, name: string): void {
    if (chunk.name === name) return;
    this.storage.rename(chunk.name, name);
    chunk.name = name;
  }

}

/** Offsets of a chunk that is being appended to (always indexed). */
function offsetsOf(chunk: ChunkIndex): number[] {
  if (!chunk.offsets) throw new Error(`chunk ${chunk.name} is not indexed`);
  return chunk.offsets;
}

interface OpenChunk {
  index: ChunkIndex;
  fd: FileHandle;
  /** Bytes already written to the file (the rest of index.bytes is buffered). */
  written: number;
}
