// Builds the fixture CCF apps into bundles (esbuild, rollup preserveModules,
// esbuild against @microsoft/ccf-app 5.x) and checks the bundle shape. The
// bundles are also loaded into Node under @microsoft/ccf-app's own polyfill
// of the `ccf` global to show they are runnable ES modules and that the
// fixture handlers return what the fixture README promises. No CCF node
// needed.

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  buildWithEsbuildDetailed,
  buildWithRollupDetailed,
  bundleToJson,
  ccfAppPackageDir,
  endpointModules,
  importRecords,
  moduleExports,
  readAppMetadata,
  resolveModuleSpecifier,
  type Bundle,
  type BuildResult,
} from "./helpers/build-bundle.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const FEATURES = path.join(here, "fixtures", "apps", "features");
const FEATURES_ROLLUP = path.join(here, "fixtures", "apps", "features-rollup");

const CCF_APP_6 = ccfAppPackageDir(6);
const CCF_APP_5 = ccfAppPackageDir(5);

function moduleNames(bundle: Bundle): string[] {
  return bundle.modules.map((m) => m.name);
}

function moduleText(bundle: Bundle, name: string): string {
  const m = bundle.modules.find((x) => x.name === name);
  assert.ok(m, `module ${name} missing; have ${moduleNames(bundle).join(", ")}`);
  return m.module;
}

function isRelative(specifier: string): boolean {
  return specifier.startsWith("./") || specifier.startsWith("../");
}

function isUnder(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

/** Checks shared by every variant: metadata verbatim, js_modules present, functions exported. */
async function assertBundleShape(bundle: Bundle, appDir: string): Promise<void> {
  assert.deepEqual(bundle.metadata, readAppMetadata(appDir), "metadata is app.json verbatim");
  // JSON round trip, as it travels in a set_js_app proposal.
  assert.deepEqual(JSON.parse(bundleToJson(bundle)), bundle);

  const names = moduleNames(bundle);
  assert.equal(new Set(names).size, names.length, "module names are unique");
  for (const name of names) {
    assert.match(name, /^[^/].*\.js$/, `module name ${name} is relative to src/ and ends in .js`);
    assert.ok(!name.includes("\\"), `module name ${name} uses forward slashes`);
    assert.ok(!name.split("/").includes(".."), `module name ${name} stays inside src/`);
  }
  for (const [route, methods] of Object.entries(bundle.metadata.endpoints)) {
    for (const [method, props] of Object.entries(methods)) {
      assert.ok(
        names.includes(props.js_module),
        `${method.toUpperCase()} ${route}: js_module ${props.js_module} is a bundle module`,
      );
    }
  }
  for (const jsModule of endpointModules(bundle.metadata)) {
    const exported = await moduleExports(moduleText(bundle, jsModule));
    for (const methods of Object.values(bundle.metadata.endpoints)) {
      for (const props of Object.values(methods)) {
        if (props.js_module === jsModule) {
          assert.ok(
            exported.includes(props.js_function),
            `${jsModule} exports ${props.js_function} (exports: ${exported.join(", ")})`,
          );
        }
      }
    }
  }
}

/** Every import in every module is relative and names another module of the bundle. */
async function assertImportsResolveWithinBundle(bundle: Bundle): Promise<number> {
  const names = new Set(moduleNames(bundle));
  let relativeImports = 0;
  for (const m of bundle.modules) {
    for (const rec of await importRecords(m.module)) {
      assert.ok(isRelative(rec.path), `${m.name}: bare import "${rec.path}" left in the bundle`);
      const target = resolveModuleSpecifier(m.name, rec.path);
      assert.ok(names.has(target), `${m.name}: import "${rec.path}" -> ${target} is not a bundle module`);
      relativeImports++;
    }
  }
  return relativeImports;
}

// ---------------------------------------------------------------------------
// Running bundles under the ccf-app polyfill

type Handler = (request: unknown) => { statusCode?: number; headers?: Record<string, string>; body?: unknown };
type Module = Record<string, Handler>;

const tempDirs: string[] = [];

/** Writes the bundle's modules under a fresh temp dir (ESM package scope in each dir). */
function materialize(bundle: Bundle): string {
  const dir = mkdtempSync(path.join(tmpdir(), "confide-bundle-"));
  tempDirs.push(dir);
  for (const m of bundle.modules) {
    const file = path.join(dir, ...m.name.split("/"));
    mkdirSync(path.dirname(file), { recursive: true });
    // node_modules/ directories end Node's package-scope lookup, so mark every
    // directory as ESM explicitly.
    writeFileSync(path.join(path.dirname(file), "package.json"), '{"type":"module"}');
    writeFileSync(file, m.module);
  }
  return dir;
}

async function load(dir: string, name: string): Promise<Module> {
  return (await import(pathToFileURL(path.join(dir, ...name.split("/"))).href)) as Module;
}

function fakeRequest(init: {
  params?: Record<string, string>;
  query?: string;
  body?: string | Uint8Array;
  caller?: unknown;
  method?: string;
}): unknown {
  const bytes =
    typeof init.body === "string" ? new TextEncoder().encode(init.body) : (init.body ?? new Uint8Array());
  const copy = () => bytes.slice().buffer;
  const urlPath = "/app/test";
  return {
    headers: { "content-type": "application/json", host: "127.0.0.1:8000" },
    params: init.params ?? {},
    query: init.query ?? "",
    path: urlPath,
    url: init.query ? `${urlPath}?${init.query}` : urlPath,
    route: urlPath,
    method: init.method ?? "GET",
    hostname: "127.0.0.1:8000",
    caller: init.caller,
    body: {
      text: () => new TextDecoder().decode(bytes),
      json: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
      arrayBuffer: copy,
    },
  };
}

function call(mod: Module, fn: string, request: unknown = fakeRequest({})) {
  const handler = mod[fn];
  assert.equal(typeof handler, "function", `${fn} is exported`);
  return handler!(request);
}

interface PolyfilledCcf {
  kv: Record<string, object>;
  consensus: Record<string, unknown>;
  historical: Record<string, unknown>;
  rpc: Record<string, unknown>;
  enableUntrustedDateTime: (on: boolean) => boolean;
}

const claimsDigests: ArrayBuffer[] = [];

/**
 * Installs @microsoft/ccf-app/polyfill.js (Node implementation of the ccf
 * global meant for unit-testing apps) and fills in the parts it leaves
 * unimplemented with fixed values.
 */
async function installPolyfill(): Promise<void> {
  await import("@microsoft/ccf-app/polyfill.js");
  const ccf = (globalThis as unknown as { ccf: PolyfilledCcf }).ccf;
  const mapProto = Object.getPrototypeOf(ccf.kv["any"]) as Record<string, unknown>;
  mapProto["getVersionOfPreviousWrite"] = () => undefined;
  ccf.consensus = {
    getLastCommittedTxId: () => ({ view: 2, seqno: 42 }),
    getStatusForTxId: () => "Committed",
    getViewForSeqno: () => 2,
  };
  ccf.historical = { getStateRange: () => null, dropCachedStates: () => true };
  ccf.rpc = {
    setApplyWrites: () => undefined,
    setClaimsDigest: (d: ArrayBuffer) => void claimsDigests.push(d),
  };
  let untrusted = false;
  ccf.enableUntrustedDateTime = (on: boolean) => {
    const previous = untrusted;
    untrusted = on;
    return previous;
  };
}

const sha256hex = (s: string) => createHash("sha256").update(s).digest("hex");

/** Gives the polyfilled ccf global an empty key-value store. */
function resetKv(): void {
  const ccf = (globalThis as unknown as { ccf: PolyfilledCcf }).ccf;
  const KvMap = (Object.getPrototypeOf(ccf.kv["any"]) as { constructor: new () => object }).constructor;
  const maps: Record<string, object> = {};
  ccf.kv = new Proxy(maps, {
    get: (target, name) => (typeof name === "string" ? (target[name] ??= new KvMap()) : undefined),
  });
}

/** Exercises the full features app through whichever module layout the bundle has. */
async function runFeatures(bundle: Bundle): Promise<void> {
  resetKv();
  const dir = materialize(bundle);
  const mod = async (area: string) => {
    // esbuild/rollup builds of features keep one module per area; fall back
    // to an all-in-one entry if a variant has one.
    const name = `endpoints/${area}.js`;
    return load(dir, moduleNames(bundle).includes(name) ? name : "endpoints/all.js");
  };

  const misc = await mod("misc");
  assert.deepEqual(call(misc, "ping").body, { pong: true, app: "features" });
  const random = call(misc, "random").body as { allInRange: boolean; distinct: boolean };
  assert.equal(random.allInRange, true);
  assert.equal(random.distinct, true);

  const kv = await mod("kv");
  const put = call(kv, "putRecord", fakeRequest({ params: { id: "r1" }, body: '{"msg":"hello"}' }));
  assert.deepEqual(put.body, { id: "r1", existed: false, previousVersion: null, size: 1 });
  assert.deepEqual(call(kv, "getRecord", fakeRequest({ params: { id: "r1" } })).body, {
    id: "r1",
    value: { msg: "hello" },
    version: null,
  });
  assert.equal(call(kv, "getRecord", fakeRequest({ params: { id: "nope" } })).statusCode, 404);
  assert.deepEqual(call(kv, "listRecords").body, { size: 1, records: { r1: { msg: "hello" } } });
  assert.deepEqual(call(kv, "incrementCounter", fakeRequest({ params: { name: "c" } })).body, {
    name: "c",
    value: 1,
    rawByteLength: 4,
  });
  assert.deepEqual(call(kv, "appendLog", fakeRequest({ body: "first" })).body, { index: 0, size: 1 });
  assert.equal(call(kv, "readLog", fakeRequest({ params: { index: "0" } })).body, "first");
  call(kv, "putRaw", fakeRequest({ params: { key: "k" }, body: new Uint8Array([0, 1, 255]) }));
  const raw = call(kv, "getRaw", fakeRequest({ params: { key: "k" } })).body;
  assert.ok(raw instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(raw)], [0, 1, 255]);
  assert.deepEqual(call(kv, "deleteRecord", fakeRequest({ params: { id: "r1" } })).body, {
    id: "r1",
    deleted: true,
    hasAfter: false,
  });
  assert.deepEqual(call(kv, "clearRecords").body, { cleared: 0, sizeAfter: 0 });

  const request = await mod("request");
  const echoed = call(request, "echo", fakeRequest({ params: { name: "n" }, query: "a=1", body: "x" }))
    .body as Record<string, unknown>;
  assert.equal(echoed["query"], "a=1");
  assert.deepEqual(echoed["params"], { name: "n" });
  assert.equal(echoed["body"], "x");
  assert.deepEqual(call(request, "query", fakeRequest({ query: "a=1&b=x%20y" })).body, {
    raw: "a=1&b=x%20y",
    parsed: { a: "1", b: "x y" },
  });
  assert.equal(call(request, "bodyText", fakeRequest({ body: "héllo" })).body, "5:héllo");
  assert.deepEqual(call(request, "bodyBytes", fakeRequest({ body: new Uint8Array([1, 2]) })).body, {
    byteLength: 2,
    hex: "0102",
    sha256: createHash("sha256").update(Buffer.from([1, 2])).digest("hex"),
  });

  const auth = await mod("auth");
  const cose = new TextEncoder().encode("payload");
  assert.deepEqual(
    call(auth, "whoami", fakeRequest({ caller: { policy: "user_cose_sign1", id: "ab", cose: { content: cose.buffer } } }))
      .body,
    {
      caller: {
        policy: "user_cose_sign1",
        id: "ab",
        cose: { content: { byteLength: 7, hex: Buffer.from(cose).toString("hex") } },
      },
    },
  );
  assert.deepEqual(call(auth, "whoami").body, { caller: null });

  const responses = await mod("responses");
  assert.equal(call(responses, "textBody").body, "hello, text");
  const bytes = call(responses, "bytesBody").body;
  assert.ok(bytes instanceof ArrayBuffer && bytes.byteLength === 256);
  assert.equal(call(responses, "customStatusAndHeaders").statusCode, 201);
  assert.equal(call(responses, "emptyBody").statusCode, 204);
  assert.throws(() => call(responses, "throwError"), /deliberate failure/);

  const crypto = await mod("crypto");
  for (const scheme of ["ecdsa-p256", "ecdsa-p384", "rsa-pss", "eddsa"]) {
    const r = call(crypto, "signVerify", fakeRequest({ params: { scheme } })).body as Record<string, unknown>;
    assert.equal(r["verified"], true, scheme);
    assert.equal(r["tamperedRejected"], true, scheme);
    assert.equal(r["wrongKeyRejected"], true, scheme);
  }
  assert.deepEqual(call(crypto, "digest", fakeRequest({ query: "data=abc" })).body, {
    data: "abc",
    alg: "SHA-256",
    hex: sha256hex("abc"),
  });
  // The polyfill only implements AES-KWP with 256-bit keys, ignores the
  // RSA-OAEP label on unwrap and needs `this` for RSA-OAEP-AES-KWP, so only
  // AES-KWP is checked here; the others are for the real runtime.
  assert.deepEqual(call(crypto, "wrapUnwrap", fakeRequest({ params: { algorithm: "aes-kwp" } })).body, {
    algorithm: "AES-KWP",
    keyByteLength: 32,
    wrappedByteLength: 40,
    roundTrip: true,
    aesKeyLengths: [16, 24, 32],
  });
  for (const kind of ["ec", "rsa", "eddsa"]) {
    const r = call(crypto, "jwkRoundTrip", fakeRequest({ params: { kind } })).body as Record<string, unknown>;
    assert.equal(r["publicRoundTrip"], true, kind);
    assert.equal(r["privateRoundTrip"], true, kind);
    assert.equal(r["crossVerified"], true, kind);
  }

  const historical = await mod("historical");
  const before = claimsDigests.length;
  assert.deepEqual(call(historical, "writeWithClaims", fakeRequest({ body: '{"id":"c1","msg":"claim"}' })).body, {
    id: "c1",
    claimsDigest: sha256hex("claim"),
  });
  assert.equal(claimsDigests.length, before + 1);
  assert.equal(Buffer.from(claimsDigests[before]!).toString("hex"), sha256hex("claim"));
  assert.deepEqual(call(historical, "consensusInfo").body, {
    lastCommitted: { view: 2, seqno: 42 },
    seqno: 42,
    view: 2,
    status: "Committed",
  });
  // The polyfill's getStateRange stub answers "not yet available".
  assert.equal(
    call(historical, "historicalRange", fakeRequest({ query: "transaction_id=2.40" })).statusCode,
    202,
  );

  const encoding = await mod("encoding");
  assert.deepEqual(call(encoding, "base64", fakeRequest({ body: "hello" })).body, {
    base64: "aGVsbG8=",
    byteLength: 5,
    roundTrip: true,
  });
}

// ---------------------------------------------------------------------------

let esbuild6: BuildResult;
let esbuild5: BuildResult;
let rollupSubset: BuildResult;
let rollupFull: BuildResult;
let esbuildSubset: BuildResult;

before(async () => {
  [esbuild6, esbuild5, rollupSubset, rollupFull, esbuildSubset] = await Promise.all([
    buildWithEsbuildDetailed(FEATURES),
    buildWithEsbuildDetailed(FEATURES, { ccfApp: 5 }),
    buildWithRollupDetailed(FEATURES_ROLLUP),
    buildWithRollupDetailed(FEATURES),
    buildWithEsbuildDetailed(FEATURES_ROLLUP),
  ]);
  await installPolyfill();
});

after(() => {
  for (const dir of tempDirs) {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("esbuild build of the features app (ccf-app 6)", () => {
  test("bundle shape matches app.json, one module per endpoint module", async () => {
    const bundle = esbuild6.bundle;
    await assertBundleShape(bundle, FEATURES);
    assert.deepEqual(moduleNames(bundle), endpointModules(readAppMetadata(FEATURES)));
    assert.deepEqual(moduleNames(bundle), [
      "endpoints/auth.js",
      "endpoints/crypto.js",
      "endpoints/encoding.js",
      "endpoints/historical.js",
      "endpoints/isolation.js",
      "endpoints/kv.js",
      "endpoints/misc.js",
      "endpoints/request.js",
      "endpoints/responses.js",
    ]);
    assert.deepEqual(esbuild6.warnings, []);
  });

  test("each module is self-contained: no imports, ccf-app inlined", async () => {
    for (const m of esbuild6.bundle.modules) {
      assert.deepEqual(await importRecords(m.module), [], `${m.name} has no import statements`);
      assert.match(m.module, /globalThis\.ccf/, `${m.name} inlines @microsoft/ccf-app/global.js`);
      assert.doesNotMatch(m.module, /\bfrom\s*["']@microsoft\/ccf-app/, m.name);
    }
    // The CommonJS dependency is inlined with esbuild's CJS wrapper.
    assert.match(moduleText(esbuild6.bundle, "endpoints/encoding.js"), /__commonJS/);
    assert.ok(esbuild6.inputs.some((f) => isUnder(f, CCF_APP_6)), "built from ccf-app 6");
    assert.ok(!esbuild6.inputs.some((f) => isUnder(f, CCF_APP_5)), "no ccf-app 5 code");
  });

  test("modules run under the @microsoft/ccf-app polyfill", async () => {
    await runFeatures(esbuild6.bundle);
  });
});

describe("esbuild build of the features app against ccf-app 5.x", () => {
  test("same layout and metadata as the 6.x build", async () => {
    await assertBundleShape(esbuild5.bundle, FEATURES);
    assert.deepEqual(moduleNames(esbuild5.bundle), moduleNames(esbuild6.bundle));
    assert.deepEqual(esbuild5.bundle.metadata, esbuild6.bundle.metadata);
    for (const m of esbuild5.bundle.modules) {
      assert.deepEqual(await importRecords(m.module), [], `${m.name} has no import statements`);
    }
  });

  test("really uses ccf-app 5 code", () => {
    assert.equal(
      JSON.parse(readFileSync(path.join(CCF_APP_5, "package.json"), "utf8")).version.split(".")[0],
      "5",
    );
    const ccfInputs = esbuild5.inputs.filter((f) => isUnder(f, CCF_APP_5));
    for (const file of ["index.js", "kv.js", "converters.js", "global.js", "crypto.js", "historical.js", "consensus.js"]) {
      assert.ok(
        ccfInputs.includes(path.join(CCF_APP_5, file)),
        `ccf-app-5/${file} is an input (inputs: ${ccfInputs.join(", ")})`,
      );
    }
    assert.ok(!esbuild5.inputs.some((f) => isUnder(f, CCF_APP_6)), "no ccf-app 6 input");
    // esbuild labels inlined files with their source path.
    const kv = moduleText(esbuild5.bundle, "endpoints/kv.js");
    assert.match(kv, /\/\/ .*node_modules\/ccf-app-5\/kv\.js/);
    assert.doesNotMatch(kv, /node_modules\/@microsoft\/ccf-app\//);
  });

  test("modules run under the @microsoft/ccf-app polyfill", async () => {
    await runFeatures(esbuild5.bundle);
  });
});

describe("rollup preserveModules build of the features-rollup app", () => {
  test("bundle shape matches app.json", async () => {
    await assertBundleShape(rollupSubset.bundle, FEATURES_ROLLUP);
    assert.deepEqual(endpointModules(rollupSubset.bundle.metadata), ["endpoints/all.js"]);
    assert.deepEqual(rollupSubset.warnings, []);
  });

  test("sample-style module layout", () => {
    const names = moduleNames(rollupSubset.bundle);
    for (const expected of [
      "endpoints/all.js",
      "endpoints/records.js",
      "endpoints/crypto.js",
      "endpoints/encoding.js",
      "endpoints/info.js",
      "lib/hex.js",
      "node_modules/@microsoft/ccf-app/kv.js",
      "node_modules/@microsoft/ccf-app/converters.js",
      "node_modules/@microsoft/ccf-app/crypto.js",
      "node_modules/@microsoft/ccf-app/global.js",
      "node_modules/@microsoft/ccf-app/consensus.js",
      "node_modules/base64-js/index.js",
      "_virtual/_commonjsHelpers.js",
    ]) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(", ")}`);
    }
    assert.ok(names.every((n) => !n.startsWith("node_modules/") || n.startsWith("node_modules/@microsoft/ccf-app/") || n.startsWith("node_modules/base64-js/")));
    assert.ok(rollupSubset.inputs.some((f) => isUnder(f, CCF_APP_6)));
  });

  test("imports are relative and resolve to other modules of the bundle", async () => {
    const count = await assertImportsResolveWithinBundle(rollupSubset.bundle);
    assert.ok(count > 10, `expected many cross-module imports, got ${count}`);
    const all = await importRecords(moduleText(rollupSubset.bundle, "endpoints/all.js"));
    assert.deepEqual(all.map((r) => r.path).sort(), [
      "./crypto.js",
      "./encoding.js",
      "./info.js",
      "./records.js",
    ]);
  });

  test("modules run under the @microsoft/ccf-app polyfill", async () => {
    resetKv();
    const dir = materialize(rollupSubset.bundle);
    const all = await load(dir, "endpoints/all.js");
    assert.deepEqual(call(all, "ping").body, { pong: true, app: "features-rollup" });
    assert.deepEqual(call(all, "putRecord", fakeRequest({ params: { id: "a" }, body: "text" })).body, {
      id: "a",
      size: 1,
    });
    assert.equal(call(all, "getRecord", fakeRequest({ params: { id: "a" } })).body, "text");
    assert.equal(call(all, "getRecord", fakeRequest({ params: { id: "b" } })).statusCode, 404);
    assert.deepEqual(call(all, "digest", fakeRequest({ query: "data=abc" })).body, {
      data: "abc",
      sha256: sha256hex("abc"),
    });
    assert.deepEqual(call(all, "signVerify").body, { verified: true, tamperedRejected: true });
    assert.deepEqual(call(all, "base64", fakeRequest({ body: "hello" })).body, { base64: "aGVsbG8=" });
    assert.deepEqual(call(all, "consensus").body, {
      lastCommitted: { view: 2, seqno: 42 },
      viewOfLastCommitted: 2,
    });
    assert.throws(() => call(all, "fail"), /deliberate failure/);
  });

  test("esbuild build of the same app is a single module", async () => {
    await assertBundleShape(esbuildSubset.bundle, FEATURES_ROLLUP);
    assert.deepEqual(moduleNames(esbuildSubset.bundle), ["endpoints/all.js"]);
    assert.deepEqual(await importRecords(moduleText(esbuildSubset.bundle, "endpoints/all.js")), []);
  });
});

describe("rollup preserveModules build of the full features app", () => {
  test("bundle shape, layout and imports", async () => {
    const bundle = rollupFull.bundle;
    await assertBundleShape(bundle, FEATURES);
    const names = moduleNames(bundle);
    assert.ok(names.includes("lib/util.js"));
    assert.ok(names.includes("_virtual/_commonjsHelpers.js"));
    assert.ok(names.includes("node_modules/@microsoft/ccf-app/historical.js"));
    await assertImportsResolveWithinBundle(bundle);
  });

  test("modules run under the @microsoft/ccf-app polyfill", async () => {
    await runFeatures(rollupFull.bundle);
  });

  test("rollup against ccf-app 5.x names the aliased package's modules", async () => {
    const r5 = await buildWithRollupDetailed(FEATURES_ROLLUP, { ccfApp: 5 });
    await assertBundleShape(r5.bundle, FEATURES_ROLLUP);
    const names = moduleNames(r5.bundle);
    assert.ok(names.includes("node_modules/ccf-app-5/kv.js"), names.join(", "));
    assert.ok(!names.some((n) => n.startsWith("node_modules/@microsoft/ccf-app/")));
    assert.ok(!r5.inputs.some((f) => isUnder(f, CCF_APP_6)));
    await assertImportsResolveWithinBundle(r5.bundle);
  });
});

describe("fixture hygiene", () => {
  test("builds leave nothing in the source tree", () => {
    for (const app of [FEATURES, FEATURES_ROLLUP]) {
      assert.ok(!existsSync(path.join(app, "dist")), `${app}/dist`);
      assert.ok(!existsSync(path.join(app, "bundle.json")), `${app}/bundle.json`);
    }
  });

  test("the features README lists every endpoint of app.json", () => {
    const readme = readFileSync(path.join(FEATURES, "README.md"), "utf8");
    const metadata = readAppMetadata(FEATURES);
    for (const [route, methods] of Object.entries(metadata.endpoints)) {
      for (const method of Object.keys(methods)) {
        const entry = `${method.toUpperCase()} ${route}`;
        assert.ok(readme.includes(`\`${entry}`), `README documents ${entry}`);
      }
    }
  });

  test("app.json endpoints are valid for the default constitution", () => {
    for (const app of [FEATURES, FEATURES_ROLLUP]) {
      const metadata = readAppMetadata(app);
      for (const [route, methods] of Object.entries(metadata.endpoints)) {
        assert.match(route, /^\//);
        for (const [method, p] of Object.entries(methods)) {
          const where = `${app}: ${method} ${route}`;
          assert.match(method, /^(get|put|post|delete|patch)$/, where);
          assert.ok(["readwrite", "readonly", "historical"].includes(p.mode ?? ""), where);
          assert.ok(["always", "sometimes", "never"].includes(p.forwarding_required ?? ""), where);
          assert.ok(Array.isArray(p.authn_policies), where);
          assert.equal(typeof p.js_function, "string", where);
          assert.equal(typeof p.openapi, "object", where);
        }
      }
    }
  });
});
