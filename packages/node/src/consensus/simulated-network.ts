// The Transport's simulated twin: one SimulatedNetwork per test hands out a Transport per node and
// delivers through a simulated Clock, with seeded delay, drop, duplication, reordering, partitions
// and crashes. Every choice comes from the `random` passed in, and deliveries run as clock timers
// (ties in creation order), so the same seed and the same calls give the same delivery trace.
//
// It keeps NodeChannels' semantics: send() is refused for a non-peer, an oversize message or a full
// queue (here the queue is what is in flight on the link), and a receiver accepts only messages from
// its own peers. Messages crossing a partition, to or from a crashed node, are lost, as consensus expects.
import { after, type Clock, type Timer } from "../clock.ts";
import { Backlog, DEFAULT_QUEUE_LIMITS, type NodeId, type QueueLimits, type Transport } from "./transport.ts";

export interface NetworkFaults {
  /** Each message (and each duplicate) takes a delay drawn uniformly from [delayMsMin, delayMsMax]; at least 1 ms. */
  delayMsMin: number;
  delayMsMax: number;
  /** Probability that a sent message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice (the copy has its own delay). */
  duplicateRate: number;
  /** When false, each link stays first in, first out whatever the delays; when true, delays may reorder it. */
  reorder: boolean;
}

export const NO_FAULTS: NetworkFaults = { delayMsMin: 1, delayMsMax: 1, dropRate: 0, duplicateRate: 0, reorder: false };

export interface SimulatedNetworkOptions {
  clock: Clock;
  /** A seeded PRNG returning [0, 1) (test/helpers/seeded-random.ts): the network's only source of chance. */
  random: () => number;
  faults?: Partial<NetworkFaults>;
  limits?: Partial<QueueLimits>;
}

interface InFlight {
  from: NodeId;
  to: NodeId;
  message: Uint8Array;
  timer: Timer;
}

export class SimulatedNetwork {
  private readonly clock: Clock;
  private readonly random: () => number;
  private faults: NetworkFaults;
  private readonly limits: QueueLimits;
  /** Each node's current incarnation; a crash kills it and a restart makes a new one. */
  private readonly nodes = new Map<NodeId, SimulatedTransport>();
  private readonly inFlight = new Set<InFlight>();
  /** What is in flight per link ("from to"), against the queue bounds. */
  private readonly backlogs = new Map<string, Backlog>();
  /** When the last message on each link is due, to keep a link in order when `reorder` is off. */
  private readonly lastDueMs = new Map<string, number>();
  /** Links cut by partition(), as "from to". */
  private readonly cut = new Set<string>();

  constructor(options: SimulatedNetworkOptions) {
    this.clock = options.clock;
    this.random = options.random;
    this.faults = { ...NO_FAULTS, ...options.faults };
    this.limits = { ...DEFAULT_QUEUE_LIMITS, ...options.limits };
  }

  /** The transport of `node` (the same one on every call until it crashes). */
  transport(node: NodeId): Transport {
    let transport = this.nodes.get(node);
    if (transport === undefined) {
      transport = new SimulatedTransport(node, this);
      this.nodes.set(node, transport);
    }
    return transport;
  }

  /** Changes the faults from now on (messages already in flight keep their fate). */
  setFaults(faults: Partial<NetworkFaults>): void {
    this.faults = { ...this.faults, ...faults };
  }

  /** Cuts every link between a node of `a` and a node of `b`, both ways, until heal(). */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cut.add(link(x, y));
        this.cut.add(link(y, x));
      }
    }
  }

  /** Restores every link cut by partition(). */
  heal(): void {
    this.cut.clear();
  }

  /** Stops `node`: its transport is dead from now on and every message in flight to or from it is lost. */
  crash(node: NodeId): void {
    const transport = this.nodes.get(node);
    if (transport === undefined || !transport.alive) throw new Error(`node ${node} is not running`);
    transport.alive = false;
    for (const flight of [...this.inFlight]) {
      if (flight.from === node || flight.to === node) this.discard(flight);
    }
  }

  /** Starts a crashed node again with a fresh transport: no peers, no handler, as a new process. */
  restart(node: NodeId): Transport {
    const old = this.nodes.get(node);
    if (old?.alive) throw new Error(`node ${node} is running: crash it first`);
    this.nodes.delete(node);
    return this.transport(node);
  }

  /** @internal SimulatedTransport.send: decides the message's fate with the seeded PRNG. */
  enqueue(from: NodeId, to: NodeId, message: Uint8Array): boolean {
    const key = link(from, to);
    let backlog = this.backlogs.get(key);
    if (backlog === undefined) {
      backlog = new Backlog(this.limits);
      this.backlogs.set(key, backlog);
    }
    if (!backlog.tryAdd(message.byteLength)) return false;
    // The message is accepted; from here on it may still be lost, as on a real network.
    if (this.cut.has(key) || this.random() < this.faults.dropRate) {
      backlog.remove(message.byteLength);
      return true;
    }
    this.schedule(key, { from, to, message: message.slice() });
    // A duplicate counts against the queue too, and is not made when it does not fit.
    if (this.random() < this.faults.duplicateRate && backlog.tryAdd(message.byteLength)) {
      this.schedule(key, { from, to, message: message.slice() });
    }
    return true;
  }

  private schedule(key: string, flight: Omit<InFlight, "timer">): void {
    const { delayMsMin, delayMsMax, reorder } = this.faults;
    const delayMs = Math.max(1, delayMsMin + Math.floor(this.random() * (delayMsMax - delayMsMin + 1)));
    let dueMs = this.clock.now() + delayMs;
    if (!reorder) dueMs = Math.max(dueMs, this.lastDueMs.get(key) ?? 0);
    this.lastDueMs.set(key, dueMs);
    const entry: InFlight = { ...flight, timer: after(this.clock, dueMs - this.clock.now(), () => this.deliver(entry)) };
    this.inFlight.add(entry);
  }

  private deliver(flight: InFlight): void {
    this.release(flight);
    const sender = this.nodes.get(flight.from);
    const receiver = this.nodes.get(flight.to);
    if (!sender?.alive || !receiver?.alive || this.cut.has(link(flight.from, flight.to))) return;
    receiver.receive(flight.from, flight.message);
  }

  private discard(flight: InFlight): void {
    flight.timer.cancel();
    this.release(flight);
  }

  private release(flight: InFlight): void {
    this.inFlight.delete(flight);
    this.backlogs.get(link(flight.from, flight.to))?.remove(flight.message.byteLength);
  }
}

function link(from: NodeId, to: NodeId): string {
  return `${from} ${to}`;
}

/** One incarnation of a node's transport on a SimulatedNetwork. */
class SimulatedTransport implements Transport {
  alive = true;
  private peers = new Set<NodeId>();
  private handler: ((from: NodeId, message: Uint8Array) => void) | undefined;

  constructor(
    private readonly id: NodeId,
    private readonly network: SimulatedNetwork,
  ) {}

  send(to: NodeId, message: Uint8Array): boolean {
    if (!this.alive || !this.peers.has(to)) return false;
    return this.network.enqueue(this.id, to, message);
  }

  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void {
    this.handler = handler;
  }

  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.peers = new Set([...peers.keys()].filter((id) => id !== this.id));
  }

  /** Closing is the node stopping: as a crash, its messages in flight are lost. */
  async close(): Promise<void> {
    if (this.alive) this.network.crash(this.id);
  }

  /** Called by the network: a receiver takes messages only from its peers, as NodeChannels' server does. */
  receive(from: NodeId, message: Uint8Array): void {
    if (this.alive && this.peers.has(from)) this.handler?.(from, message);
  }
}
