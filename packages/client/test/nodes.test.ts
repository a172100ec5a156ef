// `confide node list|add|trust|retire` as an operator runs them, against a service of real
// confide-node processes on loopback: the first node starts the service with two members, a
// second joins and `node add` trusts it, a third joins and `node trust <id>` trusts it, the
// primary is killed with SIGKILL and `node list` shows another primary, and `node retire` retires
// the dead node. Unknown node ids and nodes in the wrong state are refused with a clear error
// and no proposal.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../node/test/helpers/free-port.ts";
import { killAll, NodeProcess, writeCounterApp } from "../../node/test/helpers/node-process.ts";
import { eventually } from "../../node/test/helpers/process-cluster.ts";
import { keygen } from "../src/keys.ts";
import type { NodeInfo, Proposal } from "../src/index.ts";
import { confide } from "./helpers/run-confide.ts";
import type { MadeIdentity } from "./helpers/service.ts";

/** The sandbox's short consensus timeouts: a new primary within a second or two of losing one. */
const CONSENSUS = { message_timeout: "50ms", election_timeout: "1000ms" };
const READY = /Node \[0\] = https:\/\/127\.0\.0\.1:\d+\n[\s\S]*Ctrl-C stops the node cleanly/;

interface Started {
  process: NodeProcess;
  rpcAddress: string;
  url: string;
}

let root: string;
let members: MadeIdentity[];
const started: Started[] = [];

/** A node's process from a CCF-shaped config; a joiner is not ready (serving) until trusted. */
async function startNode(name: string, command: unknown): Promise<Started> {
  const [rpcPort, n2nPort] = [await freePort(), await freePort()];
  const config = join(root, `${name}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      network: { rpc_interfaces: { primary_rpc_interface: { bind_address: `127.0.0.1:${rpcPort}` } }, node_to_node_interface: { bind_address: `127.0.0.1:${n2nPort}` } },
      consensus: CONSENSUS,
      workspace: join(root, name),
      ledger_signatures: { tx_count: 50, delay: "20ms" },
      command,
      ...(name === "n0" ? { js_app_bundle: join(root, "app") } : {}),
    }),
  );
  const node = { process: new NodeProcess(["start", "--config", config]), rpcAddress: `127.0.0.1:${rpcPort}`, url: `https://127.0.0.1:${rpcPort}` };
  started.push(node);
  return node;
}

function joiner(name: string, target: Started): Promise<Started> {
  return startNode(name, { type: "Join", service_certificate_file: join(root, "n0", "service_cert.pem"), join: { target_rpc_address: target.rpcAddress, retry_timeout: "100ms" } });
}

const env = (node: Started) => ({ CONFIDE_URL: node.url, CONFIDE_CACERT: join(root, "n0", "service_cert.pem") });
const as = (index: number) => ["--cert", members[index]!.files.cert, "--key", members[index]!.files.privateKey];
const voter = (index: number) => ["--voter", `${members[index]!.files.cert},${members[index]!.files.privateKey}`];

async function nodes(via: Started): Promise<NodeInfo[]> {
  const run = await confide(["node", "list", "--json"], env(via));
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as NodeInfo[];
}

async function proposalCount(via: Started): Promise<number> {
  const run = await confide(["proposals", "--json"], env(via));
  assert.equal(run.code, 0, run.stderr);
  return (JSON.parse(run.stdout) as Proposal[]).length;
}

/** Waits for `node` to be Pending on `via`, and returns its id. */
async function pendingOn(via: Started, node: Started): Promise<string> {
  return eventually("the joiner Pending", async () => (await nodes(via)).find((n) => n.status === "Pending" && n.rpcAddress === node.rpcAddress)?.nodeId);
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-node-cli-"));
  writeCounterApp(join(root, "app"));
  members = [];
  for (const name of ["member0", "member1"]) members.push(await keygen(name, { dir: join(root, "keys") }));
});

after(() => {
  // CONFIDE_TEST_LOG=1 shows what each node printed.
  if (process.env.CONFIDE_TEST_LOG) for (const node of started) console.error(`---- ${node.rpcAddress}\n${node.process.stdout}${node.process.stderr}`);
  killAll();
  rmSync(root, { recursive: true, force: true });
});

describe("confide node", () => {
  let n0: Started;
  let n1: Started;
  let n2: Started;
  let n0Id: string;

  it("node list: the first node of a new service, Trusted and primary, with its RPC address", async () => {
    n0 = await startNode("n0", { type: "Start", start: { members: members.map((m) => ({ certificate_file: m.files.cert })) } });
    await n0.process.waitForOutput(READY);
    for (const index of [0, 1]) assert.equal((await confide(["ack", ...as(index)], env(n0))).code, 0);
    const listed = await nodes(n0);
    assert.equal(listed.length, 1);
    assert.deepEqual({ ...listed[0], nodeId: undefined }, { nodeId: undefined, status: "Trusted", primary: true, rpcAddress: n0.rpcAddress });
    n0Id = listed[0]!.nodeId;
    const human = await confide(["node", "list"], env(n0));
    assert.equal(human.stdout, `${n0Id}  Trusted  primary  ${n0.rpcAddress}\n`);
  });

  it("node add with no Pending node: refused, nothing proposed", async () => {
    const before = await proposalCount(n0);
    const run = await confide(["node", "add", ...as(0), ...voter(1)], env(n0));
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^error: no node is Pending: start a node with command.type "Join" first/);
    assert.equal(await proposalCount(n0), before);
  });

  it("node add: a joined node shows Pending, then is trusted by one proposal that both members vote for", async () => {
    n1 = await joiner("n1", n0);
    const pendingId = await pendingOn(n0, n1);
    // Not yet in consensus: neither primary nor backup.
    assert.match((await confide(["node", "list"], env(n0))).stdout, new RegExp(`^${pendingId}  Pending  -  ${n1.rpcAddress}$`, "m"));
    const run = await confide(["node", "add", ...as(0), ...voter(1)], env(n0));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /ballot by [0-9a-f]{64}: Open\nballot by [0-9a-f]{64}: Accepted\n/);
    assert.match(run.stdout, new RegExp(`trusted ${pendingId}: proposal [0-9a-f]{64}: Accepted, 2 ballot\\(s\\)`));
    await n1.process.waitForOutput(READY);
    // From the new node itself: both Trusted, n0 primary.
    const listed = await eventually("n1 sees both nodes Trusted", async () => {
      const seen = await nodes(n1);
      return seen.length === 2 && seen.every((n) => n.status === "Trusted") ? seen : undefined;
    });
    assert.deepEqual(listed.filter((n) => n.primary).map((n) => n.nodeId), [n0Id]);
  });

  it("node trust: unknown ids and nodes not Pending are refused with no proposal; a Pending node by its id is trusted", async () => {
    n2 = await joiner("n2", n0);
    const pendingId = await pendingOn(n0, n2);
    const before = await proposalCount(n0);
    const unknown = await confide(["node", "trust", "ab".repeat(32), ...as(0), ...voter(1)], env(n0));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, new RegExp(`^error: no node ${"ab".repeat(32)} in this service \\(known: `));
    const trusted = await confide(["node", "trust", n0Id, ...as(0), ...voter(1)], env(n0));
    assert.equal(trusted.code, 1);
    assert.match(trusted.stderr, new RegExp(`^error: node ${n0Id} is Trusted, not Pending`));
    assert.equal(await proposalCount(n0), before);
    const run = await confide(["node", "trust", pendingId, ...as(0), ...voter(1), "--json"], env(n0));
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { nodeIds: string[]; proposal: Proposal };
    assert.deepEqual(result.nodeIds, [pendingId]);
    assert.equal(result.proposal.proposalState, "Accepted");
    await n2.process.waitForOutput(READY);
  });

  it("kill -9 of the primary: node list on a survivor shows another primary; node retire retires the dead node", async () => {
    // Both survivors must know the three-node configuration first, or the two of them are no majority of it.
    for (const survivor of [n1, n2]) {
      await eventually("three Trusted nodes on each survivor", async () => ((await nodes(survivor)).filter((n) => n.status === "Trusted").length === 3 ? true : undefined));
    }
    n0.process.child.kill("SIGKILL");
    await n0.process.exitCode();
    const listed = await eventually("a new primary", async () => {
      const seen = await nodes(n1);
      const primary = seen.find((n) => n.primary);
      return primary !== undefined && primary.nodeId !== n0Id ? seen : undefined;
    });
    assert.equal(listed.find((n) => n.nodeId === n0Id)?.status, "Trusted");
    // Retire through the survivor that is a backup: it forwards the ballots and reports the outcome once it has it too.
    const backup = listed.find((n) => n.primary)!.rpcAddress === n1.rpcAddress ? n2 : n1;
    const before = await proposalCount(backup);
    const unknown = await confide(["node", "retire", "cd".repeat(32), ...as(0), ...voter(1)], env(backup));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^error: no node (cd)+ in this service/);
    assert.equal(await proposalCount(backup), before);
    const run = await confide(["node", "retire", n0Id, ...as(0), ...voter(1)], env(backup));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`node ${n0Id} Retired: proposal [0-9a-f]{64}: Accepted`));
    const again = await confide(["node", "retire", n0Id, ...as(0), ...voter(1)], env(backup));
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^error: node ${n0Id} is already Retired`));
    const final = await nodes(backup);
    assert.equal(final.find((n) => n.nodeId === n0Id)?.status, "Retired");
    assert.equal(final.filter((n) => n.status === "Trusted").length, 2);
  });
});
