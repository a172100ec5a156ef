// A seeded whole-cluster simulator (TigerBeetle's VOPR, on our pure consensus): N nodes, each the
// pure Raft state, a CommitPipeline deciding signatures, a log of 32-byte leaf hashes and a disk
// on which only synced entries surely survive a crash; a network that delays, drops, duplicates,
// reorders and partitions; crash-restart; reconfiguration. Every message goes through the codec.
// After every step the invariants are checked, and a failure names the seed and the step.
import { createHash } from "node:crypto";
import { CommitPipeline } from "../../src/history/pipeline.ts";
import { seqNo, view, type SeqNo, type View } from "../../src/ids.ts";
import { decodeMessage, encodeMessage, type EntryMeta, type LogEntry, type NodeId } from "../../src/consensus/messages.ts";
import {
  acceptsWrites,
  initialState,
  lastSignatureSeqno,
  step,
  type RaftEffect,
  type RaftInput,
  type RaftState,
  type ViewStart,
} from "../../src/consensus/raft.ts";
import { seededRandom } from "./seeded-random.ts";

export class InvariantError extends Error {}

interface Held {
  meta: EntryMeta;
  payload: Uint8Array;
  /** Hash of the whole prefix through this entry: equal chains ⇔ identical prefixes. */
  chain: string;
}

export interface SimNode {
  readonly id: NodeId;
  raft: RaftState;
  pipeline: CommitPipeline;
  /** Entries after `base` (log[i] is seqno base+1+i). */
  log: Held[];
  base: SeqNo;
  baseChain: string;
  baseViewHistory: readonly ViewStart[];
  baseConfiguration: readonly NodeId[];
  durable: number;
  syncDueMs: number | undefined;
  persisted: { view: View; votedFor: NodeId | undefined };
  alive: boolean;
  retired: boolean;
  /** Highest commit this node ever reported (survives its crashes). */
  lastCommit: SeqNo;
}

/** What a node keeps across a crash, and its identity: a SimNode without the state boot() derives from it. */
type NodeDisk = Omit<SimNode, "raft" | "pipeline">;

interface InFlight {
  from: NodeId;
  to: NodeId;
  bytes: Uint8Array;
  atMs: number;
  order: number;
}

export interface SimOptions {
  seed: number;
  nodes: number;
  electionTimeoutMs?: number;
  messageTimeoutMs?: number;
  signatureIntervalTx?: number;
  /** The signature timer's period (CCF's ledger_signatures.delay). */
  signatureIntervalMs?: number;
  /** A mutation to prove the checks bite (tests only). */
  mutate?: (node: SimNode, input: RaftInput, result: { state: RaftState; effects: RaftEffect[] }) => void;
}

export class Cluster {
  readonly random: () => number;
  readonly nodes = new Map<NodeId, SimNode>();
  nowMs = 0;
  steps = 0;
  network: InFlight[] = [];
  /** Groups cut off from each other (empty: one network). */
  partition: NodeId[][] = [];
  dropRate = 0;
  duplicateRate = 0;
  delayMaxMs = 0;
  /** Sync appended entries at once (scenarios) rather than after a seeded delay. */
  syncAtOnce = false;
  private order = 0;
  private nextNodeNumber: number;
  /** Chain at every committed seqno, and the committed entries themselves, for the whole run. */
  readonly committedChain = new Map<number, string>();
  readonly committedEntries = new Map<number, Held>();
  maxCommitted = 0;
  private readonly entryChain = new Map<string, string>();
  private readonly primaries = new Map<number, NodeId>();
  readonly options: Required<Omit<SimOptions, "mutate">> & Pick<SimOptions, "mutate">;

  constructor(options: SimOptions) {
    this.options = { electionTimeoutMs: 300, messageTimeoutMs: 30, signatureIntervalTx: 4, signatureIntervalMs: 100, ...options };
    this.random = seededRandom(options.seed);
    const ids = Array.from({ length: options.nodes }, (_, i) => `n${i}`);
    this.nextNodeNumber = options.nodes;
    for (const id of ids) this.nodes.set(id, this.newNode(id, ids, seqNo(0), "", []));
  }

  fail(message: string): never {
    throw new InvariantError(`seed ${this.options.seed} step ${this.steps} (t=${this.nowMs} ms): ${message}`);
  }

  node(id: NodeId): SimNode {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id}`);
    return node;
  }

  private newNode(id: NodeId, configuration: readonly NodeId[], base: SeqNo, baseChain: string, viewHistory: readonly ViewStart[]): SimNode {
    const disk: NodeDisk = {
      id, log: [], base, baseChain, baseViewHistory: viewHistory, baseConfiguration: configuration,
      durable: base, syncDueMs: undefined, persisted: { view: view(0), votedFor: undefined },
      alive: true, retired: false, lastCommit: base,
    };
    return { ...disk, ...this.boot(disk) };
  }

  /** (Re)start a node from what its disk holds: its consensus state and pipeline, everything it holds durable. */
  private boot(node: NodeDisk): Pick<SimNode, "raft" | "pipeline" | "durable"> {
    const last = node.base + node.log.length;
    const raft = initialState({
      self: node.id,
      configuration: node.baseConfiguration,
      seed: Math.floor(this.random() * 2 ** 32),
      nowMs: this.nowMs,
      options: { electionTimeoutMs: this.options.electionTimeoutMs, messageTimeoutMs: this.options.messageTimeoutMs },
      view: node.persisted.view,
      ...(node.persisted.votedFor !== undefined ? { votedFor: node.persisted.votedFor } : {}),
      ...(node.base > 0 ? { snapshot: { seqno: node.base, viewHistory: node.baseViewHistory } } : {}),
      entries: node.log.map((h) => h.meta),
      commitSeqno: node.lastCommit,
    });
    const pipeline = new CommitPipeline({
      view: raft.view, lastSeqno: seqNo(last), committedSeqno: node.lastCommit,
      signatureIntervalTx: this.options.signatureIntervalTx, snapshotIntervalTx: Infinity, lastSnapshotSeqno: node.base,
      commitSource: { durable: () => undefined },
    });
    return { raft, pipeline, durable: last };
  }

  live(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.alive && !n.retired);
  }

  /** The live nodes that are primary now. */
  primariesNow(): SimNode[] {
    return this.live().filter((n) => n.raft.role === "primary");
  }

  // ---- stepping a node and performing its effects ----

  input(node: SimNode, input: RaftInput): void {
    if (!node.alive || node.retired) return;
    if (input.type !== "tick" && this.nowMs > node.raft.nowMs) this.input(node, { type: "tick", nowMs: this.nowMs });
    this.steps++;
    const commitBefore = node.raft.commitSeqno;
    const result = step(node.raft, input);
    this.options.mutate?.(node, input, result);
    node.raft = result.state;
    for (const effect of result.effects) this.perform(node, effect, commitBefore);
    this.check();
  }

  private chainAt(node: SimNode, seqno: number): string {
    if (seqno === node.base) return node.baseChain;
    const held = node.log[seqno - node.base - 1];
    if (!held) this.fail(`${node.id} holds no entry ${seqno}`);
    return held.chain;
  }

  private hold(node: SimNode, entry: LogEntry): void {
    const seqno = node.base + node.log.length + 1;
    const chain = createHash("sha256").update(this.chainAt(node, seqno - 1)).update(entry.payload).digest("hex");
    const key = `${entry.view}.${seqno}`;
    const known = this.entryChain.get(key);
    if (known !== undefined && known !== chain) this.fail(`log matching: ${node.id} holds ${key} with a different prefix`);
    this.entryChain.set(key, chain);
    const { payload, ...meta } = entry;
    node.log.push({ meta, payload, chain });
    node.pipeline.appended(32, meta.isSignature, { signWhenDue: false });
  }

  private scheduleSync(node: SimNode): void {
    if (node.syncDueMs === undefined) node.syncDueMs = this.nowMs + (this.syncAtOnce ? 0 : 1 + Math.floor(this.random() * 10));
    if (this.syncAtOnce) this.sync(node);
  }

  sync(node: SimNode): void {
    node.syncDueMs = undefined;
    node.durable = node.base + node.log.length;
    this.input(node, { type: "durable", seqno: seqNo(node.durable) });
  }

  private perform(node: SimNode, effect: RaftEffect, commitBefore: SeqNo): void {
    switch (effect.type) {
      case "persist":
        node.persisted = { view: effect.view, votedFor: effect.votedFor };
        return;
      case "rollback": {
        if (effect.seqno < commitBefore || effect.seqno < node.lastCommit) this.fail(`${node.id} truncates to ${effect.seqno} below its commit ${node.lastCommit}`);
        node.log.length = effect.seqno - node.base;
        node.durable = Math.min(node.durable, effect.seqno);
        let sig = node.base as number;
        for (let i = node.log.length - 1; i >= 0; i--) if (node.log[i]!.meta.isSignature) { sig = node.base + i + 1; break; }
        node.pipeline.rollback(effect.seqno, sig);
        return;
      }
      case "append":
        if (effect.seqno !== node.base + node.log.length + 1) this.fail(`${node.id} appends at ${effect.seqno} after ${node.base + node.log.length}`);
        for (const entry of effect.entries) this.hold(node, entry);
        this.scheduleSync(node);
        return;
      case "send":
        return this.post(node.id, effect.to, encodeMessage(effect.message));
      case "sendAppendEntries": {
        const { lastSeqno, ...header } = effect.message;
        const entries: LogEntry[] = [];
        for (let s = header.prevSeqno + 1; s <= lastSeqno; s++) {
          // Below a node's snapshot, the service's committed ledger serves (CCF fetches ledger files).
          const held = s <= node.base ? this.committedEntries.get(s) : node.log[s - node.base - 1];
          if (!held) this.fail(`${node.id} cannot serve entry ${s}`);
          entries.push({ ...held.meta, payload: held.payload });
        }
        return this.post(node.id, effect.to, encodeMessage({ ...header, entries }));
      }
      case "commit":
        return this.committed(node, effect.seqno);
      case "becomePrimary": {
        const other = this.primaries.get(effect.view);
        if (other !== undefined && other !== node.id) this.fail(`two primaries in view ${effect.view}: ${other} and ${node.id}`);
        this.primaries.set(effect.view, node.id);
        const last = node.base + node.log.length;
        if (last < this.maxCommitted || (this.maxCommitted > node.base && this.chainAt(node, this.maxCommitted) !== this.committedChain.get(this.maxCommitted))) {
          this.fail(`${node.id} became primary in view ${effect.view} without committed entry ${this.maxCommitted}`);
        }
        if (effect.view > node.pipeline.view) node.pipeline.startView(effect.view);
        return;
      }
      case "sign":
        return this.appendLocal(node, [{ view: node.raft.view, isSignature: true }]);
      case "retired":
        node.retired = true;
        return;
      case "becomeBackup":
      case "becomeCandidate":
        return;
    }
  }

  private committed(node: SimNode, seqno: SeqNo): void {
    if (seqno < node.lastCommit) this.fail(`${node.id} commit went back from ${node.lastCommit} to ${seqno}`);
    const held = seqno > node.base ? node.log[seqno - node.base - 1] : undefined;
    if (seqno > node.base && !held?.meta.isSignature) this.fail(`${node.id} committed ${seqno}, which is not a signature`);
    for (let s = Math.max(node.lastCommit, node.base) + 1; s <= seqno; s++) {
      const chain = this.chainAt(node, s);
      const known = this.committedChain.get(s);
      if (known !== undefined && known !== chain) this.fail(`committed entry ${s} changed on ${node.id}`);
      this.committedChain.set(s, chain);
      this.committedEntries.set(s, node.log[s - node.base - 1]!);
    }
    this.maxCommitted = Math.max(this.maxCommitted, seqno);
    node.lastCommit = seqno;
    node.pipeline.advanceCommit(seqno);
  }

  /** The invariants that hold after every step. */
  private check(): void {
    for (const node of this.nodes.values()) {
      if (!node.alive) continue;
      const last = node.base + node.log.length;
      if (node.raft.lastSeqno !== last && !node.retired) this.fail(`${node.id}: consensus says last ${node.raft.lastSeqno}, its log ends at ${last}`);
      if (node.lastCommit > last) this.fail(`${node.id} lost committed entries: commit ${node.lastCommit}, log ends at ${last}`);
      if (node.lastCommit > node.base && this.chainAt(node, node.lastCommit) !== this.committedChain.get(node.lastCommit)) {
        this.fail(`${node.id}'s committed prefix through ${node.lastCommit} differs from the service's`);
      }
    }
  }

  /** The local primary appends client transactions (or a signature, or a configuration). */
  appendLocal(node: SimNode, metas: EntryMeta[]): void {
    // Time first (a tick may depose it), so the log and consensus never disagree at a check.
    if (this.nowMs > node.raft.nowMs) this.input(node, { type: "tick", nowMs: this.nowMs });
    if (node.raft.role !== "primary") return;
    const entries = metas.map((meta, i) => {
      const seqno = node.base + node.log.length + 1 + i;
      const nonce = Math.floor(this.random() * 2 ** 32);
      const payload = createHash("sha256").update(`${meta.view}.${seqno}.${nonce}`).digest();
      return { ...meta, payload };
    });
    const signs: boolean[] = [];
    for (const entry of entries) {
      this.hold(node, entry);
      signs.push(entry.isSignature);
    }
    this.input(node, { type: "appended", entries: metas });
    if (node.pipeline.unsignedCount >= this.options.signatureIntervalTx && node.raft.role === "primary") {
      this.appendLocal(node, [{ view: node.raft.view, isSignature: true }]);
    }
    this.scheduleSync(node);
  }

  submit(id: NodeId, count: number): boolean {
    const node = this.node(id);
    if (!node.alive || node.retired || !acceptsWrites(node.raft)) return false;
    this.appendLocal(node, Array.from({ length: count }, () => ({ view: node.raft.view, isSignature: false })));
    return true;
  }

  sign(id: NodeId): void {
    const node = this.node(id);
    if (node.raft.role !== "primary") this.fail(`sign: ${id} is not primary`);
    this.appendLocal(node, [{ view: node.raft.view, isSignature: true }]);
  }

  /** Add a new node (started from a snapshot at the primary's commit) by a configuration entry. */
  addNode(primaryId: NodeId, id = `n${this.nextNodeNumber++}`): NodeId {
    const primary = this.node(primaryId);
    const commit = primary.raft.commitSeqno;
    const configuration = primary.raft.configurations[0]!.nodes;
    const history = primary.raft.viewHistory.filter((v) => v.seqno <= commit);
    const joiner = this.newNode(id, configuration, commit, commit > 0 ? this.committedChain.get(commit)! : "", history);
    this.nodes.set(id, joiner);
    const latest = primary.raft.configurations.at(-1)!.nodes;
    this.appendLocal(primary, [{ view: primary.raft.view, isSignature: false, configuration: [...latest, id] }]);
    return id;
  }

  removeNode(primaryId: NodeId, id: NodeId): void {
    const primary = this.node(primaryId);
    const latest = primary.raft.configurations.at(-1)!.nodes;
    this.appendLocal(primary, [{ view: primary.raft.view, isSignature: false, configuration: latest.filter((n) => n !== id) }]);
  }

  // ---- network, time, faults ----

  connected(a: NodeId, b: NodeId): boolean {
    if (this.partition.length === 0) return true;
    return this.partition.some((group) => group.includes(a) && group.includes(b));
  }

  private post(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    if (this.random() < this.dropRate) return;
    const copies = this.random() < this.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const atMs = this.nowMs + (this.delayMaxMs > 0 ? 1 + Math.floor(this.random() * this.delayMaxMs) : 0);
      this.network.push({ from, to, bytes, atMs, order: this.order++ });
    }
  }

  /** Delivers the messages matching `which` (all due ones by default), in due order. */
  deliver(which: (m: InFlight) => boolean = (m) => m.atMs <= this.nowMs): number {
    let delivered = 0;
    for (let round = 0; round < 10_000; round++) {
      const due = this.network.filter(which).sort((a, b) => a.atMs - b.atMs || a.order - b.order);
      if (due.length === 0) break;
      const set = new Set(due);
      this.network = this.network.filter((m) => !set.has(m));
      for (const m of due) {
        const to = this.nodes.get(m.to);
        if (!to || !to.alive || !this.connected(m.from, m.to)) continue;
        delivered++;
        this.input(to, { type: "message", from: m.from, message: decodeMessage(m.bytes) });
      }
      if (this.delayMaxMs > 0) break; // newly sent messages wait for their own delay
    }
    return delivered;
  }

  /** Moves time by `ms`: runs due syncs, then ticks every node. */
  advance(ms: number): void {
    this.nowMs += ms;
    for (const node of this.nodes.values()) if (node.alive && node.syncDueMs !== undefined && node.syncDueMs <= this.nowMs) this.sync(node);
    for (const node of this.nodes.values()) {
      this.input(node, { type: "tick", nowMs: this.nowMs });
      if (this.nowMs % this.options.signatureIntervalMs >= ms) continue; // the signature timer fires once per period
      if (node.alive && node.raft.role === "primary" && node.pipeline.timerFired().length > 0) this.sign(node.id);
    }
  }

  crash(id: NodeId): void {
    const node = this.node(id);
    node.alive = false;
    // The last unsynced writes may be lost: keep a seeded prefix of them (a torn entry is dropped on replay).
    const last = node.base + node.log.length;
    const kept = node.durable + Math.floor(this.random() * (last - node.durable + 1));
    node.log.length = kept - node.base;
    node.syncDueMs = undefined;
    this.network = this.network.filter((m) => m.to !== id);
  }

  restart(id: NodeId): void {
    const node = this.node(id);
    if (node.alive || node.retired) return;
    node.alive = true;
    Object.assign(node, this.boot(node));
  }
}

export interface RunOptions extends SimOptions {
  /** Simulated time with faults, then a fault-free stretch in which liveness must show. */
  faultMs?: number;
  livenessMs?: number;
  reconfigure?: boolean;
}

/** One seeded run: faults, client load and reconfiguration, then liveness. Throws InvariantError. */
export function simulate(options: RunOptions): Cluster {
  const c = new Cluster(options);
  const r = c.random;
  const faultMs = options.faultMs ?? 4000;
  const livenessMs = options.livenessMs ?? 20 * c.options.electionTimeoutMs;
  c.delayMaxMs = 20;
  c.dropRate = 0.05;
  c.duplicateRate = 0.02;
  const tickMs = 5;
  while (c.nowMs < faultMs) {
    c.advance(tickMs);
    c.deliver();
    const live = c.live();
    const roll = r();
    if (roll < 0.004) {
      const victim = live[Math.floor(r() * live.length)];
      if (victim && c.live().length > 1) c.crash(victim.id);
    } else if (roll < 0.012) {
      for (const node of c.nodes.values()) if (!node.alive && r() < 0.5) c.restart(node.id);
    } else if (roll < 0.016) {
      const ids = live.map((n) => n.id);
      const cut = ids.filter(() => r() < 0.4);
      c.partition = cut.length > 0 && cut.length < ids.length ? [cut, ids.filter((id) => !cut.includes(id))] : [];
    } else if (roll < 0.024) {
      c.partition = [];
    }
    const primary = c.primariesNow()[Math.floor(r() * c.primariesNow().length)];
    if (primary && r() < 0.2) c.submit(primary.id, 1 + Math.floor(r() * 3));
    if (options.reconfigure && primary && primary.raft.configurations.length === 1 && r() < 0.003) {
      const members = primary.raft.configurations[0]!.nodes;
      if (members.length < 5 && r() < 0.6) c.addNode(primary.id);
      else if (members.length > 2) c.removeNode(primary.id, members[Math.floor(r() * members.length)]!);
    }
  }
  // Faults stop: heal, restart everyone, reliable network. A primary must appear and commit a new transaction everywhere.
  c.partition = [];
  c.dropRate = 0;
  c.duplicateRate = 0;
  for (const node of c.nodes.values()) c.restart(node.id);
  const deadline = c.nowMs + livenessMs;
  let target: { seqno: number; chain: string } | undefined;
  while (c.nowMs < deadline) {
    c.advance(tickMs);
    c.deliver();
    const primaries = c.primariesNow();
    const primary = primaries.length === 1 ? primaries[0]! : undefined;
    if (!target && primary && primary.raft.commitSeqno >= lastSignatureSeqno(primary.raft) && c.submit(primary.id, 1)) {
      c.sign(primary.id);
      target = { seqno: primary.base + primary.log.length, chain: primary.log.at(-1)!.chain };
    }
    if (target && c.committedChain.get(target.seqno) !== target.chain && c.committedChain.has(target.seqno)) target = undefined; // rolled back: try again
    if (target && c.committedChain.get(target.seqno) === target.chain) {
      const members = new Set(c.live().flatMap((n) => (n.raft.role === "primary" ? [...n.raft.configurations.at(-1)!.nodes] : [])));
      if ([...members].every((id) => c.node(id).lastCommit >= target!.seqno)) return c;
    }
  }
  return c.fail(`liveness: no new transaction committed on every member within ${livenessMs} ms after the faults stopped`);
}
