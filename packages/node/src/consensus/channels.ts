// Node-to-node channels (CCF's node_to_node_interface) over mutually authenticated TLS.
//
// Who is talking is decided by certificates only, never by anything a peer says:
//  - a node listens with its node certificate and requires a client certificate that chains to
//    the service certificate (`ca`, `requestCert`, `rejectUnauthorized`); the caller's node id is
//    the SHA-256 of that certificate's public key (nodeIdOf), and it must be a current peer;
//  - a node dials a peer trusting only the service certificate, and the server's certificate must
//    carry exactly the node id it meant to reach (checkServerIdentity, in place of a host name check).
//
// Direction: as CCF's outgoing channels, each node dials each of its peers and sends only on that
// outgoing connection; it receives only on the connections peers dial to it. So a connection
// carries frames one way, and a server that writes to its client is misbehaving (closed).
//
// Each peer has a bounded queue (transport.ts Backlog): send() queues and returns at once; frames
// leave the queue as the socket accepts them (socket.write's return value and 'drain'). A message
// that waited longer than messageAgeMsMax is dropped instead of sent. A failed or lost connection
// is retried with exponential backoff and crypto-random jitter on the Clock, so tests can drive it;
// the TLS handshake timeout uses socket timers (real time), as it is about the socket, not the protocol.
import { X509Certificate, randomInt } from "node:crypto";
import { connect, createServer, type PeerCertificate, type Server, type TLSSocket } from "node:tls";
import type { Socket } from "node:net";
import { formatHostPort, parseHostPort, type HostPort } from "../address.ts";
import { after, systemClock, type Clock, type Timer } from "../clock.ts";
import { nodeIdOf } from "../crypto/keys.ts";
import {
  NODE_CHANNEL_HANDSHAKE_TIMEOUT_MS,
  NODE_CHANNEL_INBOUND_CONNECTIONS_MAX,
  NODE_CHANNEL_MESSAGE_AGE_MS_MAX,
  NODE_CHANNEL_RECONNECT_BASE_MS,
  NODE_CHANNEL_RECONNECT_MAX_MS,
} from "../limits.ts";
import { SILENT_LOG, type Log } from "../log.ts";
import { FrameError, FrameReader, frameHeader } from "./frames.ts";
import { Backlog, DEFAULT_QUEUE_LIMITS, type NodeId, type QueueLimits, type Transport } from "./transport.ts";

/** What a node authenticates with (src/identity.ts NodeIdentity has these fields). */
export interface ChannelIdentity {
  nodeId: NodeId;
  nodeCertPem: string;
  nodePrivateKeyPem: string;
  serviceCertPem: string;
}

export interface ChannelLimits extends QueueLimits {
  messageAgeMsMax: number;
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  handshakeTimeoutMs: number;
  inboundConnectionsMax: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  ...DEFAULT_QUEUE_LIMITS,
  messageAgeMsMax: NODE_CHANNEL_MESSAGE_AGE_MS_MAX,
  reconnectBaseMs: NODE_CHANNEL_RECONNECT_BASE_MS,
  reconnectMaxMs: NODE_CHANNEL_RECONNECT_MAX_MS,
  handshakeTimeoutMs: NODE_CHANNEL_HANDSHAKE_TIMEOUT_MS,
  inboundConnectionsMax: NODE_CHANNEL_INBOUND_CONNECTIONS_MAX,
};

export interface NodeChannelsOptions {
  identity: ChannelIdentity;
  /** Where to listen (node_to_node_interface.bind_address); port 0 picks a free port, see `address`. */
  listenAddress: string;
  /** Backoff timers and message ages; the system clock by default. */
  clock?: Clock;
  log?: Log;
  limits?: Partial<ChannelLimits>;
}

interface Queued {
  message: Uint8Array;
  queuedAtMs: number;
}

/** The sending side of one peer: its queue and its one outgoing connection. */
interface Outgoing {
  readonly id: NodeId;
  target: HostPort;
  readonly queue: Queued[];
  readonly backlog: Backlog;
  socket: TLSSocket | undefined;
  /** The handshake is done and frames may be written. */
  open: boolean;
  /** socket.write said to wait for 'drain'. */
  blocked: boolean;
  openedAtMs: number;
  /** Failed attempts since the last connection that lasted; sets the next backoff. */
  failures: number;
  retry: Timer | undefined;
}

/** The reconnect delay after `failures` failed attempts: base·2^(failures-1), capped, with half of it random. */
export function reconnectDelayMs(failures: number, limits: Pick<ChannelLimits, "reconnectBaseMs" | "reconnectMaxMs">): number {
  const cap = Math.min(limits.reconnectMaxMs, limits.reconnectBaseMs * 2 ** Math.max(0, failures - 1));
  const half = Math.floor(cap / 2);
  // Jitter keeps nodes that lost a peer together from redialling in lockstep.
  return half + randomInt(0, cap - half + 1);
}

/** The node id a certificate speaks for: the SHA-256 of its public key (CCF's node id). */
function nodeIdOfCertificate(certificate: X509Certificate): NodeId {
  return nodeIdOf(certificate.toString());
}

export class NodeChannels implements Transport {
  /** The "host:port" this node listens on (the bound port when listenAddress asked for port 0). */
  readonly address: string;
  private readonly outgoing = new Map<NodeId, Outgoing>();
  /** The latest authenticated connection from each peer; an older one is closed when a newer one arrives. */
  private readonly incoming = new Map<NodeId, TLSSocket>();
  /** Every socket the server accepted, so close() can end those still in the handshake too. */
  private readonly accepted = new Set<Socket>();
  private handler: ((from: NodeId, message: Uint8Array) => void) | undefined;
  private closed = false;

  private constructor(
    private readonly identity: ChannelIdentity,
    private readonly server: Server,
    private readonly clock: Clock,
    private readonly log: Log,
    private readonly limits: ChannelLimits,
  ) {
    const bound = server.address();
    if (bound === null || typeof bound === "string") throw new Error("node-to-node server is not bound to a TCP port");
    this.address = formatHostPort({ host: bound.address, port: bound.port });
  }

  /** Starts listening on `listenAddress` with the node's certificate. */
  static async listen(options: NodeChannelsOptions): Promise<NodeChannels> {
    const listen = parseHostPort(options.listenAddress);
    if (listen === undefined) throw new RangeError(`node-to-node address must be "host:port", got ${JSON.stringify(options.listenAddress)}`);
    const limits = { ...DEFAULT_CHANNEL_LIMITS, ...options.limits };
    const { identity } = options;
    const server = createServer({
      key: identity.nodePrivateKeyPem,
      cert: identity.nodeCertPem,
      ca: [identity.serviceCertPem],
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      handshakeTimeout: limits.handshakeTimeoutMs,
    });
    server.maxConnections = limits.inboundConnectionsMax;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(listen.port, listen.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const channels = new NodeChannels(identity, server, options.clock ?? systemClock, options.log ?? SILENT_LOG, limits);
    channels.serve();
    return channels;
  }

  send(to: NodeId, message: Uint8Array): boolean {
    const peer = this.closed ? undefined : this.outgoing.get(to);
    if (peer === undefined || !peer.backlog.tryAdd(message.byteLength)) return false;
    peer.queue.push({ message, queuedAtMs: this.clock.now() });
    this.flush(peer);
    return true;
  }

  onMessage(handler: (from: NodeId, message: Uint8Array) => void): void {
    this.handler = handler;
  }

  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.closed) return;
    const targets = new Map<NodeId, HostPort>();
    for (const [id, address] of peers) {
      const target = parseHostPort(address);
      if (target === undefined) throw new RangeError(`peer ${id}: node-to-node address must be "host:port", got ${JSON.stringify(address)}`);
      if (id !== this.identity.nodeId) targets.set(id, target);
    }
    for (const peer of [...this.outgoing.values()]) {
      if (!targets.has(peer.id)) this.forget(peer.id);
    }
    for (const [id, socket] of [...this.incoming]) {
      if (!targets.has(id)) {
        this.log.info(`node-to-node: closing the connection from ${id}: no longer a peer`);
        socket.destroy();
      }
    }
    for (const [id, target] of targets) {
      const peer = this.outgoing.get(id);
      if (peer === undefined) {
        const added: Outgoing = {
          id, target, queue: [], backlog: new Backlog(this.limits), socket: undefined, open: false, blocked: false,
          openedAtMs: 0, failures: 0, retry: undefined,
        };
        this.outgoing.set(id, added);
        this.dial(added);
      } else if (formatHostPort(peer.target) !== formatHostPort(target)) {
        peer.target = target;
        peer.socket?.destroy(); // its 'close' redials the new address
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const sockets: Socket[] = [...this.accepted];
    for (const peer of this.outgoing.values()) {
      peer.retry?.cancel();
      if (peer.socket) sockets.push(peer.socket);
    }
    this.outgoing.clear();
    this.incoming.clear();
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([serverClosed, ...sockets.map(destroyed)]);
  }

  // ---- receiving: the server side -------------------------------------------------------------

  private serve(): void {
    this.server.on("connection", (socket: Socket) => {
      this.accepted.add(socket);
      socket.once("close", () => this.accepted.delete(socket));
    });
    this.server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
      this.log.info(`node-to-node: refused a connection from ${socket.remoteAddress}:${socket.remotePort}: ${error.message}`);
      socket.destroy();
    });
    this.server.on("secureConnection", (socket: TLSSocket) => this.accept(socket));
  }

  private accept(socket: TLSSocket): void {
    socket.on("error", (error) => this.log.debug(`node-to-node: incoming connection error: ${error.message}`));
    const certificate = socket.getPeerX509Certificate();
    const from = certificate && nodeIdOfCertificate(certificate);
    if (this.closed || from === undefined || !this.outgoing.has(from)) {
      this.log.info(`node-to-node: refused node ${from ?? "(no certificate)"}: not a peer`);
      socket.destroy();
      return;
    }
    const previous = this.incoming.get(from);
    this.incoming.set(from, socket);
    previous?.destroy();
    this.redialNow(from);
    const reader = new FrameReader(this.limits.messageBytesMax);
    socket.on("data", (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        if (!(error instanceof FrameError)) throw error;
        this.log.warn(`node-to-node: closing the connection from ${from}: ${error.message}`);
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        // The handler may have made `from` no longer a peer (setPeers destroys the socket).
        if (socket.destroyed) return;
        this.handler?.(from, frame);
      }
    });
    socket.on("close", () => {
      if (reader.midFrame) this.log.info(`node-to-node: the connection from ${from} ended inside a frame; its partial frame is dropped`);
      if (this.incoming.get(from) === socket) this.incoming.delete(from);
    });
  }

  // ---- sending: one outgoing connection per peer ----------------------------------------------

  private dial(peer: Outgoing): void {
    peer.retry = undefined;
    const socket = connect({
      host: peer.target.host,
      port: peer.target.port,
      key: this.identity.nodePrivateKeyPem,
      cert: this.identity.nodeCertPem,
      ca: [this.identity.serviceCertPem],
      rejectUnauthorized: true,
      minVersion: "TLSv1.3",
      // The peer is named by its node id, not by a host name.
      checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
        const id = nodeIdOfCertificate(new X509Certificate(certificate.raw));
        return id === peer.id ? undefined : new Error(`expected node ${peer.id}, the server is node ${id}`);
      },
    });
    peer.socket = socket;
    socket.setTimeout(this.limits.handshakeTimeoutMs, () => socket.destroy(new Error("TLS handshake timed out")));
    socket.once("secureConnect", () => {
      socket.setTimeout(0);
      peer.open = true;
      peer.openedAtMs = this.clock.now();
      this.log.debug(`node-to-node: connected to ${peer.id} at ${formatHostPort(peer.target)}`);
      this.flush(peer);
    });
    socket.on("data", () => {
      this.log.warn(`node-to-node: ${peer.id} wrote on our outgoing connection; closing it`);
      socket.destroy();
    });
    socket.on("error", (error) => this.log.debug(`node-to-node: connection to ${peer.id}: ${error.message}`));
    socket.once("close", () => this.lost(peer, socket));
  }

  /**
   * A peer that just connected to us is up and listening: a redial waiting out its backoff goes now.
   * (A node that joins listens only once it is trusted, while its primary has been dialling it since
   * the trust entry: without this, its first entries waited up to a second of backoff.)
   */
  private redialNow(id: NodeId): void {
    const peer = this.outgoing.get(id);
    if (peer === undefined || peer.socket !== undefined || peer.retry === undefined) return;
    peer.retry.cancel();
    peer.failures = 0;
    this.dial(peer);
  }

  /** A connection ended (or never opened): redial after a backoff, unless the peer is gone. */
  private lost(peer: Outgoing, socket: TLSSocket): void {
    if (peer.socket !== socket) return;
    const lasted = peer.open && this.clock.now() - peer.openedAtMs >= this.limits.reconnectMaxMs;
    peer.socket = undefined;
    peer.open = false;
    peer.blocked = false;
    if (this.closed || this.outgoing.get(peer.id) !== peer) return;
    // A connection that lasted resets the backoff; one refused right after the handshake does not,
    // so a peer that does not (yet) accept us is not redialled in a tight loop.
    peer.failures = lasted ? 1 : peer.failures + 1;
    const delayMs = reconnectDelayMs(peer.failures, this.limits);
    this.log.debug(`node-to-node: redialling ${peer.id} in ${delayMs} ms (attempt ${peer.failures})`);
    peer.retry = after(this.clock, delayMs, () => this.dial(peer));
  }

  /** Writes queued frames while the socket takes them; drops those that waited too long. */
  private flush(peer: Outgoing): void {
    const socket = peer.socket;
    if (socket === undefined || !peer.open || peer.blocked) return;
    let stale = 0;
    for (let next = peer.queue.shift(); next !== undefined; next = peer.queue.shift()) {
      peer.backlog.remove(next.message.byteLength);
      if (this.clock.now() - next.queuedAtMs > this.limits.messageAgeMsMax) {
        stale++;
        continue;
      }
      socket.cork();
      socket.write(frameHeader(next.message.byteLength));
      const more = socket.write(next.message);
      socket.uncork();
      if (!more) {
        peer.blocked = true;
        socket.once("drain", () => {
          peer.blocked = false;
          this.flush(peer);
        });
        break;
      }
    }
    if (stale > 0) this.log.info(`node-to-node: dropped ${stale} message(s) for ${peer.id} queued longer than ${this.limits.messageAgeMsMax} ms`);
  }

  private forget(id: NodeId): void {
    const peer = this.outgoing.get(id);
    if (peer === undefined) return;
    this.outgoing.delete(id);
    peer.retry?.cancel();
    peer.socket?.destroy();
  }
}

/** Destroys a socket and resolves once its handle is released. */
function destroyed(socket: Socket): Promise<void> {
  if (socket.closed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once("close", () => resolve());
    socket.destroy();
  });
}
