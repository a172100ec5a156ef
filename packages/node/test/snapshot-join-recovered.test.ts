// Joining a recovered service from a snapshot, with real confide-node processes: a one-node service
// (three recovery members, threshold 2) is killed; a node recovers it from its ledger; a snapshot
// asked for (trigger_snapshot) while it is still recovering is taken only once the members' shares
// have restored the private state (before, the store would hand a joiner empty private maps); a new node joins from the recovered service's latest snapshot,
// checked against the new service identity and decrypted with the secret the join handed over for
// its seqno, and serves private reads that agree with the recovered node's.
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { committedSnapshots } from "../src/history/snapshots.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { writeCounterApp } from "./helpers/node-process.ts";
import { eventually, ProcessCluster } from "./helpers/process-cluster.ts";

const SNAPSHOTS = { snapshots: { tx_count: 3 } };
let cluster: ProcessCluster;

before(async () => {
  const root = mkdtempSync(join(tmpdir(), "confide-snapshot-join-recovered-"));
  writeCounterApp(join(root, "app"));
  const members = await Promise.all([0, 1, 2].map(() => GovMember.create({ encryption: true })));
  cluster = new ProcessCluster(root, members[0]!, { js_app_bundle: "app", ...SNAPSHOTS }, members.slice(1));
});

after(() => cluster.dispose());

const seqnoOf = (txId: string) => Number(txId.split(".")[1]);

describe("a recovered service's snapshot", () => {
  it("is taken only once the private state is restored, and a node joins from it and serves private reads", async () => {
    const n0 = await cluster.start();
    await cluster.pass(n0.client, [{ name: "set_recovery_threshold", args: { recovery_threshold: 2 } }]);
    let last = "";
    for (let i = 0; i < 20; i++) {
      const reply = await n0.client.post("/app/counter");
      assert.equal(reply.status, 200, reply.text);
      last = reply.headers["x-ms-ccf-transaction-id"]!;
    }
    await cluster.committedOn(n0, last);
    const beforeDisaster = last;
    const oldServiceCert = cluster.serviceCert;
    n0.process.child.kill("SIGKILL");
    await n0.process.exitCode();

    const r0 = await cluster.recover("r0", "n0", SNAPSHOTS);
    // Asked for while the private state is not restored yet: it must wait until it is.
    await cluster.pass(r0.client, [{ name: "trigger_snapshot", args: {} }]);
    await cluster.pass(r0.client, [{ name: "transition_service_to_open", args: { previous_service_identity: oldServiceCert, next_service_identity: cluster.serviceCert } }]);
    const [m0, , m2] = cluster.members as [GovMember, GovMember, GovMember];
    let lastShare = "";
    for (const member of [m2, m0]) {
      const reply = await member.submitShare(r0.client, await member.recoveryShare(r0.client));
      assert.equal(reply.status, 200, reply.text);
      lastShare = reply.headers["x-ms-ccf-transaction-id"]!;
    }
    await eventually("the recovered service to open", async () => ((await r0.client.get("/node/network")).json.service_status === "Open" ? true : undefined));
    for (let i = 0; i < 10; i++) {
      const reply = await r0.client.post("/app/counter");
      assert.equal(reply.status, 200, reply.text);
      last = reply.headers["x-ms-ccf-transaction-id"]!;
    }
    await cluster.committedOn(r0, last);
    const snapshotsDir = join(cluster.root, "r0", "snapshots");
    const latest = await eventually("a committed snapshot on r0", async () => committedSnapshots(snapshotsDir)[0]);
    // Before the threshold share, the private state was not restored: no snapshot of that store.
    const early = committedSnapshots(snapshotsDir).filter((s) => s.seqno <= seqnoOf(lastShare));
    assert.deepEqual(early, [], `snapshots taken while the service was recovering (last share at ${lastShare})`);

    const n1 = await cluster.join("n1", r0, SNAPSHOTS);
    await cluster.committedOn(n1, last);
    assert.match(n1.process.stdout + n1.process.stderr, new RegExp(`fetched snapshot ${latest.name}`));
    assert.doesNotMatch(n1.process.stdout + n1.process.stderr, /rejected|fails verification/);
    // Private reads on the joiner (served locally, from the snapshot's decrypted private maps and the tail).
    const expected = (await r0.client.get("/app/counter")).json.n as number;
    assert.ok(expected >= 30, `counter ${expected}`);
    assert.equal((await n1.client.get("/app/counter")).json.n, expected);
    // A write through the joiner (forwarded) commits on both and both count it.
    const next = await n1.client.post("/app/counter");
    assert.equal(next.status, 200, next.text);
    assert.equal(next.json.n, expected + 1);
    for (const node of [r0, n1]) await cluster.committedOn(node, next.headers["x-ms-ccf-transaction-id"]!);
    await eventually("the write read back on n1", async () => ((await n1.client.get("/app/counter")).json.n === expected + 1 ? true : undefined));
    // A transaction committed before the disaster is still Committed on the joiner (the snapshot carries the views).
    assert.equal(await cluster.status(n1, beforeDisaster), "Committed");
  });
});
