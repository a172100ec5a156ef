// The commit pipeline's decisions, with no I/O: which tx id the next entry gets,
// when a signature is due, when a snapshot is due, what a durable signature or
// a commit from the commit source means, and what a rollback takes back. Each
// input returns the effects the driver (History) performs: append, sync, sign,
// snapshot, mark committed, truncate. So the same decisions run in the node and
// under a seeded simulation, and consensus can own "committed" by being the
// commit source.
import { seqNo, type SeqNo, type TxId, type View } from "../ids.ts";

/** What the driver does, in the order given. */
export type PipelineEffect =
  /** Make the ledger durable through `seqno` (a signature): report it back with durable(). */
  | { type: "sync"; seqno: SeqNo }
  /** Append a signature transaction now. */
  | { type: "sign" }
  /** Snapshot the state at signature `seqno`. */
  | { type: "snapshot"; seqno: SeqNo }
  /** Everything through `seqno` is committed: tell the store, the ledger and those waiting. */
  | { type: "commit"; seqno: SeqNo }
  /** Take back every entry after `seqno` (store, ledger, Merkle tree). */
  | { type: "truncate"; seqno: SeqNo }
  /** Whether the signature timer keeps the process alive (entries await a signature). */
  | { type: "keepAlive"; on: boolean };

/**
 * Decides what is committed. One node commits what its own fsync made durable; in a network,
 * consensus commits a signature once a majority holds it, and calls advanceCommit() itself.
 */
export interface CommitSource {
  /** The ledger is durable through signature `seqno`: the seqno this commits, if any. */
  durable(seqno: SeqNo): SeqNo | undefined;
}

/** One node on its own: durable is committed. */
export const localCommit: CommitSource = { durable: (seqno) => seqno };

export interface PipelineOptions {
  view: View;
  /** Last seqno in the ledger and store. */
  lastSeqno: SeqNo;
  /** Last committed seqno (everything replayed is). */
  committedSeqno: SeqNo;
  signatureIntervalTx: number;
  /** Snapshots every this many transactions; Infinity for none. */
  snapshotIntervalTx: number;
  /** Seqno of the snapshot the state came from, or of the last one taken. */
  lastSnapshotSeqno: number;
  commitSource?: CommitSource;
}

export class CommitPipeline {
  private currentView: View;
  private last: SeqNo;
  private committed: SeqNo;
  /** Entries appended since the last signature. */
  private unsigned = 0;
  private readonly signatureIntervalTx: number;
  private readonly snapshotIntervalTx: number;
  private lastSnapshotSeqno: number;
  private snapshotRequested = false;
  private ledgerBytesSinceSnapshot = 0;
  private readonly commitSource: CommitSource;

  constructor(options: PipelineOptions) {
    this.currentView = options.view;
    this.last = options.lastSeqno;
    this.committed = options.committedSeqno;
    this.signatureIntervalTx = options.signatureIntervalTx;
    this.snapshotIntervalTx = options.snapshotIntervalTx;
    this.lastSnapshotSeqno = options.lastSnapshotSeqno;
    this.commitSource = options.commitSource ?? localCommit;
    if (this.committed > this.last) throw new RangeError(`committed seqno ${this.committed} is past the last seqno ${this.last}`);
  }

  get view(): View {
    return this.currentView;
  }

  get lastSeqno(): SeqNo {
    return this.last;
  }

  get committedSeqno(): SeqNo {
    return this.committed;
  }

  /** Entries appended since the last signature. */
  get unsignedCount(): number {
    return this.unsigned;
  }

  /** The tx id the next entry gets. */
  nextTxId(): TxId {
    return { view: this.currentView, seqno: seqNo(this.last + 1) };
  }

  /** An entry of `frameBytes` was appended at nextTxId(). */
  appended(frameBytes: number, isSignature: boolean, options: { signWhenDue?: boolean } = {}): PipelineEffect[] {
    this.last = seqNo(this.last + 1);
    this.ledgerBytesSinceSnapshot += frameBytes;
    if (isSignature) {
      this.unsigned = 0;
      return [{ type: "keepAlive", on: false }, { type: "sync", seqno: this.last }];
    }
    this.unsigned++;
    if (options.signWhenDue !== false && this.unsigned >= this.signatureIntervalTx) return [{ type: "sign" }];
    // While entries await a signature, the timer keeps the process alive to sign them.
    return this.unsigned === 1 ? [{ type: "keepAlive", on: true }] : [];
  }

  /**
   * After a signature at `seqno` was appended: a snapshot there if one was asked for, or if
   * CCF's rule (every snapshotIntervalTx transactions) holds and the ledger has grown by as
   * many bytes as the store holds (a snapshot costs time proportional to the store: this keeps
   * its cost per written byte bounded however large the store grows, log compaction's rule).
   */
  snapshotAfterSignature(seqno: SeqNo, storeBytes: number, allowed: boolean): PipelineEffect[] {
    if (!allowed) return [];
    const due = seqno - this.lastSnapshotSeqno >= this.snapshotIntervalTx && this.ledgerBytesSinceSnapshot >= storeBytes;
    if (!this.snapshotRequested && !due) return [];
    return [{ type: "snapshot", seqno }];
  }

  /** A snapshot is being taken at `seqno`. */
  snapshotTaken(seqno: SeqNo): void {
    this.snapshotRequested = false;
    this.lastSnapshotSeqno = seqno;
    this.ledgerBytesSinceSnapshot = 0;
  }

  /** CCF's trigger_snapshot: a snapshot at the next signature. */
  requestSnapshot(): void {
    this.snapshotRequested = true;
  }

  /** The signature timer fired. */
  timerFired(): PipelineEffect[] {
    return this.unsigned > 0 ? [{ type: "sign" }] : [];
  }

  /** The ledger is durable through signature `seqno`. */
  durable(seqno: SeqNo): PipelineEffect[] {
    const commit = this.commitSource.durable(seqno);
    return commit === undefined ? [] : this.advanceCommit(commit);
  }

  /** The commit source says everything through `seqno` is committed. */
  advanceCommit(seqno: SeqNo): PipelineEffect[] {
    if (seqno <= this.committed) return [];
    if (seqno > this.last) throw new RangeError(`cannot commit seqno ${seqno}: the last seqno is ${this.last}`);
    this.committed = seqno;
    return [{ type: "commit", seqno }];
  }

  /**
   * Takes back every entry after `seqno`, which must not be below the committed seqno;
   * `lastSignatureSeqno` is the last signature at or before it (0 if none).
   */
  rollback(seqno: SeqNo, lastSignatureSeqno: number): PipelineEffect[] {
    if (seqno < this.committed) throw new RangeError(`cannot roll back to seqno ${seqno}: seqno ${this.committed} is committed`);
    if (lastSignatureSeqno > seqno) throw new RangeError(`signature ${lastSignatureSeqno} is after the rollback point ${seqno}`);
    if (seqno >= this.last) return [];
    this.last = seqno;
    this.unsigned = seqno - lastSignatureSeqno;
    return [{ type: "truncate", seqno }, { type: "keepAlive", on: this.unsigned > 0 }];
  }

  /** A new view starts (a restart, or an election): later entries carry it. */
  startView(view: View): void {
    if (view <= this.currentView) throw new RangeError(`view ${view} does not follow view ${this.currentView}`);
    this.currentView = view;
  }
}
