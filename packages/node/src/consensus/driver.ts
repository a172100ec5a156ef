// The thin async driver of consensus in a real node: it feeds the pure state machine (raft.ts)
// with time (a Clock), messages (a Transport) and what the node's History did (entries appended
// by this primary, signatures made durable), and performs the effects step() returns, in order:
// persist the view and vote, roll back, append replicated entries, send, commit, change role,
// sign. It is also the History's commit source: in a network, a durable signature is not
// committed until a majority of each active configuration holds it.
//
// One input is stepped at a time. An effect that re-enters the driver (a signature the History
// appends reports itself as appended) only queues its input; only a rollback is awaited.
import { systemClock, type Clock, type Timer } from "../clock.ts";
import { replaceFileDurably } from "../durable.ts";
import { existsSync, readFileSync } from "node:fs";
import type { AppendedEntry, History } from "../history/history.ts";
import type { CommitSource } from "../history/pipeline.ts";
import { seqNo, view as toView, type SeqNo, type View } from "../ids.ts";
import { CONSENSUS_BATCH_BYTES } from "../limits.ts";
import { SILENT_LOG, type Log } from "../log.ts";
import { nodeToNodeAddresses, sameNodes, trustedNodes, writesNodes } from "./membership.ts";
import { Tables } from "../tables.ts";
import { ConsensusMessageError, decodeMessage, encodeMessage, type EntryMeta, type LogEntry, type NodeId } from "./messages.ts";
import {
  activeConfigurations,
  initialState,
  step,
  type AppendEntriesToSend,
  type RaftEffect,
  type RaftInput,
  type RaftOptions,
  type RaftState,
  type Role,
} from "./raft.ts";
import type { Transport } from "./transport.ts";

export interface ConsensusDriverOptions {
  self: NodeId;
  transport: Transport;
  /** Where this node's node-to-node channels listen ("host:port"), for its node record and /node/consensus. */
  listenAddress: string;
  /** Where the view and vote are kept durably (CCF persists them before answering). */
  stateFile: string;
  clock?: Clock;
  log?: Log;
  options?: Partial<RaftOptions>;
  /** Seeds the election-timeout PRNG; a node passes crypto-random bits. */
  seed: number;
  /** Node-to-node addresses known before the ledger says (a joiner's, from its join response). */
  knownAddresses?: ReadonlyMap<NodeId, string>;
  /** How often the driver checks the deadlines in the state (CCF ticks every few ms). */
  tickMs?: number;
}

/** How the log starts for consensus: after everything the node replayed, or empty for a joiner. */
export interface LogStart {
  /** The configuration in force at the start (a joiner passes the service's trusted nodes: it is not yet one of them). */
  configuration: readonly NodeId[];
  /** Entries up to the History's last seqno are committed (replayed or from a snapshot): true; a joiner starts empty. */
  fromHistory: boolean;
}

interface PersistedVote {
  view: number;
  voted_for: NodeId | null;
}

/** A configuration change point in the log, so the entries a primary sends carry theirs. */
interface ConfigurationChange {
  seqno: SeqNo;
  nodes: NodeId[];
}

const DEFAULT_TICK_MS = 10;

export class ConsensusDriver implements CommitSource {
  private state: RaftState | undefined;
  private history: History | undefined;
  private readonly queue: RaftInput[] = [];
  private running = false;
  private scheduled = false;
  private stopped = false;
  private timer: Timer | undefined;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly changes: ConfigurationChange[] = [];
  private peersKey = "";
  /** The peer ids and the node table's version the peers were last computed from. */
  private peerInputs = "";
  private readonly knownAddresses: Map<NodeId, string>;
  /** Waiting for this node to become primary (a genesis node elects itself before writing genesis). */
  private primaryWaiters: Array<() => void> = [];
  /** Backups that need entries from before this node's ledger (each reported once). */
  private readonly unservable = new Set<NodeId>();
  /** Why consensus stopped (a broken invariant or a refused replicated entry): the node must be replaced. */
  failure: Error | undefined;

  constructor(private readonly options: ConsensusDriverOptions) {
    this.clock = options.clock ?? systemClock;
    this.log = options.log ?? SILENT_LOG;
    this.knownAddresses = new Map(options.knownAddresses ?? []);
  }

  // ---- what the History calls (it is opened with these before start) ----

  /** CommitSource: consensus decides commit; a durable signature is only news for it. */
  durable(seqno: SeqNo): SeqNo | undefined {
    this.input({ type: "durable", seqno });
    return undefined;
  }

  /** History.onAppended: an entry this primary appended, with its configuration if it changes the trusted set. */
  readonly appended = (entry: AppendedEntry): void => {
    const meta: { view: View; isSignature: boolean; configuration?: NodeId[] } = { view: entry.view, isSignature: entry.isSignature };
    if (this.history !== undefined && writesNodes(entry.writes)) {
      // Read now: the store holds this entry's state only until the next one is applied.
      const trusted = trustedNodes(this.history.store);
      if (!sameNodes(trusted, this.latestConfiguration())) {
        meta.configuration = trusted;
        this.changes.push({ seqno: entry.seqno, nodes: trusted });
      }
    }
    this.input({ type: "appended", entries: [meta] });
  };

  // ---- lifecycle ----

  /** Starts consensus over `history` (opened as a backup, with this driver as commit source and onAppended). */
  start(history: History, log: LogStart): void {
    this.history = history;
    const persisted = this.readVote();
    const base = log.fromHistory ? history.lastSeqno : seqNo(0);
    this.changes.push({ seqno: base, nodes: [...log.configuration].sort() });
    this.state = initialState({
      self: this.options.self,
      configuration: log.configuration,
      seed: this.options.seed,
      nowMs: this.clock.now(),
      ...(this.options.options ? { options: this.options.options } : {}),
      ...(persisted ? { view: toView(persisted.view) } : {}),
      ...(persisted?.voted_for ? { votedFor: persisted.voted_for } : {}),
      ...(log.fromHistory && base > 0
        ? { snapshot: { seqno: base, viewHistory: history.viewHistory.map((v) => ({ view: toView(v.view), seqno: seqNo(v.seqno) })) } }
        : {}),
    });
    this.options.transport.onMessage((from, bytes) => this.receive(from, bytes));
    this.updatePeers();
    // Every tick, not only at deadlines: the state's clock is the last tick's, and a message stamps
    // deadlines and last-heard times from it (a joiner that is no member yet has no deadline at all).
    this.timer = this.clock.every(this.options.tickMs ?? DEFAULT_TICK_MS, () => this.input({ type: "tick", nowMs: this.clock.now() }));
    this.schedule();
  }

  /** Stands for election now and resolves once this node is primary (a one-node configuration wins at once). */
  campaign(): Promise<void> {
    const elected = new Promise<void>((resolve) => this.primaryWaiters.push(resolve));
    this.input({ type: "campaign" });
    return elected;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    await this.options.transport.close();
  }

  // ---- what the node reads ----

  get listenAddress(): string {
    return this.options.listenAddress;
  }

  get role(): Role {
    return this.state?.role ?? "backup";
  }

  get primaryId(): NodeId | undefined {
    return this.state?.primary;
  }

  get view(): View {
    return this.state?.view ?? toView(0);
  }

  /** The nodes of each active configuration, the committed one first. */
  get configurations(): readonly (readonly NodeId[])[] {
    return this.state ? activeConfigurations(this.state) : [];
  }

  /** What the primary knows of each backup (empty on a backup). */
  get acks(): ReadonlyMap<NodeId, { seqno: number; lastReceivedMs: number }> {
    const acks = new Map<NodeId, { seqno: number; lastReceivedMs: number }>();
    for (const [id, progress] of Object.entries(this.state?.progress ?? {})) {
      acks.set(id, { seqno: progress.matchSeqno, lastReceivedMs: Math.max(0, this.clock.now() - progress.heardMs) });
    }
    return acks;
  }

  /** Every node-to-node address known: from the node table, or given at start. */
  addresses(): Map<NodeId, string> {
    const known = new Map(this.knownAddresses);
    if (this.history) for (const [id, address] of nodeToNodeAddresses(this.history.store)) known.set(id, address);
    return known;
  }

  // ---- the loop ----

  private receive(from: NodeId, bytes: Uint8Array): void {
    try {
      this.input({ type: "message", from, message: decodeMessage(bytes) });
    } catch (error) {
      if (!(error instanceof ConsensusMessageError)) throw error;
      this.log.warn(`consensus: dropped a malformed message from ${from}: ${error.message}`);
    }
  }

  private input(input: RaftInput): void {
    if (this.stopped || this.failure) return;
    this.queue.push(input);
    this.schedule();
  }

  private schedule(): void {
    // Stopped or failed: inputs left in the queue are never stepped (rescheduling them would spin forever).
    if (this.scheduled || this.running || this.state === undefined || this.stopped || this.failure) return;
    this.scheduled = true;
    // A microtask later: the inputs of one turn of the event loop (a burst of commits) are stepped together.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0 && !this.stopped && !this.failure) {
        const input = this.nextInput();
        if (input.type === "appended" && !this.acceptsAppended(input.entries)) {
          // The History appended while consensus was already deposing this primary: those entries were never replicated.
          await this.history!.rollback(this.state!.lastSeqno);
          this.dropChangesAfter(this.state!.lastSeqno);
          continue;
        }
        const result = step(this.state!, input);
        this.state = result.state;
        for (const effect of result.effects) {
          const pending = this.perform(effect);
          if (pending !== undefined) await pending;
        }
        this.updatePeers();
      }
    } catch (error) {
      this.fail(error);
    } finally {
      this.running = false;
    }
    if (this.queue.length > 0) this.schedule();
  }

  /** The next input; consecutive appended inputs become one (one replication round for a burst). */
  private nextInput(): RaftInput {
    const first = this.queue.shift()!;
    if (first.type !== "appended") return first;
    const entries: EntryMeta[] = [...first.entries];
    for (let next = this.queue[0]; next?.type === "appended"; next = this.queue[0]) {
      entries.push(...next.entries);
      this.queue.shift();
    }
    return { type: "appended", entries };
  }

  private acceptsAppended(entries: readonly EntryMeta[]): boolean {
    const s = this.state!;
    return s.role === "primary" && entries.every((entry) => entry.view === s.view);
  }

  private perform(effect: RaftEffect): Promise<void> | undefined {
    const history = this.history!;
    switch (effect.type) {
      case "persist": {
        const vote: PersistedVote = { view: effect.view, voted_for: effect.votedFor ?? null };
        replaceFileDurably(this.options.stateFile, `${JSON.stringify(vote)}\n`);
        return undefined;
      }
      case "rollback":
        // A deposed primary rolls back as the backup it now is (a backup's views are its primary's).
        if (history.currentRole === "primary" && this.state!.role !== "primary") history.becomeBackup();
        this.dropChangesAfter(effect.seqno);
        return history.rollback(effect.seqno);
      case "append":
        this.appendReplicated(effect.seqno, effect.entries);
        return undefined;
      case "send":
        this.options.transport.send(effect.to, encodeMessage(effect.message));
        return undefined;
      case "sendAppendEntries":
        this.sendAppendEntries(effect.to, effect.message);
        return undefined;
      case "commit":
        history.advanceCommit(effect.seqno);
        return undefined;
      case "becomePrimary":
        history.becomePrimary(effect.view);
        this.log.info(`consensus: this node is primary in view ${effect.view}`);
        for (const resolve of this.primaryWaiters.splice(0)) resolve();
        return undefined;
      case "becomeBackup":
      case "becomeCandidate":
        if (history.currentRole === "primary") {
          history.becomeBackup();
          this.log.info(`consensus: this node is no longer primary (view ${effect.view})`);
        }
        return undefined;
      case "sign":
        // A new primary's first entry signs what came before in its view; an empty ledger has nothing to sign yet.
        if (history.lastSeqno > 0) history.emitSignature();
        return undefined;
      case "retired":
        this.log.info("consensus: this node is retired (a committed configuration no longer has it); it takes no further part");
        this.timer?.cancel();
        return undefined;
    }
  }

  private appendReplicated(first: SeqNo, entries: readonly LogEntry[]): void {
    const history = this.history!;
    if (history.lastSeqno + 1 !== first) throw new Error(`consensus appends at ${first} but the ledger's next seqno is ${history.lastSeqno + 1}`);
    entries.forEach((entry, i) => {
      const appended = history.appendReplicated(Buffer.from(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength));
      if (appended.view !== entry.view || appended.isSignature !== entry.isSignature) {
        throw new Error(`replicated entry ${first + i}: its frame says ${appended.view}${appended.isSignature ? " (signature)" : ""}, consensus says ${entry.view}${entry.isSignature ? " (signature)" : ""}`);
      }
      if (entry.configuration) this.changes.push({ seqno: seqNo(first + i), nodes: [...entry.configuration] });
    });
  }

  /** Fills the AppendEntries raft asked for with ledger frames, at most CONSENSUS_BATCH_BYTES of them (at least one). */
  private sendAppendEntries(to: NodeId, header: AppendEntriesToSend): void {
    const history = this.history!;
    const { lastSeqno, ...message } = header;
    const last = Math.min(lastSeqno, history.lastSeqno);
    const entries: LogEntry[] = [];
    if (last > message.prevSeqno && message.prevSeqno + 1 < history.firstLedgerSeqno) {
      // This node started from a snapshot and holds nothing before it: it cannot serve that backup, which
      // must join again from a snapshot. The AppendEntries goes without entries (a heartbeat), so the
      // backup keeps its primary and this node keeps serving the others.
      if (!this.unservable.has(to)) {
        this.unservable.add(to);
        this.log.error(
          `consensus: ${to} needs entries from seqno ${message.prevSeqno + 1}, but this node's ledger starts at ${history.firstLedgerSeqno} (after the snapshot it joined from); retire that node and join a new one`,
        );
      }
    } else if (last > message.prevSeqno) {
      let bytes = 0;
      let seqno = message.prevSeqno;
      for (const frame of history.frames(message.prevSeqno + 1, last)) {
        seqno++;
        if (entries.length > 0 && bytes + frame.length > CONSENSUS_BATCH_BYTES) break; // the backup acks less; the rest follows
        bytes += frame.length;
        const configuration = this.changes.find((change) => change.seqno === seqno)?.nodes;
        entries.push({
          view: toView(history.viewOf(seqno) ?? 0),
          isSignature: history.isSignature(seqno),
          ...(configuration ? { configuration } : {}),
          payload: frame,
        });
      }
    }
    this.options.transport.send(to, encodeMessage({ ...message, entries }));
  }

  private latestConfiguration(): readonly NodeId[] {
    return this.changes.at(-1)?.nodes ?? [];
  }

  private dropChangesAfter(seqno: number): void {
    while (this.changes.length > 1 && this.changes.at(-1)!.seqno > seqno) this.changes.pop();
  }

  /** The transport's peers: every node of an active configuration, and any the primary still sends to (removed ones). */
  private updatePeers(): void {
    const s = this.state!;
    const ids = new Set<NodeId>();
    for (const nodes of activeConfigurations(s)) for (const id of nodes) ids.add(id);
    for (const id of Object.keys(s.progress)) ids.add(id);
    ids.delete(this.options.self);
    // Cheap to compare after every step; the node table is read only when the peers or it changed.
    const inputs = `${[...ids].sort().join(",")}@${this.history?.store.mapState(Tables.nodesInfo)?.lastWriteVersion ?? 0}`;
    if (inputs === this.peerInputs) return;
    this.peerInputs = inputs;
    const addresses = this.addresses();
    const peers = new Map<NodeId, string>();
    for (const id of [...ids].sort()) {
      const address = addresses.get(id);
      if (address !== undefined) peers.set(id, address);
    }
    const key = JSON.stringify([...peers]);
    if (key === this.peersKey) return;
    this.peersKey = key;
    this.options.transport.setPeers(peers);
  }

  private readVote(): PersistedVote | undefined {
    if (!existsSync(this.options.stateFile)) return undefined;
    const vote = JSON.parse(readFileSync(this.options.stateFile, "utf8")) as PersistedVote;
    if (!Number.isSafeInteger(vote.view) || vote.view < 0) throw new Error(`${this.options.stateFile} does not hold a view`);
    return vote;
  }

  private fail(error: unknown): void {
    this.failure = error instanceof Error ? error : new Error(String(error));
    this.timer?.cancel();
    this.log.error(`consensus: stopped: ${this.failure.message}; this node must be replaced (retire it and join a new one)`);
  }
}
