// CCF's node-to-node channels are authenticated by node certificates endorsed by the service identity:
// a node not endorsed by this service, or not a current peer, is refused as client and as server; the
// sender's id comes from its certificate; bad input from a peer closes that connection only; a peer that
// restarts gets what was queued for it; redial delays grow exponentially and stay bounded.
import assert from "node:assert/strict";
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { before, describe, it } from "node:test";
import { SimulatedClock } from "../src/clock.ts";
import { NodeChannels, type ChannelIdentity, type NodeChannelsOptions } from "../src/consensus/channels.ts";
import type { NodeId } from "../src/consensus/transport.ts";
import type { Log } from "../src/log.ts";
import { createNodeIdentity, createSelfSignedNodeIdentity, createServiceIdentity, type ServiceIdentity } from "./helpers/node-identities.ts";

let service: ServiceIdentity;
let a: ChannelIdentity, b: ChannelIdentity, c: ChannelIdentity;

before(async () => {
  service = await createServiceIdentity();
  [a, b, c] = await Promise.all([createNodeIdentity(service), createNodeIdentity(service), createNodeIdentity(service)]);
});

function memoryLog(): Log & { lines: string[] } {
  const lines: string[] = [];
  const push = (line: string) => void lines.push(line);
  return { lines, debug: push, info: push, warn: push, error: push };
}

async function start(identity: ChannelIdentity, extra: Partial<NodeChannelsOptions> = {}) {
  const channels = await NodeChannels.listen({ identity, listenAddress: "127.0.0.1:0", ...extra });
  const received: { from: NodeId; text: string }[] = [];
  channels.onMessage((from, message) => received.push({ from, text: Buffer.from(message).toString() }));
  return { channels, received };
}

const peersOf = (...entries: [ChannelIdentity, string][]) => new Map(entries.map(([identity, address]) => [identity.nodeId, address]));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(done: () => boolean, what: string, boundMs = 10_000): Promise<void> {
  for (let waited = 0; !done(); waited += 5) {
    if (waited > boundMs) throw new Error(`${what}: not within ${boundMs} ms`);
    await sleep(5);
  }
}

/** Two-way peering between node channels that trust each other. */
function link(x: { channels: NodeChannels }, xi: ChannelIdentity, y: { channels: NodeChannels }, yi: ChannelIdentity): void {
  x.channels.setPeers(peersOf([yi, y.channels.address]));
  y.channels.setPeers(peersOf([xi, x.channels.address]));
}

describe("node-to-node channels: who may talk", () => {
  for (const [kind, make] of [
    ["endorsed by another service", async () => createNodeIdentity(service, await createServiceIdentity())],
    ["self-signed", async () => createSelfSignedNodeIdentity(service)],
  ] as const) {
    it(`refuses a node ${kind}, as client and as server`, async () => {
      const stranger = await make();
      const log = memoryLog();
      const good = await start(a, { log });
      // The stranger trusts our service and lists us, so any refusal is ours.
      const bad = await start(stranger);
      link(good, a, bad, stranger);
      assert.equal(bad.channels.send(a.nodeId, Buffer.from("from the stranger")), true);
      assert.equal(good.channels.send(stranger.nodeId, Buffer.from("to the stranger")), true);
      await sleep(300);
      assert.deepEqual(good.received, []);
      assert.deepEqual(bad.received, [], "our client refused the stranger's server certificate");
      assert.ok(log.lines.some((line) => line.includes("refused a connection")), log.lines.join("\n"));
      await Promise.all([good.channels.close(), bad.channels.close()]);
    });
  }

  it("refuses a node endorsed by the service that is not a peer", async () => {
    const log = memoryLog();
    const x = await start(a, { log });
    const y = await start(b);
    x.channels.setPeers(peersOf([c, "127.0.0.1:1"]));
    y.channels.setPeers(peersOf([a, x.channels.address]));
    assert.equal(y.channels.send(a.nodeId, Buffer.from("let me in")), true);
    await until(() => log.lines.some((line) => line.includes(`refused node ${b.nodeId}: not a peer`)), "refusal logged");
    assert.deepEqual(x.received, []);
    await Promise.all([x.channels.close(), y.channels.close()]);
  });

  it("names the sender by its certificate: a node with A's certificate is A, and cannot serve as B", async () => {
    const x = await start(c);
    const impostor = await start(a);
    // C expects B at the impostor's address; the impostor (holding A's key and certificate) lists C.
    x.channels.setPeers(peersOf([a, "127.0.0.1:1"], [b, impostor.channels.address]));
    impostor.channels.setPeers(peersOf([c, x.channels.address]));
    assert.equal(x.channels.send(b.nodeId, Buffer.from("for B only")), true);
    assert.equal(impostor.channels.send(c.nodeId, Buffer.from("I am B")), true);
    await until(() => x.received.length === 1, "A's message");
    assert.deepEqual(x.received, [{ from: a.nodeId, text: "I am B" }]);
    await sleep(200);
    assert.deepEqual(impostor.received, [], "C never sends B's messages to a server with A's certificate");
    await Promise.all([x.channels.close(), impostor.channels.close()]);
  });
});

describe("node-to-node channels: bad input from a peer", () => {
  /** A TLS client holding B's credentials, speaking raw bytes to `address`. */
  async function rawPeer(address: string): Promise<TLSSocket> {
    const port = Number(address.split(":")[1]);
    const socket = tlsConnect({ host: "127.0.0.1", port, key: b.nodePrivateKeyPem, cert: b.nodeCertPem, ca: [service.certPem], checkServerIdentity: () => undefined });
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("secureConnect", resolve));
    return socket;
  }
  const closed = (socket: { once(event: "close", f: () => void): unknown }) => new Promise<void>((resolve) => socket.once("close", () => resolve()));

  it("an oversize frame, a truncated frame and non-TLS garbage close their connection; a good peer's messages still flow", async () => {
    const log = memoryLog();
    const x = await start(a, { log, limits: { messageBytesMax: 1024 } });
    const good = await start(c);
    x.channels.setPeers(peersOf([b, "127.0.0.1:1"], [c, good.channels.address]));
    good.channels.setPeers(peersOf([a, x.channels.address]));

    const oversize = await rawPeer(x.channels.address);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025);
    oversize.write(header);
    await closed(oversize);
    assert.ok(log.lines.some((line) => line.includes("over the 1024-byte bound")), log.lines.join("\n"));

    const truncated = await rawPeer(x.channels.address);
    header.writeUInt32BE(100);
    truncated.end(Buffer.concat([header, Buffer.from("only part")]));
    await closed(truncated);

    const garbage = tcpConnect(Number(x.channels.address.split(":")[1]), "127.0.0.1");
    garbage.on("error", () => {});
    garbage.resume();
    garbage.write(Buffer.from("GET / HTTP/1.1\r\n\r\n\x00\xff garbage"));
    await closed(garbage);

    assert.equal(good.channels.send(a.nodeId, Buffer.from("still here")), true);
    await until(() => x.received.length === 1, "the good peer's message");
    assert.deepEqual(x.received, [{ from: c.nodeId, text: "still here" }]);
    await until(() => log.lines.some((line) => line.includes("ended inside a frame")), "truncation logged");
    await Promise.all([x.channels.close(), good.channels.close()]);
  });
});

describe("node-to-node channels: reconnect", () => {
  it("a peer that goes down and comes back on the same port gets the messages queued meanwhile, in order", async () => {
    const limits = { reconnectBaseMs: 20, reconnectMaxMs: 200 };
    const x = await start(a, { limits });
    let y = await start(b);
    link(x, a, y, b);
    assert.equal(x.channels.send(b.nodeId, Buffer.from("before")), true);
    await until(() => y.received.length === 1, "first message");
    const address = y.channels.address;
    await y.channels.close();
    await sleep(100);
    for (const text of ["while down 1", "while down 2", "while down 3"]) assert.equal(x.channels.send(b.nodeId, Buffer.from(text)), true);
    y = await start(b, { listenAddress: address });
    y.channels.setPeers(peersOf([a, x.channels.address]));
    await until(() => y.received.length === 3, "queued messages after reconnect");
    assert.deepEqual(y.received.map((r) => r.text), ["while down 1", "while down 2", "while down 3"]);
    await Promise.all([x.channels.close(), y.channels.close()]);
  });

  it("redials with exponential backoff, bounded, with jitter, on the clock it is given", async () => {
    // A peer address that accepts TCP and hangs up at once: every dial is seen, and fails.
    let attempts = 0;
    const refuser = createTcpServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => refuser.listen(0, "127.0.0.1", resolve));
    const clock = new SimulatedClock(0);
    const limits = { reconnectBaseMs: 50, reconnectMaxMs: 400 };
    const x = await start(a, { clock, limits });
    x.channels.setPeers(peersOf([b, `127.0.0.1:${(refuser.address() as AddressInfo).port}`]));
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 8; attempt++) {
      await until(() => attempts === attempt && clock.nextDueMs !== undefined, `attempt ${attempt} failed and a redial is set`);
      const delay = clock.nextDueMs! - clock.now();
      delays.push(delay);
      clock.advance(delay - 1);
      await sleep(20);
      assert.equal(attempts, attempt, "no redial before its time");
      clock.advance(1);
    }
    const caps = [50, 100, 200, 400, 400, 400, 400, 400];
    delays.forEach((delay, i) => assert.ok(delay >= caps[i]! / 2 && delay <= caps[i]!, `delay ${i + 1} = ${delay} ms, cap ${caps[i]}`));
    assert.ok(new Set(delays.slice(3)).size > 1 || delays.slice(3).every((d) => d >= 200), "capped delays are jittered");
    await x.channels.close();
    await new Promise<void>((resolve) => refuser.close(() => resolve()));
  });

  it("redials a peer at once when that peer connects to it, instead of waiting out the backoff", async () => {
    // x dials y before y listens (a joiner listens only once trusted); the clock never moves, so only y's connection can trigger the redial.
    const clock = new SimulatedClock(0);
    const placeholder = await new Promise<number>((resolve) => {
      const server = createTcpServer();
      server.listen(0, "127.0.0.1", () => {
        const free = (server.address() as AddressInfo).port;
        server.close(() => resolve(free));
      });
    });
    const yAddress = `127.0.0.1:${placeholder}`;
    const x = await start(a, { clock, limits: { reconnectBaseMs: 60_000, reconnectMaxMs: 60_000 } });
    x.channels.setPeers(peersOf([b, yAddress]));
    assert.equal(x.channels.send(b.nodeId, Buffer.from("queued while y was down")), true);
    await until(() => clock.nextDueMs !== undefined, "x's first dial failed and a redial is set");
    const y = await start(b, { listenAddress: yAddress });
    y.channels.setPeers(peersOf([a, x.channels.address]));
    await until(() => y.received.length === 1, "x's message, without the clock moving");
    assert.equal(y.received[0]!.text, "queued while y was down");
    await Promise.all([x.channels.close(), y.channels.close()]);
  });

  it("drops a message queued longer than the age bound, and sends later ones", async () => {
    const clock = new SimulatedClock(0);
    const limits = { reconnectBaseMs: 10, reconnectMaxMs: 10, messageAgeMsMax: 1000 };
    const log = memoryLog();
    const x = await start(a, { clock, limits, log });
    const parked = createTcpServer();
    await new Promise<void>((resolve) => parked.listen(0, "127.0.0.1", resolve));
    const address = `127.0.0.1:${(parked.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => parked.close(() => resolve()));
    x.channels.setPeers(peersOf([b, address]));
    assert.equal(x.channels.send(b.nodeId, Buffer.from("stale")), true);
    clock.advance(1001);
    assert.equal(x.channels.send(b.nodeId, Buffer.from("fresh")), true);
    const y = await start(b, { listenAddress: address });
    y.channels.setPeers(peersOf([a, x.channels.address]));
    for (let i = 0; y.received.length === 0; i++) {
      if (i > 500) throw new Error("fresh message not delivered");
      clock.advance(10);
      await sleep(10);
    }
    assert.deepEqual(y.received.map((r) => r.text), ["fresh"]);
    assert.ok(log.lines.some((line) => line.includes("dropped 1 message(s)")), log.lines.join("\n"));
    await Promise.all([x.channels.close(), y.channels.close()]);
  });
});
