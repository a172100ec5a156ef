// A transaction over the store: reads see the committed state as of begin(),
// overlaid with the transaction's own writes; writes are collected in a write
// set and reach the store only when the commit pipeline applies them.
//
// Isolation is optimistic, as in CCF: if a map this transaction reads was
// changed by a commit after begin(), the read (or the commit) raises
// TxConflictError and the caller re-executes the transaction. In the node,
// handlers run synchronously one at a time, so this never fires there; it keeps
// the store correct for any caller that interleaves transactions.
import type { SeqNo } from "../ids.ts";
import type { MapState, Store } from "./store.ts";
import { keyString, type KeyString, type MapWrites, type WriteSet } from "./write-set.ts";

export class TxConflictError extends Error {
  constructor(mapName: string, why = "changed since the transaction began") {
    super(`transaction conflict: map ${mapName} ${why}`);
  }
}

export class ReadOnlyError extends TypeError {}

export class Tx {
  private readonly handles = new Map<string, MapHandle>();
  private finished = false;
  private readonly effects: Array<() => void> = [];
  /** The store's rollback count at begin(): a rollback since then took back state this transaction may have read. */
  private readonly rollbacksAtBegin: number;
  claimsDigest: Buffer | undefined;
  /** Key reads and writes made through this transaction's maps (for /node/metrics). */
  readonly counts = { reads: 0, writes: 0 };

  constructor(
    private readonly store: Store,
    /** The store version this transaction reads. */
    readonly readVersion: SeqNo,
    readonly readOnly: boolean,
  ) {
    this.rollbacksAtBegin = store.rollbackCount;
  }

  /** The handle on map `name` within this transaction (the same handle on every call). */
  map(name: string): MapHandle {
    this.assertOpen();
    let handle = this.handles.get(name);
    if (!handle) {
      handle = new MapHandle(name, this);
      this.handles.set(name, handle);
    }
    return handle;
  }

  /** The committed state of a map, checked to be unchanged since begin(). */
  committedState(name: string): MapState | undefined {
    this.assertOpen();
    if (this.store.rollbackCount !== this.rollbacksAtBegin) throw new TxConflictError(name, "was rolled back since the transaction began");
    const state = this.store.mapState(name);
    if (state && state.lastWriteVersion > this.readVersion) throw new TxConflictError(name);
    return state;
  }

  /**
   * Closes the transaction and returns its writes (clears expanded into
   * deletions of the keys that existed). Throws TxConflictError if a map it
   * read or wrote changed since begin(). Empty for a read-only transaction.
   */
  finish(): WriteSet {
    this.assertOpen();
    const writes: WriteSet = new Map();
    for (const handle of this.handles.values()) {
      this.committedState(handle.name);
      const mapWrites = handle.collectWrites();
      if (mapWrites.size > 0) writes.set(handle.name, mapWrites);
    }
    this.finished = true;
    return writes;
  }

  /**
   * Defers a change outside the store (e.g. CCF's trigger_snapshot) until the
   * transaction commits: a discarded transaction leaves no trace.
   */
  onCommit(effect: () => void): void {
    this.assertOpen();
    this.effects.push(effect);
  }

  /** The deferred effects, for the commit pipeline to run once the transaction is committed. */
  takeCommitEffects(): Array<() => void> {
    return this.effects.splice(0);
  }

  /** Discards the transaction's writes and deferred effects. */
  abort(): void {
    this.finished = true;
    this.effects.length = 0;
  }

  get isOpen(): boolean {
    return !this.finished;
  }

  private assertOpen(): void {
    if (this.finished) throw new Error("transaction already finished");
  }
}

export class MapHandle {
  /** Writes in this transaction: value, or null for a deletion. */
  private readonly writes: MapWrites = new Map();
  /** clear() was called: committed entries are invisible to this transaction. */
  private cleared = false;

  constructor(
    readonly name: string,
    private readonly tx: Tx,
  ) {}

  get(key: Uint8Array): Buffer | undefined {
    this.tx.counts.reads++;
    return this.lookup(keyString(key))?.value;
  }

  has(key: Uint8Array): boolean {
    this.tx.counts.reads++;
    return this.lookup(keyString(key)) !== undefined;
  }

  /** CCF's getVersionOfPreviousWrite: seqno of the key's last committed write, as of the tx's read version (its own writes aside). */
  getVersionOfPreviousWrite(key: Uint8Array): number | undefined {
    return this.tx.committedState(this.name)?.entries.get(keyString(key))?.version;
  }

  set(key: Uint8Array, value: Uint8Array): void {
    this.assertWritable("set");
    this.tx.counts.writes++;
    // A copy, so the caller may reuse its buffer; the store makes its own when it applies it.
    this.writes.set(keyString(key), Buffer.from(value));
  }

  delete(key: Uint8Array): boolean {
    this.assertWritable("delete");
    this.tx.counts.writes++;
    const k = keyString(key);
    const existed = this.lookup(k) !== undefined;
    this.writes.set(k, null);
    return existed;
  }

  clear(): void {
    this.assertWritable("clear");
    this.writes.clear();
    this.cleared = true;
  }

  get size(): number {
    let count = 0;
    this.forEachEntry(() => count++);
    return count;
  }

  /** CCF's argument order: value first, then key. */
  forEach(callback: (value: Buffer, key: Buffer) => void): void {
    this.forEachEntry((key, value) => callback(value, Buffer.from(key, "latin1")));
  }

  /** Writes to commit; a clear becomes deletions of every committed key not re-set. */
  collectWrites(): MapWrites {
    if (!this.cleared) return this.writes;
    const result: MapWrites = new Map();
    const committed = this.tx.committedState(this.name);
    if (committed) for (const key of committed.entries.keys()) result.set(key, null);
    for (const [key, value] of this.writes) {
      if (value !== null) result.set(key, value);
    }
    return result;
  }

  private lookup(key: KeyString): { value: Buffer } | undefined {
    const written = this.writes.get(key);
    if (written !== undefined) return written === null ? undefined : { value: written };
    if (this.cleared) return undefined;
    return this.tx.committedState(this.name)?.entries.get(key);
  }

  private forEachEntry(visit: (key: KeyString, value: Buffer) => void): void {
    if (!this.cleared) {
      const committed = this.tx.committedState(this.name);
      if (committed) {
        for (const [key, entry] of committed.entries) {
          if (!this.writes.has(key)) visit(key, entry.value);
        }
      }
    }
    for (const [key, value] of this.writes) {
      if (value !== null) visit(key, value);
    }
  }

  private assertWritable(operation: string): void {
    if (this.tx.readOnly) throw new ReadOnlyError(`Cannot call ${operation} on read-only map ${this.name}`);
    if (!this.tx.isOpen) throw new Error("transaction already finished");
  }
}
