// The ledger's file writes, made on libuv's thread pool so that copying frames
// into the page cache runs beside the commit pipeline, on another core.
//
// Writes run one step at a time, in the order handed over. A step takes every
// write queued when it starts and writes each run of them that continues one
// file with a single writev, so the queue drains however many buffers filled in
// one event-loop turn. Other steps (fsyncs) join the same order: a step runs
// only once every write handed over before it has landed.
import { FileLedgerStorage, type LedgerStorage } from "./storage.ts";

/** What the writer needs of the storage. */
type Writes = Pick<LedgerStorage, "write" | "writeNow">;

interface QueuedWrite {
  fd: number;
  bytes: Buffer;
  position: number;
  /** Runs once the bytes are in the file (the buffer may then be reused). */
  landed: (() => void) | undefined;
}

/**
 * Writes waiting for a step at most; beyond that they are written at once, synchronously, so
 * a disk slower than the commit pipeline slows commits instead of filling memory.
 */
export const QUEUED_WRITES_MAX = 8;

export class BackgroundWriter {
  private chain: Promise<void> = Promise.resolve();
  /** Handed over, not yet taken by a step. */
  private queued: QueuedWrite[] = [];
  /** Taken by the running step, not yet landed. */
  private writing: QueuedWrite[] = [];
  private writeStepQueued = false;
  private failure: Error | undefined;

  /** `onError` is called once, with the first write that fails. */
  constructor(
    private readonly onError: (error: Error) => void,
    private readonly files: Writes = new FileLedgerStorage("."),
  ) {}

  /** The first failed write: every later step fails with it. */
  get error(): Error | undefined {
    return this.failure;
  }

  write(fd: number, bytes: Buffer, position: number, landed?: () => void): void {
    if (this.failure) throw this.failure;
    this.queued.push({ fd, bytes, position, landed });
    if (this.queued.length > QUEUED_WRITES_MAX) {
      this.writeNow();
    } else if (!this.writeStepQueued) {
      this.writeStepQueued = true;
      void this.after(() => this.writeQueued()).catch(() => {});
    }
  }

  /**
   * Runs `step` after every write handed over so far has landed; rejects with the write error if
   * one failed. (Not named `then`: an object with a then method is taken for a promise by await.)
   */
  after(step: () => Promise<void>): Promise<void> {
    const result = this.chain.then(() => {
      if (this.failure) throw this.failure;
      return step();
    });
    this.chain = result.catch(() => {});
    return result;
  }

  /** Resolves once every step handed over so far has run (or failed). */
  idle(): Promise<void> {
    return this.chain;
  }

  /**
   * Puts every write handed over in its file now, synchronously and in order (a file never has
   * a gap before its last written byte): for reads, and before a new chunk file is created.
   * The running step may write some of the same bytes at the same place again: harmless.
   */
  writeNow(): void {
    try {
      for (const w of this.writing) writeAllSync(this.files, w.fd, w.bytes, w.position);
      const queued = this.queued;
      this.queued = [];
      for (const w of queued) {
        writeAllSync(this.files, w.fd, w.bytes, w.position);
        w.landed?.();
      }
    } catch (error) {
      throw this.fail(error);
    }
  }

  private async writeQueued(): Promise<void> {
    this.writeStepQueued = false;
    const batch = this.queued;
    this.queued = [];
    this.writing = batch;
    try {
      for (let i = 0; i < batch.length; ) {
        const first = batch[i]!;
        let end = first.position + first.bytes.length;
        let j = i + 1;
        while (j < batch.length && batch[j]!.fd === first.fd && batch[j]!.position === end) end += batch[j++]!.bytes.length;
        await writevAll(this.files, first.fd, batch.slice(i, j).map((w) => w.bytes), first.position);
        i = j;
      }
    } catch (error) {
      throw this.fail(error);
    } finally {
      this.writing = [];
    }
    for (const w of batch) w.landed?.();
  }

  private fail(error: unknown): Error {
    if (!this.failure) {
      this.failure = error instanceof Error ? error : new Error(String(error));
      this.onError(this.failure);
    }
    return this.failure;
  }
}

function writeAllSync(files: Writes, fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length; ) {
    done += files.writeNow(fd, bytes, done, bytes.length - done, position + done);
  }
}

async function writevAll(files: Writes, fd: number, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const written = await files.write(fd, rest, position);
    if (written === 0) throw new Error("write made no progress");
    position += written;
    // Drop what was written; a short write leaves the tail of one buffer.
    let skip = written;
    const next: Buffer[] = [];
    for (const buffer of rest) {
      if (skip >= buffer.length) skip -= buffer.length;
      else {
        next.push(skip > 0 ? buffer.subarray(skip) : buffer);
        skip = 0;
      }
    }
    rest = next;
  }
}
