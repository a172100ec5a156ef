// Disaster recovery of a three-node service of real confide-node processes: three members hold
// recovery shares (threshold 2); every node is killed (SIGKILL) with writes in flight; a new node
// started with command.type "Recover" on a copy of one backup's ledger files replays the public
// state, the members open it by proposal and two of them submit their shares; every transaction
// committed before the disaster is back, private state included, and the app serves again.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GovMember } from "./helpers/gov-member.ts";
import { writeCounterApp } from "./helpers/node-process.ts";
import { eventually, ProcessCluster } from "./helpers/process-cluster.ts";

let cluster: ProcessCluster;

before(async () => {
  const root = mkdtempSync(join(tmpdir(), "confide-recovery-processes-"));
  writeCounterApp(join(root, "app"));
  const members = await Promise.all([0, 1, 2].map(() => GovMember.create({ encryption: true })));
  cluster = new ProcessCluster(root, members[0]!, { js_app_bundle: "app" }, members.slice(1));
});

after(() => cluster.dispose());

describe("a three-node service, all nodes killed, recovered from one node's ledger", () => {
  it("comes back with every committed write once 2 of 3 members submit their shares", async () => {
    const n0 = await cluster.start();
    await cluster.pass(n0.client, [{ name: "set_recovery_threshold", args: { recovery_threshold: 2 } }]);
    await cluster.join("n1", n0);
    await cluster.join("n2", n0);
    const [m0, m1, m2] = cluster.members as [GovMember, GovMember, GovMember];
    await eventually("recovery shares for the three members", async () => {
      const replies = await Promise.all(cluster.members.map((m) => n0.client.get(`/gov/recovery/encrypted-shares/${m.id}`)));
      return replies.every((reply) => reply.status === 200) ? true : undefined;
    });

    const committed: string[] = [];
    for (let i = 0; i < 30; i++) {
      const reply = await n0.client.post("/app/counter");
      assert.equal(reply.status, 200, reply.text);
      committed.push(reply.headers["x-ms-ccf-transaction-id"]!);
    }
    for (const node of cluster.nodes) await cluster.committedOn(node, committed.at(-1)!);
    const oldServiceCert = cluster.serviceCert;
    // Writes in flight when every node dies: they may or may not survive; the committed ones must.
    const inFlight = Array.from({ length: 10 }, () => n0.client.post("/app/counter").catch(() => undefined));
    for (const node of cluster.nodes) node.process.child.kill("SIGKILL");
    await Promise.all([...cluster.nodes.map((node) => node.process.exitCode()), ...inFlight]);

    const recovered = await cluster.recover("r0", "n1");
    const client = recovered.client;
    assert.notEqual(cluster.serviceCert, oldServiceCert);
    assert.equal((await client.get("/node/network")).json.service_status, "Recovering");
    assert.equal((await client.get("/app/counter")).json?.error?.code, "FrontendNotOpen");
    const nodes = (await client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
    assert.deepEqual(nodes.filter((n) => n.status === "Trusted").map((n) => n.node_id), [recovered.nodeId]);

    await cluster.pass(client, [{ name: "transition_service_to_open", args: { previous_service_identity: oldServiceCert, next_service_identity: cluster.serviceCert } }]);
    assert.equal((await client.get("/node/network")).json.service_status, "WaitingForRecoveryShares");
    for (const member of [m2, m0]) {
      const reply = await member.submitShare(client, await member.recoveryShare(client));
      assert.equal(reply.status, 200, reply.text);
    }
    await eventually("the recovered service to open", async () => ((await client.get("/node/network")).json.service_status === "Open" ? true : undefined));

    // Every committed write is back: its tx id is Committed, and the private counter counts it.
    for (const id of committed) assert.equal(await cluster.status(recovered, id), "Committed", id);
    const n = (await client.get("/app/counter")).json.n as number;
    assert.ok(n >= committed.length, `counter ${n} < ${committed.length} committed increments`);
    const next = await client.post("/app/counter");
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.n, n + 1);
    assert.equal(readFileSync(join(cluster.root, "r0", "service_cert.pem"), "utf8"), cluster.serviceCert);
    assert.equal((await m1.recoveryShare(client)).length > 0, true, "new shares are issued for the recovered service");
  });
});
