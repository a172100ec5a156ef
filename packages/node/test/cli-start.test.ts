// `confide-node start --config`, run as a real child process the way an operator
// runs cchost: it prints its URL (port 0 picks one), serves /node/state,
// /node/commit and a dev-deployed app over TLS trusted through service_cert.pem
// only, stops cleanly on SIGINT (exit 0), refuses a restart as a new service on its ledger, and
// exits 2 naming the field on a bad config.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { HttpsClient } from "./helpers/https-client.ts";
import { killAll, NodeProcess, STOP_TIMEOUT_MS, withTimeout, writeCounterApp } from "./helpers/node-process.ts";

const seqnoOf = (txId: string) => Number(txId.split(".")[1]);

after(killAll);

describe("confide-node start --config", () => {
  let dir: string;
  let configFile: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "confide-cli-"));
    writeCounterApp(join(dir, "app"));
    configFile = join(dir, "node.json");
    writeFileSync(
      configFile,
      JSON.stringify({
        network: { rpc_interfaces: { primary_rpc_interface: { bind_address: "127.0.0.1:0" } } },
        workspace: "ws",
        ledger_signatures: { tx_count: 100, delay: "50ms" },
        js_app_bundle: "app",
        logging: { host_level: "Info" },
      }),
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  async function startNode(): Promise<{ node: NodeProcess; client: HttpsClient; url: string }> {
    const node = new NodeProcess(["start", "--config", configFile]);
    // The banner ends with the Ctrl-C hint; it may arrive in several chunks.
    const [, url] = await node.waitForOutput(/Node \[0\] = (https:\/\/127\.0\.0\.1:\d+)\n[\s\S]*Ctrl-C stops the node cleanly/);
    // Trust only the service certificate: the node's TLS certificate is issued by it.
    const client = new HttpsClient(url!, readFileSync(join(dir, "ws", "service_cert.pem"), "utf8"));
    return { node, client, url: url! };
  }

  let committedBeforeStop = 0;

  it("serves the node and the dev-deployed app over TLS, and stops cleanly on SIGINT", async () => {
    const { node, client, url } = await startNode();
    try {
      assert.match(node.stdout, new RegExp(`curl --cacert ${join(dir, "ws", "service_cert.pem")} ${url}/node/state`));
      const state = await client.get("/node/state");
      assert.equal(state.status, 200);
      assert.equal(state.json.state, "PartOfNetwork");
      assert.match(node.stdout, new RegExp(`node id: +${state.json.node_id}`));

      const written = await client.post("/app/counter");
      assert.equal(written.status, 200);
      assert.deepEqual(written.json, { n: 1 });
      const writtenAt = seqnoOf(written.headers["x-ms-ccf-transaction-id"]!);
      // The next signature (within the 50 ms delay) commits the write.
      await withTimeout(
        (async () => {
          while (seqnoOf((await client.get("/node/commit")).json.transaction_id) < writtenAt) await new Promise((r) => setTimeout(r, 20));
        })(),
        STOP_TIMEOUT_MS,
        "the write to commit",
      );
      const commit = await client.get("/node/commit");
      assert.equal(commit.status, 200);
      committedBeforeStop = seqnoOf(commit.json.transaction_id);
    } finally {
      client.close();
    }
    node.child.kill("SIGINT");
    assert.equal(await node.exitCode(), 0);
    assert.match(node.stdout, /\[info \] node \| Node stopped: ledger signed and flushed/);
    assert.equal(node.stderr, "");
  });

  it("refuses to restart as a new service on its ledger, naming disaster recovery (no file holds the ledger secrets)", async () => {
    assert.ok(committedBeforeStop > 0, "the previous test committed a write");
    const ledger = join(dir, "ws", "ledger");
    const before = readdirSync(ledger).map((name) => `${name}:${readFileSync(join(ledger, name)).length}`);
    const node = new NodeProcess(["start", "--config", configFile]);
    assert.equal(await node.exitCode(), 1);
    assert.match(node.stdout + node.stderr, /holds the ledger of a service, but this node holds none of its ledger secrets[\s\S]*command\.type "Recover"/);
    assert.deepEqual(readdirSync(ledger).map((name) => `${name}:${readFileSync(join(ledger, name)).length}`), before, "a refused start changes no ledger file");
  });

  it("exits 2 naming the field when the config is bad", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ ledger: { chunk_size: "5 parsecs" } }));
    const node = new NodeProcess(["start", "--config", bad]);
    assert.equal(await node.exitCode(), 2);
    assert.match(node.stderr, /ledger\.chunk_size/);
  });

  it("exits 2 when given both --config and --dir", async () => {
    const node = new NodeProcess(["start", "--config", configFile, "--dir", join(dir, "other")]);
    assert.equal(await node.exitCode(), 2);
    assert.match(node.stderr, /exactly one of --config <file> and --dir <dir>/);
  });
});
