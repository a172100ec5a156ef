// CCF's Raft variant as a pure state machine (etcd style): step(state, input) returns the next
// state and the effects the driver performs, in array order. No I/O, no clock, no Math.random:
// time comes in ticks, chance from a seeded PRNG kept in the state. step never changes the state
// it is given (it works on a copy), so a driver or a simulator may keep any state it was returned.
//
// CCF's rules: only signature entries are commit points; a primary commits the highest signature
// of its own view that a majority of EACH active configuration holds durably; a configuration is
// active from the moment its entry is in the log; votes compare the last signature (view, then
// seqno); a new primary drops everything after its last signature and then signs in its view.
import { seqNo, view, type SeqNo, type View } from "../ids.ts";
import {
  CONSENSUS_BATCH_ENTRIES_MAX,
  CONSENSUS_ELECTION_TIMEOUT_MS,
  CONSENSUS_INFLIGHT_BATCHES_MAX,
  CONSENSUS_MESSAGE_TIMEOUT_MS,
  CONSENSUS_UNCOMMITTED_ENTRIES_MAX,
} from "../limits.ts";
import type { AppendEntries, AppendEntriesResponse, EntryMeta, LogEntry, NodeId, RaftMessage, RequestVote } from "./messages.ts";
import { nextRandom } from "./random.ts";

export type Role = "primary" | "backup" | "candidate" | "retired";

export interface RaftOptions {
  readonly electionTimeoutMs: number;
  readonly messageTimeoutMs: number;
  readonly batchEntriesMax: number;
  readonly inflightBatchesMax: number;
}

/** A trusted node set, active from the entry at `seqno`. */
export interface Configuration {
  readonly seqno: SeqNo;
  readonly nodes: readonly NodeId[];
}

/** Entries from `seqno` on are in `view` (CCF's view history). */
export interface ViewStart {
  readonly view: View;
  readonly seqno: SeqNo;
}

/** The primary's knowledge of one backup. */
export interface Progress {
  /** Highest seqno sent (optimistic). */
  readonly sentSeqno: SeqNo;
  /** Highest seqno the backup said it holds durably and matching. */
  readonly matchSeqno: SeqNo;
  readonly inflight: number;
  readonly heardMs: number;
  /** matchSeqno at the previous heartbeat: no progress since then means resend from matchSeqno. */
  readonly matchAtHeartbeat: SeqNo;
  /** Set once a committed configuration no longer has this node: sent to until it learns that commit. */
  readonly removedAt?: SeqNo;
}

export interface RaftState {
  readonly self: NodeId;
  readonly options: RaftOptions;
  readonly role: Role;
  readonly view: View;
  readonly votedFor: NodeId | undefined;
  readonly primary: NodeId | undefined;
  /** The snapshot the log starts from (0: none); entries at or below it are committed and not held. */
  readonly baseSeqno: SeqNo;
  readonly lastSeqno: SeqNo;
  readonly durableSeqno: SeqNo;
  readonly commitSeqno: SeqNo;
  /** Backup: highest seqno known to match the current primary's log. */
  readonly verifiedSeqno: SeqNo;
  /** Backup: the primary's commit seqno as last told. */
  readonly primaryCommitSeqno: SeqNo;
  readonly viewHistory: readonly ViewStart[];
  /** Signature seqnos after commitSeqno (commitSeqno itself is one, or the base). */
  readonly signatures: readonly SeqNo[];
  /** The last committed configuration, then every later one in the log: all are active. */
  readonly configurations: readonly Configuration[];
  /** Whether this node has been in a configuration (a joiner is not until its entry arrives). */
  readonly wasMember: boolean;
  readonly votes: readonly NodeId[];
  readonly progress: Readonly<Record<NodeId, Progress>>;
  readonly nowMs: number;
  readonly electionDeadlineMs: number;
  readonly heartbeatDueMs: number;
  /** The PRNG's state (mulberry32). */
  readonly random: number;
}

export type RaftInput =
  /** Time moved (the driver ticks from a Clock; deadlines are in the state). */
  | { readonly type: "tick"; readonly nowMs: number }
  | { readonly type: "message"; readonly from: NodeId; readonly message: RaftMessage }
  /** This primary appended entries after lastSeqno (client transactions, signatures, configurations). */
  | { readonly type: "appended"; readonly entries: readonly EntryMeta[] }
  /** The local log is durable (fsynced) through `seqno`. */
  | { readonly type: "durable"; readonly seqno: SeqNo }
  /** Stand for election now (an operator, a test, or an election timer the driver forces). */
  | { readonly type: "campaign" };

/** The header of an AppendEntries to send: the driver fills entries prevSeqno+1..lastSeqno from its ledger. */
export interface AppendEntriesToSend extends Omit<AppendEntries, "entries"> {
  readonly lastSeqno: SeqNo;
}

export type RaftEffect =
  /** Persist the view and vote durably before sending anything of this batch. */
  | { readonly type: "persist"; readonly view: View; readonly votedFor: NodeId | undefined }
  /** Truncate the local log (and store) after `seqno`. */
  | { readonly type: "rollback"; readonly seqno: SeqNo }
  /** Append these received entries at `seqno`.. (payloads untouched), then report durable(). */
  | { readonly type: "append"; readonly seqno: SeqNo; readonly entries: readonly LogEntry[] }
  | { readonly type: "send"; readonly to: NodeId; readonly message: Exclude<RaftMessage, AppendEntries> }
  | { readonly type: "sendAppendEntries"; readonly to: NodeId; readonly message: AppendEntriesToSend }
  | { readonly type: "commit"; readonly seqno: SeqNo }
  | { readonly type: "becomePrimary"; readonly view: View }
  | { readonly type: "becomeBackup"; readonly view: View; readonly primary: NodeId | undefined }
  | { readonly type: "becomeCandidate"; readonly view: View }
  /** Append a signature in the new view now (a new primary's first entry), then report appended(). */
  | { readonly type: "sign" }
  /** This node is out of the committed configuration: stop. */
  | { readonly type: "retired" };

const EFFECT_ORDER: Record<RaftEffect["type"], number> = {
  persist: 0, rollback: 1, append: 2, send: 3, sendAppendEntries: 3, commit: 4,
  becomePrimary: 5, becomeBackup: 5, becomeCandidate: 5, sign: 6, retired: 7,
};

/** A programmer error or a broken protocol invariant: the node must stop. */
export class RaftAssertionError extends Error {}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new RaftAssertionError(message);
}

export interface InitialStateOptions {
  readonly self: NodeId;
  /** The configuration in force at the snapshot (or at the start of the log). */
  readonly configuration: readonly NodeId[];
  /** Seeds the election-timeout PRNG (the creator's choice: a seeded simulation replays exactly). */
  readonly seed: number;
  readonly nowMs: number;
  readonly options?: Partial<RaftOptions>;
  /** Persisted by earlier persist effects. */
  readonly view?: View;
  readonly votedFor?: NodeId;
  /** The snapshot the log starts after, with the view history up to it (CCF snapshots carry it). */
  readonly snapshot?: { readonly seqno: SeqNo; readonly viewHistory: readonly ViewStart[] };
  /** Metadata of the entries held after the snapshot, in order (all durable: they were read back). */
  readonly entries?: readonly EntryMeta[];
  /** A seqno known committed (a signature, or the snapshot), at most the last entry. */
  readonly commitSeqno?: SeqNo;
}

export function initialState(init: InitialStateOptions): RaftState {
  const base = init.snapshot?.seqno ?? seqNo(0);
  const s: Draft = {
    self: init.self,
    options: {
      electionTimeoutMs: CONSENSUS_ELECTION_TIMEOUT_MS,
      messageTimeoutMs: CONSENSUS_MESSAGE_TIMEOUT_MS,
      batchEntriesMax: CONSENSUS_BATCH_ENTRIES_MAX,
      inflightBatchesMax: CONSENSUS_INFLIGHT_BATCHES_MAX,
      ...init.options,
    },
    role: "backup",
    view: init.view ?? view(0),
    votedFor: init.votedFor,
    primary: undefined,
    baseSeqno: base,
    lastSeqno: base,
    durableSeqno: base,
    commitSeqno: base,
    verifiedSeqno: base,
    primaryCommitSeqno: base,
    viewHistory: [...(init.snapshot?.viewHistory ?? [])],
    signatures: [],
    configurations: [{ seqno: base, nodes: [...init.configuration] }],
    wasMember: false,
    votes: [],
    progress: {},
    nowMs: init.nowMs,
    electionDeadlineMs: 0,
    heartbeatDueMs: 0,
    random: init.seed >>> 0,
  };
  assert(init.configuration.length > 0, "the initial configuration is empty");
  for (const entry of init.entries ?? []) appendMeta(s, entry);
  s.durableSeqno = s.lastSeqno;
  const commit = init.commitSeqno ?? base;
  assert(commit >= base && commit <= s.lastSeqno, `commit seqno ${commit} is outside ${base}..${s.lastSeqno}`);
  if (commit > base) {
    assert(s.signatures.includes(commit), `commit seqno ${commit} is not a signature`);
    commitTo(s, commit, []);
  }
  s.verifiedSeqno = s.primaryCommitSeqno = s.commitSeqno;
  if (s.view < viewAt(s, s.lastSeqno)) s.view = viewAt(s, s.lastSeqno);
  s.wasMember = isMember(s);
  resetElectionDeadline(s);
  return s;
}

// ---- read helpers ----

export const role = (s: RaftState): Role => s.role;
export const currentView = (s: RaftState): View => s.view;
export const primaryOf = (s: RaftState): NodeId | undefined => s.primary;
export const commitSeqno = (s: RaftState): SeqNo => s.commitSeqno;
export const lastSeqno = (s: RaftState): SeqNo => s.lastSeqno;

/** The last signature (committable) entry held: the commit point, or a later signature. */
export function lastSignatureSeqno(s: RaftState): SeqNo {
  return s.signatures.at(-1) ?? s.commitSeqno;
}

/** The view of the entry at `seqno` (0 before the log; meaningless past lastSeqno). */
export function viewAt(s: RaftState, seqno: number): View {
  let found: View = view(0);
  for (const start of s.viewHistory) {
    if (start.seqno > seqno) break;
    found = start.view;
  }
  return found;
}

/** Every active configuration's nodes (the committed one first). */
export function activeConfigurations(s: RaftState): readonly (readonly NodeId[])[] {
  return s.configurations.map((c) => c.nodes);
}

export function isMember(s: RaftState, node: NodeId = s.self): boolean {
  return s.configurations.some((c) => c.nodes.includes(node));
}

/** Whether a primary may append a write now (CCF's max_uncommitted_tx_count). */
export function acceptsWrites(s: RaftState): boolean {
  return s.role === "primary" && s.lastSeqno - s.commitSeqno < CONSENSUS_UNCOMMITTED_ENTRIES_MAX;
}

/** When the driver must tick next for a deadline to fire. */
export function nextDeadlineMs(s: RaftState): number {
  if (s.role === "retired") return Infinity;
  if (s.role === "primary") return s.heartbeatDueMs;
  return isMember(s) ? s.electionDeadlineMs : Infinity;
}

// ---- the step ----

type Draft = { -readonly [K in Exclude<keyof RaftState, "viewHistory" | "signatures" | "configurations" | "votes" | "progress">]: RaftState[K] } & {
  viewHistory: ViewStart[];
  signatures: SeqNo[];
  configurations: Configuration[];
  votes: NodeId[];
  progress: Record<NodeId, MutableProgress>;
};
type MutableProgress = { -readonly [K in keyof Progress]: Progress[K] };

function draftOf(s: RaftState): Draft {
  const progress: Record<NodeId, MutableProgress> = {};
  for (const [id, p] of Object.entries(s.progress)) progress[id] = { ...p };
  return {
    ...s,
    viewHistory: [...s.viewHistory],
    signatures: [...s.signatures],
    configurations: [...s.configurations],
    votes: [...s.votes],
    progress,
  };
}

export function step(state: RaftState, input: RaftInput): { state: RaftState; effects: RaftEffect[] } {
  if (state.role === "retired") return { state, effects: [] };
  const s = draftOf(state);
  const out: RaftEffect[] = [];
  switch (input.type) {
    case "tick":
      tick(s, input.nowMs, out);
      break;
    case "message":
      receive(s, input.from, input.message, out);
      break;
    case "appended":
      appended(s, input.entries, out);
      break;
    case "durable":
      durable(s, input.seqno, out);
      break;
    case "campaign":
      if (s.role !== "primary" && isMember(s)) startElection(s, out);
      break;
  }
  settle(state, s, out);
  // A stable sort keeps each kind's own order; persist precedes every send.
  out.sort((a, b) => EFFECT_ORDER[a.type] - EFFECT_ORDER[b.type]);
  return { state: s, effects: out };
}

/** Effects that follow from comparing the states: persist, role changes, retirement. */
function settle(before: RaftState, s: Draft, out: RaftEffect[]): void {
  if (s.wasMember && s.configurations.length === 1 && !isMember(s)) retire(s, out);
  if (s.view !== before.view || s.votedFor !== before.votedFor) out.push({ type: "persist", view: s.view, votedFor: s.votedFor });
  if (s.role === before.role && s.view === before.view && s.primary === before.primary) return;
  if (s.role === "primary") out.push({ type: "becomePrimary", view: s.view });
  else if (s.role === "candidate") out.push({ type: "becomeCandidate", view: s.view });
  else if (s.role === "backup") out.push({ type: "becomeBackup", view: s.view, primary: s.primary });
}

function retire(s: Draft, out: RaftEffect[]): void {
  if (s.role === "primary") {
    // Tell everyone the commit that retires us, and hand over to the most up-to-date successor.
    heartbeat(s, out, false);
    let best: NodeId | undefined;
    for (const id of s.configurations[0]!.nodes) {
      const p = s.progress[id];
      if (p && (best === undefined || p.matchSeqno > s.progress[best]!.matchSeqno)) best = id;
    }
    if (best !== undefined) out.push({ type: "send", to: best, message: { type: "ProposeRequestVote", view: s.view } });
  }
  s.role = "retired";
  s.primary = undefined;
  s.progress = {};
  out.push({ type: "retired" });
}

function tick(s: Draft, nowMs: number, out: RaftEffect[]): void {
  if (nowMs > s.nowMs) s.nowMs = nowMs;
  if (s.role === "primary") {
    if (s.nowMs < s.heartbeatDueMs) return;
    if (!quorumHeard(s)) return stepDown(s);
    heartbeat(s, out, true);
  } else if (s.nowMs >= s.electionDeadlineMs && isMember(s)) {
    startElection(s, out);
  }
}

/** CheckQuorum: a primary that has not heard from a majority of each active configuration within an election timeout steps down. */
function quorumHeard(s: Draft): boolean {
  return hasQuorum(s, (id) => id === s.self || s.nowMs - (s.progress[id]?.heardMs ?? -Infinity) <= s.options.electionTimeoutMs);
}

function stepDown(s: Draft): void {
  s.role = "backup";
  s.primary = undefined;
  s.progress = {};
  resetElectionDeadline(s);
}

function resetElectionDeadline(s: Draft): void {
  const [r, next] = nextRandom(s.random);
  s.random = next;
  s.electionDeadlineMs = s.nowMs + s.options.electionTimeoutMs * (1 + r);
}

/** Majority of each active configuration satisfies `holds`. */
function hasQuorum(s: Draft, holds: (id: NodeId) => boolean): boolean {
  return s.configurations.every((c) => 2 * c.nodes.filter(holds).length > c.nodes.length);
}

function peers(s: Draft): NodeId[] {
  const ids = new Set<NodeId>();
  for (const c of s.configurations) for (const id of c.nodes) if (id !== s.self) ids.add(id);
  return [...ids];
}

function startElection(s: Draft, out: RaftEffect[]): void {
  s.view = view(s.view + 1);
  s.role = "candidate";
  s.primary = undefined;
  s.votedFor = s.self;
  s.votes = [s.self];
  s.progress = {};
  s.verifiedSeqno = s.commitSeqno;
  resetElectionDeadline(s);
  const last = lastSignatureSeqno(s);
  for (const to of peers(s)) {
    out.push({ type: "send", to, message: { type: "RequestVote", view: s.view, lastSignatureSeqno: last, lastSignatureView: viewAt(s, last) } });
  }
  if (hasQuorum(s, (id) => s.votes.includes(id))) becomePrimary(s, out);
}

function becomePrimary(s: Draft, out: RaftEffect[]): void {
  // CCF: entries after the last signature are dropped on election; only they are.
  const last = lastSignatureSeqno(s);
  if (s.lastSeqno > last) rollbackTo(s, last, out);
  s.role = "primary";
  s.primary = s.self;
  s.votes = [];
  s.progress = {};
  for (const id of peers(s)) s.progress[id] = freshProgress(s);
  out.push({ type: "sign" });
  heartbeat(s, out, false);
}

function freshProgress(s: Draft): MutableProgress {
  return { sentSeqno: s.lastSeqno, matchSeqno: seqNo(0), inflight: 0, heardMs: s.nowMs, matchAtHeartbeat: seqNo(0) };
}

/** Every message timeout: resend what made no progress, then entries or an empty AppendEntries to each backup. */
function heartbeat(s: Draft, out: RaftEffect[], resend: boolean): void {
  s.heartbeatDueMs = s.nowMs + s.options.messageTimeoutMs;
  for (const [id, p] of Object.entries(s.progress)) {
    if (p.removedAt !== undefined && s.nowMs - p.heardMs > s.options.electionTimeoutMs) {
      delete s.progress[id]; // a removed node that stopped answering has gone
      continue;
    }
    if (resend && p.sentSeqno > p.matchSeqno && p.matchSeqno === p.matchAtHeartbeat) {
      p.sentSeqno = p.matchSeqno;
      p.inflight = 0;
    }
    p.matchAtHeartbeat = p.matchSeqno;
    if (p.sentSeqno < s.lastSeqno) replicate(s, id, out);
    else sendAppendEntries(s, id, p, out);
  }
}

function replicate(s: Draft, to: NodeId, out: RaftEffect[]): void {
  const p = s.progress[to];
  if (!p) return;
  while (p.inflight < s.options.inflightBatchesMax && p.sentSeqno < s.lastSeqno) sendAppendEntries(s, to, p, out);
}

function sendAppendEntries(s: Draft, to: NodeId, p: MutableProgress, out: RaftEffect[]): void {
  const prevSeqno = p.sentSeqno;
  const lastSeqno = seqNo(Math.min(s.lastSeqno, prevSeqno + s.options.batchEntriesMax));
  out.push({
    type: "sendAppendEntries",
    to,
    message: { type: "AppendEntries", view: s.view, prevSeqno, prevView: viewAt(s, prevSeqno), commitSeqno: s.commitSeqno, lastSeqno },
  });
  if (lastSeqno > prevSeqno) {
    p.sentSeqno = lastSeqno;
    p.inflight++;
  }
}

function appendMeta(s: Draft, entry: EntryMeta): void {
  s.lastSeqno = seqNo(s.lastSeqno + 1);
  const lastStart = s.viewHistory.at(-1);
  if (!lastStart || lastStart.view !== entry.view) {
    assert(!lastStart || entry.view > lastStart.view, `entry ${s.lastSeqno} in view ${entry.view} follows view ${lastStart?.view}`);
    s.viewHistory.push({ view: entry.view, seqno: s.lastSeqno });
  }
  if (entry.isSignature) s.signatures.push(s.lastSeqno);
  if (entry.configuration) {
    assert(entry.configuration.length > 0, `configuration at ${s.lastSeqno} is empty`);
    s.configurations.push({ seqno: s.lastSeqno, nodes: [...entry.configuration] });
    if (entry.configuration.includes(s.self)) s.wasMember = true;
  }
}

function rollbackTo(s: Draft, seqno: SeqNo, out: RaftEffect[]): void {
  assert(seqno >= s.commitSeqno, `rollback to ${seqno} is below commit seqno ${s.commitSeqno}`);
  s.lastSeqno = seqno;
  s.durableSeqno = seqNo(Math.min(s.durableSeqno, seqno));
  s.verifiedSeqno = seqNo(Math.min(s.verifiedSeqno, seqno));
  while ((s.viewHistory.at(-1)?.seqno ?? 0) > seqno) s.viewHistory.pop();
  while ((s.signatures.at(-1) ?? 0) > seqno) s.signatures.pop();
  while (s.configurations.length > 1 && s.configurations.at(-1)!.seqno > seqno) s.configurations.pop();
  out.push({ type: "rollback", seqno });
}

function commitTo(s: Draft, seqno: SeqNo, out: RaftEffect[]): void {
  assert(seqno === s.baseSeqno || s.signatures.includes(seqno), `commit seqno ${seqno} is not a signature`);
  assert(seqno <= s.lastSeqno, `commit seqno ${seqno} is past the last seqno ${s.lastSeqno}`);
  s.commitSeqno = seqno;
  s.signatures = s.signatures.filter((sig) => sig > seqno);
  let committed = 0;
  while (committed + 1 < s.configurations.length && s.configurations[committed + 1]!.seqno <= seqno) committed++;
  s.configurations = s.configurations.slice(committed);
  if (s.role === "primary") {
    // Nodes the committed configuration dropped still hear from us until they learn of it.
    for (const [id, p] of Object.entries(s.progress)) if (!isMember(s, id) && p.removedAt === undefined) p.removedAt = s.configurations[0]!.seqno;
  }
  out.push({ type: "commit", seqno });
}

function appended(s: Draft, entries: readonly EntryMeta[], out: RaftEffect[]): void {
  assert(s.role === "primary", `${s.self} is not primary: it cannot append`);
  for (const entry of entries) {
    assert(entry.view === s.view, `entry in view ${entry.view} appended in view ${s.view}`);
    appendMeta(s, entry);
    if (entry.configuration) for (const id of entry.configuration) if (id !== s.self && !s.progress[id]) s.progress[id] = freshProgress(s);
  }
  for (const id of Object.keys(s.progress)) replicate(s, id, out);
}

function durable(s: Draft, seqno: SeqNo, out: RaftEffect[]): void {
  const d = Math.min(seqno, s.lastSeqno);
  if (d <= s.durableSeqno) return;
  s.durableSeqno = seqNo(d);
  if (s.role === "primary") return primaryCommit(s, out);
  backupCommit(s, out);
  if (s.primary !== undefined) respond(s, s.primary, true, ackSeqno(s), out);
}

function ackSeqno(s: Draft): SeqNo {
  return seqNo(Math.min(s.durableSeqno, s.verifiedSeqno));
}

function primaryCommit(s: Draft, out: RaftEffect[]): void {
  const acked = (id: NodeId, seqno: number): boolean => (id === s.self ? s.durableSeqno : s.progress[id]?.matchSeqno ?? 0) >= seqno;
  for (let i = s.signatures.length - 1; i >= 0; i--) {
    const sig = s.signatures[i]!;
    if (viewAt(s, sig) !== s.view) break; // Raft's rule: only this view's signatures commit
    if (hasQuorum(s, (id) => acked(id, sig))) return commitTo(s, sig, out);
  }
}

function backupCommit(s: Draft, out: RaftEffect[]): void {
  const bound = Math.min(s.primaryCommitSeqno, s.verifiedSeqno, s.durableSeqno);
  let best: SeqNo | undefined;
  for (const sig of s.signatures) if (sig <= bound) best = sig;
  if (best !== undefined) commitTo(s, best, out);
}

function respond(s: Draft, to: NodeId, success: boolean, seqno: SeqNo, out: RaftEffect[]): void {
  out.push({ type: "send", to, message: { type: "AppendEntriesResponse", view: s.view, success, seqno, commitSeqno: s.commitSeqno } });
}

/** A higher view from anyone: follow it, as a backup with no vote and no known primary yet. */
function adoptView(s: Draft, v: View): void {
  s.view = v;
  s.votedFor = undefined;
  s.votes = [];
  s.verifiedSeqno = s.commitSeqno;
  if (s.role !== "backup") stepDown(s);
  s.primary = undefined;
}

function receive(s: Draft, from: NodeId, m: RaftMessage, out: RaftEffect[]): void {
  // A vote request from outside every active configuration cannot win here: it must not disrupt either.
  if (m.type === "RequestVote" && !isMember(s, from)) return;
  if (m.view > s.view) adoptView(s, m.view);
  switch (m.type) {
    case "AppendEntries":
      return receiveAppendEntries(s, from, m, out);
    case "AppendEntriesResponse":
      return receiveAppendEntriesResponse(s, from, m, out);
    case "RequestVote":
      return receiveRequestVote(s, from, m, out);
    case "RequestVoteResponse":
      if (m.view === s.view && s.role === "candidate" && m.granted && isMember(s, from) && !s.votes.includes(from)) {
        s.votes.push(from);
        if (hasQuorum(s, (id) => s.votes.includes(id))) becomePrimary(s, out);
      }
      return;
    case "ProposeRequestVote":
      if (m.view === s.view && s.role === "backup" && isMember(s)) startElection(s, out);
      return;
  }
}

function receiveAppendEntriesResponse(s: Draft, from: NodeId, m: AppendEntriesResponse, out: RaftEffect[]): void {
    const p = s.progress[from];
    if (m.view !== s.view || s.role !== "primary" || !p) return;
    p.heardMs = s.nowMs;
    if (m.success) {
      p.matchSeqno = seqNo(Math.max(p.matchSeqno, Math.min(m.seqno, s.lastSeqno)));
      p.inflight = Math.max(0, p.inflight - 1);
      if (p.sentSeqno < p.matchSeqno) p.sentSeqno = p.matchSeqno;
      if (p.removedAt !== undefined && m.commitSeqno >= p.removedAt) {
        delete s.progress[from];
        return;
      }
      primaryCommit(s, out);
      if (s.role === "primary") replicate(s, from, out);
    } else {
      // May go below our snapshot: the driver then serves older entries from ledger files.
    p.sentSeqno = seqNo(Math.max(p.matchSeqno, Math.min(m.seqno, p.sentSeqno)));
      p.inflight = 0;
      if (p.sentSeqno < s.lastSeqno) replicate(s, from, out);
      else sendAppendEntries(s, from, p, out);
    }
}

function receiveAppendEntries(s: Draft, from: NodeId, m: AppendEntries, out: RaftEffect[]): void {
  if (m.view < s.view) return respond(s, from, false, s.lastSeqno, out); // tells a deposed primary the view
  assert(s.role !== "primary", `${s.self} and ${from} are both primary in view ${s.view}`);
  if (s.role === "candidate") stepDown(s);
  s.primary = from;
  s.primaryCommitSeqno = seqNo(Math.max(s.primaryCommitSeqno, m.commitSeqno));
  resetElectionDeadline(s);
  const floor = Math.max(s.commitSeqno, s.baseSeqno); // at or below it, every legitimate log matches
  if (m.prevSeqno > s.lastSeqno) return respond(s, from, false, s.lastSeqno, out);
  if (m.prevSeqno > floor && viewAt(s, m.prevSeqno) !== m.prevView) return respond(s, from, false, divergenceHint(s, m), out);
  let seqno = m.prevSeqno;
  let first = 0;
  for (; first < m.entries.length; first++) {
    const entry = m.entries[first]!;
    seqno++;
    if (seqno > s.lastSeqno) break;
    if (seqno <= s.baseSeqno) continue; // held in the snapshot
    if (viewAt(s, seqno) === entry.view) continue; // same view at a seqno: the same entry
    assert(seqno > s.commitSeqno, `committed entry ${seqno} conflicts with view ${entry.view} from ${from}`);
    rollbackTo(s, seqNo(seqno - 1), out);
    break;
  }
  if (first < m.entries.length) {
    const fresh = m.entries.slice(first);
    out.push({ type: "append", seqno: seqNo(s.lastSeqno + 1), entries: fresh });
    for (const entry of fresh) appendMeta(s, entry);
  }
  s.verifiedSeqno = seqNo(Math.max(s.verifiedSeqno, m.prevSeqno + m.entries.length));
  backupCommit(s, out);
  respond(s, from, true, ackSeqno(s), out);
}

/** CCF's faster divergence resolution: skip back over whole views newer than the primary's prevView. */
function divergenceHint(s: Draft, m: AppendEntries): SeqNo {
  let h = Math.min(s.lastSeqno, m.prevSeqno - 1);
  const floor = Math.max(s.commitSeqno, s.baseSeqno);
  while (h > floor && viewAt(s, h) > m.prevView) {
    const start = [...s.viewHistory].reverse().find((v) => v.seqno <= h)!;
    h = start.seqno - 1;
  }
  return seqNo(Math.max(h, floor));
}

function receiveRequestVote(s: Draft, from: NodeId, m: RequestVote, out: RaftEffect[]): void {
  const mine = lastSignatureSeqno(s);
  const mineView = viewAt(s, mine);
  const upToDate = m.lastSignatureView > mineView || (m.lastSignatureView === mineView && m.lastSignatureSeqno >= mine);
  const granted = m.view === s.view && s.role === "backup" && (s.votedFor === undefined || s.votedFor === from) && upToDate;
  if (granted) {
    s.votedFor = from;
    resetElectionDeadline(s);
  }
  out.push({ type: "send", to: from, message: { type: "RequestVoteResponse", view: s.view, granted } });
}
