// GET /node/metrics over real TLS: per-endpoint calls, errors and failures, a latency histogram,
// the KV reads and writes of app handlers, and memory; as JSON, and in Prometheus' text format
// when the client asks for text/plain. Each count is checked against requests the test made.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Bundle, EndpointProperties } from "../src/runtime/bundle.ts";
import { AppNode } from "./helpers/app-node.ts";

const endpoint = (js_function: string, mode: EndpointProperties["mode"]): EndpointProperties => ({ js_module: "app.js", js_function, authn_policies: ["no_auth"], mode, forwarding_required: "sometimes" });

const BUNDLE: Bundle = {
  metadata: { endpoints: { "/put": { post: endpoint("put", "readwrite") }, "/bad": { get: endpoint("bad", "readonly") } } },
  modules: [
    {
      name: "app.js",
      module: `
const map = ccf.kv["records"];
export function put() {
  const key = ccf.strToBuf("k");
  const before = map.get(key);
  map.set(key, ccf.strToBuf("v"));
  map.set(ccf.strToBuf("k2"), ccf.strToBuf("v"));
  return { body: { had: before !== undefined } };
}
export function bad() { return { statusCode: 400, body: "no" }; }`,
    },
  ],
};

let app: AppNode;

before(async () => {
  app = await AppNode.start(BUNDLE, "confide-node-metrics-");
  for (let i = 0; i < 5; i++) assert.equal((await app.client.post("/app/put")).status, 200);
  for (let i = 0; i < 2; i++) assert.equal((await app.client.get("/app/bad")).status, 400);
});

after(() => app.close());

interface Endpoint {
  method: string;
  path: string;
  calls: number;
  errors: number;
  failures: number;
  latency_ms: { buckets: Array<{ le: number | string; count: number }>; sum: number; count: number };
}

describe("GET /node/metrics", () => {
  it("counts each endpoint's calls and errors, with a cumulative latency histogram", async () => {
    const { status, json } = await app.client.get("/node/metrics");
    assert.equal(status, 200);
    const endpoints = json.endpoints as Endpoint[];
    const put = endpoints.find((e) => e.method === "POST" && e.path === "/app/put")!;
    const bad = endpoints.find((e) => e.method === "GET" && e.path === "/app/bad")!;
    assert.deepEqual([put.calls, put.errors, put.failures], [5, 0, 0]);
    assert.deepEqual([bad.calls, bad.errors, bad.failures], [2, 2, 0]);
    for (const e of [put, bad]) {
      const counts = e.latency_ms.buckets.map((b) => b.count);
      assert.deepEqual(counts, [...counts].sort((a, b) => a - b), "cumulative buckets never decrease");
      assert.deepEqual(e.latency_ms.buckets.at(-1), { le: "+Inf", count: e.calls });
      assert.ok(e.latency_ms.sum > 0);
    }
  });

  it("counts the KV reads and writes app handlers made, and reports memory", async () => {
    const { json } = await app.client.get("/node/metrics");
    assert.equal(json.kv.writes, 10, "two sets per POST /app/put");
    assert.equal(json.kv.reads, 5, "one get per POST /app/put");
    assert.ok(json.js.interpreters_memory_bytes > 0);
    assert.ok(json.process.heap_used_bytes > 0 && json.process.rss_bytes > 0);
  });

  it("answers in Prometheus' text format to Accept: text/plain", async () => {
    const reply = await app.client.get("/node/metrics", { accept: "text/plain" });
    assert.equal(reply.status, 200);
    assert.match(reply.headers["content-type"]!, /^text\/plain; version=0\.0\.4/);
    const lines = reply.text.split("\n");
    assert.ok(lines.includes('confide_endpoint_calls_total{method="POST",path="/app/put"} 5'), reply.text);
    assert.ok(lines.includes('confide_endpoint_errors_total{method="GET",path="/app/bad"} 2'));
    assert.ok(lines.includes('confide_endpoint_duration_ms_bucket{method="POST",path="/app/put",le="+Inf"} 5'));
    assert.ok(lines.includes('confide_endpoint_duration_ms_count{method="POST",path="/app/put"} 5'));
    assert.ok(lines.includes("confide_kv_writes_total 10"));
    assert.ok(lines.includes("# TYPE confide_endpoint_duration_ms histogram"));
    // Every sample line: a name, optional labels, a number.
    for (const line of lines.filter((l) => l !== "" && !l.startsWith("#"))) assert.match(line, /^[a-z_]+(\{[^}]*\})? -?\d+(\.\d+)?(e[+-]?\d+)?$/, line);
  });
});
