// The driver of a node's commit pipeline: a committed transaction becomes one
// ledger entry (public writes in clear, private writes sealed), one Merkle leaf
// and an update of the store; every N transactions or T ms a signature
// transaction signs the Merkle root, and once the commit source says so (for one
// node: the fsync covering it returned), everything up to it is Committed. The
// decisions are pipeline.ts's; this performs their effects. Execution is
// synchronous; only durability is awaited.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { replaceFileDurably } from "../durable.ts";
import { CcfError, ErrorCode, NotPrimaryError } from "../errors.ts";
import { LedgerSecret } from "../crypto/ledger-secret.ts";
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import { signDigest } from "../crypto/digest-signature.ts";
import { formatTxId, view as toView, type SeqNo, type TxId, type TxStatus, type View } from "../ids.ts";
import type { Store } from "../kv/store.ts";
import type { Tx } from "../kv/tx.ts";
import { encodeWriteSet, splitByDomain, writeSetBytes, type WriteSet } from "../kv/write-set.ts";
import { decodeFrame, encodeFrameInto, type DecodedEntry, frameBytesOf, leafInputOf, NO_PRIVATE_WRITES, txIdBytes, type NewEntry } from "../ledger/entry.ts";
import { EntryNotHeldError, Ledger } from "../ledger/ledger.ts";
import { FileLedgerStorage, type LedgerStorage } from "../ledger/storage.ts";
import { MERKLE_LEAVES_IN_MEMORY, PENDING_SNAPSHOTS_MAX, SIGNATURE_INTERVAL_MS, SIGNATURE_INTERVAL_TX, SNAPSHOT_INTERVAL_TX, TX_WRITE_BYTES_MAX } from "../limits.ts";
import { serviceKeyId, signMerkleRoot } from "../merkle/cose-receipt.ts";
import type { MerkleTree } from "../merkle/tree.ts";
import type { Receipt } from "../merkle/receipt.ts";
import { lowerBound } from "../sorted.ts";
import { buildReceipts, ledgerBlockLoader, type Receipts } from "./receipts.ts";
import { CommitPipeline, type CommitSource, type PipelineEffect } from "./pipeline.ts";
import { checkBeforeSnapshot, type PreSnapshotCheck } from "./pre-snapshot-check.ts";
import { checkCommitEvidence, entryCheckFailure, entryWrites, replayLedger } from "./replay.ts";
import type { LedgerVerifier } from "./verifier.ts";
import { signatureWrites, type SignatureRecord } from "./signatures.ts";
import {
  commitSnapshot,
  encodeSnapshot,
  evidenceWrites,
  loadLatestSnapshot,
  snapshotDigest,
  writePendingSnapshot,
  type SnapshotState,
} from "./snapshots.ts";

/** The node identity that signs the Merkle root. */
export interface Signer {
  nodeId: string;
  /** Node certificate (PEM), endorsed by the service key. */
  certPem: string;
  privateKeyPem: string;
}

export interface HistoryOptions {
  ledgerDir: string;
  /** Where the ledger's files are: the files in ledgerDir unless a simulation passes its in-memory twin. */
  storage?: LedgerStorage;
  /** The service's ledger secrets; entries whose secret is missing (a recovering node's old ledger) are replayed public domain only. */
  secrets: LedgerSecrets;
  signer: Signer;
  /** Service certificate: every signature found at replay must come from a node it endorsed (and COSE signatures from its key). */
  serviceCertPem?: string;
  /**
   * A recovered service's earlier identities (a joiner is handed them): a snapshot whose evidence a node
   * of one of them signed is accepted, and so are the entries such nodes signed.
   */
  previousServiceCertPems?: readonly string[];
  /** The service key: each signature transaction also carries its COSE signature over the root, for COSE receipts. */
  serviceKey?: { privateKeyPem: string };
  signatureIntervalTx?: number;
  signatureIntervalMs?: number;
  chunkBytes?: number;
  merkleLeavesInMemory?: number;
  /** Records the current view durably, so views never repeat even if a crash leaves nothing in the ledger. */
  viewFile?: string;
  /** Where snapshots are written and loaded from; no snapshots without it. */
  snapshotsDir?: string;
  snapshotIntervalTx?: number;
  log?: (message: string) => void;
  /** Time and timers (the signature interval): the system clock unless a simulation passes its own. */
  clock?: Clock;
  /** What decides that a durable signature is committed: the node's own fsync unless given (consensus). */
  commitSource?: CommitSource;
  /**
   * "primary" (the default): the node orders and signs entries, and a restart starts a new view signed
   * at once. "backup": consensus owns views; the node appends only what its primary replicates
   * (appendReplicated) until consensus makes it primary (becomePrimary).
   */
  startAs?: HistoryRole;
  /**
   * Disaster recovery (CCF's command.type "Recover"): the ledger is of a lost service whose ledger
   * secrets are not here. Its public domain is replayed (no snapshot, no endorsement check: the
   * members approve the previous identity), and the entries this node appends get a new secret.
   */
  recovering?: boolean;
  /**
   * The new ledger secret a replicated entry hands this node (a rekey on the primary), if any: the
   * entries after it are sealed with it. Throws if the entry hands one that does not open: the entry is refused.
   */
  rekeyedBy?: (writes: WriteSet) => LedgerSecret | undefined;
  /** Told of every entry this node appends as primary (transactions, signatures, snapshot evidence), once it is applied: consensus replicates them. */
  onAppended?: (entry: AppendedEntry) => void;
}

/** An entry the primary appended: its tx id, whether it is a signature, and what it wrote. */
export interface AppendedEntry {
  view: View;
  seqno: SeqNo;
  isSignature: boolean;
  writes: WriteSet;
}

/** Whether this node orders and signs entries (primary) or appends those its primary replicates (backup). */
export type HistoryRole = "primary" | "backup";

/** What a backup learns from a replicated entry, for consensus. */
export interface ReplicatedEntry {
  view: View;
  seqno: SeqNo;
  isSignature: boolean;
}

/** Entries read at once when a recovered node restores its private state. */
const RESTORE_BATCH = 1024;

export class NotCommittedError extends Error {}

/** A replicated entry failed its checks: it was not appended. */
export class ReplicationError extends Error {}

function readView(file: string | undefined): number {
  if (file === undefined || !existsSync(file)) return 0;
  const view = Number(readFileSync(file, "utf8").trim());
  if (!Number.isSafeInteger(view) || view < 0) throw new Error(`${file} does not hold a view number`);
  return view;
}

export class History {
  private readonly ledger: Ledger;
  private readonly tree: MerkleTree;
  private readonly signatureSeqnos: number[];
  private readonly signaturesCompleteFrom: number;
  private readonly viewStarts: Array<{ view: number; seqno: number }>;
  private readonly leavesInMemory: number;
  private readonly pipeline: CommitPipeline;
  /** While opening and closing: signatures take no snapshot. */
  private snapshotsPaused = false;
  /** Snapshots written but not yet completed (their evidence is not committed yet). */
  private readonly pendingSnapshots = new Set<Promise<void>>();
  private readonly commitWaiters: Array<{ seqno: number; resolve: () => void; reject: (error: Error) => void }> = [];
  private timer: Timer | undefined;
  private failure: Error | undefined;
  /** close() has begun: no new snapshots; the last signature is on its way. */
  private closing = false;
  /** Closed or abandoned: nothing more is written. */
  private stopped = false;
  /** Stopped as by a crash: nothing more is marked committed or completed. */
  private abandoned = false;
  /** The background check of the entries behind the snapshot the node started from (none: nothing to check). */
  private preSnapshot: PreSnapshotCheck | undefined;
  private preSnapshotPass: Promise<void> = Promise.resolve();
  /** Rollbacks so far: a sync begun before one reports nothing. */
  private rollbacks = 0;
  /** The ledger truncation of the last rollback (resolved when there is none). */
  private truncation: Promise<void> = Promise.resolve();
  private truncating = false;
  private role: HistoryRole;
  /** Checks replicated entries as replay does; its tree and signature list are this history's. */
  private readonly verifier: LedgerVerifier;

  private constructor(
    readonly store: Store,
    private readonly options: HistoryOptions,
    private readonly storage: LedgerStorage,
    parts: ReturnType<typeof replayLedger>,
  ) {
    this.verifier = parts.verifier;
    this.tree = parts.verifier.tree;
    this.signatureSeqnos = parts.verifier.signatureSeqnos;
    this.role = options.startAs ?? "primary";
    this.signaturesCompleteFrom = parts.signaturesCompleteFrom;
    this.viewStarts = parts.viewStarts;
    this.ledger = new Ledger(storage, parts.chunks, store.lastSeqno + 1, {
      ...(options.chunkBytes === undefined ? {} : { chunkBytes: options.chunkBytes }),
      // A failed background write stops the node's writes at once, not at the next commit.
      onWriteError: (error) => this.fail(error),
    });
    this.leavesInMemory = options.merkleLeavesInMemory ?? MERKLE_LEAVES_IN_MEMORY;
    // Everything replayed was covered by a durable signature.
    store.markCommitted(store.lastSeqno);
    const lastView = Math.max(this.viewStarts.at(-1)?.view ?? 0, parts.lastViewSeen, readView(options.viewFile));
    this.pipeline = new CommitPipeline({
      // A restarted primary starts a new view, so a Pending tx id lost in a crash is never reused;
      // a backup keeps the last one it saw until consensus moves it.
      view: toView(this.role === "primary" ? lastView + 1 : lastView),
      lastSeqno: store.lastSeqno,
      committedSeqno: store.lastSeqno,
      signatureIntervalTx: options.signatureIntervalTx ?? SIGNATURE_INTERVAL_TX,
      snapshotIntervalTx: options.snapshotsDir === undefined ? Infinity : (options.snapshotIntervalTx ?? SNAPSHOT_INTERVAL_TX),
      lastSnapshotSeqno: store.lastSeqno,
      ...(options.commitSource ? { commitSource: options.commitSource } : {}),
    });
  }

  /** Replays the ledger in `ledgerDir` (creating it if absent) and opens it for appending. */
  static async open(options: HistoryOptions): Promise<History> {
    const storage = options.storage ?? new FileLedgerStorage(options.ledgerDir);
    if (!options.storage) mkdirSync(options.ledgerDir, { recursive: true });
    const log = options.log ?? ((message: string) => console.warn(message));
    let snapshot: SnapshotState | undefined;
    if (options.snapshotsDir !== undefined) {
      // A recovering node writes snapshots too (once its private state is restored), but starts from none.
      mkdirSync(options.snapshotsDir, { recursive: true });
      if (options.serviceCertPem !== undefined && !options.recovering) {
        const serviceCertPems = [options.serviceCertPem, ...(options.previousServiceCertPems ?? [])];
        snapshot = loadLatestSnapshot(options.snapshotsDir, { secrets: options.secrets, serviceCertPems, log });
      }
    }
    // Taken before replay extends the snapshot's tree: the entries behind it must rebuild exactly this.
    const snapshotFrontier = snapshot?.tree.frontier();
    const parts = replayLedger(storage, {
      secrets: options.secrets,
      warn: log,
      ...(snapshot ? { snapshot } : {}),
      ...(options.serviceCertPem === undefined || options.recovering ? {} : { serviceCertPem: options.serviceCertPem }),
      ...(options.merkleLeavesInMemory === undefined ? {} : { merkleLeavesInMemory: options.merkleLeavesInMemory }),
    });
    if (options.recovering) {
      options.secrets.add(parts.store.lastSeqno + 1, LedgerSecret.generate());
      if (options.serviceCertPem !== undefined) parts.verifier.trustServiceIdentity(options.serviceCertPem);
    }
    for (const pem of options.previousServiceCertPems ?? []) parts.verifier.trustServiceIdentity(pem);
    const history = new History(parts.store, options, storage, parts);
    // Durable before any tx id of the view is handed out: even if nothing of this view reaches the
    // ledger before a crash, the next start picks a later view.
    if (options.viewFile !== undefined) replaceFileDurably(options.viewFile, `${history.view}\n`);
    if (history.tree.size > 0 && history.role === "primary") {
      // Sign the new view before serving, as a new CCF primary does (no snapshot: the state was just loaded).
      history.snapshotsPaused = true;
      await history.waitForCommit(history.emitSignature());
      history.snapshotsPaused = false;
    }
    history.timer = (options.clock ?? systemClock).every(options.signatureIntervalMs ?? SIGNATURE_INTERVAL_MS, () => {
      if (!history.failure && !history.truncating && history.role === "primary") history.perform(history.pipeline.timerFired());
    });
    history.timer.unref();
    if (snapshot) history.checkBeforeSnapshot(snapshot.seqno, snapshotFrontier!, log);
    return history;
  }

  /** Starts the background check of entries 1..snapshotSeqno, which replay skipped. */
  private checkBeforeSnapshot(snapshotSeqno: number, snapshotFrontier: Buffer, log: (message: string) => void): void {
    if (this.ledger.firstSeqno > snapshotSeqno) {
      this.preSnapshot = { state: "notHeld", snapshotSeqno };
      return;
    }
    this.preSnapshot = { state: "checking" };
    this.preSnapshotPass = checkBeforeSnapshot(this.storage, {
      secrets: this.options.secrets,
      snapshotSeqno,
      snapshotFrontier,
      stopped: () => this.closing,
      ...(this.options.serviceCertPem === undefined ? {} : { serviceCertPem: this.options.serviceCertPem }),
    }).then((outcome) => {
      this.preSnapshot = outcome;
      if (outcome.state === "damaged") {
        log(`ledger: the entries behind snapshot ${snapshotSeqno} fail verification: ${outcome.error.message}; the node is unhealthy (receipts and historical state of damaged entries are refused)`);
      }
    });
  }

  /**
   * Takes back every entry after `seqno` (not below the committed seqno) and starts a new view, as a
   * backup or a deposed primary does when consensus says its suffix was never committed: the store,
   * the Merkle tree and the ledger forget them, those waiting for them are told, and their tx ids
   * read Invalid from then on. Resolves once the ledger's truncation is durable.
   */
  async rollback(seqno: SeqNo): Promise<void> {
    this.assertWritable();
    if (seqno > this.lastSeqno) throw new RangeError(`cannot roll back to seqno ${seqno}: the last seqno is ${this.lastSeqno}`);
    const lastSignature = this.signatureSeqnos[lowerBound(this.signatureSeqnos, seqno + 1, (s) => s) - 1] ?? 0;
    const effects = this.pipeline.rollback(seqno, lastSignature);
    if (effects.length === 0) return; // nothing after seqno
    this.perform(effects);
    // Past a rollback the node is in a later view, so the rolled-back tx ids read Invalid (a primary
    // of that view, or this node elected, then takes it; views never go back).
    this.pipeline.startView(toView(this.view + 1));
    if (this.options.viewFile !== undefined) replaceFileDurably(this.options.viewFile, `${this.view}\n`);
    await this.truncation;
  }

  /** The commit source (consensus) says everything through `seqno` is committed. */
  advanceCommit(seqno: SeqNo): void {
    this.perform(this.pipeline.advanceCommit(seqno));
  }

  /** Whether this node orders and signs entries or appends what its primary replicates. */
  get currentRole(): HistoryRole {
    return this.role;
  }

  /**
   * Consensus elected this node primary of `view`: later entries carry it, and the caller signs
   * at once (a new primary's first entry is a signature in its view, which commits what came before).
   */
  becomePrimary(view: View): void {
    this.assertWritable();
    // Equal when a rollback just before the election moved this node to `view` already.
    if (view !== this.pipeline.view) this.pipeline.startView(view);
    if (this.options.viewFile !== undefined) replaceFileDurably(this.options.viewFile, `${view}\n`);
    this.role = "primary";
  }

  /** Consensus made this node a backup: it signs nothing and appends only replicated entries. */
  becomeBackup(): void {
    this.role = "backup";
    this.timer?.unref();
  }

  /**
   * Appends an entry its primary replicated (a backup): checked as replay checks it (framing, seqno
   * order, commit evidence at signatures, every signature against the rebuilt tree and the service's
   * endorsement, the private writes' decryption), then applied to the store, the tree and the ledger,
   * not committed until consensus says so. A bad entry throws and changes nothing.
   */
  appendReplicated(frame: Buffer): ReplicatedEntry {
    this.assertWritable();
    if (this.role !== "backup") throw new Error("only a backup appends replicated entries");
    let entry: DecodedEntry;
    try {
      entry = decodeFrame(frame);
    } catch (error) {
      throw new ReplicationError(`replicated entry after seqno ${this.lastSeqno}: ${(error as Error).message}`);
    }
    const seqno = this.lastSeqno + 1;
    if (entry.seqno !== seqno) throw new ReplicationError(`replicated entry ${entry.view}.${entry.seqno}: expected seqno ${seqno}`);
    const lastView = this.viewOf(this.lastSeqno) ?? 0;
    if (entry.view < lastView) throw new ReplicationError(`replicated entry ${entry.view}.${entry.seqno}: its view is below the last entry's view ${lastView}`);
    let writes: WriteSet;
    let rekeyedTo: LedgerSecret | undefined;
    const secret = this.options.secrets.find(seqno);
    try {
      if (secret === undefined) throw new ReplicationError(`replicated entry ${entry.view}.${entry.seqno}: this node holds no ledger secret for it`);
      if (entry.isSignature || seqno === 1) checkCommitEvidence(entry, secret);
      writes = entryWrites(entry, secret);
      rekeyedTo = this.rekeyedBy(entry, writes);
      this.verifier.add(entry);
    } catch (error) {
      const detail = entryCheckFailure(error, secret);
      if (detail === undefined) throw error;
      throw new ReplicationError(`replicated entry ${entry.view}.${entry.seqno}: ${detail}`);
    }
    if (entry.view > this.pipeline.view) this.pipeline.startView(entry.view);
    try {
      this.ledger.append(seqno, entry.isSignature, frame.length, (target) => frame.copy(target));
    } catch (error) {
      this.fail(error);
      throw error;
    }
    this.store.apply(writes, entry.seqno);
    // A node that joined after the rekey was handed the new secret with the others.
    if (rekeyedTo !== undefined && this.options.secrets.latest.version <= entry.seqno) this.options.secrets.add(entry.seqno + 1, rekeyedTo);
    if (this.viewStarts.at(-1)?.view !== entry.view) this.viewStarts.push({ view: entry.view, seqno: entry.seqno });
    this.perform(this.pipeline.appended(frame.length, entry.isSignature, { signWhenDue: false }));
    return { view: entry.view, seqno: entry.seqno, isSignature: entry.isSignature };
  }

  /** The new secret a rekey entry hands this node; before anything of the entry is kept: a part that does not open refuses it. */
  private rekeyedBy(entry: DecodedEntry, writes: WriteSet): LedgerSecret | undefined {
    try {
      return this.options.rekeyedBy?.(writes);
    } catch (error) {
      throw new ReplicationError(`replicated entry ${entry.view}.${entry.seqno}: ${(error as Error).message}`);
    }
  }

  /** The ledger frames of entries `first..last`, as stored: what a primary replicates. */
  frames(first: number, last: number): Buffer[] {
    if (first < 1 || last > this.lastSeqno || first > last) throw new RangeError(`no entries ${first}..${last} (the last seqno is ${this.lastSeqno})`);
    return this.ledger.readFrames(first, last);
  }

  /** The "truncate" effect: everything after `seqno` goes, in memory now and in the ledger files soon. */
  private takeBack(seqno: SeqNo): void {
    this.rollbacks++;
    this.store.rollback(seqno);
    // A rekey among the entries taken back is taken back with them (its secret starts at its seqno + 1).
    this.options.secrets.dropVersionsAfter(seqno + 1);
    this.tree.truncate(seqno);
    while ((this.signatureSeqnos.at(-1) ?? 0) > seqno) this.signatureSeqnos.pop();
    while ((this.viewStarts.at(-1)?.seqno ?? 0) > seqno) this.viewStarts.pop();
    let kept = 0;
    for (const waiter of this.commitWaiters) {
      if (waiter.seqno > seqno) waiter.reject(new Error(`the transaction at seqno ${waiter.seqno} was rolled back (never committed)`));
      else this.commitWaiters[kept++] = waiter;
    }
    this.commitWaiters.length = kept;
    this.truncating = true;
    this.truncation = this.ledger
      .truncate(seqno)
      .catch((error: unknown) => this.fail(error))
      .finally(() => (this.truncating = false));
  }

  /** Outcome of the check of the entries behind the snapshot the node started from; undefined if it started from none. */
  get preSnapshotCheck(): PreSnapshotCheck | undefined {
    return this.preSnapshot;
  }

  get view(): View {
    return this.pipeline.view;
  }

  get lastSeqno(): SeqNo {
    return this.store.lastSeqno;
  }

  /** The first seqno whose entry this node's ledger holds (1, or the one after the snapshot it joined from). */
  get firstLedgerSeqno(): number {
    return this.ledger.firstSeqno;
  }

  /** Whether the ledger holds any entry (a node that only installed a snapshot holds none yet). */
  get holdsLedgerEntries(): boolean {
    return this.ledger.firstSeqno <= this.ledger.lastSeqno;
  }

  get lastCommitted(): TxId {
    const committed = this.pipeline.committedSeqno;
    return { view: toView(this.viewOf(committed) ?? 0), seqno: committed };
  }

  begin(): Tx {
    return this.store.begin();
  }

  /**
   * Commits a finished-or-open transaction: returns its tx id, or undefined if it
   * wrote nothing (read-only transactions get no seqno). Throws TxConflictError
   * if the transaction must be re-executed. `rekeyTo`: the entries after this one are sealed with
   * that new ledger secret (trigger_ledger_rekey; the transaction records its recovery shares).
   */
  commit(tx: Tx, options: { rekeyTo?: LedgerSecret } = {}): TxId | undefined {
    this.assertWritable();
    if (this.role !== "primary") throw new NotPrimaryError();
    const writes = tx.finish();
    const bytes = writeSetBytes(writes);
    if (bytes > TX_WRITE_BYTES_MAX) {
      throw new CcfError(500, ErrorCode.InternalError, `Transaction not committed: it writes ${bytes} bytes, more than the ${TX_WRITE_BYTES_MAX} a transaction may write`);
    }
    const effects = tx.takeCommitEffects();
    if (writes.size === 0) {
      for (const effect of effects) effect();
      return undefined;
    }
    let appended: { id: TxId; effects: PipelineEffect[] };
    try {
      appended = this.append(writes, tx.claimsDigest, false);
    } catch (error) {
      // The ledger refused the entry (e.g. disk full): nothing was applied, and nothing more will be.
      this.fail(error);
      throw error;
    }
    // A rekey: the entries after this one (its signature first) are sealed with the new secret.
    if (options.rekeyTo) this.options.secrets.add(appended.id.seqno + 1, options.rekeyTo);
    // Before a signature this commit may emit, so that it is the one a requested snapshot or chunk end applies to.
    for (const effect of effects) effect();
    this.perform(appended.effects);
    return appended.id;
  }

  /**
   * Performs the pipeline's effects in order. A signature due on the node's own schedule that
   * fails stops the node's writes instead of escaping to the caller whose commit triggered it.
   */
  private perform(effects: readonly PipelineEffect[]): void {
    for (const effect of effects) {
      switch (effect.type) {
        case "sign":
          this.signOrFail();
          break;
        case "keepAlive":
          if (effect.on) this.timer?.ref();
          else this.timer?.unref();
          break;
        case "sync": {
          const { seqno } = effect;
          const rollbacks = this.rollbacks;
          this.ledger.sync().then(
            // An abandoned (crashed) node made nothing durable after the crash: it reports nothing more.
            // After a rollback, seqno may name another entry: only a later sync can make that one durable.
            () => {
              if (!this.abandoned && rollbacks === this.rollbacks) this.perform(this.pipeline.durable(seqno));
            },
            (error: unknown) => this.fail(error),
          );
          break;
        }
        case "snapshot":
          // A recovering node's store lacks the private state of the old entries until the members'
          // shares restore it: a snapshot of it would hand a joiner empty private maps. The next signature tries again.
          if (this.options.secrets.heldFrom > 1) break;
          if (this.pendingSnapshots.size < PENDING_SNAPSHOTS_MAX) this.takeSnapshot(effect.seqno);
          else (this.options.log ?? console.warn)(`snapshot at ${effect.seqno} skipped: ${this.pendingSnapshots.size} snapshots already await commit; the next signature tries again`);
          break;
        case "commit":
          this.markCommitted(effect.seqno);
          break;
        case "truncate":
          this.takeBack(effect.seqno);
          break;
      }
    }
  }

  /** Appends a signature transaction over everything so far; returns its seqno. */
  emitSignature(): SeqNo {
    this.assertWritable();
    if (this.role !== "primary") throw new Error("only the primary signs");
    const { view, seqno } = this.pipeline.nextTxId();
    const root = this.tree.root();
    const record: SignatureRecord = {
      view,
      seqno,
      node: this.options.signer.nodeId,
      root: root.toString("hex"),
      sig: signDigest(this.options.signer.privateKeyPem, root, this.tree.rootPreimage()).toString("base64"),
      commit_view: this.lastCommitted.view,
      commit_seqno: this.pipeline.committedSeqno,
      cert: this.options.signer.certPem,
    };
    const { effects } = this.append(signatureWrites(record, this.tree.frontier(), this.coseSignature(root, { view, seqno })), undefined, true);
    this.signatureSeqnos.push(seqno);
    // Never past the committed seqno: what is not committed may still be rolled back.
    this.tree.evictBlocksBefore(Math.max(0, Math.min(this.pipeline.committedSeqno, this.tree.size - this.leavesInMemory)));
    this.perform(effects);
    this.perform(this.pipeline.snapshotAfterSignature(seqno, this.store.byteCount, !this.snapshotsPaused));
    return seqno;
  }

  /** The service key's COSE signature over the root, as CCF adds to each signature transaction (none without the key). */
  private coseSignature(root: Buffer, id: TxId): Buffer | undefined {
    const serviceKey = this.options.serviceKey;
    if (serviceKey === undefined) return undefined;
    return signMerkleRoot({
      servicePrivateKeyPem: serviceKey.privateKeyPem,
      keyId: serviceKeyId(serviceKey.privateKeyPem),
      root,
      txId: formatTxId(id),
      issuedAtS: Math.floor((this.options.clock ?? systemClock).now() / 1000),
    });
  }

  /** Where this node's snapshots are (undefined: it takes none). */
  get snapshotsDir(): string | undefined {
    return this.options.snapshotsDir;
  }

  /** Whether this node writes snapshots (a snapshots directory is configured). */
  get takesSnapshots(): boolean {
    return this.options.snapshotsDir !== undefined;
  }

  /** CCF's trigger_snapshot: take a snapshot at the next signature. */
  triggerSnapshot(): void {
    if (!this.takesSnapshots) throw new Error("snapshots are not configured for this node");
    this.pipeline.requestSnapshot();
  }

  /**
   * Snapshots the state at signature `seqno`, commits an evidence transaction
   * whose claims digest is the snapshot's digest, and, once that is committed,
   * completes the file with the evidence receipt (see snapshots.ts).
   */
  private takeSnapshot(seqno: SeqNo): void {
    const dir = this.options.snapshotsDir!;
    this.pipeline.snapshotTaken(seqno);
    const body = encodeSnapshot({ seqno, view: this.view, viewStarts: this.viewStarts, store: this.store, tree: this.tree }, this.options.secrets);
    const digest = snapshotDigest(body);
    // Inside the signature that took it: the next signature covers the evidence (no signature now).
    const { id: evidence, effects } = this.append(evidenceWrites(digest, seqno), digest, false, { signWhenDue: false });
    this.perform(effects);
    const path = writePendingSnapshot(dir, seqno, evidence.seqno, body);
    const done = this.waitForCommit(evidence.seqno)
      .then(() => {
        if (!this.abandoned) commitSnapshot(path, this.receipt(evidence.seqno));
      })
      .catch((error: unknown) => (this.options.log ?? console.warn)(`snapshot at ${seqno} not completed: ${(error as Error).message}`))
      .finally(() => this.pendingSnapshots.delete(done));
    this.pendingSnapshots.add(done);
  }

  /** A signature on the node's own schedule: a failure stops the node's writes instead of escaping. */
  private signOrFail(): void {
    try {
      this.emitSignature();
    } catch (error) {
      this.fail(error);
    }
  }

  /** CCF's trigger_ledger_chunk: the current chunk ends at the next signature. */
  triggerLedgerChunk(): void {
    this.ledger.requestChunkAtNextSignature();
  }

  /** Status of a tx id as GET /node/tx reports it. */
  txStatus(id: TxId): TxStatus {
    const viewAtSeqno = this.viewOf(id.seqno);
    if (viewAtSeqno === undefined) return id.view < this.view ? "Invalid" : "Unknown";
    if (viewAtSeqno !== id.view) return "Invalid";
    return id.seqno <= this.pipeline.committedSeqno ? "Committed" : "Pending";
  }

  /** Merkle root over the transactions 1..seqno (the root a signature at seqno+1 signs). */
  merkleRoot(seqno: number = this.lastSeqno): Buffer {
    return this.tree.rootAt(seqno, ledgerBlockLoader(this.ledger, this.tree));
  }

  /** Seqnos of the signature transactions, ascending: all of them, or those from the snapshot the node started from. */
  get signatures(): readonly number[] {
    return this.signatureSeqnos;
  }

  /** Whether the entry at `seqno` is a signature transaction (as far as this node holds signatures). */
  isSignature(seqno: number): boolean {
    return this.signatureSeqnos[lowerBound(this.signatureSeqnos, seqno, (s) => s)] === seqno;
  }

  /** CCF's view history: the first seqno of each view, in order. */
  get viewHistory(): ReadonlyArray<{ view: number; seqno: number }> {
    return this.viewStarts;
  }

  /** View of the transaction at `seqno`, or undefined if there is none yet. */
  viewOf(seqno: number): number | undefined {
    if (seqno < 1 || seqno > this.lastSeqno) return undefined;
    // The last view that started at or before seqno.
    const next = lowerBound(this.viewStarts, seqno + 1, (start) => start.seqno);
    return this.viewStarts[next - 1]?.view;
  }

  /** Resolves once `seqno` is committed (a durable signature covers it). */
  waitForCommit(seqno: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (seqno <= this.pipeline.committedSeqno) return Promise.resolve();
    return new Promise((resolve, reject) => this.commitWaiters.push({ seqno, resolve, reject }));
  }

  /** The receipt of a committed transaction (from memory, or rebuilt from the ledger files). */
  receipt(seqno: number): Receipt {
    return this.receipts(seqno).receipt;
  }

  /** Its JSON receipt and its COSE receipt (undefined for a signature transaction or one whose signature has no COSE signature). */
  receipts(seqno: number): Receipts {
    if (seqno < 1 || seqno > this.pipeline.committedSeqno) throw new NotCommittedError(`transaction at seqno ${seqno} is not committed`);
    if (seqno < this.ledger.firstSeqno) throw new EntryNotHeldError(seqno, this.ledger.firstSeqno);
    return buildReceipts(seqno, {
      ledger: this.ledger,
      tree: this.tree,
      secrets: this.options.secrets,
      signatureSeqnos: this.signatureSeqnos,
      signaturesCompleteFrom: this.signaturesCompleteFrom,
    });
  }

  /** The service's ledger secrets as this node holds them. */
  get ledgerSecrets(): LedgerSecrets {
    return this.options.secrets;
  }

  /**
   * A recovering node's last step, once the members' shares gave back the ledger secrets of
   * entries 1..throughSeqno (added to ledgerSecrets): every one of those entries is checked against
   * its secret (commit evidence, private write set decrypted and decoded), and the private domain
   * they wrote is loaded into the store, each value with the seqno that wrote it.
   */
  restorePrivateState(throughSeqno: number): { entries: number; privateValues: number } {
    this.assertWritable();
    const privateMaps = new Map<string, Map<string, { value: Buffer | null; version: SeqNo }>>();
    for (let first = 1; first <= throughSeqno; first += RESTORE_BATCH) {
      const last = Math.min(throughSeqno, first + RESTORE_BATCH - 1);
      for (const frame of this.ledger.readFrames(first, last)) {
        const entry = decodeFrame(frame);
        const secret = this.options.secrets.at(entry.seqno);
        try {
          checkCommitEvidence(entry, secret);
          if (entry.privateSealed.length === 0) continue;
          for (const [name, writes] of entryWrites(entry, secret)) {
            if (name.startsWith("public:")) continue;
            let map = privateMaps.get(name);
            if (map === undefined) privateMaps.set(name, (map = new Map()));
            for (const [key, value] of writes) map.set(key, { value, version: entry.seqno });
          }
        } catch (error) {
          throw new Error(`cannot restore the private state at seqno ${entry.seqno}: ${entryCheckFailure(error, secret) ?? (error as Error).message}`);
        }
      }
    }
    let privateValues = 0;
    for (const [name, writes] of privateMaps) {
      const live = [...writes].filter((w): w is [string, { value: Buffer; version: SeqNo }] => w[1].value !== null);
      privateValues += live.length;
      this.store.loadMap(name, live);
    }
    return { entries: throughSeqno, privateValues };
  }

  /** Name of the ledger chunk file holding `seqno`, for messages. */
  chunkNameOf(seqno: number): string | undefined {
    return this.ledger.chunkNameOf(seqno);
  }

  /** The writes of a committed transaction, read back from its ledger entry (private ones decrypted). */
  writesAt(seqno: number): WriteSet {
    if (seqno < 1 || seqno > this.pipeline.committedSeqno) throw new NotCommittedError(`transaction at seqno ${seqno} is not committed`);
    if (seqno < this.ledger.firstSeqno) throw new EntryNotHeldError(seqno, this.ledger.firstSeqno);
    return entryWrites(this.ledger.readEntry(seqno), this.options.secrets.at(seqno));
  }

  /** Emits a last signature if needed, waits for it to be durable and closes the ledger. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.timer?.cancel();
    // From here no new snapshot: the last signature covers every pending snapshot's evidence.
    this.closing = true;
    this.snapshotsPaused = true;
    await this.truncation;
    if (this.options.commitSource === undefined) {
      if (this.pipeline.unsignedCount > 0 && !this.failure) await this.waitForCommit(this.emitSignature());
      await Promise.all(this.pendingSnapshots);
    } else {
      // In a network, commit needs other nodes, which may be gone: sign what this primary wrote and
      // make it durable, and leave committing it to the network (a later primary, or this node's restart).
      if (this.role === "primary" && this.pipeline.unsignedCount > 0 && !this.failure) this.emitSignature();
      const closed = new Error("the node closed before this was committed");
      for (const waiter of this.commitWaiters.splice(0)) waiter.reject(closed);
    }
    await this.preSnapshotPass;
    this.stopped = true;
    await this.ledger.close();
  }

  /**
   * Stops as a crash would: buffered ledger bytes are lost, nothing is signed. Resolves once the
   * writes already handed to the OS have landed, so a node restarted then sees the crash's files.
   * For crash tests.
   */
  abandon(): Promise<void> {
    this.timer?.cancel();
    this.closing = true;
    this.stopped = true;
    this.abandoned = true;
    return this.ledger.abandon();
  }

  /** Encodes and appends one entry at the pipeline's next tx id, applies it to the store and the tree. */
  private append(
    writes: WriteSet,
    claimsDigest: Buffer | undefined,
    isSignature: boolean,
    options?: { signWhenDue: boolean },
  ): { id: TxId; effects: PipelineEffect[] } {
    const { view: v, seqno } = this.pipeline.nextTxId();
    const { publicWrites, privateWrites } = splitByDomain(writes);
    const secret = this.options.secrets.at(seqno);
    const entry: NewEntry = {
      view: v,
      seqno,
      isSignature,
      commitEvidenceDigest: secret.commitEvidenceDigest(v, seqno),
      claimsDigest,
      publicWrites,
      privateSealed: privateWrites.size > 0 ? secret.seal(encodeWriteSet(privateWrites), txIdBytes(v, seqno)) : NO_PRIVATE_WRITES,
    };
    const frameBytes = frameBytesOf(entry);
    // The write-set digest is a view into the ledger's buffer, valid only during the callback: it goes into the leaf input there.
    const leafInput = this.ledger.append(seqno, isSignature, frameBytes, (frame) =>
      leafInputOf({ writeSetDigest: encodeFrameInto(entry, frame), commitEvidenceDigest: entry.commitEvidenceDigest, claimsDigest }),
    );
    this.store.apply(writes, seqno);
    this.tree.appendLeafOf(leafInput);
    if (this.viewStarts.at(-1)?.view !== v) this.viewStarts.push({ view: v, seqno });
    this.options.onAppended?.({ view: v, seqno, isSignature, writes });
    return { id: { view: v, seqno }, effects: this.pipeline.appended(frameBytes, isSignature, options) };
  }

  /** The pipeline committed everything through `seqno`. */
  private markCommitted(seqno: SeqNo): void {
    this.store.markCommitted(seqno);
    this.ledger.markCommitted(seqno);
    let kept = 0;
    for (const waiter of this.commitWaiters) {
      if (waiter.seqno <= seqno) waiter.resolve();
      else this.commitWaiters[kept++] = waiter;
    }
    this.commitWaiters.length = kept;
  }

  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof Error ? error : new Error(String(error));
    (this.options.log ?? console.error)(`ledger: cannot make entries durable, refusing further writes: ${this.failure.message}`);
    for (const waiter of this.commitWaiters.splice(0)) waiter.reject(this.failure);
  }

  private assertWritable(): void {
    if (this.failure) throw this.failure;
    if (this.stopped) throw new Error("history is closed");
    // Not a failure of the node: the caller may try again once the rollback is done.
    if (this.truncating) throw new CcfError(503, ErrorCode.InternalError, "The node is rolling back uncommitted transactions; try again");
  }
}

export type { View, SeqNo };
