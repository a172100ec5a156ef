// The key-value store: named maps of byte keys to byte values, each value
// tagged with the seqno of the transaction that last wrote it.
//
// Transactions (tx.ts) read it and collect writes; the commit pipeline assigns a
// seqno and calls apply(). Applied is not yet committed: until the commit source
// (the node's own fsync, or consensus) says a seqno is committed, the store keeps
// how to undo it, so a backup or a deposed primary can roll back what was never
// committed.
import { seqNo, type SeqNo } from "../ids.ts";
import { forEachEncodedWrite, type EncodedEntryWrites, type EncodedWriteVisitor, type KeyString, type ReadonlyWriteSet } from "./write-set.ts";
import { Tx } from "./tx.ts";
import { UndoLog } from "./undo-log.ts";
import { needsCompaction, ValueSlabs } from "./value-slabs.ts";

export interface VersionedValue {
  readonly value: Buffer;
  readonly version: SeqNo;
}

export class MapState {
  readonly entries = new Map<KeyString, VersionedValue>();
  /** Seqno of the last committed write (including deletions) to this map: drives conflict detection. */
  lastWriteVersion: SeqNo = seqNo(0);
}

/** Stands in for "no map yet" in the undo log (a created map is deleted on undo, not restored). */
const EMPTY_MAP = new MapState();

export class Store {
  private readonly maps = new Map<string, MapState>();
  private version: SeqNo = seqNo(0);
  private bytes = 0;
  private slabs = new ValueSlabs();
  /** How to take back the applied, not yet committed transactions. */
  private readonly undo = new UndoLog<VersionedValue, MapState>();
  /** The store cannot roll back below this seqno (it is committed). */
  private committedFloor: SeqNo = seqNo(0);
  /** Rollbacks so far: a transaction that began before one read state that may no longer exist. */
  private rollbacks = 0;

  /** Seqno of the last transaction applied to the store (0 when empty). */
  get lastSeqno(): SeqNo {
    return this.version;
  }

  /** Bytes of all keys and values: what a snapshot of the store costs. */
  get byteCount(): number {
    return this.bytes;
  }

  /** Bytes of memory allocated to hold the values (live ones, and garbage until the next compaction). */
  get valueMemoryBytes(): number {
    return this.slabs.allocatedBytes;
  }

  /** A read-write transaction reading the state as of now. */
  begin(): Tx {
    return new Tx(this, this.version, false);
  }

  /** A transaction whose maps refuse writes (CCF's read-only endpoints). */
  beginReadOnly(): Tx {
    return new Tx(this, this.version, true);
  }

  mapState(name: string): MapState | undefined {
    return this.maps.get(name);
  }

  mapNames(): string[] {
    return [...this.maps.keys()];
  }

  /** Applies a write set at `seqno`, which must be the next seqno; it can be rolled back until committed. */
  apply(writes: ReadonlyWriteSet, seqno: SeqNo): void {
    this.expectNext(seqno);
    this.undo.beginTx(seqno, this.bytes);
    for (const [name, mapWrites] of writes) {
      const existing = this.maps.get(name);
      this.undo.map(name, existing ?? EMPTY_MAP, existing === undefined);
      const state = this.touch(name, seqno);
      for (const [key, value] of mapWrites) {
        this.undo.write(state, key, state.entries.get(key));
        this.write(state, key, value, seqno);
      }
    }
    this.advanceTo(seqno);
  }

  /** Seqnos up to `seqno` are committed: they can no longer be rolled back. */
  markCommitted(seqno: SeqNo): void {
    if (seqno > this.version) throw new Error(`store at seqno ${this.version} cannot mark seqno ${seqno} committed`);
    if (seqno <= this.committedFloor) return;
    this.committedFloor = seqno;
    this.undo.dropThrough(seqno);
  }

  /** The lowest seqno the store can roll back to. */
  get committedSeqno(): SeqNo {
    return this.committedFloor;
  }

  /** Takes back every applied transaction after `seqno` (which must not be below the committed seqno). */
  rollback(seqno: SeqNo): void {
    if (seqno < this.committedFloor || seqno > this.version) {
      throw new Error(`store cannot roll back to seqno ${seqno}: it holds ${this.committedFloor}..${this.version} (committed up to ${this.committedFloor})`);
    }
    if (seqno === this.version) return;
    while ((this.undo.newestSeqno ?? 0) > seqno) {
      const undone = this.undo.undoNewest()!;
      for (const name of undone.created) this.maps.delete(name);
      for (const { state, lastWriteVersion } of undone.touched) state.lastWriteVersion = lastWriteVersion;
      this.bytes = undone.bytes;
    }
    this.version = seqno;
    this.rollbacks++;
  }

  /** Counts rollbacks: a transaction compares it with the count when it began. */
  get rollbackCount(): number {
    return this.rollbacks;
  }

  /**
   * Applies a committed entry's encoded write sets (the private one decrypted) at
   * `seqno` as apply() would the decoded ones, without building them and keeping no
   * undo record: replay's path. Malformed bytes throw WriteSetFormatError after part
   * of them is applied, so a caller that gets that error must discard the store.
   */
  applyEncoded(encoded: EncodedEntryWrites, seqno: SeqNo): void {
    this.expectNext(seqno);
    if (this.undo.newestSeqno !== undefined) throw new Error(`store cannot apply committed seqno ${seqno} after uncommitted ones`);
    const visitor = new Store.EncodedWriteApplier(this, seqno);
    forEachEncodedWrite(encoded.public, "public", visitor);
    if (encoded.private) forEachEncodedWrite(encoded.private, "private", visitor);
    this.advanceTo(seqno);
    this.committedFloor = seqno;
  }

  /** applyEncoded's visitor: one small object per entry (closures measured slower, as slow as building the WriteSet). */
  private static readonly EncodedWriteApplier = class implements EncodedWriteVisitor {
    private state: MapState | undefined;
    constructor(
      private readonly store: Store,
      private readonly seqno: SeqNo,
    ) {}
    map(name: string): void {
      this.state = this.store.touch(name, this.seqno);
    }
    write(key: KeyString, value: Buffer | null): void {
      this.store.write(this.state!, key, value, this.seqno);
    }
  };

  private expectNext(seqno: SeqNo): void {
    if (seqno !== this.version + 1) {
      throw new Error(`store at seqno ${this.version} cannot apply seqno ${seqno}`);
    }
  }

  /** The map about to be written at `seqno` (created if new). */
  private touch(name: string, seqno: SeqNo): MapState {
    let state = this.maps.get(name);
    if (!state) {
      state = new MapState();
      this.maps.set(name, state);
    }
    state.lastWriteVersion = seqno;
    return state;
  }

  private write(state: MapState, key: KeyString, value: Buffer | null, seqno: SeqNo): void {
    const previous = state.entries.get(key);
    if (previous) this.bytes -= key.length + previous.value.length;
    if (value === null) state.entries.delete(key);
    else {
      state.entries.set(key, { value: this.slabs.copy(value), version: seqno });
      this.bytes += key.length + value.length;
    }
  }

  private advanceTo(seqno: SeqNo): void {
    this.version = seqno;
    if (needsCompaction(this.slabs, this.bytes)) this.compact();
  }

  /** Copies every live value into fresh slabs, leaving the garbage of overwritten values behind. */
  private compact(): void {
    this.slabs = new ValueSlabs();
    for (const state of this.maps.values()) {
      for (const [key, entry] of state.entries) state.entries.set(key, { value: this.slabs.copy(entry.value), version: entry.version });
    }
  }

  /** Moves the store's version forward without writes (a committed snapshot's seqno, after loading its maps). */
  setVersion(seqno: SeqNo): void {
    this.version = seqno;
    this.committedFloor = seqno;
    for (const state of this.maps.values()) state.lastWriteVersion = seqno;
  }

  /** Replaces one map's content wholesale (used when loading a snapshot). */
  loadMap(name: string, entries: Iterable<[KeyString, VersionedValue]>): void {
    const previous = this.maps.get(name);
    if (previous) for (const [key, { value }] of previous.entries) this.bytes -= key.length + value.length;
    const state = new MapState();
    for (const [key, entry] of entries) {
      state.entries.set(key, { value: this.slabs.copy(entry.value), version: entry.version });
      this.bytes += key.length + entry.value.length;
    }
    this.maps.set(name, state);
  }
}
