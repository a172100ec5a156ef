// `confide sandbox --nodes 3` (issue 17): every service runs three nodes, each its own
// `confide-node` process with its own directory, ledger and ports; the two that join are trusted
// by the members' proposal (transition_node_to_trusted). sandbox.json lists every node with its
// address, id and role, one primary per service; a write sent to a backup is forwarded and
// commits on every node; the sandbox says it uses shorter consensus timeouts than CCF's; a node
// that dies is reported while the others serve; Ctrl-C leaves no process; such a workspace is
// refused on a plain re-run (its ledger secrets were never on disk) and comes back by --recover.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfideClient } from "../src/index.ts";
import { TRADES } from "../src/sandbox/demo.ts";
import type { SandboxDescription, ServiceEntry } from "../src/sandbox/workspace.ts";
import { isAlive, killNodes, nodePids, SandboxRun, waitGone } from "./helpers/sandbox-run.ts";

/** Six node processes on two cores: ready takes longer than one node per service. */
const READY_TIMEOUT_MS = 120_000;
const NODES = 3;

describe("confide sandbox --nodes 3", () => {
  let root: string;
  let run: SandboxRun;
  let description: SandboxDescription;
  const runs: SandboxRun[] = [];
  const clients: ConfideClient[] = [];
  const args = ["--workspace", "workspace", "--nodes", String(NODES), "--port", "0", "--users-per-bank", "1"];

  const clientOf = (service: ServiceEntry, url: string, identity?: { certificate: string; key: string }): ConfideClient => {
    const client = new ConfideClient({
      url,
      serviceCertPem: readFileSync(service.serviceCertificate, "utf8"),
      ...(identity ? { identity: { certPem: readFileSync(identity.certificate, "utf8"), keyPem: readFileSync(identity.key, "utf8") } } : {}),
    });
    clients.push(client);
    return client;
  };
  const service = (name: string) => description.services.find((s) => s.name === name)!;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), "confide-sandbox-nodes-"));
    run = new SandboxRun(args, root);
    runs.push(run);
    await run.waitFor(`Ctrl-C stops all ${2 * NODES} nodes cleanly`, READY_TIMEOUT_MS);
    description = JSON.parse(readFileSync(join(root, "workspace", "sandbox.json"), "utf8")) as SandboxDescription;
  });

  after(() => {
    for (const client of clients) client.close();
    for (const r of runs) r.kill();
    if (description) killNodes(nodePids(description));
    rmSync(root, { recursive: true, force: true });
  });

  it("runs three node processes per service, listed in sandbox.json with address, id and role: one primary each", async () => {
    const pids = nodePids(description);
    assert.equal(new Set(pids).size, 2 * NODES);
    for (const pid of pids) assert.ok(isAlive(pid) && pid !== run.child.pid, `node process ${pid}`);
    for (const s of description.services) {
      assert.equal(s.nodes.length, NODES, s.name);
      assert.deepEqual(s.nodes.map((n) => n.role).sort(), ["backup", "backup", "primary"], s.name);
      assert.equal(new Set(s.nodes.map((n) => n.directory)).size, NODES);
      assert.equal(new Set(s.nodes.map((n) => n.rpcAddress)).size, NODES);
      assert.equal(s.nodes[0]!.url, s.url);
      for (const node of s.nodes) {
        for (const file of ["node.json", "node.log", "service_cert.pem", "ledger"]) assert.ok(existsSync(join(node.directory, file)), `${node.directory}/${file}`);
        assert.equal(readFileSync(join(node.directory, "service_cert.pem"), "utf8"), readFileSync(s.serviceCertificate, "utf8"), "one service identity");
        const self = (await clientOf(s, node.url).call("GET", "/node/network/nodes/self")).json as { node_id: string; status: string };
        assert.deepEqual([self.node_id, self.status], [node.nodeId, "Trusted"]);
      }
      // Every node names the same primary, one of the service's nodes (an election on a loaded machine may have moved it since start).
      const primariesNow = () =>
        Promise.all(s.nodes.map(async (node) => ((await clientOf(s, node.url).request("GET", "/node/network/nodes/primary")).json as { node_id?: string } | undefined)?.node_id ?? "none"));
      const deadline = Date.now() + 10_000;
      let primaries = await primariesNow();
      while ((new Set(primaries).size !== 1 || primaries[0] === "none") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        primaries = await primariesNow();
      }
      assert.equal(new Set(primaries).size, 1, primaries.join(" "));
      assert.ok(s.nodes.some((n) => n.nodeId === primaries[0]));
    }
    assert.match(run.stdout, /reconciliation: 2 nodes joined through node 0 and trusted by proposal \w+… \(transition_node_to_trusted\): 3 nodes/);
  });

  it("says it uses shorter consensus timeouts than CCF's defaults", () => {
    assert.match(run.stdout, /consensus: the sandbox's short timeouts, election_timeout 1000ms and message_timeout 50ms \(CCF's defaults: 5000ms and 100ms\)/);
    const config = JSON.parse(readFileSync(join(service("banking").nodes[1]!.directory, "node.json"), "utf8")) as { consensus: unknown; command: { type: string } };
    assert.deepEqual(config.consensus, { message_timeout: "50ms", election_timeout: "1000ms" });
    assert.equal(config.command.type, "Join");
  });

  it("a write sent to a backup is forwarded to the primary and commits on every node", async () => {
    const banking = service("banking");
    const backup = banking.nodes.find((n) => n.role === "backup")!;
    const bank = description.members[0]!;
    const user = description.users.find((u) => u.party === bank.party)!;
    const before = ((await clientOf(banking, banking.url, user).get("/balance/checking")).json as { balance: number }).balance;
    const deposit = await clientOf(banking, backup.url, { certificate: bank.certificate, key: bank.signingKey }).call("POST", `/app/deposit/${user.id}/checking`, { body: { value: 7 } });
    assert.ok(deposit.txId !== undefined, deposit.text);
    for (const node of banking.nodes) await clientOf(banking, node.url).waitForCommit(deposit.txId);
    // Each node answers from its own copy of the store.
    for (const node of banking.nodes) {
      assert.equal(((await clientOf(banking, node.url, user).get("/balance/checking")).json as { balance: number }).balance, before + 7, node.url);
    }
  });

  it("a node that dies is reported, and the service serves on with the majority left", async () => {
    const recon = service("reconciliation");
    // A backup other than node 0, which the ingest below goes through.
    const victim = recon.nodes.slice(1).find((n) => n.role === "backup")!;
    process.kill(victim.pid, "SIGKILL");
    const deadline = Date.now() + 10_000;
    while (!run.stderr.includes(`(pid ${victim.pid}) exited unexpectedly (SIGKILL)`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(run.stderr, new RegExp(`error: reconciliation node \\d \\(pid ${victim.pid}\\) exited unexpectedly \\(SIGKILL\\); its log: ${victim.directory}/node.log`));
    assert.ok(isAlive(run.child.pid!), "the sandbox keeps running");
    const user = description.users[0]!;
    const [trade] = TRADES[user.party];
    const ingest = await clientOf(recon, recon.url, user).call("POST", "/app/ingest", { body: [{ ...trade!, trade_id: "T-9001" }] });
    await clientOf(recon, recon.url).waitForCommit(ingest.txId!);
  });

  it("Ctrl-C stops every node process, killing one that ignores SIGTERM (SIGSTOPped) after the grace time; a plain re-run is then refused, pointing to --recover", async () => {
    const frozen = service("banking").nodes[2]!;
    process.kill(frozen.pid, "SIGSTOP");
    run.child.kill("SIGINT");
    // NODE_STOP_GRACE_MS (10 s) for the frozen node, then its SIGKILL.
    assert.deepEqual(await run.exit(30_000), { code: 1, signal: null }, run.stderr);
    assert.match(run.stdout, /SIGINT: stopping all 6 nodes/);
    assert.match(run.stderr, new RegExp(`error: banking node 2 \\(pid ${frozen.pid}\\) did not exit within 10000 ms of SIGTERM: killed \\(SIGKILL\\)`));
    assert.match(run.stderr, /error: sandbox stopped, but not every node stopped cleanly/);
    // The four others (six, less the one killed above and the frozen one) stopped cleanly on SIGTERM.
    const cleanly = description.services.flatMap((s) => s.nodes).filter((node) => readFileSync(join(node.directory, "node.log"), "utf8").includes("Node stopped: ledger signed and flushed"));
    assert.equal(cleanly.length, 2 * NODES - 2, cleanly.map((node) => node.directory).join(" "));
    await waitGone(nodePids(description));

    // Its ledger secrets were never on disk: a plain re-run is refused, pointing to --recover.
    const again = new SandboxRun(args, root);
    runs.push(again);
    assert.equal((await again.exit()).code, 2);
    assert.match(again.stderr, /holds the ledgers of a sandbox that stopped[\s\S]*npm start -- --recover/);
    assert.doesNotMatch(again.stdout, /node at/);
  });

  it("--recover --nodes 3: node 0 recovers each service from its ledger (two banks' shares), two new nodes join it, the data written before is back on every node", async () => {
    const oldBankingCert = readFileSync(service("banking").serviceCertificate, "utf8");
    const user = description.users.find((u) => u.party === description.members[0]!.party)!;
    const oldNodeIds = new Set(description.services.flatMap((s) => s.nodes.map((n) => n.nodeId)));
    const recovered = new SandboxRun([...args, "--recover"], root);
    runs.push(recovered);
    await recovered.waitFor(`Ctrl-C stops all ${2 * NODES} nodes cleanly`, READY_TIMEOUT_MS);
    assert.equal((recovered.stdout.match(/recovering: public state replayed/g) ?? []).length, 2, recovered.stdout);
    assert.equal((recovered.stdout.match(/2\/2 recovery shares successfully submitted/g) ?? []).length, 2, recovered.stdout);
    description = JSON.parse(readFileSync(join(root, "workspace", "sandbox.json"), "utf8")) as SandboxDescription;
    const nodes = description.services.flatMap((s) => s.nodes);
    assert.equal(nodes.length, 2 * NODES);
    // Every node is new: node 0 has a new identity for the recovered service, the others joined it.
    for (const node of nodes) assert.ok(!oldNodeIds.has(node.nodeId), node.nodeId);
    // The deposit of 7 made before the stop is in the recovered private state, on every node.
    const recoveredBanking = service("banking");
    assert.notEqual(readFileSync(recoveredBanking.serviceCertificate, "utf8"), oldBankingCert, "a recovered service has a new identity");
    for (const node of recoveredBanking.nodes) {
      const balance = ((await clientOf(recoveredBanking, node.url, user).get("/balance/checking")).json as { balance: number }).balance;
      assert.ok(balance >= 7, `${node.url}: balance ${balance}`);
    }
    recovered.child.kill("SIGINT");
    assert.deepEqual(await recovered.exit(30_000), { code: 0, signal: null }, recovered.stderr);
    await waitGone(nodePids(description));
  });
});
