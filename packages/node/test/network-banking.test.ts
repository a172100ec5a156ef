// The banking app on a three-node service of real processes: a bank (member) opens two accounts
// and deposits; the account holders (users) transfer money back and forth through every node
// (backups forward with the user's identity) while the primary is killed with SIGKILL and a fresh
// node replaces it. However many transfers are lost in flight, money is neither created nor
// destroyed: every node shows the same balances, summing to what was deposited.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { GovMember } from "./helpers/gov-member.ts";
import type { HttpsClient } from "./helpers/https-client.ts";
import { ProcessCluster, type ClusterNode } from "./helpers/process-cluster.ts";

const BANKING_APP = resolve(dirname(fileURLToPath(import.meta.url)), "../../../apps/banking/dist");
const DEPOSIT = 1000;

let cluster: ProcessCluster;
let users: GovMember[];

before(async () => {
  const root = mkdtempSync(join(tmpdir(), "confide-network-banking-"));
  users = [await GovMember.create(), await GovMember.create()];
  users.forEach((user, i) => writeFileSync(join(root, `user${i}_cert.pem`), user.certPem));
  cluster = new ProcessCluster(root, await GovMember.create(), {
    js_app_bundle: BANKING_APP,
    users: users.map((_, i) => ({ certificate_file: `user${i}_cert.pem` })),
  });
});

after(() => cluster.dispose());

const asUser = (node: ClusterNode, i: number): HttpsClient => cluster.clientAs(node, { certPem: users[i]!.certPem, keyPem: users[i]!.keyPem });

/** Each node's balances of the two accounts, once every node has committed through `txId`. */
async function balances(nodes: ClusterNode[], txId: string): Promise<number[][]> {
  return Promise.all(
    nodes.map(async (node) => {
      await cluster.committedOn(node, txId);
      return Promise.all([0, 1].map(async (i) => (await asUser(node, i).get("/app/balance/checking")).json.balance as number));
    }),
  );
}

/** Transfers between the two accounts through `via` (any node), `count` times; how many were answered 204, and the last one's tx id. */
async function transfers(via: ClusterNode[], count: number): Promise<{ done: number; last?: string }> {
  let done = 0;
  let last: string | undefined;
  for (let i = 0; i < count; i++) {
    const from = i % 2;
    const node = via[i % via.length]!;
    const reply = await asUser(node, from)
      .post("/app/transfer/checking", { value: 1 + (i % 7), user_id_to: users[1 - from]!.id, account_name_to: "checking" })
      .catch(() => undefined);
    if (reply?.status === 204) {
      done++;
      last = reply.headers["x-ms-ccf-transaction-id"];
    }
    else assert.ok(reply === undefined || reply.status === 503, `a transfer is answered 204, or fails as the primary goes: ${reply?.status} ${reply?.text}`);
  }
  return last === undefined ? { done } : { done, last };
}

describe("banking on three processes", () => {
  it("money is conserved across transfers through every node, a SIGKILL of the primary and its replacement", async () => {
    const n0 = await cluster.start();
    await cluster.join("n1", n0);
    await cluster.join("n2", n0);
    const bank = cluster.clientAs(n0, { certPem: cluster.member.certPem, keyPem: cluster.member.keyPem });
    for (const user of users) {
      assert.equal((await bank.request("PUT", `/app/account/${user.id}/checking`)).status, 204);
      assert.equal((await bank.post(`/app/deposit/${user.id}/checking`, { value: DEPOSIT })).status, 204);
    }
    assert.equal((await transfers(cluster.nodes, 12)).done, 12, "every transfer succeeds while all nodes run, whichever node takes it");

    const old = await cluster.primary();
    const load = transfers(cluster.nodes.filter((node) => node !== old), 30);
    old.process.child.kill("SIGKILL");
    await old.process.exitCode();
    await load;
    const survivors = cluster.nodes.filter((node) => node !== old);
    const current = await cluster.primary(survivors);
    const fresh = await cluster.join("n3", current);
    await cluster.pass(current.client, [{ name: "remove_node", args: { node_id: old.nodeId } }]);
    const live = [...survivors, fresh];
    const final = await transfers(live, 6);
    assert.equal(final.done, 6);
    // Nothing writes after the last transfer: once it is committed everywhere, every node is at the same state.
    const seen = await balances(live, final.last!);
    for (const perNode of seen) {
      assert.deepEqual(perNode, seen[0], "every node holds the same balances");
      assert.equal(perNode[0]! + perNode[1]!, 2 * DEPOSIT, `no money made or lost: ${perNode.join(" + ")}`);
    }
  });
});
