// HTTPS app throughput: a one-key JSON write endpoint (PUT a ~100-byte JSON body
// to /app/records/{id}) and a read endpoint (GET /app/records/{id} of existing
// keys, mode "readonly") of a node started with `startNode` (ledger and
// signatures on, default signature interval), each next to a raw node:https
// JSON server measured in the same run: same P-384 node certificate, same TLS
// options, same payload; it parses the JSON, keeps it in a Map and answers with
// a small JSON. Both servers run in their own child process, so the load
// generator (this process) does not share their event loop; on 2 cores the
// client gets one core and the server the other.
//
// Load: 32 keep-alive connections, one request in flight on each (closed loop),
// ids spread uniformly over 10k keys. The client is undici (Pool, 32
// connections, pipelining 1) or a keep-alive node:https Agent: both are tried
// against the raw server first and the one with the higher raw rate is used for
// every figure. Each figure is measured in ROUNDS rounds, raw and node
// alternating (the VM's speed drifts), each preceded by a short warm-up; rates
// are total requests ÷ total measured time, latencies are pooled.
//
//   node --import tsx bench/https-app.ts
//   BENCH_HTTP_MS=4000 BENCH_HTTP_ROUNDS=2 ...      measured ms per round, rounds
//   BENCH_PROFILE=1 ...                              also CPU-profile the node child and print where its time goes
//   node --import tsx bench/https-app.ts serve-node|serve-raw    (a server child; driven over IPC)
import { fork, type ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { Agent as HttpsAgent, createServer, request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { loadOrCreateIdentity } from "../packages/node/src/identity.ts";
import { HTTP_MAX_HEADER_BYTES } from "../packages/node/src/limits.ts";
import { startNode } from "../packages/node/src/node.ts";
import { envInt, fmtInt, fmtMs, header, now, printTable, removeDir, round, sig, summarize, tempDir, writeResult, type Summary } from "./lib.ts";
import { mainThreadProfile, summarizeProfile, type ProfileSummary } from "./profile.ts";
import { BUNDLE, payload } from "./records-app.ts";

const CONNECTIONS = 32;
const KEYS = 10_000;
const MEASURE_MS = envInt("BENCH_HTTP_MS", 5000);
const WARMUP_MS = envInt("BENCH_HTTP_WARMUP_MS", 1000);
const ROUNDS = envInt("BENCH_HTTP_ROUNDS", 2);
const CLIENT_TRIAL_MS = envInt("BENCH_HTTP_CLIENT_TRIAL_MS", 2500);
const PROFILE = process.env["BENCH_PROFILE"] === "1";

// ---------------------------------------------------------------- server children

interface Ready {
  type: "ready";
  url: string;
  ca: string;
}

type ParentMessage = { type: "cpu" } | { type: "exit" };

function serveChild(start: () => Promise<{ url: string; ca: string; close: () => Promise<void> }>): void {
  start().then(
    (server) => {
      process.on("message", (message: ParentMessage) => {
        if (message.type === "cpu") process.send!({ type: "cpu", usage: process.cpuUsage(), rss: process.memoryUsage().rss });
        if (message.type === "exit") {
          server.close().finally(() => process.exit(0));
        }
      });
      // The parent died without telling us: do not linger.
      process.on("disconnect", () => process.exit(0));
      process.send!({ type: "ready", url: server.url, ca: server.ca } satisfies Ready);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}

async function startNodeServer() {
  const dir = tempDir("https-app-node");
  const node = await startNode({ dir, port: 0, appBundle: BUNDLE });
  return {
    url: node.url,
    ca: node.core.identity.serviceCertPem,
    close: async () => {
      await node.close();
      removeDir(dir);
    },
  };
}

/** The ceiling: node:https with the same certificate and TLS options as the node's server, JSON in, small JSON out. */
async function startRawServer() {
  const dir = tempDir("https-app-raw");
  const identity = await loadOrCreateIdentity(dir);
  const records = new Map<string, Buffer>();
  const server = createServer(
    {
      key: identity.nodePrivateKeyPem,
      cert: identity.nodeCertPem,
      requestCert: true,
      rejectUnauthorized: false,
      maxHeaderSize: HTTP_MAX_HEADER_BYTES,
      keepAlive: true,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const url = req.url ?? "/";
        const id = url.startsWith("/app/records/") ? url.slice("/app/records/".length) : undefined;
        let status = 404;
        let body = '{"error":"not found"}';
        if (id !== undefined && req.method === "PUT") {
          try {
            const record = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
            records.set(id, Buffer.from(JSON.stringify(record)));
            status = 200;
            body = JSON.stringify({ id, ok: true });
          } catch {
            status = 400;
            body = '{"error":"bad json"}';
          }
        } else if (id !== undefined && req.method === "GET") {
          const value = records.get(id);
          if (value !== undefined) {
            status = 200;
            body = value.toString("utf8");
          }
        }
        res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    ca: identity.serviceCertPem,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        removeDir(dir);
      }),
  };
}

interface ServerChild {
  name: string;
  child: ChildProcess;
  url: string;
  ca: string;
  profileDir?: string;
  cpu(): Promise<{ usage: NodeJS.CpuUsage; rss: number }>;
  stop(): Promise<void>;
}

async function launch(name: "node" | "raw", profileDir?: string): Promise<ServerChild> {
  const execArgv = [...process.execArgv.filter((a) => !a.startsWith("--cpu-prof")), ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [])];
  const child = fork(fileURLToPath(import.meta.url), [`serve-${name}`], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once("message", (message: Ready) => resolve(message));
    child.once("exit", (code) => reject(new Error(`${name} server exited (${code}) before it was ready`)));
  });
  let pending: ((m: { usage: NodeJS.CpuUsage; rss: number }) => void) | undefined;
  child.on("message", (message: { type: string; usage?: NodeJS.CpuUsage; rss?: number }) => {
    if (message.type === "cpu" && pending) {
      const resolve = pending;
      pending = undefined;
      resolve({ usage: message.usage!, rss: message.rss! });
    }
  });
  return {
    name,
    child,
    url: ready.url,
    ca: ready.ca,
    ...(profileDir ? { profileDir } : {}),
    cpu: () =>
      new Promise((resolve) => {
        pending = resolve;
        child.send({ type: "cpu" } satisfies ParentMessage);
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.send({ type: "exit" } satisfies ParentMessage);
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------- load generator

type Method = "PUT" | "GET";

interface Client {
  kind: "undici" | "node:https";
  /** Requests sent so far (all phases). */
  sent: number;
  /** One request; resolves with the status once the whole response is read. */
  send(method: Method, path: string, body?: string): Promise<number>;
  close(): Promise<void>;
}

function undiciClient(url: string, ca: string): Client {
  const pool = new Pool(url, { connections: CONNECTIONS, pipelining: 1, connect: { ca } });
  const headers = { "content-type": "application/json" };
  const client: Client = {
    kind: "undici",
    sent: 0,
    send: async (method, path, body) => {
      client.sent++;
      const response = await pool.request(body === undefined ? { method, path } : { method, path, body, headers });
      await response.body.dump({ limit: 1 << 20 });
      return response.statusCode;
    },
    close: () => pool.close(),
  };
  return client;
}

function nodeHttpsClient(url: string, ca: string): Client {
  const agent = new HttpsAgent({ keepAlive: true, maxSockets: CONNECTIONS, maxFreeSockets: CONNECTIONS, ca });
  const { hostname, port } = new URL(url);
  const client: Client = {
    kind: "node:https",
    sent: 0,
    send: (method, path, body) =>
      new Promise((resolve, reject) => {
        client.sent++;
        const headers: Record<string, string | number> = body === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(body) };
        const req = httpsRequest({ hostname, port, method, path, agent, headers }, (res) => {
          res.on("data", () => {});
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", reject);
        });
        req.on("error", reject);
        req.end(body);
      }),
    close: async () => agent.destroy(),
  };
  return client;
}

const makeClient = (kind: Client["kind"], server: ServerChild): Client => (kind === "undici" ? undiciClient(server.url, server.ca) : nodeHttpsClient(server.url, server.ca));

interface Window {
  requests: number;
  errors: number;
  ms: number;
  latenciesMs: number[];
  clientCpuMs: number;
  serverCpuMs: number;
}

/**
 * CONNECTIONS workers, each with one request in flight, for `warmupMs` (not
 * counted) then `measureMs`. A request that started before the window closes
 * is counted when it completes.
 */
async function drive(client: Client, server: ServerChild, workload: Method, warmupMs: number, measureMs: number): Promise<Window> {
  let n = 0;
  const request = (): Promise<number> => {
    const id = randomInt(KEYS);
    n++;
    return workload === "PUT" ? client.send("PUT", `/app/records/${id}`, payload(id, n)) : client.send("GET", `/app/records/${id}`);
  };
  let phase: "warmup" | "measure" | "done" = "warmup";
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  const expected = workload === "PUT" ? [200, 204] : [200];
  let firstError: string | undefined;
  const worker = async () => {
    while (phase !== "done") {
      const counted = phase === "measure";
      const start = now();
      let status: number;
      try {
        status = await request();
      } catch (error) {
        status = -1;
        firstError ??= (error as Error).message;
      }
      if (counted) {
        requests++;
        latencies.push(Number(now() - start) / 1e6);
        if (!expected.includes(status)) {
          errors++;
          firstError ??= `status ${status}`;
        }
      }
    }
  };
  const workers = Array.from({ length: CONNECTIONS }, worker);
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  const serverBefore = await server.cpu();
  const clientBefore = process.cpuUsage();
  phase = "measure";
  const t0 = now();
  await new Promise((resolve) => setTimeout(resolve, measureMs));
  phase = "done";
  await Promise.all(workers);
  const ms = Number(now() - t0) / 1e6;
  const clientCpu = process.cpuUsage(clientBefore);
  const serverAfter = await server.cpu();
  if (errors > 0) console.log(`    !! ${server.name} ${workload}: ${errors} of ${requests} requests failed (first: ${firstError})`);
  const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;
  return {
    requests,
    errors,
    ms,
    latenciesMs: latencies,
    clientCpuMs: cpuMs(clientCpu),
    serverCpuMs: cpuMs(serverAfter.usage) - cpuMs(serverBefore.usage),
  };
}

/** Writes every key once, so that the read workload only reads existing keys. */
async function preload(client: Client): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < KEYS) {
      const id = next++;
      const status = await client.send("PUT", `/app/records/${id}`, payload(id, id));
      if (status !== 200 && status !== 204) throw new Error(`preload of key ${id}: status ${status}`);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
}

interface Measured {
  server: "node" | "raw";
  workload: "write" | "read";
  requests: number;
  errors: number;
  seconds: number;
  requestsPerSecond: number;
  perRoundRequestsPerSecond: number[];
  latencyMs: Summary;
  /** CPU time per wall-clock second over the measured windows (1.0 = one core busy). */
  serverCpuCores: number;
  clientCpuCores: number;
}

function combine(server: Measured["server"], workload: Measured["workload"], windows: Window[]): Measured {
  const requests = windows.reduce((a, w) => a + w.requests, 0);
  const ms = windows.reduce((a, w) => a + w.ms, 0);
  return {
    server,
    workload,
    requests,
    errors: windows.reduce((a, w) => a + w.errors, 0),
    seconds: sig(ms / 1000),
    requestsPerSecond: sig(requests / (ms / 1000)),
    perRoundRequestsPerSecond: windows.map((w) => sig(w.requests / (w.ms / 1000))),
    latencyMs: summarize(windows.flatMap((w) => w.latenciesMs)),
    serverCpuCores: round(windows.reduce((a, w) => a + w.serverCpuMs, 0) / ms, 2),
    clientCpuCores: round(windows.reduce((a, w) => a + w.clientCpuMs, 0) / ms, 2),
  };
}

// ---------------------------------------------------------------- CPU profile summary

function printProfiles(profiles: Record<string, ProfileSummary & { requests: number }>): void {
  const names = Object.keys(profiles);
  if (names.length === 0) return;
  const perRequest = (name: string, ms: number) => `${fmtInt((ms * 1000) / Math.max(1, profiles[name]!.requests))} µs`;
  console.log(`\n  server CPU profiles (main thread, whole run incl. warm-ups and preload; self time per request served):`);
  const categories = [...new Set(names.flatMap((n) => profiles[n]!.byCategory.map((c) => c.category)))];
  printTable([
    ["category", ...names.map((n) => `${n} (${fmtInt(profiles[n]!.requests)} req)`)],
    ...categories.map((c) => [c, ...names.map((n) => perRequest(n, profiles[n]!.byCategory.find((x) => x.category === c)?.ms ?? 0))]),
    ["total busy", ...names.map((n) => perRequest(n, profiles[n]!.busyMs))],
  ], "    ");
  for (const name of names) {
    const p = profiles[name]!;
    console.log(`\n  ${name}: top functions by self time (${p.file})`);
    printTable([["function", "per request", "share"], ...p.topFunctions.slice(0, 15).map((f) => [f.function, perRequest(name, f.selfMs), `${round(f.share * 100, 1)}%`])], "    ");
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  header(
    `HTTPS app: PUT/GET /app/records/{id} (~100-byte JSON, ${fmtInt(KEYS)} keys), ${CONNECTIONS} keep-alive connections, ` +
      `${ROUNDS} × ${MEASURE_MS} ms per figure, node vs raw node:https, each server in its own process`,
  );
  const profileDir = PROFILE ? tempDir("https-app-prof") : undefined;
  const servers: ServerChild[] = [];
  const clients: Client[] = [];
  /** Requests each server answered over the whole run (warm-ups and preload included), to put profiles per request. */
  const served = new Map<string, number>();
  try {
    const raw = await launch("raw", profileDir && join(profileDir, "raw"));
    servers.push(raw);
    const node = await launch("node", profileDir && join(profileDir, "node"));
    servers.push(node);

    // Which client gives the higher raw ceiling?
    const trials: Record<string, number> = {};
    for (const kind of ["undici", "node:https"] as const) {
      const client = makeClient(kind, raw);
      const w = await drive(client, raw, "PUT", WARMUP_MS, CLIENT_TRIAL_MS);
      await client.close();
      served.set("raw", (served.get("raw") ?? 0) + client.sent);
      trials[kind] = sig(w.requests / (w.ms / 1000));
      console.log(`  client trial against the raw server (PUT): ${kind} ${fmtInt(trials[kind]!)} req/s`);
    }
    const kind: Client["kind"] = trials["undici"]! >= trials["node:https"]! ? "undici" : "node:https";
    console.log(`  using ${kind}`);
    const clientOf = new Map(servers.map((s) => [s, makeClient(kind, s)]));
    clients.push(...clientOf.values());

    const results: Measured[] = [];
    for (const workload of ["write", "read"] as const) {
      const method: Method = workload === "write" ? "PUT" : "GET";
      if (workload === "read") {
        for (const s of servers) await preload(clientOf.get(s)!);
      }
      const windows = new Map<ServerChild, Window[]>(servers.map((s) => [s, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (const s of servers) {
          const w = await drive(clientOf.get(s)!, s, method, WARMUP_MS, MEASURE_MS);
          windows.get(s)!.push(w);
          console.log(`    round ${r + 1} ${workload} ${s.name}: ${fmtInt(w.requests / (w.ms / 1000))} req/s`);
        }
      }
      for (const s of servers) results.push(combine(s.name as Measured["server"], workload, windows.get(s)!));
    }
    const rss = new Map<string, number>();
    for (const s of servers) rss.set(s.name, (await s.cpu()).rss);

    const ratios = (["write", "read"] as const).map((workload) => {
      const n = results.find((r) => r.server === "node" && r.workload === workload)!;
      const r = results.find((x) => x.server === "raw" && x.workload === workload)!;
      return {
        workload,
        nodeOverRaw: sig(n.requestsPerSecond / r.requestsPerSecond),
        p50NodeOverRaw: sig(n.latencyMs.median / r.latencyMs.median),
        nodeServerCpuMsPerRequest: sig((n.serverCpuCores * 1000) / n.requestsPerSecond),
        rawServerCpuMsPerRequest: sig((r.serverCpuCores * 1000) / r.requestsPerSecond),
      };
    });

    console.log();
    printTable([
      ["workload", "server", "req/s", "p50", "p99", "max", "server CPU", "client CPU", "errors"],
      ...results.map((m) => [
        m.workload,
        m.server,
        fmtInt(m.requestsPerSecond),
        fmtMs(m.latencyMs.median),
        fmtMs(m.latencyMs.p99),
        fmtMs(m.latencyMs.max),
        `${m.serverCpuCores} cores`,
        `${m.clientCpuCores} cores`,
        m.errors,
      ]),
    ]);
    console.log();
    console.log("  ratios (target: node ≥ 50% of the raw ceiling):");
    printTable([
      ["workload", "node ÷ raw req/s", "p50 node ÷ raw", "server CPU per request: node / raw"],
      ...ratios.map((q) => [q.workload, `${round(q.nodeOverRaw * 100, 1)}%`, `${q.p50NodeOverRaw}×`, `${fmtMs(q.nodeServerCpuMsPerRequest)} / ${fmtMs(q.rawServerCpuMsPerRequest)}`]),
    ], "    ");

    for (const [s, c] of clientOf) served.set(s.name, (served.get(s.name) ?? 0) + c.sent);
    for (const c of clients) await c.close();
    clients.length = 0;
    for (const s of servers) await s.stop();

    const profiles: Record<string, ProfileSummary & { requests: number }> = {};
    if (profileDir) {
      for (const name of ["node", "raw"]) {
        const file = mainThreadProfile(join(profileDir, name));
        if (file) profiles[name] = { ...summarizeProfile(file), requests: served.get(name) ?? 0 };
      }
      printProfiles(profiles);
    }

    const path = writeResult("https-app", {
      config: {
        connections: CONNECTIONS,
        pipelining: 1,
        keys: KEYS,
        payloadBytes: Buffer.byteLength(payload(1234, 56789)),
        rounds: ROUNDS,
        measureMsPerRound: MEASURE_MS,
        warmupMsPerRound: WARMUP_MS,
        client: kind,
        clientTrialsRequestsPerSecond: trials,
        node: "startNode, dev appBundle, default signature interval, ledger in a temp dir; PUT commits one write to the private map 'records' (204), GET is a readonly endpoint",
        raw: "node:https createServer with the same P-384 node certificate and TLS options; PUT parses the JSON, stores it in a Map and answers {id, ok}; GET answers the stored JSON",
        arrangement: "each server in its own child process; this process generates the load",
      },
      results,
      ratios,
      serverRssBytes: Object.fromEntries(rss),
      ...(profileDir ? { profiles } : {}),
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const s of servers) {
      await s.stop().catch(() => {});
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
    }
    if (profileDir && !process.env["BENCH_KEEP_PROFILE"]) removeDir(profileDir);
  }
}

const role = process.argv[2];
if (role === "serve-node") serveChild(startNodeServer);
else if (role === "serve-raw") serveChild(startRawServer);
else await main();
