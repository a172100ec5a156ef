// How to take back the store's applied but uncommitted transactions, newest
// first. Recorded on every apply, so it is kept flat: parallel arrays appended
// to (no object per write), and a committed prefix dropped by moving a start
// index, compacting only once it is most of the arrays.
import type { SeqNo } from "../ids.ts";
import type { KeyString } from "./write-set.ts";

/** What the undo log needs of a map's state (the store's MapState). */
export interface UndoableMap<V> {
  readonly entries: Map<KeyString, V>;
  lastWriteVersion: SeqNo;
}

/** How one transaction changed the store, as undo() hands it back. */
export interface TxUndo<M> {
  /** The store's byte count before it. */
  bytes: number;
  /** Maps it created (to delete). */
  created: string[];
  /** Maps it touched and their lastWriteVersion before it. */
  touched: Array<{ state: M; lastWriteVersion: SeqNo }>;
}

export class UndoLog<V, M extends UndoableMap<V>> {
  // One row per transaction: its seqno, byte count before it, where its writes and maps start.
  private txSeqnos: SeqNo[] = [];
  private txBytes: number[] = [];
  private txWriteStart: number[] = [];
  private txMapStart: number[] = [];
  // One row per write: the map, the key, the value it replaced.
  private writeStates: M[] = [];
  private writeKeys: KeyString[] = [];
  private writePrevious: Array<V | undefined> = [];
  // One row per map a transaction wrote: the map, its name, its lastWriteVersion before, whether it was created.
  private mapStates: M[] = [];
  private mapNames: string[] = [];
  private mapVersions: SeqNo[] = [];
  private mapCreated: boolean[] = [];
  /** Rows before this are committed (dropped, not yet compacted away). */
  private firstTx = 0;

  get oldestSeqno(): SeqNo | undefined {
    return this.txSeqnos[this.firstTx];
  }

  get newestSeqno(): SeqNo | undefined {
    return this.txSeqnos.length > this.firstTx ? this.txSeqnos.at(-1) : undefined;
  }

  beginTx(seqno: SeqNo, bytes: number): void {
    this.txSeqnos.push(seqno);
    this.txBytes.push(bytes);
    this.txWriteStart.push(this.writeStates.length);
    this.txMapStart.push(this.mapStates.length);
  }

  /** Call before the map's lastWriteVersion changes. */
  map(name: string, state: M, created: boolean): void {
    this.mapStates.push(state);
    this.mapNames.push(name);
    this.mapVersions.push(state.lastWriteVersion);
    this.mapCreated.push(created);
  }

  /** Call before the write replaces `previous`. */
  write(state: M, key: KeyString, previous: V | undefined): void {
    this.writeStates.push(state);
    this.writeKeys.push(key);
    this.writePrevious.push(previous);
  }

  /** Forgets the transactions up to `seqno`: they are committed. */
  dropThrough(seqno: SeqNo): void {
    while (this.firstTx < this.txSeqnos.length && this.txSeqnos[this.firstTx]! <= seqno) this.firstTx++;
    if (this.firstTx === this.txSeqnos.length) this.clear();
    else if (this.firstTx > 1024 && this.firstTx * 2 > this.txSeqnos.length) this.compact();
  }

  /**
   * Undoes the newest transaction's writes in its maps (newest write first) and returns the rest
   * of what to restore; undefined if there is none.
   */
  undoNewest(): TxUndo<M> | undefined {
    if (this.txSeqnos.length === this.firstTx) return undefined;
    const writeStart = this.txWriteStart.pop()!;
    const mapStart = this.txMapStart.pop()!;
    this.txSeqnos.pop();
    const bytes = this.txBytes.pop()!;
    for (let i = this.writeStates.length - 1; i >= writeStart; i--) {
      const state = this.writeStates[i]!;
      const key = this.writeKeys[i]!;
      const previous = this.writePrevious[i];
      if (previous === undefined) state.entries.delete(key);
      else state.entries.set(key, previous);
    }
    this.writeStates.length = this.writeKeys.length = this.writePrevious.length = writeStart;
    const created: string[] = [];
    const touched: TxUndo<M>["touched"] = [];
    for (let i = mapStart; i < this.mapStates.length; i++) {
      if (this.mapCreated[i]) created.push(this.mapNames[i]!);
      else touched.push({ state: this.mapStates[i]!, lastWriteVersion: this.mapVersions[i]! });
    }
    this.mapStates.length = this.mapNames.length = this.mapVersions.length = this.mapCreated.length = mapStart;
    return { bytes, created, touched };
  }

  private clear(): void {
    this.txSeqnos = [];
    this.txBytes = [];
    this.txWriteStart = [];
    this.txMapStart = [];
    this.writeStates = [];
    this.writeKeys = [];
    this.writePrevious = [];
    this.mapStates = [];
    this.mapNames = [];
    this.mapVersions = [];
    this.mapCreated = [];
    this.firstTx = 0;
  }

  /** Removes the committed rows, shifting the start indexes of the rest. */
  private compact(): void {
    const first = this.firstTx;
    const writeShift = this.txWriteStart[first]!;
    const mapShift = this.txMapStart[first]!;
    this.txSeqnos = this.txSeqnos.slice(first);
    this.txBytes = this.txBytes.slice(first);
    this.txWriteStart = this.txWriteStart.slice(first).map((start) => start - writeShift);
    this.txMapStart = this.txMapStart.slice(first).map((start) => start - mapShift);
    this.writeStates = this.writeStates.slice(writeShift);
    this.writeKeys = this.writeKeys.slice(writeShift);
    this.writePrevious = this.writePrevious.slice(writeShift);
    this.mapStates = this.mapStates.slice(mapShift);
    this.mapNames = this.mapNames.slice(mapShift);
    this.mapVersions = this.mapVersions.slice(mapShift);
    this.mapCreated = this.mapCreated.slice(mapShift);
    this.firstTx = 0;
  }
}
