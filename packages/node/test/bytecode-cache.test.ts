// The app bytecode cache (CCF's modules_quickjs_bytecode / _version): deploying
// an app compiles each module once; interpreters then load modules from that
// bytecode, on this node and after a restart, and from source when the cache
// is absent, from another engine build, or lacks a module that does not compile.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { seqNo } from "../src/ids.ts";
import { Store } from "../src/kv/store.ts";
import type { Tx } from "../src/kv/tx.ts";
import { writeAppTables, type Bundle, type EndpointProperties } from "../src/runtime/bundle.ts";
import { readBytecodeCache, refreshBytecodeCache } from "../src/runtime/bytecode-cache.ts";
import { BYTECODE_VERSION, Engine } from "../src/runtime/engine.ts";
import { SENTINEL_KEY, Tables } from "../src/tables.ts";
import { AppNode } from "./helpers/app-node.ts";

const endpoint = (js_module: string, js_function: string): EndpointProperties => ({
  js_module,
  js_function,
  authn_policies: ["no_auth"],
  mode: "readonly",
  forwarding_required: "never",
});

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/answer": { get: endpoint("app.js", "answer") },
      "/broken": { get: endpoint("broken.js", "never") },
    },
  },
  modules: [
    { name: "app.js", module: `import { answer as inner } from "./lib/answer.js";\nexport function answer() { return { body: inner() }; }` },
    { name: "lib/answer.js", module: `export function answer() { return "from source"; }` },
    { name: "broken.js", module: `export function never() { return {; }` },
  ],
};

/** Commits a transaction straight into the store (the commit pipeline, minus the ledger). */
function commit(store: Store, build: (tx: Tx) => void): void {
  const tx = store.begin();
  build(tx);
  store.apply(tx.finish(), seqNo(store.lastSeqno + 1));
}

function withApp(bundle: Bundle): Store {
  const store = new Store();
  commit(store, (tx) => writeAppTables(tx, bundle));
  return store;
}

describe("compiling the cache", () => {
  it("deploying an app stores bytecode for each module that compiles, tagged with this engine build", () => {
    const tx = withApp(BUNDLE).beginReadOnly();
    const names: string[] = [];
    tx.map(Tables.modulesQuickjsBytecode).forEach((_value, key) => names.push(key.toString("utf8")));
    assert.deepEqual(names.sort(), ["/app.js", "/lib/answer.js"]);
    assert.equal(tx.map(Tables.modulesQuickjsVersion).get(SENTINEL_KEY)?.toString("utf8"), BYTECODE_VERSION);
    assert.deepEqual([...readBytecodeCache(tx).keys()].sort(), ["/app.js", "/lib/answer.js"]);
  });

  it("bytecode tagged by another engine build is not used", () => {
    const store = withApp(BUNDLE);
    commit(store, (tx) => tx.map(Tables.modulesQuickjsVersion).set(SENTINEL_KEY, Buffer.from("2024-01-13")));
    assert.equal(readBytecodeCache(store.beginReadOnly()).size, 0);
  });

  it("refreshing replaces the cache: a module no longer stored loses its bytecode", () => {
    const store = withApp(BUNDLE);
    commit(store, (tx) => {
      tx.map(Tables.modules).delete(Buffer.from("/lib/answer.js"));
      refreshBytecodeCache(tx);
    });
    assert.deepEqual([...readBytecodeCache(store.beginReadOnly()).keys()], ["/app.js"]);
  });

  it("bytecode is QuickJS's own: another engine of this build runs it", () => {
    const sources: Record<string, string> = { "/lib/answer.js": `export function answer() { return 42; }` };
    const compiled = new Engine({ shouldInterrupt: () => false, normalize: (_b, r) => r, load: () => ({ source: "" }) }).compileModule(
      `import { answer } from "./lib/answer.js"; export const doubled = answer() * 2;`,
      "/main.js",
    );
    const engine = new Engine({
      shouldInterrupt: () => false,
      normalize: (base, requested) => new URL(requested, `file://${base}`).pathname,
      load: (name) => (name === "/main.js" ? { bytecode: compiled } : { source: sources[name]! }),
    });
    const namespace = engine.evalModule(`import * as main from "/main.js"; export const doubled = main.doubled;`, "/entry.js");
    assert.equal(engine.json(engine.getProperty(namespace, "doubled")), "84");
  });

  it("bytecode that is cut short is a clean error, not a crashed engine", () => {
    const compiled = new Engine({ shouldInterrupt: () => false, normalize: (_b, r) => r, load: () => ({ source: "" }) }).compileModule(
      `export const value = "a string long enough to be cut";`,
      "/main.js",
    );
    const engine = new Engine({ shouldInterrupt: () => false, normalize: (_b, r) => r, load: () => ({ bytecode: compiled.subarray(0, compiled.length - 8) }) });
    assert.throws(() => engine.evalModule(`import "/main.js";`, "/entry.js"), /read after the end of the buffer|invalid/i);
    // The engine still works.
    assert.equal(engine.json(engine.evalScript("1 + 1", "/after.js")), "2");
  });
});

describe("a node serving from the cache", () => {
  let app: AppNode;

  before(async () => {
    app = await AppNode.start(BUNDLE, "confide-bytecode-");
  });

  after(() => app.close());

  /** Commits one transaction of direct table writes (as no proposal would: shows which of source and bytecode runs). */
  async function write(build: (tx: Tx) => void): Promise<void> {
    const { history } = app.node.core;
    const tx = history.begin();
    build(tx);
    await history.waitForCommit(history.commit(tx)!.seqno);
  }

  const replaceSourceOnly = (name: string, source: string) => write((tx) => tx.map(Tables.modules).set(Buffer.from(name), Buffer.from(source)));

  it("runs the module's bytecode, not its stored source; a module without bytecode reports its error per request", async () => {
    await replaceSourceOnly("/lib/answer.js", `export function answer() { return "changed source"; }`);
    const answer = await app.client.get("/app/answer");
    assert.equal(answer.status, 200);
    assert.equal(answer.text, "from source");
    const broken = await app.client.get("/app/broken");
    assert.equal(broken.status, 500);
    assert.equal((broken.json as { error: { code: string } }).error.code, "InternalError");
  });

  it("without the cache, modules load from source", async () => {
    await write((tx) => {
      tx.map(Tables.modulesQuickjsBytecode).clear();
      tx.map(Tables.modulesQuickjsVersion).clear();
    });
    assert.equal((await app.client.get("/app/answer")).text, "changed source");
  });

  it("after a restart the node serves from the cache in its ledger", async () => {
    await write(refreshBytecodeCache);
    await replaceSourceOnly("/lib/answer.js", `export function answer() { return "source after restart"; }`);
    await app.restart();
    assert.equal((await app.client.get("/app/answer")).text, "changed source");
  });
});
