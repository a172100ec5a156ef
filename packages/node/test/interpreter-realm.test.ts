// CCF's interpreter lifetime, over real TLS: without `interpreter_reuse` every
// request runs in a fresh interpreter, so nothing one caller's request leaves
// (module variables, globals, Object.prototype) reaches the next request;
// endpoints naming the same reuse key share one interpreter whose state
// persists; js_runtime_options.max_cached_interpreters bounds those (least
// recently used dropped, starting fresh when used again); a new deployment or
// new runtime options drop them all.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId } from "../src/crypto/keys.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { writeAppTables, type Bundle, type EndpointProperties } from "../src/runtime/bundle.ts";
import { JS_CACHED_INTERPRETERS_MAX } from "../src/limits.ts";
import { SENTINEL_KEY, Tables } from "../src/tables.ts";
import { HttpsClient, type ClientIdentity } from "./helpers/https-client.ts";

const APP = `
let visits = 0;
const callers = [];
function state() {
  return { visits, callers, inherited: ({}).leak ?? null, global: typeof leakedGlobal === "undefined" ? null : leakedGlobal,
    arrayPatched: typeof [].exfiltrate === "function" };
}
export function leak(request) {
  visits++;
  callers.push(request.caller.id);
  Object.prototype.leak = "left by " + request.caller.id;
  Array.prototype.exfiltrate = function () { return this; };
  globalThis.leakedGlobal = "secret of " + request.caller.id;
  return { body: state() };
}
export function look() {
  return { body: state() };
}
let count = 0;
export function counter() {
  return { body: ++count };
}
`;

function endpoint(js_function: string, reuseKey?: string): Record<string, EndpointProperties> {
  return {
    post: {
      js_module: "app.js",
      js_function,
      authn_policies: ["user_cert"],
      mode: "readonly",
      forwarding_required: "never",
      ...(reuseKey === undefined ? {} : { interpreter_reuse: { key: reuseKey } }),
    },
  };
}

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/fresh/leak": endpoint("leak"),
      "/fresh/look": endpoint("look"),
      "/shared/leak": endpoint("leak", "shared"),
      "/shared/look": endpoint("look", "shared"),
      "/other/look": endpoint("look", "other"),
      "/k1": endpoint("counter", "k1"),
      "/k2": endpoint("counter", "k2"),
      "/k3": endpoint("counter", "k3"),
      "/fresh/counter": endpoint("counter"),
      ...Object.fromEntries(Array.from({ length: JS_CACHED_INTERPRETERS_MAX + 1 }, (_, i) => [`/many/${i}`, endpoint("counter", `many-${i}`)])),
    },
  },
  modules: [{ name: "app.js", module: APP }],
};

const PRISTINE = { visits: 0, callers: [], inherited: null, global: null, arrayPatched: false };

let dir: string;
let node: ServingNode;
let alice: ClientIdentity;
let bob: ClientIdentity;
let asAlice: HttpsClient;
let asBob: HttpsClient;

async function identity(): Promise<ClientIdentity> {
  const made = await createServiceIdentity({});
  return { certPem: made.certPem, keyPem: made.privateKeyPem };
}

async function post(client: HttpsClient, path: string): Promise<unknown> {
  const reply = await client.request("POST", `/app${path}`);
  assert.equal(reply.status, 200, `${path}: ${reply.text}`);
  return reply.json;
}

/** What set_js_runtime_options stores (the node reads the snake_case fields). */
function setRuntimeOptions(options: Record<string, unknown>): void {
  const tx = node.core.history.begin();
  tx.map(Tables.jsRuntimeOptions).set(SENTINEL_KEY, Buffer.from(JSON.stringify(options)));
  node.core.history.commit(tx);
}

/** What set_js_app writes for `bundle`. */
function deploy(bundle: Bundle): void {
  const tx = node.core.history.begin();
  writeAppTables(tx, bundle);
  node.core.history.commit(tx);
}

before(async () => {
  [alice, bob] = await Promise.all([identity(), identity()]);
  dir = mkdtempSync(join(tmpdir(), "confide-realm-"));
  node = await startNode({ dir, port: 0, appBundle: BUNDLE, users: [{ certPem: alice.certPem }, { certPem: bob.certPem }] });
  asAlice = new HttpsClient(node.url, node.core.identity.serviceCertPem, alice);
  asBob = new HttpsClient(node.url, node.core.identity.serviceCertPem, bob);
});

after(async () => {
  asAlice.close();
  asBob.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a fresh interpreter per request (no interpreter_reuse)", () => {
  it("what one party's request leaves (module variables, globals, prototypes) is gone for the next party's", async () => {
    const left = (await post(asAlice, "/fresh/leak")) as { visits: number; inherited: string };
    assert.equal(left.visits, 1);
    assert.equal(left.inherited, `left by ${certId(alice.certPem)}`);
    assert.deepEqual(await post(asBob, "/fresh/look"), PRISTINE);
    // The same party's next request starts fresh too.
    assert.equal(((await post(asAlice, "/fresh/leak")) as { visits: number }).visits, 1);
    assert.deepEqual(await post(asAlice, "/fresh/look"), PRISTINE);
  });

  it("many requests in flight at once each see the pristine state", async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, (_, i) => post(i % 2 === 0 ? asAlice : asBob, i % 4 < 2 ? "/fresh/leak" : "/fresh/counter")));
    for (const [i, reply] of replies.entries()) {
      if (i % 4 < 2) assert.equal((reply as { visits: number }).visits, 1, `request ${i}`);
      else assert.equal(reply, 1, `request ${i}`);
    }
  });
});

describe("interpreter_reuse", () => {
  it("endpoints with the same key share state across requests and callers; other keys and fresh endpoints do not see it", async () => {
    await post(asAlice, "/shared/leak");
    const shared = (await post(asBob, "/shared/look")) as { visits: number; callers: string[]; inherited: string; arrayPatched: boolean };
    assert.equal(shared.visits, 1);
    assert.deepEqual(shared.callers, [certId(alice.certPem)]);
    assert.equal(shared.inherited, `left by ${certId(alice.certPem)}`);
    assert.equal(shared.arrayPatched, true);
    assert.deepEqual(await post(asBob, "/other/look"), PRISTINE);
    assert.deepEqual(await post(asBob, "/fresh/look"), PRISTINE);
    assert.equal(((await post(asBob, "/shared/leak")) as { visits: number }).visits, 2);
  });

  it("max_cached_interpreters bounds the cache: the least recently used key is dropped and starts fresh", async () => {
    setRuntimeOptions({ max_cached_interpreters: 2 });
    const counts: unknown[] = [];
    for (const path of ["/k1", "/k1", "/k2", "/k3", "/k2", "/k1", "/k3"]) counts.push(await post(asAlice, path));
    // k3 evicts k1 (least recently used); k2 stays; k1 comes back fresh and evicts k3, which then starts fresh.
    assert.deepEqual(counts, [1, 2, 1, 1, 2, 1, 1]);
  });

  it("max_cached_interpreters 0 caches nothing: a reuse key gets a fresh interpreter each time", async () => {
    setRuntimeOptions({ max_cached_interpreters: 0 });
    assert.deepEqual([await post(asAlice, "/k1"), await post(asAlice, "/k1")], [1, 1]);
    setRuntimeOptions({});
    assert.deepEqual([await post(asAlice, "/k1"), await post(asAlice, "/k1")], [1, 2]);
  });

  it("a max_cached_interpreters above the node's ceiling is read as the ceiling; a negative one as CCF's default", async () => {
    setRuntimeOptions({ max_cached_interpreters: 1_000_000 });
    for (let i = 0; i <= JS_CACHED_INTERPRETERS_MAX; i++) assert.equal(await post(asAlice, `/many/${i}`), 1);
    // The first key is the least recently used of 65: evicted at the ceiling of 64, so it starts fresh.
    assert.equal(await post(asAlice, "/many/0"), 1);
    assert.equal(await post(asAlice, `/many/${JS_CACHED_INTERPRETERS_MAX}`), 2);
    // Stored without the constitution's check: not a count, so the default (10) applies and keys are cached.
    setRuntimeOptions({ max_cached_interpreters: -1 });
    assert.deepEqual([await post(asAlice, "/k1"), await post(asAlice, "/k1")], [1, 2]);
  });

  it("a new deployment of the app, or new runtime options, drops the cached interpreters", async () => {
    await post(asAlice, "/shared/leak");
    assert.ok(((await post(asAlice, "/shared/look")) as { visits: number }).visits >= 1);
    deploy(BUNDLE);
    assert.deepEqual(await post(asAlice, "/shared/look"), PRISTINE);
    await post(asAlice, "/shared/leak");
    setRuntimeOptions({ max_execution_time_ms: 2000 });
    assert.deepEqual(await post(asAlice, "/shared/look"), PRISTINE);
  });
});
