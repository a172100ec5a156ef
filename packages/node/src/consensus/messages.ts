// The consensus messages between nodes and their binary wire form. AppendEntries carries each
// entry's metadata (view, signature flag, configuration) and its payload as opaque bytes (the
// driver puts ledger frames there); decoding checks every length against limits.ts, so a
// malformed or truncated message is a clear error, never a large allocation.
import { seqNo, view, type SeqNo, type View } from "../ids.ts";
import { ByteReader, WriteSetFormatError } from "../kv/byte-reader.ts";
import {
  CONSENSUS_BATCH_ENTRIES_MAX,
  CONSENSUS_CONFIGURATION_NODES_MAX,
  CONSENSUS_MESSAGE_BYTES_MAX,
  CONSENSUS_NODE_ID_BYTES_MAX,
} from "../limits.ts";

/** A node's id (CCF: hex of the hash of its public key). */
export type NodeId = string;

/** What consensus knows of a log entry. `configuration` present: from here on the trusted nodes are exactly these. */
export interface EntryMeta {
  readonly view: View;
  readonly isSignature: boolean;
  readonly configuration?: readonly NodeId[];
}

export interface LogEntry extends EntryMeta {
  /** The driver's bytes (a ledger frame), passed through untouched. */
  readonly payload: Uint8Array;
}

export interface AppendEntries {
  readonly type: "AppendEntries";
  readonly view: View;
  /** The entry before `entries` (0: the start of the log), which the receiver must hold in `prevView`. */
  readonly prevSeqno: SeqNo;
  readonly prevView: View;
  /** The primary's commit seqno. */
  readonly commitSeqno: SeqNo;
  readonly entries: readonly LogEntry[];
}

export interface AppendEntriesResponse {
  readonly type: "AppendEntriesResponse";
  readonly view: View;
  readonly success: boolean;
  /** Success: the seqno the receiver holds durably and matching. Failure: where the primary should resume (a hint). */
  readonly seqno: SeqNo;
  /** The receiver's commit seqno (so the primary knows when a removed node learnt of its removal). */
  readonly commitSeqno: SeqNo;
}

export interface RequestVote {
  readonly type: "RequestVote";
  readonly view: View;
  /** The candidate's last signature (committable) entry. */
  readonly lastSignatureSeqno: SeqNo;
  readonly lastSignatureView: View;
}

export interface RequestVoteResponse {
  readonly type: "RequestVoteResponse";
  readonly view: View;
  readonly granted: boolean;
}

/** CCF's ProposeRequestVote: a retiring primary asks its most up-to-date successor to stand now. */
export interface ProposeRequestVote {
  readonly type: "ProposeRequestVote";
  readonly view: View;
}

export type RaftMessage = AppendEntries | AppendEntriesResponse | RequestVote | RequestVoteResponse | ProposeRequestVote;

/** Bytes that are not a consensus message. */
export class ConsensusMessageError extends Error {}

const TAGS = ["AppendEntries", "AppendEntriesResponse", "RequestVote", "RequestVoteResponse", "ProposeRequestVote"] as const;
const FLAG_SIGNATURE = 1;
const FLAG_CONFIGURATION = 2;

class Writer {
  private readonly chunks: Buffer[] = [];
  u16(n: number): void {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(n);
    this.chunks.push(b);
  }
  u32(n: number): void {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(n);
    this.chunks.push(b);
  }
  /** Seqnos and views: integers up to 2^53, as a double. */
  num(n: number): void {
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleLE(n);
    this.chunks.push(b);
  }
  bytes(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  id(id: NodeId): void {
    const b = Buffer.from(id, "utf8");
    if (b.length > CONSENSUS_NODE_ID_BYTES_MAX) throw new RangeError(`node id of ${b.length} bytes`);
    this.u16(b.length);
    this.chunks.push(b);
  }
  done(): Uint8Array {
    return Buffer.concat(this.chunks);
  }
}

export function encodeMessage(message: RaftMessage): Uint8Array {
  const w = new Writer();
  w.u16(TAGS.indexOf(message.type));
  w.num(message.view);
  switch (message.type) {
    case "AppendEntries":
      w.num(message.prevSeqno);
      w.num(message.prevView);
      w.num(message.commitSeqno);
      w.u32(message.entries.length);
      for (const entry of message.entries) {
        w.num(entry.view);
        w.u16((entry.isSignature ? FLAG_SIGNATURE : 0) | (entry.configuration ? FLAG_CONFIGURATION : 0));
        if (entry.configuration) {
          w.u16(entry.configuration.length);
          for (const id of entry.configuration) w.id(id);
        }
        w.bytes(entry.payload);
      }
      break;
    case "AppendEntriesResponse":
      w.u16(message.success ? 1 : 0);
      w.num(message.seqno);
      w.num(message.commitSeqno);
      break;
    case "RequestVote":
      w.num(message.lastSignatureSeqno);
      w.num(message.lastSignatureView);
      break;
    case "RequestVoteResponse":
      w.u16(message.granted ? 1 : 0);
      break;
    case "ProposeRequestVote":
      break;
  }
  return w.done();
}

export function decodeMessage(bytes: Uint8Array): RaftMessage {
  if (bytes.length > CONSENSUS_MESSAGE_BYTES_MAX) throw new ConsensusMessageError(`consensus message of ${bytes.length} bytes exceeds ${CONSENSUS_MESSAGE_BYTES_MAX}`);
  const r = new ByteReader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), "consensus message");
  try {
    const message = read(r);
    r.end();
    return message;
  } catch (error) {
    if (error instanceof WriteSetFormatError) throw new ConsensusMessageError(error.message);
    throw error;
  }
}

function read(r: ByteReader): RaftMessage {
  const tag = r.u16();
  const type = TAGS[tag];
  if (type === undefined) throw new ConsensusMessageError(`unknown consensus message type ${tag}`);
  const v = view(count(r, "view"));
  switch (type) {
    case "AppendEntries": {
      const prevSeqno = seqNo(count(r, "prevSeqno"));
      const prevView = view(count(r, "prevView"));
      const commitSeqno = seqNo(count(r, "commitSeqno"));
      const n = r.u32();
      if (n > CONSENSUS_BATCH_ENTRIES_MAX) throw new ConsensusMessageError(`AppendEntries with ${n} entries exceeds ${CONSENSUS_BATCH_ENTRIES_MAX}`);
      const entries: LogEntry[] = [];
      for (let i = 0; i < n; i++) entries.push(readEntry(r));
      return { type, view: v, prevSeqno, prevView, commitSeqno, entries };
    }
    case "AppendEntriesResponse":
      return { type, view: v, success: flag(r), seqno: seqNo(count(r, "seqno")), commitSeqno: seqNo(count(r, "commitSeqno")) };
    case "RequestVote":
      return { type, view: v, lastSignatureSeqno: seqNo(count(r, "lastSignatureSeqno")), lastSignatureView: view(count(r, "lastSignatureView")) };
    case "RequestVoteResponse":
      return { type, view: v, granted: flag(r) };
    case "ProposeRequestVote":
      return { type, view: v };
  }
}

function readEntry(r: ByteReader): LogEntry {
  const v = view(count(r, "entry view"));
  const flags = r.u16();
  if (flags & ~(FLAG_SIGNATURE | FLAG_CONFIGURATION)) throw new ConsensusMessageError(`unknown entry flags ${flags}`);
  let configuration: NodeId[] | undefined;
  if (flags & FLAG_CONFIGURATION) {
    const n = r.u16();
    if (n === 0 || n > CONSENSUS_CONFIGURATION_NODES_MAX) throw new ConsensusMessageError(`configuration of ${n} nodes (1..${CONSENSUS_CONFIGURATION_NODES_MAX})`);
    configuration = [];
    for (let i = 0; i < n; i++) {
      const length = r.u16();
      if (length > CONSENSUS_NODE_ID_BYTES_MAX) throw new ConsensusMessageError(`node id of ${length} bytes exceeds ${CONSENSUS_NODE_ID_BYTES_MAX}`);
      configuration.push(r.text(length, "utf8"));
    }
  }
  const payload = r.bytes(r.u32());
  const meta = { view: v, isSignature: (flags & FLAG_SIGNATURE) !== 0, payload };
  return configuration ? { ...meta, configuration } : meta;
}

function count(r: ByteReader, what: string): number {
  const n = r.f64();
  if (!Number.isSafeInteger(n) || n < 0) throw new ConsensusMessageError(`${what} ${n} is not a seqno or view`);
  return n;
}

function flag(r: ByteReader): boolean {
  const n = r.u16();
  if (n > 1) throw new ConsensusMessageError(`flag ${n} is neither 0 nor 1`);
  return n === 1;
}
