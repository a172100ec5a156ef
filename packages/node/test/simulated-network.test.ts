// The simulated network replays exactly from its seed, and models the faults consensus must survive:
// partitions block both ways until healed, a crash loses what was in flight, drops and duplicates happen
// at the seeded rates, and a restarted node is a fresh transport.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SimulatedClock } from "../src/clock.ts";
import { SimulatedNetwork, type NetworkFaults } from "../src/consensus/simulated-network.ts";
import type { Transport } from "../src/consensus/transport.ts";
import { seededRandom } from "./helpers/seeded-random.ts";

const IDS = ["n0", "n1", "n2"];

function cluster(seed: number, faults: Partial<NetworkFaults> = {}) {
  const clock = new SimulatedClock(0);
  const network = new SimulatedNetwork({ clock, random: seededRandom(seed), faults });
  const trace: string[] = [];
  const transports = IDS.map((id) => network.transport(id));
  const wire = (id: string, transport: Transport) => {
    transport.setPeers(new Map(IDS.map((peer) => [peer, `${peer}:1`])));
    transport.onMessage((from, message) => trace.push(`${clock.now()} ${from}->${id} ${Buffer.from(message).toString()}`));
  };
  IDS.forEach((id, i) => wire(id, transports[i]!));
  return { clock, network, trace, transports, wire };
}

function chatter(c: ReturnType<typeof cluster>, rounds: number): void {
  for (let round = 0; round < rounds; round++) {
    c.transports.forEach((t, i) => IDS.forEach((to) => to !== IDS[i] && t.send(to, Buffer.from(`${IDS[i]}#${round}`))));
    c.clock.advance(3);
  }
  c.clock.advance(1000);
}

const FAULTY: Partial<NetworkFaults> = { delayMsMin: 1, delayMsMax: 40, dropRate: 0.2, duplicateRate: 0.1, reorder: true };

describe("SimulatedNetwork", () => {
  it("the same seed gives the same delivery trace; another seed another", () => {
    const runs = [1, 1, 2].map((seed) => {
      const c = cluster(seed, FAULTY);
      chatter(c, 50);
      return c.trace;
    });
    assert.deepEqual(runs[0], runs[1]);
    assert.notDeepEqual(runs[0], runs[2]);
    assert.ok(runs[0]!.length > 100);
  });

  it("drops, duplicates and reorders at the seeded rates when told to", () => {
    const c = cluster(7, FAULTY);
    chatter(c, 200);
    const sent = 200 * 6;
    const keys = c.trace.map((line) => line.split(" ").slice(1).join(" "));
    const distinct = new Set(keys).size;
    assert.ok(distinct < sent * 0.9 && distinct > sent * 0.7, `~20% dropped: ${distinct} of ${sent} arrived`);
    assert.ok(keys.length > distinct, "some duplicated");
    const fromN0toN1 = keys.filter((k) => k.startsWith("n0->n1")).map((k) => Number(k.split("#")[1]));
    assert.notDeepEqual(fromN0toN1, [...fromN0toN1].sort((x, y) => x - y), "some reordered");
  });

  it("a partition blocks both ways, also for messages already in flight; heal restores", () => {
    const c = cluster(3, { delayMsMin: 5, delayMsMax: 5 });
    c.transports[0]!.send("n1", Buffer.from("in flight"));
    c.network.partition(["n0"], ["n1", "n2"]);
    c.transports[0]!.send("n1", Buffer.from("a"));
    c.transports[1]!.send("n0", Buffer.from("b"));
    c.transports[1]!.send("n2", Buffer.from("same side"));
    c.clock.advance(100);
    assert.deepEqual(c.trace, ["5 n1->n2 same side"]);
    c.network.heal();
    c.transports[1]!.send("n0", Buffer.from("after heal"));
    c.clock.advance(100);
    assert.deepEqual(c.trace.slice(1), ["105 n1->n0 after heal"]);
  });

  it("a crash loses messages in flight to and from the node; a restarted node is a fresh transport", () => {
    const c = cluster(4, { delayMsMin: 10, delayMsMax: 10 });
    c.transports[0]!.send("n1", Buffer.from("to n1"));
    c.transports[1]!.send("n2", Buffer.from("from n1"));
    c.transports[2]!.send("n0", Buffer.from("unrelated"));
    c.network.crash("n1");
    assert.equal(c.transports[1]!.send("n0", Buffer.from("dead")), false);
    c.clock.advance(50);
    assert.deepEqual(c.trace, ["10 n2->n0 unrelated"]);
    const reborn = c.network.restart("n1");
    assert.equal(reborn.send("n0", Buffer.from("no peers yet")), false);
    c.wire("n1", reborn);
    assert.equal(reborn.send("n0", Buffer.from("back")), true);
    c.transports[0]!.send("n1", Buffer.from("welcome"));
    c.clock.advance(50);
    assert.deepEqual(c.trace.slice(1), ["60 n1->n0 back", "60 n0->n1 welcome"]);
    assert.throws(() => c.network.restart("n1"), /running/);
  });

  it("in flight counts as queued: a full link refuses, and accepts again once delivered", () => {
    const clock = new SimulatedClock(0);
    const network = new SimulatedNetwork({ clock, random: seededRandom(5), limits: { queueMessagesMax: 2 } });
    const [x, y] = [network.transport("x"), network.transport("y")];
    x.setPeers(new Map([["y", "y:1"]]));
    y.setPeers(new Map([["x", "x:1"]]));
    assert.deepEqual([x.send("y", Uint8Array.of(1)), x.send("y", Uint8Array.of(2)), x.send("y", Uint8Array.of(3))], [true, true, false]);
    clock.advance(10);
    assert.equal(x.send("y", Uint8Array.of(4)), true);
  });
});
