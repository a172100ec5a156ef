// A three-node service of real confide-node processes on loopback, each with its own workspace,
// ledger and ports, as three operators would run them: the first starts the service, two join it
// (command.type "Join") and are trusted by proposal; a write load runs on the primary; the
// primary is killed with SIGKILL; another is elected, writes resume, and every transaction
// reported Committed before the kill is Committed on every survivor; a fresh node replaces the
// dead one while writes run (it joins, is trusted, catches up) and the dead one is retired by
// proposal; a write via a backup is forwarded; SIGSTOP/SIGCONT of the primary leaves no divergence.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GovMember } from "./helpers/gov-member.ts";
import { writeCounterApp } from "./helpers/node-process.ts";
import { eventually, ProcessCluster, type ClusterNode } from "./helpers/process-cluster.ts";

let cluster: ProcessCluster;

const seqnoOf = (txId: string) => Number(txId.split(".")[1]);

/**
 * Increments the counter `count` times on whichever node is primary; returns the tx ids given.
 * A write that reaches a node just deposed (503) or gone (no connection) is sent again to the
 * primary found then.
 */
async function writes(among: ClusterNode[], count: number): Promise<string[]> {
  const ids: string[] = [];
  while (ids.length < count) {
    const target = await cluster.primary(among);
    const reply = await target.client.post("/app/counter").catch(() => undefined);
    if (reply === undefined || reply.status === 503) continue;
    assert.equal(reply.status, 200, reply.text);
    ids.push(reply.headers["x-ms-ccf-transaction-id"]!);
  }
  return ids;
}

before(async () => {
  const root = mkdtempSync(join(tmpdir(), "confide-network-processes-"));
  writeCounterApp(join(root, "app"));
  cluster = new ProcessCluster(root, await GovMember.create(), { js_app_bundle: "app" });
});

after(() => cluster.dispose());

describe("three confide-node processes", () => {
  let committedBeforeKill: string[] = [];
  let survivors: ClusterNode[] = [];

  it("one node starts the service, two join by proposal, and a write commits on all three", async () => {
    const n0 = await cluster.start();
    await cluster.join("n1", n0);
    await cluster.join("n2", n0);
    const first = await cluster.primary(cluster.nodes);
    assert.equal(first.name, "n0");
    const [id] = await writes(cluster.nodes, 1);
    for (const node of cluster.nodes) await cluster.committedOn(node, id!);
    const nodes = (await cluster.nodes[2]!.client.get("/node/network/nodes")).json.nodes as Array<{ status: string; primary: boolean; node_id: string }>;
    assert.deepEqual(nodes.filter((n) => n.status === "Trusted").length, 3);
    assert.deepEqual(nodes.filter((n) => n.primary).map((n) => n.node_id), [n0.nodeId]);
  });

  it("SIGKILL of the primary under writes: a new primary, writes resume, nothing committed is lost", async () => {
    const ids = await writes(cluster.nodes, 40);
    const old = await cluster.primary(cluster.nodes);
    for (const id of ids) await cluster.committedOn(old, id);
    // Every write since the first test, none rolled back: 1 + 40 before the kill.
    committedBeforeKill = ids;
    old.process.child.kill("SIGKILL");
    await old.process.exitCode();
    survivors = cluster.nodes.filter((node) => node !== old);
    const next = await cluster.primary(survivors);
    assert.notEqual(next.name, old.name);
    const view = (await next.client.get("/node/network")).json.current_view as number;
    assert.ok(view > Number(committedBeforeKill.at(-1)!.split(".")[0]), `the new primary's view ${view} follows the old one`);
    const after = await writes(survivors, 10);
    for (const node of survivors) {
      for (const id of [...committedBeforeKill, ...after]) await cluster.committedOn(node, id);
    }
    const counter = (await next.client.get("/app/counter")).json.n as number;
    assert.ok(counter >= 51, `every committed increment is counted (${counter})`);
  });

  it("a fresh node replaces the dead one while writes run: it joins, is trusted, catches up; the dead one is retired", async () => {
    const current = await cluster.primary(survivors);
    const dead = cluster.nodes.find((node) => !survivors.includes(node))!;
    const load = writes(survivors, 30);
    const fresh = await cluster.join("n3", current);
    survivors = [...survivors, fresh];
    await cluster.pass(current.client, [{ name: "remove_node", args: { node_id: dead.nodeId } }]);
    const during = await load;
    const [last] = await writes(survivors, 1);
    for (const node of survivors) for (const id of [...during, last!]) await cluster.committedOn(node, id);
    assert.ok(seqnoOf(last!) > seqnoOf(committedBeforeKill[0]!));
    for (const id of committedBeforeKill) assert.equal(await cluster.status(fresh, id), "Committed");
    const nodes = (await fresh.client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
    assert.equal(nodes.find((n) => n.node_id === dead.nodeId)?.status, "Retired");
    assert.equal(nodes.filter((n) => n.status === "Trusted").length, 3);
  });

  it("a write sent to a backup is forwarded to the primary and committed everywhere", async () => {
    const current = await cluster.primary(survivors);
    const backup = survivors.find((node) => node !== current)!;
    const reply = await backup.client.post("/app/counter");
    assert.equal(reply.status, 200, reply.text);
    const id = reply.headers["x-ms-ccf-transaction-id"]!;
    for (const node of survivors) await cluster.committedOn(node, id);
  });

  it("SIGSTOP of the primary, then SIGCONT: a new primary meanwhile, the old one follows it, no divergence", async () => {
    const stopped = await cluster.primary(survivors);
    const others = survivors.filter((node) => node !== stopped);
    stopped.process.child.kill("SIGSTOP");
    // Sent while it is stopped: it runs once the node resumes, as primary of its old view or forwarded.
    const late = stopped.client.post("/app/counter");
    const next = await cluster.primary(others);
    assert.notEqual(next, stopped);
    const meanwhile = await writes(others, 5);
    stopped.process.child.kill("SIGCONT");
    const reply = await late;
    assert.ok(reply.status === 200 || reply.status === 503, `${reply.status} ${reply.text}`);
    const lateId = reply.headers["x-ms-ccf-transaction-id"];
    const [last] = await writes(survivors, 1);
    for (const node of survivors) for (const id of [...meanwhile, last!]) await cluster.committedOn(node, id);
    if (lateId !== undefined) {
      // Either it was forwarded and committed, or it was the deposed primary's and rolled back: the same on every node.
      const final = await eventually(`${lateId} settled`, async () => {
        const statuses = await Promise.all(survivors.map((node) => cluster.status(node, lateId)));
        return statuses.every((s) => s === statuses[0] && (s === "Committed" || s === "Invalid")) ? statuses[0] : undefined;
      });
      assert.ok(final === "Committed" || final === "Invalid");
    }
    const counters = await Promise.all(survivors.map(async (node) => (await node.client.get("/app/counter")).json.n as number));
    assert.ok(counters.every((n) => n === counters[0]), `every node counts the same: ${counters.join(", ")}`);
  });
});
