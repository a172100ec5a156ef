// What a fresh interpreter per request costs (CCF gives one to every endpoint
// without `interpreter_reuse`), per handler call in one process, no HTTP: the
// https-app bench's two handlers (PUT: parse ~100 bytes of JSON, one KV set;
// GET: one KV get, JSON out) called on
//   - reused: one interpreter whose state carries over (interpreter_reuse; all
//     endpoints before fresh realms);
//   - fresh (snapshot): the deployment's fresh interpreter, its memory
//     restored to the pristine snapshot before each call (what the node does);
//   - new interpreter: AppInterpreter.create from the deployed bytecode, then
//     the call (the straightforward way to get CCF's fresh interpreter);
// Each figure is the median of ROUNDS rounds of at
// least ROUND_MS, the cases interleaved so that drift hits them alike.
//
//   node --import tsx bench/fresh-realm.ts          (BENCH_REALM_ROUNDS=5, BENCH_REALM_ROUND_MS=400)
import { startNodeCore } from "../packages/node/src/node.ts";
import { readAppTables, writeAppTables, type AppDefinition } from "../packages/node/src/runtime/bundle.ts";
import { CallState } from "../packages/node/src/runtime/call-state.ts";
import { HistoricalStates } from "../packages/node/src/runtime/historical.ts";
import { AppInterpreter, type AppRequest, type RuntimeServices } from "../packages/node/src/runtime/interpreter.ts";
import { envInt, fmtInt, header, now, printTable, removeDir, sig, tempDir, writeResult } from "./lib.ts";
import { BUNDLE, payload } from "./records-app.ts";

const ROUNDS = envInt("BENCH_REALM_ROUNDS", 5);
const ROUND_MS = envInt("BENCH_REALM_ROUND_MS", 400);
const MODULE = "/app.js";

function request(method: "PUT" | "GET", id: number): AppRequest {
  const path = `/app/records/${id}`;
  return {
    method,
    path,
    query: "",
    url: path,
    route: "/app/records/{id}",
    hostname: "127.0.0.1",
    headers: method === "PUT" ? { "content-type": "application/json" } : {},
    params: { id: String(id) },
    body: method === "PUT" ? Buffer.from(payload(id, id)) : Buffer.alloc(0),
    caller: null,
  };
}

/** µs per call of `call` over at least ROUND_MS. */
async function perCallUs(call: () => Promise<void> | void): Promise<number> {
  let calls = 0;
  const start = now();
  const deadline = start + BigInt(ROUND_MS * 1e6);
  let t = start;
  do {
    for (let i = 0; i < 8; i++) await call();
    calls += 8;
    t = now();
  } while (t < deadline);
  return Number(t - start) / 1000 / calls;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  header(`Fresh interpreter per request: µs per handler call, median of ${ROUNDS} rounds of ≥ ${ROUND_MS} ms, no HTTP`);
  const dir = tempDir("fresh-realm");
  const core = await startNodeCore({ dir });
  try {
    const { history } = core;
    const deployTx = history.begin();
    writeAppTables(deployTx, BUNDLE);
    history.commit(deployTx);
    const app: AppDefinition = readAppTables(history.store.beginReadOnly())!;
    const services: RuntimeServices = { history, historical: new HistoricalStates(history, () => {}), log: () => {} };
    const reused = await AppInterpreter.create(app, services, undefined, "reused");
    const fresh = await AppInterpreter.create(app, services, undefined, "fresh");
    let n = 0;
    const put = (interpreter: AppInterpreter) => {
      const tx = history.store.begin();
      const response = interpreter.call(MODULE, "put", request("PUT", n++ % 10_000), new CallState(tx, "application"));
      if (response.status !== 204) throw new Error(`put answered ${response.status}`);
      tx.abort();
    };
    const get = (interpreter: AppInterpreter) => {
      const response = interpreter.call(MODULE, "get", request("GET", n++ % 10_000), new CallState(history.store.beginReadOnly(), "read-only application"));
      if (response.status !== 404 && response.status !== 200) throw new Error(`get answered ${response.status}`);
    };
    const cases: Record<string, () => Promise<void> | void> = {
      "PUT reused": () => put(reused),
      "PUT fresh (snapshot)": () => put(fresh),
      "PUT new interpreter": async () => put(await AppInterpreter.create(app, services)),
      "GET reused": () => get(reused),
      "GET fresh (snapshot)": () => get(fresh),
      "GET new interpreter": async () => get(await AppInterpreter.create(app, services)),
    };
    const samples = new Map<string, number[]>(Object.keys(cases).map((name) => [name, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, call] of Object.entries(cases)) samples.get(name)!.push(await perCallUs(call));
    }
    const results = [...samples].map(([name, us]) => ({ case: name, usPerCall: sig(median(us)), callsPerSecond: sig(1e6 / median(us)), roundsUs: us.map((u) => sig(u)) }));
    const of = (name: string) => results.find((r) => r.case === name)!.usPerCall;
    const overheads = ["PUT", "GET"].map((method) => ({
      method,
      freshOverReusedUs: sig(of(`${method} fresh (snapshot)`) - of(`${method} reused`)),
      newInterpreterOverReusedUs: sig(of(`${method} new interpreter`) - of(`${method} reused`)),
    }));
    printTable([["case", "µs per call", "calls/s"], ...results.map((r) => [r.case, r.usPerCall, fmtInt(r.callsPerSecond)])]);
    console.log();
    printTable([["over reused", "fresh (snapshot)", "new interpreter"], ...overheads.map((o) => [o.method, `+${o.freshOverReusedUs} µs`, `+${o.newInterpreterOverReusedUs} µs`])]);
    const path = writeResult("fresh-realm", {
      config: { rounds: ROUNDS, roundMs: ROUND_MS, app: "bench/https-app.ts BUNDLE, modules from the deployed bytecode" },
      results,
      overheads,
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    await core.close();
    removeDir(dir);
  }
}

await main();
