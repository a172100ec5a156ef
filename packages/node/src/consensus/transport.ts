// The Transport port: how consensus hands opaque messages to its peers. Two implementations
// share these semantics: NodeChannels (mutually authenticated TLS between nodes, channels.ts) and
// SimulatedNetwork (seeded delay, drop, duplicate, reorder, partitions, crashes; simulated-network.ts).
// Delivery is best effort: a message may be dropped (full queue, unknown peer, lost connection,
// crash), and consensus retries by itself, as Raft does. Neither implementation ever blocks the caller.
import {
  NODE_CHANNEL_FRAME_BYTES_MAX,
  NODE_CHANNEL_QUEUE_BYTES_MAX,
  NODE_CHANNEL_QUEUE_MESSAGES_MAX,
} from "../limits.ts";

/** A node id as CCF derives it: hex SHA-256 of the node public key's DER (crypto/keys.ts nodeIdOf). */
export type NodeId = string;

export interface Transport {
  /**
   * Queues `message` for `to`. Never blocks, never throws for a slow or absent peer: returns false
   * (and drops the message) when `to` is not a peer, when its queue is full, when the message is
   * larger than one frame may be, or after close(). True means queued, not delivered.
   */
  send(to: NodeId, message: Uint8Array): boolean;
  /** Receives every message from an authenticated peer (one handler; a later call replaces it). */
  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void;
  /**
   * The peers and their node-to-node addresses ("host:port"); peers not listed are disconnected and
   * forgotten, with whatever was queued for them. Messages from a node that is not a peer are refused.
   * The node's own id, if listed, is ignored.
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void;
  /** Stops sending and receiving and releases every socket and timer; queued messages are lost. */
  close(): Promise<void>;
}

/** The bounds behind send()'s false: per peer, so one slow peer cannot starve the others or grow memory. */
export interface QueueLimits {
  /** Messages waiting for one peer. */
  queueMessagesMax: number;
  /** Bytes waiting for one peer. */
  queueBytesMax: number;
  /** Largest single message (a frame's payload). */
  messageBytesMax: number;
}

export const DEFAULT_QUEUE_LIMITS: QueueLimits = {
  queueMessagesMax: NODE_CHANNEL_QUEUE_MESSAGES_MAX,
  queueBytesMax: NODE_CHANNEL_QUEUE_BYTES_MAX,
  messageBytesMax: NODE_CHANNEL_FRAME_BYTES_MAX,
};

/** Counts what waits for one peer, and says whether one more message fits the bounds. */
export class Backlog {
  messages = 0;
  bytes = 0;

  constructor(private readonly limits: QueueLimits) {}

  /** Counts a message of `bytes` if it fits; false (counting nothing) if it does not. */
  tryAdd(bytes: number): boolean {
    if (bytes > this.limits.messageBytesMax) return false;
    if (this.messages + 1 > this.limits.queueMessagesMax || this.bytes + bytes > this.limits.queueBytesMax) return false;
    this.messages++;
    this.bytes += bytes;
    return true;
  }

  remove(bytes: number): void {
    this.messages--;
    this.bytes -= bytes;
  }
}
