// Cold start of a ~1 MB app bundle (target < 200 ms): real library code from
// node_modules (@noble/curves and @noble/hashes, asn1js, cbor-x, @peculiar/x509 with
// reflect-metadata, magic-string, @microsoft/ccf-app) bundled by esbuild into one
// ES module, as CCF developers bundle apps, plus an endpoint that uses a little
// of it (SHA-256 of the body, a CBOR encode, a DER encode).
//
// Measured, each run in a fresh child process (so V8 has not compiled the
// QuickJS WebAssembly module before, as after a node restart):
//   - interpreter: AppInterpreter.create + the first call of the endpoint
//     (which compiles and evaluates the module), then the same again in the same
//     process ("later deployment": V8 reuses its compiled WebAssembly);
//   - https: startNode with the bundle as appBundle (identity, genesis, the
//     1 MB module written to the ledger and signed), then the first HTTPS
//     request to the endpoint on a new connection (TLS handshake + interpreter
//     + module + call), and for comparison a second request on another new
//     connection (handshake + a warm call);
//   - phases: the WebAssembly module (first in the process), a QuickJS runtime
//     and context, compiling the bundle (compileOnly; first, and again once
//     V8 has optimised the WebAssembly), AppInterpreter.create, the first call,
//     a warm call; module evaluation = first call − compile again − warm call.
//
//   node --import tsx bench/cold-start.ts             (BENCH_COLD_RUNS=5 fresh processes per case)
//   node --import tsx bench/cold-start.ts child <case> <bundle.json>   (one child; prints RESULT <json>)
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { newQuickJSWASMModule, RELEASE_SYNC } from "quickjs-emscripten";
import { startNode, startNodeCore } from "../packages/node/src/node.ts";
import type { Bundle } from "../packages/node/src/runtime/bundle.ts";
import { CallState } from "../packages/node/src/runtime/call-state.ts";
import { HistoricalStates } from "../packages/node/src/runtime/historical.ts";
import { AppInterpreter, type AppRequest } from "../packages/node/src/runtime/interpreter.ts";
import { BENCH_DIR, envInt, fmtBytes, fmtMs, header, msSince, now, printTable, removeDir, sig, summarize, tempDir, writeResult, type Summary } from "./lib.ts";

const RUNS = envInt("BENCH_COLD_RUNS", 5);
const LATER_RUNS = 3;
const TARGET_MS = 200;
const ROOT = join(BENCH_DIR, "..");

const ENTRY = `
import "reflect-metadata";
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { ed448 } from "@noble/curves/ed448.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bls12_381 } from "@noble/curves/bls12-381.js";
import { bn254 } from "@noble/curves/bn254.js";
import * as misc from "@noble/curves/misc.js";
import * as frost from "@noble/curves/abstract/frost.js";
import * as poseidon from "@noble/curves/abstract/poseidon.js";
import { argon2id } from "@noble/hashes/argon2.js";
import { scrypt } from "@noble/hashes/scrypt.js";
import { ripemd160 } from "@noble/hashes/legacy.js";
import { blake3 } from "@noble/hashes/blake3.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sha3_256 } from "@noble/hashes/sha3.js";
import { blake2b } from "@noble/hashes/blake2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import * as asn1js from "asn1js";
import { encode, decode } from "cbor-x";
import * as x509 from "@peculiar/x509";
import MagicString from "magic-string";
import * as ccfapp from "@microsoft/ccf-app";
// The app exports its libraries' entry points (so they are kept whole, as an app that uses them broadly would ship them).
export { p256, p384, p521, ed25519, ed448, secp256k1, bls12_381, bn254, misc, frost, poseidon, argon2id, scrypt, ripemd160, blake3, sha3_256, blake2b, asn1js, decode, x509, MagicString, ccfapp };

export function digest(request) {
  const body = new Uint8Array(request.body.arrayBuffer());
  const hex = bytesToHex(sha256(body));
  const cbor = encode({ id: request.params.id, bytes: body.length });
  const der = new asn1js.Sequence({ value: [new asn1js.Integer({ value: body.length }), new asn1js.OctetString({ valueHex: body.buffer })] }).toBER(false);
  return { body: { id: request.params.id, sha256: hex, cborBytes: cbor.length, derBytes: der.byteLength } };
}
`;

const ENDPOINT_PATH = "/digest/{id}";
const REQUEST_BODY = JSON.stringify({ hello: "world", n: 42 });

async function buildBundle(): Promise<{ bundle: Bundle; bytes: number; buildMs: number }> {
  const start = now();
  const result = await build({
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: "app.js", loader: "js" },
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2020",
    mainFields: ["module", "main"],
    conditions: ["import", "module", "default"],
    write: false,
    logLevel: "warning",
  });
  const module = result.outputFiles[0]!.text;
  const buildMs = msSince(start);
  const bundle: Bundle = {
    metadata: {
      endpoints: {
        [ENDPOINT_PATH]: { post: { js_module: "app.js", js_function: "digest", authn_policies: ["no_auth"], mode: "readonly", forwarding_required: "never" } },
      },
    },
    modules: [{ name: "app.js", module }],
  };
  return { bundle, bytes: Buffer.byteLength(module), buildMs };
}

// ---------------------------------------------------------------- child cases

function appRequest(): AppRequest {
  return {
    method: "POST",
    path: "/app/digest/1",
    query: "",
    url: "/app/digest/1",
    route: `/app${ENDPOINT_PATH}`,
    hostname: "127.0.0.1",
    headers: { "content-type": "application/json" },
    params: { id: "1" },
    body: Buffer.from(REQUEST_BODY),
    caller: null,
  };
}

interface InterpreterRun {
  createMs: number;
  firstCallMs: number;
  totalMs: number;
  warmCallMs: number;
}

async function interpreterCase(bundle: Bundle): Promise<{ first: InterpreterRun; later: InterpreterRun[] }> {
  const dir = tempDir("cold-start");
  const core = await startNodeCore({ dir });
  try {
    const services = { history: core.history, historical: new HistoricalStates(core.history, () => {}), log: () => {} };
    const definition = { modules: new Map(bundle.modules.map((m) => [`/${m.name}`, m.module])), endpoints: [] };
    const runs: InterpreterRun[] = [];
    for (let i = 0; i < 1 + LATER_RUNS; i++) {
      const t0 = now();
      const interpreter = await AppInterpreter.create(definition, services);
      const createMs = msSince(t0);
      const t1 = now();
      const response = interpreter.call("/app.js", "digest", appRequest(), new CallState(core.history.store.beginReadOnly(), "read-only application"));
      const firstCallMs = msSince(t1);
      const totalMs = msSince(t0);
      if (response.status !== 200) throw new Error(`endpoint answered ${response.status}: ${response.body?.toString()}`);
      const t2 = now();
      interpreter.call("/app.js", "digest", appRequest(), new CallState(core.history.store.beginReadOnly(), "read-only application"));
      runs.push({ createMs, firstCallMs, totalMs, warmCallMs: msSince(t2) });
    }
    return { first: runs[0]!, later: runs.slice(1) };
  } finally {
    await core.close();
    removeDir(dir);
  }
}

interface HttpsRun {
  startNodeMs: number;
  firstResponseMs: number;
  totalMs: number;
  secondConnectionMs: number;
}

function post(url: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = Buffer.from(REQUEST_BODY);
    // agent: false: a new connection (TLS handshake) per request.
    const req = httpsRequest(new URL("/app/digest/1", url), { method: "POST", ca, agent: false, headers: { "content-type": "application/json", "content-length": body.length } }, (res) => {
      res.on("data", () => {});
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function httpsCase(bundle: Bundle): Promise<HttpsRun> {
  const dir = tempDir("cold-start-node");
  try {
    const t0 = now();
    const node = await startNode({ dir, port: 0, appBundle: bundle });
    try {
      const startNodeMs = msSince(t0);
      const t1 = now();
      const status = await post(node.url, node.core.identity.serviceCertPem);
      const firstResponseMs = msSince(t1);
      const totalMs = msSince(t0);
      if (status !== 200) throw new Error(`first response: status ${status}`);
      const t2 = now();
      await post(node.url, node.core.identity.serviceCertPem);
      return { startNodeMs, firstResponseMs, totalMs, secondConnectionMs: msSince(t2) };
    } finally {
      await node.close();
    }
  } finally {
    removeDir(dir);
  }
}

interface Phases {
  wasmModuleFirstMs: number;
  wasmModuleAgainMs: number;
  runtimeAndContextMs: number;
  /** compileOnly in a fresh runtime, the process's first QuickJS work (WebAssembly code not yet optimised). */
  compileOnlyFirstMs: number;
  /** The same, best of two more fresh runtimes. */
  compileOnlyAgainMs: number;
  /** first call − compile (again) − warm call. */
  evaluateMs: number;
  interpreterCreateMs: number;
  firstCallMs: number;
  warmCallMs: number;
}

/** The parts of a cold start, each timed on its own (the WebAssembly module first, while V8 has not compiled it). */
async function phasesCase(bundle: Bundle): Promise<Phases> {
  const source = bundle.modules[0]!.module;
  let t = now();
  const quickjs = await newQuickJSWASMModule(RELEASE_SYNC);
  const wasmModuleFirstMs = msSince(t);
  t = now();
  await newQuickJSWASMModule(RELEASE_SYNC);
  const wasmModuleAgainMs = msSince(t);

  // Compiling needs no globals; evaluating does (the libraries read the ccf global at load), so evaluation is
  // timed inside AppInterpreter below: first call − compile − warm call.
  const compileIn = (): { runtimeMs: number; ms: number } => {
    const t0 = now();
    const runtime = quickjs.newRuntime();
    runtime.setMemoryLimit(-1);
    const ctx = runtime.newContext();
    const runtimeMs = msSince(t0);
    const t1 = now();
    const result = ctx.evalCode(source, "/app.js", { type: "module", compileOnly: true });
    const ms = msSince(t1);
    if (result.error) {
      const error = ctx.dump(result.error) as unknown;
      result.error.dispose();
      throw new Error(`evalCode: ${JSON.stringify(error)}`);
    }
    result.value.dispose();
    ctx.dispose();
    runtime.dispose();
    return { runtimeMs, ms };
  };
  const compile = compileIn();
  // Again in another fresh runtime: V8 first runs WebAssembly with its baseline compiler (Liftoff) and
  // optimises hot functions (TurboFan) while they run, so the same compile is faster the second time.
  const compileAgain = Math.min(compileIn().ms, compileIn().ms);

  const dir = tempDir("cold-start-phases");
  const core = await startNodeCore({ dir });
  try {
    const services = { history: core.history, historical: new HistoricalStates(core.history, () => {}), log: () => {} };
    const definition = { modules: new Map(bundle.modules.map((m) => [`/${m.name}`, m.module])), endpoints: [] };
    t = now();
    const interpreter = await AppInterpreter.create(definition, services);
    const interpreterCreateMs = msSince(t);
    t = now();
    interpreter.call("/app.js", "digest", appRequest(), new CallState(core.history.store.beginReadOnly(), "read-only application"));
    const firstCallMs = msSince(t);
    t = now();
    interpreter.call("/app.js", "digest", appRequest(), new CallState(core.history.store.beginReadOnly(), "read-only application"));
    const warmCallMs = msSince(t);
    return {
      wasmModuleFirstMs,
      wasmModuleAgainMs,
      runtimeAndContextMs: compile.runtimeMs,
      compileOnlyFirstMs: compile.ms,
      compileOnlyAgainMs: compileAgain,
      evaluateMs: firstCallMs - compileAgain - warmCallMs,
      interpreterCreateMs,
      firstCallMs,
      warmCallMs,
    };
  } finally {
    await core.close();
    removeDir(dir);
  }
}

const CASES = { interpreter: interpreterCase, https: httpsCase, phases: phasesCase } as const;
type CaseName = keyof typeof CASES;

function runChild<T>(name: CaseName, bundleFile: string): T {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), "child", name, bundleFile], {
    encoding: "utf8",
    maxBuffer: 16 << 20,
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 120_000,
    killSignal: "SIGKILL",
  });
  const line = out.split("\n").find((l) => l.startsWith("RESULT "));
  if (!line) throw new Error(`cold-start case ${name} printed no RESULT line:\n${out}`);
  return JSON.parse(line.slice("RESULT ".length)) as T;
}

// ---------------------------------------------------------------- main

const summary = (values: number[]): Summary => summarize(values);

async function main(): Promise<void> {
  header(`cold start of a ~1 MB bundle (target < ${TARGET_MS} ms), ${RUNS} fresh processes per case`);
  const { bundle, bytes, buildMs } = await buildBundle();
  console.log(`  bundle: ${fmtBytes(bytes)} (${bytes.toLocaleString("en-US")} bytes, one ES module), esbuild ${fmtMs(buildMs)}`);
  const scratch = tempDir("cold-start-bundle");
  try {
    const bundleFile = join(scratch, "bundle.json");
    writeFileSync(bundleFile, JSON.stringify(bundle));
    const interpreterRuns: Array<{ first: InterpreterRun; later: InterpreterRun[] }> = [];
    const httpsRuns: HttpsRun[] = [];
    const phaseRuns: Phases[] = [];
    for (let i = 0; i < RUNS; i++) {
      interpreterRuns.push(runChild("interpreter", bundleFile));
      httpsRuns.push(runChild("https", bundleFile));
      phaseRuns.push(runChild("phases", bundleFile));
    }

    const firsts = interpreterRuns.map((r) => r.first);
    const laters = interpreterRuns.flatMap((r) => r.later);
    const dist = <T>(runs: T[], pick: (r: T) => number) => summary(runs.map(pick));
    const interpreter = {
      firstInProcess: {
        totalMs: dist(firsts, (r) => r.totalMs),
        createMs: dist(firsts, (r) => r.createMs),
        firstCallMs: dist(firsts, (r) => r.firstCallMs),
        warmCallMs: dist(firsts, (r) => r.warmCallMs),
      },
      laterDeployment: {
        totalMs: dist(laters, (r) => r.totalMs),
        createMs: dist(laters, (r) => r.createMs),
        firstCallMs: dist(laters, (r) => r.firstCallMs),
        warmCallMs: dist(laters, (r) => r.warmCallMs),
      },
    };
    const https = {
      startNodeMs: dist(httpsRuns, (r) => r.startNodeMs),
      firstResponseMs: dist(httpsRuns, (r) => r.firstResponseMs),
      totalMs: dist(httpsRuns, (r) => r.totalMs),
      secondConnectionMs: dist(httpsRuns, (r) => r.secondConnectionMs),
    };
    const phaseNames = Object.keys(phaseRuns[0]!) as Array<keyof Phases>;
    const phases = Object.fromEntries(phaseNames.map((k) => [k, dist(phaseRuns, (r) => r[k])])) as Record<keyof Phases, Summary>;

    const row = (label: string, s: Summary, target = false) => [label, fmtMs(s.median), fmtMs(s.max), target ? (s.median < TARGET_MS ? "met" : `missed by ${fmtMs(s.median - TARGET_MS)}`) : ""];
    console.log();
    printTable([
      ["measure (fresh process each run)", "median", "max", `< ${TARGET_MS} ms`],
      row("AppInterpreter.create + first call", interpreter.firstInProcess.totalMs, true),
      row("  create (WebAssembly module, runtime, ccf globals)", interpreter.firstInProcess.createMs),
      row("  first call (compile + evaluate the module, call)", interpreter.firstInProcess.firstCallMs),
      row("  warm call", interpreter.firstInProcess.warmCallMs),
      row(`same, later deployment in the same process (${laters.length} runs)`, interpreter.laterDeployment.totalMs, true),
      row("  create", interpreter.laterDeployment.createMs),
      row("  first call", interpreter.laterDeployment.firstCallMs),
      row("startNode(appBundle) until the first HTTPS response", https.totalMs, true),
      row("  startNode (identity, genesis + 1 MB app in the ledger, signed)", https.startNodeMs),
      row("  first HTTPS response (new connection; app loaded at start)", https.firstResponseMs, true),
      row("  a later request on a new connection (TLS handshake + warm call)", https.secondConnectionMs),
    ]);
    console.log();
    console.log("  phases (each timed on its own in a fresh process):");
    printTable([
      ["phase", "median", "max"],
      ["WebAssembly module, first in the process", fmtMs(phases.wasmModuleFirstMs.median), fmtMs(phases.wasmModuleFirstMs.max)],
      ["WebAssembly module, again (V8 reuses its compilation)", fmtMs(phases.wasmModuleAgainMs.median), fmtMs(phases.wasmModuleAgainMs.max)],
      ["QuickJS runtime + context", fmtMs(phases.runtimeAndContextMs.median), fmtMs(phases.runtimeAndContextMs.max)],
      ["QuickJS compile of the bundle (compileOnly), first QuickJS work in the process", fmtMs(phases.compileOnlyFirstMs.median), fmtMs(phases.compileOnlyFirstMs.max)],
      ["QuickJS compile of the bundle, again (WebAssembly tiered up)", fmtMs(phases.compileOnlyAgainMs.median), fmtMs(phases.compileOnlyAgainMs.max)],
      ["AppInterpreter.create (WebAssembly compiled by now)", fmtMs(phases.interpreterCreateMs.median), fmtMs(phases.interpreterCreateMs.max)],
      ["first call (compile + evaluate + call)", fmtMs(phases.firstCallMs.median), fmtMs(phases.firstCallMs.max)],
      ["  → module evaluation (first call − compile again − warm call)", fmtMs(phases.evaluateMs.median), fmtMs(phases.evaluateMs.max)],
      ["warm call", fmtMs(phases.warmCallMs.median), fmtMs(phases.warmCallMs.max)],
    ], "    ");

    const path = writeResult("cold-start", {
      config: {
        runs: RUNS,
        laterRunsPerProcess: LATER_RUNS,
        targetMs: TARGET_MS,
        bundleBytes: bytes,
        bundleBuildMs: sig(buildMs),
        bundle: "esbuild (bundle, esm, es2020, platform neutral) of @noble/curves (nist, ed25519, ed448, secp256k1, bls12-381, bn254), @noble/hashes, asn1js, cbor-x, @peculiar/x509 + reflect-metadata, magic-string, @microsoft/ccf-app; endpoint: SHA-256 + CBOR + DER of the body",
      },
      interpreter,
      https,
      phases,
      ratios: {
        interpreterFirstOverTarget: sig(interpreter.firstInProcess.totalMs.median / TARGET_MS),
        httpsTotalOverTarget: sig(https.totalMs.median / TARGET_MS),
        compileShareOfFirstCall: sig(phases.compileOnlyAgainMs.median / phases.firstCallMs.median),
        evaluateShareOfFirstCall: sig(phases.evaluateMs.median / phases.firstCallMs.median),
      },
      samples: { interpreter: interpreterRuns, https: httpsRuns, phases: phaseRuns },
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    if (!process.env["BENCH_KEEP_BUNDLE"]) removeDir(scratch); else console.log(`  bundle kept: ${scratch}`);
  }
}

if (process.argv[2] === "child") {
  const name = process.argv[3] as CaseName;
  const bundle = JSON.parse(readFileSync(process.argv[4]!, "utf8")) as Bundle;
  if (!(name in CASES)) throw new Error(`unknown case ${name}`);
  console.log("RESULT " + JSON.stringify(await CASES[name](bundle)));
} else {
  await main();
}
