// The Transport port's contract, run against both implementations: node-to-node channels (real TLS on
// 127.0.0.1, ephemeral ports) and the simulated network. Under normal conditions each peer's messages
// arrive once, in order, byte for byte; send() refuses non-peers, oversize messages and full queues;
// a receiver takes messages only from its peers; close() releases every socket and timer.
import assert from "node:assert/strict";
import { createHook } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { connect, createServer, type AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { SimulatedClock, systemClock, type Clock, type Timer } from "../src/clock.ts";
import { NodeChannels } from "../src/consensus/channels.ts";
import { SimulatedNetwork } from "../src/consensus/simulated-network.ts";
import type { NodeId, Transport } from "../src/consensus/transport.ts";
import { createNodeIdentity, createServiceIdentity } from "./helpers/node-identities.ts";
import { seededRandom } from "./helpers/seeded-random.ts";
import type { ChannelIdentity, ChannelLimits } from "../src/consensus/channels.ts";

interface Received {
  from: NodeId;
  message: Uint8Array;
}

interface Cluster {
  ids: NodeId[];
  transports: Transport[];
  /** The node-to-node address of node i. */
  addressOf(i: number): string;
  /** What each node's handler got, in arrival order. */
  received: Received[][];
  /** Lets time pass (real or simulated) until `done` holds; fails after `boundMs` (10 s by default). */
  settle(done: () => boolean, boundMs?: number): Promise<void>;
  /** Lets time pass a little without expecting anything. */
  idle(): Promise<void>;
  /** Sockets, servers and timers still held: empty once every transport is closed. */
  resources(): string[];
}

interface Implementation {
  name: string;
  /** `size` nodes, each with all the others as peers unless `linked` is false. */
  cluster(size: number, options?: { limits?: Partial<ChannelLimits>; linked?: boolean }): Promise<Cluster>;
  /** Whether a sender's queue can fill with its peer reachable: the simulation's queue is what is in flight, which drains only as time passes. */
  fillsWhileReachable: boolean;
}

function addresses(ids: NodeId[], of: (i: number) => string): Map<NodeId, string> {
  return new Map(ids.map((id, i) => [id, of(i)]));
}

function record(transports: Transport[]): Received[][] {
  return transports.map((transport, i) => {
    const got: Received[] = [];
    transport.onMessage((from, message) => got.push({ from, message }));
    return got;
  });
}

let service: Awaited<ReturnType<typeof createServiceIdentity>>;
const identities: ChannelIdentity[] = [];

/** Sockets and servers opened from now on and not yet closed (async_hooks sees each handle's creation and release). */
function trackSockets(): { live(): string[]; stop(): void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type === "TCPWRAP" || type === "TCPSERVERWRAP") live.set(id, type);
    },
    destroy(id) {
      live.delete(id);
    },
  }).enable();
  return { live: () => [...live.values()], stop: () => void hook.disable() };
}

/** The system clock, counting the timers set on it and not yet cancelled or run. */
function countingClock(): Clock & { timers: number } {
  const clock = {
    timers: 0,
    now: () => systemClock.now(),
    every(intervalMs: number, run: () => void): Timer {
      const timer = systemClock.every(intervalMs, run);
      clock.timers++;
      let live = true;
      return {
        ...timer,
        cancel() {
          if (live) clock.timers--;
          live = false;
          timer.cancel();
        },
      };
    },
  };
  return clock;
}

const real: Implementation = {
  name: "NodeChannels (TLS)",
  fillsWhileReachable: false,
  async cluster(size, options) {
    const sockets = trackSockets();
    const clock = countingClock();
    const transports = await Promise.all(
      identities.slice(0, size).map((identity) => NodeChannels.listen({ identity, listenAddress: "127.0.0.1:0", clock, ...(options?.limits ? { limits: options.limits } : {}) })),
    );
    const ids = identities.slice(0, size).map((identity) => identity.nodeId);
    const addressOf = (i: number) => transports[i]!.address;
    if (options?.linked !== false) for (const t of transports) t.setPeers(addresses(ids, addressOf));
    return {
      ids,
      transports,
      addressOf,
      received: record(transports),
      async settle(done, boundMs = 10_000) {
        for (let waited = 0; !done(); waited += 5) {
          if (waited > boundMs) throw new Error(`not settled within ${boundMs} ms`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      },
      idle: () => new Promise((resolve) => setTimeout(resolve, 200)),
      resources() {
        const now = [...sockets.live(), ...Array<string>(clock.timers).fill("timer")];
        if (now.length === 0) sockets.stop();
        return now;
      },
    };
  },
};

const simulated: Implementation = {
  name: "SimulatedNetwork",
  fillsWhileReachable: true,
  async cluster(size, options) {
    const clock = new SimulatedClock(1_000_000);
    const network = new SimulatedNetwork({ clock, random: seededRandom(17), faults: { delayMsMin: 1, delayMsMax: 20 }, ...(options?.limits ? { limits: options.limits } : {}) });
    const ids = Array.from({ length: size }, (_, i) => `n${i}`);
    const transports = ids.map((id) => network.transport(id));
    const addressOf = (i: number) => `10.0.0.${i}:8000`;
    if (options?.linked !== false) for (const t of transports) t.setPeers(addresses(ids, addressOf));
    return {
      ids,
      transports,
      addressOf,
      received: record(transports),
      async settle(done, boundMs = 10_000) {
        for (let waited = 0; !done(); waited++) {
          if (waited > boundMs) throw new Error(`not settled within ${boundMs} simulated ms`);
          clock.advance(1);
        }
      },
      idle: async () => clock.advance(1000),
      resources: () => (clock.nextDueMs === undefined ? [] : ["timer"]),
    };
  },
};

before(async () => {
  service = await createServiceIdentity();
  for (let i = 0; i < 3; i++) identities.push(await createNodeIdentity(service));
});

for (const implementation of [real, simulated]) {
  describe(`Transport conformance: ${implementation.name}`, () => {
    let cluster: Cluster;
    after(async () => {
      await Promise.all(cluster.transports.map((t) => t.close()));
    });

    it("delivers each peer's messages once and in order, between every pair", async () => {
      cluster = await implementation.cluster(3);
      const { ids, transports, received } = cluster;
      const perLink = 50;
      for (let round = 0; round < perLink; round++) {
        transports.forEach((t, i) => {
          for (const to of ids) if (to !== ids[i]) assert.equal(t.send(to, Buffer.from(`${ids[i]}:${round}`)), true);
        });
      }
      await cluster.settle(() => received.every((got) => got.length === 2 * perLink));
      received.forEach((got, i) => {
        for (const from of ids.filter((id) => id !== ids[i])) {
          const texts = got.filter((r) => r.from === from).map((r) => Buffer.from(r.message).toString());
          assert.deepEqual(texts, Array.from({ length: perLink }, (_, round) => `${from}:${round}`));
        }
      });
      await Promise.all(transports.map((t) => t.close()));
    });

    it("keeps bytes intact: empty, one byte, and a 4 MiB message", async () => {
      cluster = await implementation.cluster(2);
      const [a] = cluster.transports;
      const messages = [new Uint8Array(0), Uint8Array.of(0), randomBytes(4 * 1024 * 1024), Uint8Array.of(0, 0, 0, 0)];
      for (const message of messages) assert.equal(a!.send(cluster.ids[1]!, message), true);
      await cluster.settle(() => cluster.received[1]!.length === messages.length);
      assert.deepEqual(cluster.received[1]!.map((r) => Buffer.from(r.message)), messages.map((m) => Buffer.from(m)));
      assert.ok(cluster.received[1]!.every((r) => r.from === cluster.ids[0]));
      await Promise.all(cluster.transports.map((t) => t.close()));
    });

    it("refuses to send to a node that is not a peer, to itself, or to a peer no longer listed", async () => {
      cluster = await implementation.cluster(2);
      const [a] = cluster.transports;
      const [selfId, peerId] = cluster.ids as [NodeId, NodeId];
      assert.equal(a!.send("ab".repeat(32), Buffer.from("x")), false);
      assert.equal(a!.send(selfId, Buffer.from("x")), false);
      a!.setPeers(new Map());
      assert.equal(a!.send(peerId, Buffer.from("x")), false);
      await Promise.all(cluster.transports.map((t) => t.close()));
    });

    it("takes messages only from its peers", async () => {
      cluster = await implementation.cluster(2);
      const [a, b] = cluster.transports;
      // b knows a (so a's address is known to it), but only a lists b: a's messages are refused.
      b!.setPeers(new Map());
      assert.equal(a!.send(cluster.ids[1]!, Buffer.from("not for you")), true);
      await cluster.idle();
      assert.deepEqual(cluster.received[1], []);
      await Promise.all(cluster.transports.map((t) => t.close()));
    });

    it("refuses a message over the frame bound, and messages past the queue's message and byte bounds", async () => {
      const limits = { queueMessagesMax: 4, queueBytesMax: 1000, messageBytesMax: 600 };
      cluster = await implementation.cluster(2, { limits, linked: implementation.fillsWhileReachable });
      const [a] = cluster.transports;
      const to = cluster.ids[1]!;
      // The real sender's peer listens nowhere, so its queue waits; the simulation's waits for time to pass.
      if (!implementation.fillsWhileReachable) a!.setPeers(new Map([[to, await closedPortAddress()]]));
      assert.equal(a!.send(to, new Uint8Array(601)), false, "over messageBytesMax");
      for (let i = 0; i < 3; i++) assert.equal(a!.send(to, new Uint8Array(300)), true);
      assert.equal(a!.send(to, new Uint8Array(300)), false, "would be 1200 bytes");
      assert.equal(a!.send(to, new Uint8Array(100)), true, "exactly 1000 bytes, 4 messages");
      assert.equal(a!.send(to, new Uint8Array(0)), false, "a fifth message");
      await Promise.all(cluster.transports.map((t) => t.close()));
    });

    it("close() releases every socket, server and timer, also mid-handshake and mid-backoff; send() is refused after it", async () => {
      // A peer that accepts TCP and never answers the handshake, and one where nothing listens (in backoff).
      const silent = createServer((socket) => socket.on("error", () => {}).resume());
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
      // Slow backoff, so a retry timer is pending at close().
      cluster = await implementation.cluster(3, { limits: { reconnectBaseMs: 5000, reconnectMaxMs: 5000 } });
      const { ids, transports, received } = cluster;
      const [silentPeer, absentPeer] = ["cd".repeat(32), "ef".repeat(32)];
      const peers = new Map(ids.map((id, i) => [id, cluster.addressOf(i)]));
      transports[0]!.setPeers(new Map([...peers, [silentPeer, silentAddress], [absentPeer, await closedPortAddress()]]));
      // A client that connects to node 0 and never starts its handshake.
      const address = /^127\.0\.0\.1:(\d+)$/.exec(cluster.addressOf(0));
      if (address) connect(Number(address[1]), "127.0.0.1").on("error", () => {}).resume();
      assert.equal(transports[1]!.send(ids[0]!, Buffer.from("hello")), true);
      await cluster.settle(() => received[0]!.length === 1);
      assert.equal(transports[0]!.send(silentPeer, Buffer.from("queued")), true);
      await cluster.idle();
      // Node 0 closes first, while its peers' connections to it and a handshake are still open.
      await within(1000, transports[0]!.close());
      await Promise.all(transports.map((t) => t.close()));
      // Sockets the test holds close as soon as node 0's end of them does (well under any timeout).
      await cluster.settle(() => cluster.resources().length === 0, 1000);
      assert.equal(transports[0]!.send(ids[1]!, Buffer.from("late")), false);
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
  });
}

/** `promise`, or a failure if it takes longer than `ms` (real time). */
async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** An address where nothing listens: a port the OS gave us, closed again. */
async function closedPortAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `127.0.0.1:${port}`;
}
