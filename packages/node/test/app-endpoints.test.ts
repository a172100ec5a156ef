// CCF's app endpoint contract over real TLS: dispatch (404/405, templates),
// the transaction per request (commit on 2xx, discard otherwise,
// setApplyWrites, readonly endpoints cannot write), x-ms-ccf-transaction-id,
// body serialisation and content types, isolation of the app realm (no Node
// APIs, time/heap/stack limits, the node keeps serving), CCF errors for bad
// input with the store unchanged, and receipts that verify.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { verifyReceipt, type Receipt } from "../src/merkle/receipt.ts";
import type { ServingNode } from "../src/node.ts";
import type { AuthnPolicy, Bundle, EndpointMode, EndpointProperties } from "../src/runtime/bundle.ts";
import { TX_WRITE_BYTES_MAX } from "../src/limits.ts";
import { SENTINEL_KEY, Tables } from "../src/tables.ts";
import { AppNode } from "./helpers/app-node.ts";
import type { HttpsClient } from "./helpers/https-client.ts";
import { dataVersions } from "./helpers/store-versions.ts";

const endpoint = (js_function: string, mode: EndpointMode = "readwrite", authn_policies: AuthnPolicy[] = ["no_auth"]): EndpointProperties => ({
  js_module: "app.js",
  js_function,
  authn_policies,
  mode,
  forwarding_required: "never",
});

const APP = `
import { recordsMap } from "./lib/records.js";
export function put(request) {
  recordsMap().set(ccf.strToBuf(request.params.id), ccf.jsonCompatibleToBuf(request.body.json()));
  return { statusCode: 204 };
}
export function get(request) {
  const value = recordsMap().get(ccf.strToBuf(request.params.id));
  if (value === undefined) return { statusCode: 404, body: { error: { code: "ResourceNotFound", message: "no such record" } } };
  return { body: ccf.bufToJsonCompatible(value) };
}
export function putThenFail(request) {
  recordsMap().set(ccf.strToBuf(request.params.id), ccf.strToBuf("discarded"));
  return { statusCode: 400, body: "bad" };
}
export function putFailKeep(request) {
  recordsMap().set(ccf.strToBuf(request.params.id), ccf.jsonCompatibleToBuf("kept"));
  ccf.rpc.setApplyWrites(true);
  return { statusCode: 409, body: "kept anyway" };
}
export function writeInReadonly(request) {
  recordsMap().set(ccf.strToBuf("x"), ccf.strToBuf("y"));
  return {};
}
export function writeGov() {
  ccf.kv["public:ccf.gov.users.certs"].set(ccf.strToBuf("x"), ccf.strToBuf("y"));
  return {};
}
export function internalWrite() {
  ccf.kv["ccf.internal.secrets"].set(ccf.strToBuf("x"), ccf.strToBuf("y"));
  return {};
}
export function unknownMap() {
  const map = ccf.kv["never.written"];
  return { body: { size: map.size, has: map.has(ccf.strToBuf("k")), value: map.get(ccf.strToBuf("k")) === undefined } };
}
export function echo(request) {
  return { body: { method: request.method, path: request.path, url: request.url, route: request.route, query: request.query,
    params: request.params, host: request.hostname, header: request.headers["x-custom"], text: request.body.text(), caller: request.caller } };
}
export function text() { return { body: "plain", headers: { "x-extra": 42 } }; }
export function binary() { return { body: new Uint8Array([1, 2, 3]).buffer }; }
export function typedContent() { return { body: "{}", headers: { "content-type": "application/custom" } }; }
export function nothing() { return { statusCode: 201 }; }
export function notAnObject() { return 42; }
export function throws() { throw new Error("handler failed on purpose"); }
export function probe(request) {
  const name = request.params.name;
  if (name === "process") return { body: process.pid };
  if (name === "require") return { body: require("fs") };
  if (name === "fs") return { body: globalThis.fs.readFileSync("/etc/passwd") };
  if (name === "loop") { while (true) {} }
  if (name === "recursion") { const f = (n) => f(n + 1) + 1; return { body: f(0) }; }
  if (name === "allocate") { return { body: new ArrayBuffer(512 * 1024 * 1024).byteLength }; }
  if (name === "strings") { let s = "x"; for (;;) s += s; }
  // Deep enough that Node's own stack runs out inside the engine (QuickJS's stack check does not see it).
  if (name === "nesting") { let a = []; for (let i = 0; i < 200000; i++) a = [a]; return { body: JSON.stringify(a).length }; }
  if (name === "globals") return { body: [typeof process, typeof require, typeof globalThis.fs, typeof self, typeof window, typeof postMessage, typeof setTimeout, typeof fetch] };
  return { statusCode: 400 };
}
let calls = 0;
export function countCalls() {
  calls++;
  return { body: calls };
}
export function dynamicImport() {
  let outcome = "pending";
  import("node:fs").then(() => { outcome = "imported"; }, (e) => { outcome = String(e); });
  return { body: outcome };
}
export function claims(request) {
  recordsMap().set(ccf.strToBuf("claimed"), ccf.strToBuf("yes"));
  ccf.rpc.setClaimsDigest(ccf.crypto.digest("SHA-256", ccf.strToBuf("app claim")));
  return {};
}
export function utf8(request) {
  const text = request.body.json().text;
  const bytes = ccf.strToBuf(text);
  ccf.kv["records"].set(bytes, bytes);
  const stored = ccf.kv["records"].get(bytes);
  const hex = Array.from(new Uint8Array(stored), (b) => b.toString(16).padStart(2, "0")).join("");
  return { body: { hex, back: ccf.bufToStr(stored) === text, json: ccf.bufToJsonCompatible(ccf.jsonCompatibleToBuf({ text })).text === text } };
}
export function echoText(request) {
  return { body: request.body.json().text };
}
export function writeMegabytes(request) {
  // Written in 1 MiB values, as many as asked: the total is what the bound counts.
  const value = new ArrayBuffer(1024 * 1024);
  for (let i = 0; i < Number(request.params.n); i++) recordsMap().set(ccf.strToBuf("mb" + i), value);
  return { statusCode: 204 };
}
export function historical(request) {
  const state = ccf.historicalState;
  const value = state.kv["records"].get(ccf.strToBuf(request.params.id));
  return { body: { txId: state.transactionId, value: value === undefined ? null : ccf.bufToJsonCompatible(value), hasProof: Array.isArray(state.receipt.proof) } };
}
`;

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/records/{id}": { put: endpoint("put"), get: endpoint("get", "readonly") },
      "/fail/{id}": { put: endpoint("putThenFail") },
      "/keep/{id}": { put: endpoint("putFailKeep") },
      "/readonly-write": { post: endpoint("writeInReadonly", "readonly") },
      "/gov-write": { post: endpoint("writeGov") },
      "/internal-write": { post: endpoint("internalWrite") },
      "/unknown-map": { get: endpoint("unknownMap", "readonly") },
      "/echo/{a}/{b}": { post: endpoint("echo") },
      "/text": { get: endpoint("text", "readonly") },
      "/binary": { get: endpoint("binary", "readonly") },
      "/typed": { get: endpoint("typedContent", "readonly") },
      "/nothing": { post: endpoint("nothing") },
      "/not-object": { get: endpoint("notAnObject", "readonly") },
      "/throws": { get: endpoint("throws", "readonly") },
      "/probe/{name}": { get: endpoint("probe", "readonly") },
      // One interpreter, kept across calls, serves both (CCF's interpreter_reuse).
      "/calls": { get: { ...endpoint("countCalls", "readonly"), interpreter_reuse: { key: "kept" } } },
      "/kept/probe/{name}": { get: { ...endpoint("probe", "readonly"), interpreter_reuse: { key: "kept" } } },
      "/dynamic-import": { get: endpoint("dynamicImport", "readonly") },
      "/claims": { post: endpoint("claims") },
      "/utf8": { post: endpoint("utf8") },
      "/echo-text": { post: endpoint("echoText") },
      "/historical/{id}": { get: endpoint("historical", "historical") },
      "/megabytes/{n}": { post: endpoint("writeMegabytes") },
      "/anonymous": { get: endpoint("echo", "readonly", []) },
    },
  },
  modules: [
    { name: "app.js", module: APP },
    { name: "lib/records.js", module: `export function recordsMap() { return ccf.kv["records"]; }` },
  ],
};

let node: ServingNode;
let client: HttpsClient;

function storeVersions(): string {
  return dataVersions(node.core.history.store);
}

async function assertUnchanged(action: () => Promise<unknown>): Promise<void> {
  const before = storeVersions();
  await action();
  assert.equal(storeVersions(), before);
}

let app: AppNode;

before(async () => {
  app = await AppNode.start(BUNDLE, "confide-app-");
  ({ node, client } = app);
});

after(() => app.close());

describe("dispatch and transactions", () => {
  it("commits a 2xx write and returns its transaction id; a readonly read reports the id it read", async () => {
    const put = await client.request("PUT", "/app/records/a", { body: { amount: 5 } });
    assert.equal(put.status, 204);
    const txId = put.headers["x-ms-ccf-transaction-id"]!;
    assert.match(txId, /^\d+\.\d+$/);
    const get = await client.get("/app/records/a");
    assert.equal(get.status, 200);
    assert.deepEqual(get.json, { amount: 5 });
    assert.equal(get.headers["content-type"], "application/json");
    assert.ok(get.headers["x-ms-ccf-transaction-id"]);
  });

  it("discards writes of a non-2xx response, keeps them with setApplyWrites(true)", async () => {
    const failed = await client.request("PUT", "/app/fail/b");
    assert.equal(failed.status, 400);
    assert.equal(failed.text, "bad");
    assert.equal((await client.get("/app/records/b")).status, 404);
    const kept = await client.request("PUT", "/app/keep/c");
    assert.equal(kept.status, 409);
    assert.ok(kept.headers["x-ms-ccf-transaction-id"]);
    // The stored JSON string comes back as a string body, which CCF sends as text/plain.
    assert.equal((await client.get("/app/records/c")).text, "kept");
  });

  it("answers 404 for an unknown path and 405 with Allow for a known path and wrong method", async () => {
    const missing = await client.get("/app/nowhere");
    assert.equal(missing.status, 404);
    assert.equal(missing.json.error.code, "ResourceNotFound");
    const wrong = await client.request("DELETE", "/app/records/a");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.json.error.code, "UnsupportedHttpVerb");
    assert.deepEqual(wrong.headers.allow!.split(", ").sort(), ["GET", "PUT"]);
  });

  it("fills the request object as CCF does", async () => {
    const reply = await client.post("/app/echo/one/two?x=1&y=2", "hello", { "x-custom": "Value" });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, {
      method: "POST",
      path: "/app/echo/one/two",
      url: "/app/echo/one/two?x=1&y=2",
      route: "/app/echo/{a}/{b}",
      query: "x=1&y=2",
      params: { a: "one", b: "two" },
      host: new URL(node.url).host,
      header: "Value",
      text: "hello",
      caller: { policy: "no_auth" },
    });
    const anonymous = await client.get("/app/anonymous");
    assert.equal(anonymous.json.caller, null);
  });

  it("ccf.strToBuf is UTF-8 (U+0000 kept) and ccf.bufToStr its inverse, through a KV write and read", async () => {
    for (const text of ["", "plain", "é€😀", "a\u0000b", "\u0000\u0000", "x".repeat(100_000)]) {
      const response = await client.post("/app/utf8", { text });
      assert.equal(response.status, 200, text.slice(0, 20));
      assert.deepEqual(response.json, { hex: Buffer.from(text).toString("hex"), back: true, json: true }, JSON.stringify(text.slice(0, 20)));
    }
  });

  it("a text body comes back byte for byte, short or long, U+0000 included", async () => {
    for (const text of ["short é", "é€😀".repeat(3000), "a\u0000b".repeat(3000), "\u0000".repeat(5000)]) {
      const response = await client.post("/app/echo-text", { text });
      assert.equal(response.status, 200);
      assert.equal(response.headers["content-type"], "text/plain");
      assert.equal(response.text, text, JSON.stringify(text.slice(0, 12)));
    }
  });

  it("serialises bodies with CCF's content types; handler headers override", async () => {
    const text = await client.get("/app/text");
    assert.equal(text.headers["content-type"], "text/plain");
    assert.equal(text.text, "plain");
    assert.equal(text.headers["x-extra"], "42");
    const binary = await client.get("/app/binary");
    assert.equal(binary.headers["content-type"], "application/octet-stream");
    assert.deepEqual([...binary.body], [1, 2, 3]);
    assert.equal((await client.get("/app/typed")).headers["content-type"], "application/custom");
    const nothing = await client.post("/app/nothing");
    assert.equal(nothing.status, 201);
    assert.equal(nothing.headers["content-type"], undefined);
    assert.equal(nothing.body.length, 0);
  });
});

describe("errors and bad input leave the store unchanged", () => {
  it("a readonly endpoint cannot write; app code cannot write governance tables", async () => {
    await assertUnchanged(async () => {
      for (const path of ["/app/readonly-write", "/app/gov-write"]) {
        const reply = await client.post(path);
        assert.equal(reply.status, 500);
        assert.equal(reply.json.error.code, "InternalError");
        assert.equal(reply.json.error.message, "Exception thrown while executing.");
      }
    });
  });

  it("a private ccf.* table name is inaccessible (500); a map never written reads as empty, as in CCF", async () => {
    await assertUnchanged(async () => {
      const reply = await client.post("/app/internal-write");
      assert.equal(reply.status, 500);
      assert.equal(reply.json.error.code, "InternalError");
    });
    const empty = await client.get("/app/unknown-map");
    assert.deepEqual(empty.json, { size: 0, has: false, value: true });
  });

  it("malformed JSON to a JSON endpoint is a 500 from body.json(), nothing stored", async () => {
    await assertUnchanged(async () => {
      const reply = await client.request("PUT", "/app/records/z", { body: "{not json", headers: { "content-type": "application/json" } });
      assert.equal(reply.status, 500);
      assert.equal(reply.json.error.code, "InternalError");
    });
  });

  it("an oversized body is 413 RequestBodyTooLarge", async () => {
    await assertUnchanged(async () => {
      const reply = await client.request("PUT", "/app/records/big", { body: Buffer.alloc(1024 * 1024 + 1, 0x20) });
      assert.equal(reply.status, 413);
      assert.equal(reply.json.error.code, "RequestBodyTooLarge");
    });
  });

  it("a transaction writing more than TX_WRITE_BYTES_MAX is a 500 naming the bound, nothing stored; smaller ones commit", async () => {
    const overLimit = TX_WRITE_BYTES_MAX / (1024 * 1024) + 1;
    await assertUnchanged(async () => {
      const reply = await client.request("POST", `/app/megabytes/${overLimit}`);
      assert.equal(reply.status, 500, reply.text);
      assert.equal(reply.json.error.code, "InternalError");
      assert.match(reply.json.error.message, new RegExp(`more than the ${TX_WRITE_BYTES_MAX} a transaction may write`));
    });
    assert.equal((await client.request("POST", "/app/megabytes/2")).status, 204);
  });

  it("an invalid transaction id in /node/tx is 400 InvalidQueryParameterValue", async () => {
    for (const query of ["transaction_id=banana", "transaction_id=1", "transaction_id=0.5", ""]) {
      const reply = await client.get(`/node/tx?${query}`);
      assert.equal(reply.status, 400, query);
      assert.equal(reply.json.error.code, "InvalidQueryParameterValue");
    }
  });

  it("a non-object return value or a throw is a clean 500; details only when the runtime options ask", async () => {
    for (const path of ["/app/not-object", "/app/throws"]) {
      const reply = await client.get(path);
      assert.equal(reply.status, 500);
      assert.deepEqual(reply.json, { error: { code: "InternalError", message: "Exception thrown while executing." } });
    }
    const tx = node.core.history.begin();
    tx.map(Tables.jsRuntimeOptions).set(SENTINEL_KEY, Buffer.from(JSON.stringify({ return_exception_details: true, max_execution_time_ms: 200 })));
    node.core.history.commit(tx);
    const detailed = await client.get("/app/throws");
    assert.equal(detailed.json.error.details[0].code, "JSException");
    assert.match(detailed.json.error.details[0].message, /handler failed on purpose/);
    assert.match(detailed.json.error.details[0].trace, /throws/);
  });
});

describe("isolation of the app realm", () => {
  it("has no Node APIs or browser globals", async () => {
    const reply = await client.get("/app/probe/globals");
    assert.deepEqual(reply.json, Array(8).fill("undefined"));
  });

  for (const name of ["process", "require", "fs", "loop", "recursion", "allocate", "strings"]) {
    it(`a handler using ${name} gets a clean 500 and the next request works`, async () => {
      const reply = await client.get(`/app/probe/${name}`);
      assert.equal(reply.status, 500);
      assert.equal(reply.json.error.code, "InternalError");
      if (name === "loop") assert.equal(reply.json.error.message, "Operation took too long to complete.");
      const next = await client.get("/app/records/a");
      assert.equal(next.status, 200);
      assert.deepEqual(next.json, { amount: 5 });
    });
  }

  it("when the engine itself fails (Node's stack runs out inside it), the call gets a clean 500 and a fresh interpreter serves the next", async () => {
    const before = (await client.get("/app/calls")).json as number;
    assert.equal((await client.get("/app/calls")).json, before + 1, "a reused interpreter serves calls in turn: module state persists");
    const reply = await client.get("/app/kept/probe/nesting");
    assert.equal(reply.status, 500);
    assert.equal(reply.json.error.code, "InternalError");
    // The failed engine was dropped: the next call runs in a new interpreter, its module state fresh.
    assert.equal((await client.get("/app/calls")).json, 1);
    assert.deepEqual((await client.get("/app/records/a")).json, { amount: 5 });
    // The same failure in the per-request interpreter: it is rebuilt, and serves the next request.
    assert.equal((await client.get("/app/probe/nesting")).status, 500);
    assert.deepEqual((await client.get("/app/records/a")).json, { amount: 5 });
  });

  it("dynamic import of a node: module fails inside the app", async () => {
    const reply = await client.get("/app/dynamic-import");
    assert.equal(reply.status, 200);
    // The import is rejected (module not in the bundle); nothing was imported.
    assert.notEqual(reply.json, "imported");
  });
});

describe("receipts and historical state", () => {
  it("a receipt for an app transaction verifies against the service certificate and carries the claims digest", async () => {
    const reply = await client.post("/app/claims");
    const txId = reply.headers["x-ms-ccf-transaction-id"]!;
    await node.core.history.waitForCommit(Number(txId.split(".")[1]));
    const receipt = await client.getEventually(`/app/receipt?transaction_id=${txId}`);
    assert.equal(receipt.status, 200);
    verifyReceipt(receipt.json as Receipt, node.core.identity.serviceCertPem);
    const { createHash } = await import("node:crypto");
    assert.equal(receipt.json.leaf_components.claims_digest, createHash("sha256").update("app claim").digest("hex"));
    // Every frontend serves receipts (CCF's common endpoints): /node and /gov give the same one.
    for (const frontend of ["/node", "/gov"]) {
      const other = await client.getEventually(`${frontend}/receipt?transaction_id=${txId}`);
      assert.equal(other.status, 200, frontend);
      assert.deepEqual(other.json, receipt.json, frontend);
    }
  });

  it("historical endpoints: 400 without the header, 404 for unknown ids, 202 then the state as written by that transaction", async () => {
    const first = await client.request("PUT", "/app/records/h", { body: { version: 1 } });
    const firstId = first.headers["x-ms-ccf-transaction-id"]!;
    await client.request("PUT", "/app/records/h", { body: { version: 2 } });
    await node.core.history.waitForCommit(node.core.history.lastSeqno);

    const missing = await client.get("/app/historical/h");
    assert.equal(missing.status, 400);
    assert.equal(missing.json.error.code, "MissingRequiredHeader");
    const garbage = await client.get("/app/historical/h", { "x-ms-ccf-transaction-id": "nonsense" });
    assert.equal(garbage.json.error.code, "InvalidHeaderValue");
    const unknown = await client.get("/app/historical/h", { "x-ms-ccf-transaction-id": `${firstId.split(".")[0]}.999999` });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json.error.code, "TransactionPendingOrUnknown");

    const pending = await client.get("/app/historical/h", { "x-ms-ccf-transaction-id": firstId });
    assert.equal(pending.status, 202);
    assert.equal(pending.headers["retry-after"], "3");
    assert.equal(pending.headers["content-type"], "text/plain");
    assert.equal(pending.text, `Historical transaction ${firstId} is not currently available.`);
    const reply = await client.getEventually("/app/historical/h", { "x-ms-ccf-transaction-id": firstId });
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, { txId: firstId, value: { version: 1 }, hasProof: true });
  });

  it("/node/tx reports Committed for a committed app transaction", async () => {
    const put = await client.request("PUT", "/app/records/t", { body: { t: 1 } });
    const txId = put.headers["x-ms-ccf-transaction-id"]!;
    await node.core.history.waitForCommit(Number(txId.split(".")[1]));
    const status = await client.get(`/node/tx?transaction_id=${txId}`);
    assert.deepEqual(status.json, { transaction_id: txId, status: "Committed" });
    const commit = await client.get("/app/commit");
    assert.match(commit.json.transaction_id, /^\d+\.\d+$/);
  });
});
