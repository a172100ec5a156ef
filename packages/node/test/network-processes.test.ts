// A three-node service of real confide-node processes on loopback, each with its own workspace,
// ledger and ports, as three operators would run them: the first starts the service, two join it
// (command.type "Join") and are trusted by proposal; a write load runs on the primary; the
// primary is killed with SIGKILL; another is elected, writes resume, and every transaction
// reported Committed before the kill is Committed on every survivor; a fresh node replaces the
// dead one (it joins, is trusted, catches up) and the dead one is retired by proposal.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "./helpers/free-port.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient } from "./helpers/https-client.ts";
import { killAll, NodeProcess, withTimeout, writeCounterApp } from "./helpers/node-process.ts";

/** The sandbox's short timeouts: an election within 1-2 s of losing the primary. */
const CONSENSUS = { message_timeout: "50ms", election_timeout: "1000ms" };
const WAIT_MS = 60_000;

interface RunningNode {
  name: string;
  process: NodeProcess;
  client: HttpsClient;
  rpcAddress: string;
  nodeId: string;
}

let root: string;
let serviceCertPem: string;
let member: GovMember;
const running: RunningNode[] = [];

async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  return withTimeout(
    (async () => {
      for (;;) {
        const value = await probe().catch(() => undefined);
        if (value !== undefined) return value;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })(),
    WAIT_MS,
    what,
  );
}

function configFor(name: string, rpcPort: number, n2nPort: number, command: unknown): string {
  const file = join(root, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      network: { rpc_interfaces: { primary_rpc_interface: { bind_address: `127.0.0.1:${rpcPort}` } }, node_to_node_interface: { bind_address: `127.0.0.1:${n2nPort}` } },
      consensus: CONSENSUS,
      workspace: name,
      ledger_signatures: { tx_count: 50, delay: "20ms" },
      logging: { host_level: "Info" },
      command,
      ...(name === "n0" ? { js_app_bundle: "app" } : {}),
    }),
  );
  return file;
}

async function launch(name: string, command: unknown, beforeReady?: () => Promise<void>): Promise<RunningNode> {
  const [rpcPort, n2nPort] = [await freePort(), await freePort()];
  const node = new NodeProcess(["start", "--config", configFor(name, rpcPort, n2nPort, command)]);
  await beforeReady?.();
  const [, url] = await node.waitForOutput(/Node \[0\] = (https:\/\/127\.0\.0\.1:\d+)\n[\s\S]*Ctrl-C stops the node cleanly/);
  serviceCertPem ??= readFileSync(join(root, name, "service_cert.pem"), "utf8");
  const client = new HttpsClient(url!, serviceCertPem);
  const state = await client.get("/node/state");
  const started = { name, process: node, client, rpcAddress: `127.0.0.1:${rpcPort}`, nodeId: state.json.node_id as string };
  running.push(started);
  return started;
}

async function passProposal(via: HttpsClient, actions: unknown[]): Promise<void> {
  const created = await member.propose(via, actions);
  assert.equal(created.status, 200, created.text);
  if (created.json.proposalState === "Accepted") return;
  const voted = await member.vote(via, created.json.proposalId);
  assert.equal(voted.json.proposalState, "Accepted", voted.text);
}

/** The node every running node agrees is primary. */
async function primary(among: RunningNode[]): Promise<RunningNode> {
  return eventually("one primary known to every node", async () => {
    const ids = await Promise.all(among.map(async (node) => (await node.client.get("/node/network/nodes/primary")).json?.node_id as string | undefined));
    const agreed = ids[0];
    if (agreed === undefined || ids.some((id) => id !== agreed)) return undefined;
    return among.find((node) => node.nodeId === agreed);
  });
}

/** A joiner: started, Pending on the primary, trusted by proposal, then serving. */
async function joinNode(name: string, via: RunningNode): Promise<RunningNode> {
  return launch(name, { type: "Join", service_certificate_file: join(root, "n0", "service_cert.pem"), join: { target_rpc_address: via.rpcAddress, retry_timeout: "100ms" } }, async () => {
    const pendingId = await eventually(`${name} Pending`, async () => {
      const nodes = (await via.client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
      return nodes.find((node) => node.status === "Pending")?.node_id;
    });
    await passProposal(via.client, [{ name: "transition_node_to_trusted", args: { node_id: pendingId, valid_from: "20260101000000Z" } }]);
  });
}

const seqnoOf = (txId: string) => Number(txId.split(".")[1]);

async function status(node: RunningNode, txId: string): Promise<string> {
  return (await node.client.get(`/node/tx?transaction_id=${txId}`)).json.status as string;
}

/**
 * Increments the counter `count` times on whichever node is primary; returns the tx ids given.
 * A write that reaches a node just deposed (503) or gone (no connection) is sent again to the
 * primary found then, as a CCF client does without forwarding.
 */
async function writes(among: RunningNode[], count: number): Promise<string[]> {
  const ids: string[] = [];
  while (ids.length < count) {
    const target = await primary(among);
    const reply = await target.client.post("/app/counter").catch(() => undefined);
    if (reply === undefined || reply.status === 503) continue;
    assert.equal(reply.status, 200, reply.text);
    ids.push(reply.headers["x-ms-ccf-transaction-id"]!);
  }
  return ids;
}

async function committedOn(node: RunningNode, txId: string): Promise<void> {
  await eventually(`${txId} Committed on ${node.name}`, async () => ((await status(node, txId)) === "Committed" ? true : undefined));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-network-processes-"));
  writeCounterApp(join(root, "app"));
  member = await GovMember.create();
  writeFileSync(join(root, "member0_cert.pem"), member.certPem);
});

after(() => {
  // CONFIDE_TEST_LOG=1 shows what each node printed.
  if (process.env.CONFIDE_TEST_LOG) for (const node of running) console.error(`---- ${node.name}\n${node.process.stdout}${node.process.stderr}`);
  for (const node of running) node.client.close();
  killAll();
  rmSync(root, { recursive: true, force: true });
});

describe("three confide-node processes", () => {
  let committedBeforeKill: string[] = [];
  let survivors: RunningNode[] = [];

  it("one node starts the service, two join by proposal, and a write commits on all three", async () => {
    const n0 = await launch("n0", { type: "Start", start: { members: [{ certificate_file: "member0_cert.pem" }] } });
    await member.activate(n0.client);
    await joinNode("n1", n0);
    await joinNode("n2", n0);
    const first = await primary(running);
    assert.equal(first.name, "n0");
    const [id] = await writes(running, 1);
    for (const node of running) await committedOn(node, id!);
    const nodes = (await running[2]!.client.get("/node/network/nodes")).json.nodes as Array<{ status: string; primary: boolean; node_id: string }>;
    assert.deepEqual(nodes.filter((n) => n.status === "Trusted").length, 3);
    assert.deepEqual(nodes.filter((n) => n.primary).map((n) => n.node_id), [n0.nodeId]);
  });

  it("SIGKILL of the primary under writes: a new primary, writes resume, nothing committed is lost", async () => {
    const ids = await writes(running, 40);
    const old = await primary(running);
    for (const id of ids) await committedOn(old, id);
    // Every write since the first test, none rolled back: 1 + 40 before the kill.
    committedBeforeKill = ids;
    old.process.child.kill("SIGKILL");
    await old.process.exitCode();
    survivors = running.filter((node) => node !== old);
    const next = await primary(survivors);
    assert.notEqual(next.name, old.name);
    const view = (await next.client.get("/node/network")).json.current_view as number;
    assert.ok(view > Number(committedBeforeKill.at(-1)!.split(".")[0]), `the new primary's view ${view} follows the old one`);
    const after = await writes(survivors, 10);
    for (const node of survivors) {
      for (const id of [...committedBeforeKill, ...after]) await committedOn(node, id);
    }
    const counter = (await next.client.get("/app/counter")).json.n as number;
    assert.ok(counter >= 51, `every committed increment is counted (${counter})`);
  });

  it("a fresh node replaces the dead one: it joins, is trusted, catches up; the dead one is retired", async () => {
    const current = await primary(survivors);
    const dead = running.find((node) => !survivors.includes(node))!;
    const fresh = await joinNode("n3", current);
    survivors = [...survivors, fresh];
    await passProposal(current.client, [{ name: "remove_node", args: { node_id: dead.nodeId } }]);
    const [last] = await writes(survivors, 1);
    await committedOn(fresh, last!);
    assert.ok(seqnoOf(last!) > seqnoOf(committedBeforeKill[0]!));
    for (const id of committedBeforeKill) assert.equal(await status(fresh, id), "Committed");
    const nodes = (await fresh.client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
    assert.equal(nodes.find((n) => n.node_id === dead.nodeId)?.status, "Retired");
    assert.equal(nodes.filter((n) => n.status === "Trusted").length, 3);
  });

  it("a write sent to a backup is forwarded to the primary and committed everywhere", async () => {
    const current = await primary(survivors);
    const backup = survivors.find((node) => node !== current)!;
    const reply = await backup.client.post("/app/counter");
    assert.equal(reply.status, 200, reply.text);
    const id = reply.headers["x-ms-ccf-transaction-id"]!;
    for (const node of survivors) await committedOn(node, id);
  });

  it("SIGSTOP of the primary, then SIGCONT: a new primary meanwhile, the old one follows it, no divergence", async () => {
    const stopped = await primary(survivors);
    const others = survivors.filter((node) => node !== stopped);
    stopped.process.child.kill("SIGSTOP");
    // Sent while it is stopped: it runs once the node resumes, as primary of its old view or forwarded.
    const late = stopped.client.post("/app/counter");
    const next = await primary(others);
    assert.notEqual(next, stopped);
    const meanwhile = await writes(others, 5);
    stopped.process.child.kill("SIGCONT");
    const reply = await late;
    assert.ok(reply.status === 200 || reply.status === 503, `${reply.status} ${reply.text}`);
    const lateId = reply.headers["x-ms-ccf-transaction-id"];
    const [last] = await writes(survivors, 1);
    for (const node of survivors) for (const id of [...meanwhile, last!]) await committedOn(node, id);
    if (lateId !== undefined) {
      // Either it was forwarded and committed, or it was the deposed primary's and rolled back: the same on every node.
      const final = await eventually(`${lateId} settled`, async () => {
        const statuses = await Promise.all(survivors.map((node) => status(node, lateId)));
        return statuses.every((s) => s === statuses[0] && (s === "Committed" || s === "Invalid")) ? statuses[0] : undefined;
      });
      assert.ok(final === "Committed" || final === "Invalid");
    }
    const counters = await Promise.all(survivors.map(async (node) => (await node.client.get("/app/counter")).json.n as number));
    assert.ok(counters.every((n) => n === counters[0]), `every node counts the same: ${counters.join(", ")}`);
  });
});
