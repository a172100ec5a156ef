// Governance: the cost of CCF-style member governance over real HTTPS, each
// request a COSE Sign1 envelope (P-384, ES384) verified by the node.
//
//  1. COSE verification in process: `verifyCoseSign1` of a ballot envelope
//     (given the member's certificate PEM, as the member_cose_sign1 policy
//     passes it; and given an SPKI PEM), next to a raw node:crypto
//     `verify` (ECDSA P-384, SHA-384, ieee-p1363) of the same Sig_structure
//     bytes with a ready KeyObject, in the same run; and the whole
//     `authenticate(["member_cose_sign1"], …)` of one request (decode, header
//     checks, certificate lookup, verify, caller) against an in-memory table.
//  2. Proposal + ballots round trip: a node (startNode, 3 members, each
//     activated by state-digest update + ack) in a child process; member A
//     proposes `set_member_data`, members A and B vote yes (2 of 3 Active
//     members: the second ballot makes it Accepted and applies it). Sequential,
//     each member on its own keep-alive HTTPS connection; the time from
//     signing the proposal to the response of the accepting ballot (members
//     sign in the loop: that is part of a member's round trip), and until
//     that transaction is Committed (GET /gov/tx polled every POLL_MS ms),
//     with the node's default signature interval (1 s) and with 100 ms; those
//     rounds start after an untimed random pause within the interval (else
//     each would start just after the previous one's signature and wait a
//     whole interval).
//     Baseline in the same run: a GET /gov/commit on the same connection.
//  3. Ballots/s: PROPOSALS proposals created (8 connections; proposals/s),
//     then every proposal gets member B's yes (it stays Open: the constitution
//     re-runs the ballots and resolve each time), then member C's yes (it is
//     Accepted: apply, and CCF's clean-up of finished proposals, which scans
//     the open ones). Envelopes are signed before each timed phase, so the
//     load generator only sends. Baseline in the same run: GET /gov/commit
//     with the same 8 connections (the node's HTTPS floor).
//
//   node --import tsx bench/governance.ts
//   BENCH_GOV_ROUNDS=200 BENCH_GOV_COMMIT_ROUNDS=20 BENCH_GOV_FAST_ROUNDS=100 BENCH_GOV_PROPOSALS=1000 ...
//   BENCH_PROFILE=1 ...    also CPU-profile the node child (default interval) and print where its time goes
//   node --import tsx bench/governance.ts serve    (a node child; driven over IPC)
import { fork, type ChildProcess } from "node:child_process";
import { createPublicKey, randomInt, verify, X509Certificate } from "node:crypto";
import { fileURLToPath } from "node:url";
import { Pool } from "undici";
import { createServiceIdentity } from "../packages/node/src/crypto/certs.ts";
import { coseSign1ToBeSigned, decodeCoseSign1, signCoseSign1, verifyCoseSign1 } from "../packages/node/src/crypto/cose.ts";
import { certId } from "../packages/node/src/crypto/keys.ts";
import { authenticate, type AuthRequest, type TableReader } from "../packages/node/src/http/auth/policies.ts";
import { startNode } from "../packages/node/src/node.ts";
import { idKey, Tables } from "../packages/node/src/tables.ts";
import { envInt, fmtInt, fmtMs, header, now, nsPerOp, printTable, removeDir, round, sig, summarize, tempDir, writeResult, type Summary } from "./lib.ts";
import { mainThreadProfile, summarizeProfile } from "./profile.ts";

const ROUNDS = envInt("BENCH_GOV_ROUNDS", 200);
const WARMUP_ROUNDS = envInt("BENCH_GOV_WARMUP_ROUNDS", 10);
const COMMIT_ROUNDS = envInt("BENCH_GOV_COMMIT_ROUNDS", 20);
const FAST_ROUNDS = envInt("BENCH_GOV_FAST_ROUNDS", 100);
const FAST_SIGNATURE_MS = envInt("BENCH_GOV_FAST_SIGNATURE_MS", 100);
const PROPOSALS = envInt("BENCH_GOV_PROPOSALS", 1000);
const CONNECTIONS = envInt("BENCH_GOV_CONNECTIONS", 8);
const POLL_MS = envInt("BENCH_GOV_POLL_MS", 2);
const FLOOR_MS = envInt("BENCH_GOV_FLOOR_MS", 1500);
const VERIFY_MS = envInt("BENCH_GOV_VERIFY_MS", 400);
const PROFILE = process.env["BENCH_PROFILE"] === "1";

const API = "api-version=2024-07-01";
const YES = "export function vote (proposal, proposerId) { return true }";

// ---------------------------------------------------------------- members

class Member {
  private constructor(
    readonly name: string,
    readonly certPem: string,
    readonly keyPem: string,
    readonly id: string,
  ) {}

  static async create(name: string): Promise<Member> {
    const { certPem, privateKeyPem } = await createServiceIdentity();
    return new Member(name, certPem, privateKeyPem, certId(certPem));
  }

  /** A COSE Sign1 envelope with CCF's governance headers, as a member's client makes it (the project's signCoseSign1). */
  sign(type: string, payload: unknown, headers: Record<string, unknown> = {}): Buffer {
    return signCoseSign1({
      privateKeyPem: this.keyPem,
      kid: this.id,
      headers: { "ccf.gov.msg.type": type, "ccf.gov.msg.created_at": Math.floor(Date.now() / 1000), ...headers },
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
    });
  }
}

/**
 * created_at of proposals: strictly increasing. CCF's replay protection keeps
 * the last 100 (created_at, signature digest) keys and refuses a proposal whose
 * key sorts below all of a full window (ProposalCreatedTooLongAgo); with
 * wall-clock seconds, more than 100 proposals in one second would be refused
 * at random (when their signature digest sorts low).
 */
let nextCreatedAt = Math.floor(Date.now() / 1000);

function proposal(member: Member, subject: Member, n: number): Buffer {
  const actions = [{ name: "set_member_data", args: { member_id: subject.id, member_data: { name: subject.name, round: n } } }];
  return member.sign("proposal", { actions }, { "ccf.gov.msg.created_at": nextCreatedAt++ });
}

function ballot(member: Member, proposalId: string): Buffer {
  return member.sign("ballot", { ballot: YES }, { "ccf.gov.msg.proposal_id": proposalId });
}

// ---------------------------------------------------------------- 1. COSE in process

interface VerifyFigures {
  rounds: number;
  /** ns per call, best of the rounds. */
  ns: Record<string, number>;
  perSecond: Record<string, number>;
}

function measureVerify(member: Member): VerifyFigures {
  const envelope = ballot(member, "a".repeat(64));
  const decoded = decodeCoseSign1(envelope);
  const toBeSigned = coseSign1ToBeSigned(decoded.protectedBytes, decoded.payload);
  const key = new X509Certificate(member.certPem).publicKey;
  const spkiPem = key.export({ type: "spki", format: "pem" }).toString();
  const rawVerify = () => verify("sha384", toBeSigned, { key, dsaEncoding: "ieee-p1363" }, decoded.signature);

  // The member tables the policy reads, in memory: certs (PEM) and info (JSON) under the member id.
  const tables = new Map<string, Buffer>([
    [`${Tables.membersCerts}\0${idKey(member.id).toString("latin1")}`, Buffer.from(member.certPem)],
    [`${Tables.membersInfo}\0${idKey(member.id).toString("latin1")}`, Buffer.from(JSON.stringify({ status: "Active", member_data: { name: member.name } }))],
  ]);
  const read: TableReader = (table, k) => tables.get(`${table}\0${k.toString("latin1")}`);
  const request: AuthRequest = { headers: { "content-type": "application/cose" }, body: envelope, clientCertDer: undefined };
  const nowSeconds = Math.floor(Date.now() / 1000);

  const cases: Array<[string, () => unknown]> = [
    ["raw crypto.verify (KeyObject ready)", rawVerify],
    ["verifyCoseSign1, certificate PEM", () => verifyCoseSign1(decoded, member.certPem)],
    ["verifyCoseSign1, SPKI PEM", () => verifyCoseSign1(decoded, spkiPem)],
    ["authenticate member_cose_sign1", () => authenticate(["member_cose_sign1"], request, read, nowSeconds)],
    ["part: new X509Certificate(pem).publicKey", () => new X509Certificate(member.certPem).publicKey],
    ["part: createPublicKey(spki pem)", () => createPublicKey(spkiPem)],
    ["part: decodeCoseSign1", () => decodeCoseSign1(envelope)],
    ["part: coseSign1ToBeSigned", () => coseSign1ToBeSigned(decoded.protectedBytes, decoded.payload)],
    ["client: signCoseSign1 (member signs a ballot)", () => ballot(member, "a".repeat(64))],
  ];
  // Every case must do the real thing.
  if (!rawVerify() || !verifyCoseSign1(decoded, member.certPem) || !verifyCoseSign1(decoded, spkiPem)) throw new Error("verification failed");
  const caller = authenticate(["member_cose_sign1"], request, read, nowSeconds);
  if (caller?.["id"] !== member.id) throw new Error("authenticate did not return the member");

  const rounds = 3;
  const best = new Map<string, number>();
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of cases) {
      const ns = nsPerOp(() => void fn(), 1, name.startsWith("part:") ? VERIFY_MS / 2 : VERIFY_MS);
      best.set(name, Math.min(best.get(name) ?? Infinity, ns));
    }
  }
  const ns = Object.fromEntries([...best].map(([k, v]) => [k, sig(v)]));
  const perSecond = Object.fromEntries([...best].map(([k, v]) => [k, sig(1e9 / v)]));
  return { rounds, ns, perSecond };
}

// ---------------------------------------------------------------- node child

interface ServeConfig {
  type: "config";
  members: Array<{ certPem: string; data: unknown }>;
  signatureIntervalMs?: number;
}
interface Ready {
  type: "ready";
  url: string;
  ca: string;
}
type ParentMessage = ServeConfig | { type: "cpu" } | { type: "exit" };

function serveChild(): void {
  process.on("disconnect", () => process.exit(0));
  process.once("message", (config: ParentMessage) => {
    if (config.type !== "config") throw new Error("expected the config first");
    const dir = tempDir("governance-node");
    startNode({ dir, port: 0, members: config.members, ...(config.signatureIntervalMs ? { signatureIntervalMs: config.signatureIntervalMs } : {}) }).then(
      (node) => {
        process.on("message", (message: ParentMessage) => {
          if (message.type === "cpu") process.send!({ type: "cpu", usage: process.cpuUsage() });
          if (message.type === "exit") {
            node
              .close()
              .finally(() => removeDir(dir))
              .finally(() => process.exit(0));
          }
        });
        process.send!({ type: "ready", url: node.url, ca: node.core.identity.serviceCertPem } satisfies Ready);
      },
      (error: unknown) => {
        console.error(error);
        removeDir(dir);
        process.exit(1);
      },
    );
  });
}

interface NodeChild {
  child: ChildProcess;
  url: string;
  ca: string;
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

async function launch(config: Omit<ServeConfig, "type">, profileDir?: string): Promise<NodeChild> {
  const execArgv = [...process.execArgv.filter((a) => !a.startsWith("--cpu-prof")), ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [])];
  const child = fork(fileURLToPath(import.meta.url), ["serve"], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.send({ type: "config", ...config } satisfies ServeConfig);
  const ready = await new Promise<Ready>((resolve, reject) => {
    child.once("message", (message: Ready) => resolve(message));
    child.once("exit", (code) => reject(new Error(`node child exited (${code}) before it was ready`)));
  });
  let pending: ((ms: number) => void) | undefined;
  child.on("message", (message: { type: string; usage?: NodeJS.CpuUsage }) => {
    if (message.type === "cpu" && pending) {
      const resolve = pending;
      pending = undefined;
      resolve((message.usage!.user + message.usage!.system) / 1000);
    }
  });
  return {
    child,
    url: ready.url,
    ca: ready.ca,
    cpuMs: () =>
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

// ---------------------------------------------------------------- HTTPS

interface Reply {
  status: number;
  text: string;
  txId: string | undefined;
}

async function send(pool: Pool, method: "GET" | "POST", path: string, body?: Buffer): Promise<Reply> {
  const response = await pool.request(
    body === undefined ? { method, path } : { method, path: `${path}${path.includes("?") ? "&" : "?"}${API}`, body, headers: { "content-type": "application/cose" } },
  );
  const text = await response.body.text();
  const txId = response.headers["x-ms-ccf-transaction-id"];
  return { status: response.statusCode, text, txId: typeof txId === "string" ? txId : undefined };
}

function expectOk(reply: Reply, what: string): Record<string, unknown> {
  if (reply.status < 200 || reply.status >= 300) throw new Error(`${what}: ${reply.status} ${reply.text}`);
  return reply.text === "" ? {} : (JSON.parse(reply.text) as Record<string, unknown>);
}

const createPath = "/gov/members/proposals:create";
const ballotPath = (proposalId: string, member: Member) => `/gov/members/proposals/${proposalId}/ballots/${member.id}:submit`;

async function activate(pool: Pool, member: Member): Promise<void> {
  const update = expectOk(await send(pool, "POST", `/gov/members/state-digests/${member.id}:update`, member.sign("state_digest", "")), "state digest update");
  expectOk(await send(pool, "POST", `/gov/members/state-digests/${member.id}:ack`, member.sign("ack", update)), "ack");
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls GET /gov/tx until `txId` is Committed; returns the number of polls. */
async function waitCommitted(pool: Pool, txId: string): Promise<number> {
  for (let polls = 1; ; polls++) {
    const status = (expectOk(await send(pool, "GET", `/gov/tx?transaction_id=${txId}`), "tx status") as { status: string }).status;
    if (status === "Committed") return polls;
    if (status === "Invalid") throw new Error(`transaction ${txId} is Invalid`);
    await sleep(POLL_MS);
  }
}

// ---------------------------------------------------------------- 2. round trips

interface RoundTrip {
  acceptedMs: number;
  committedMs?: number;
  signMs: number;
  createMs: number;
  ballotOpenMs: number;
  ballotAcceptMs: number;
}

/** A proposes, A votes yes (Open), B votes yes (Accepted); each on its own connection. */
async function roundTrip(members: Member[], pools: Pool[], n: number, waitCommit: boolean): Promise<RoundTrip> {
  const [a, b] = [members[0]!, members[1]!];
  const t0 = now();
  let signNs = 0;
  let t = now();
  const p = proposal(a, members[n % members.length]!, n);
  signNs += Number(now() - t);
  t = now();
  const created = expectOk(await send(pools[0]!, "POST", createPath, p), "proposal");
  const createMs = Number(now() - t) / 1e6;
  const proposalId = created["proposalId"] as string;
  if (created["proposalState"] !== "Open") throw new Error(`new proposal is ${String(created["proposalState"])}`);

  t = now();
  const first = ballot(a, proposalId);
  signNs += Number(now() - t);
  t = now();
  const open = expectOk(await send(pools[0]!, "POST", ballotPath(proposalId, a), first), "first ballot");
  const ballotOpenMs = Number(now() - t) / 1e6;
  if (open["proposalState"] !== "Open") throw new Error(`after one ballot the proposal is ${String(open["proposalState"])}`);

  t = now();
  const second = ballot(b, proposalId);
  signNs += Number(now() - t);
  t = now();
  const reply = await send(pools[1]!, "POST", ballotPath(proposalId, b), second);
  const accepted = expectOk(reply, "second ballot");
  const acceptedAt = now();
  const ballotAcceptMs = Number(acceptedAt - t) / 1e6;
  if (accepted["proposalState"] !== "Accepted") throw new Error(`after two ballots the proposal is ${String(accepted["proposalState"])}`);
  const result: RoundTrip = { acceptedMs: Number(acceptedAt - t0) / 1e6, signMs: signNs / 1e6, createMs, ballotOpenMs, ballotAcceptMs };
  if (waitCommit) {
    if (reply.txId === undefined) throw new Error("the accepting ballot has no transaction id");
    await waitCommitted(pools[1]!, reply.txId);
    result.committedMs = Number(now() - t0) / 1e6;
  }
  return result;
}

interface RoundTripFigures {
  rounds: number;
  signatureIntervalMs: number;
  acceptedMs: Summary;
  committedMs?: Summary;
  /** Committed − Accepted per round: waiting for the next signature and its fsync. */
  acceptedToCommittedMs?: Summary;
  signMs: Summary;
  createMs: Summary;
  ballotOpenMs: Summary;
  ballotAcceptMs: Summary;
}

async function roundTrips(members: Member[], pools: Pool[], rounds: number, waitCommit: boolean, signatureIntervalMs: number, label: string): Promise<RoundTripFigures> {
  const samples: RoundTrip[] = [];
  for (let i = 0; i < rounds; i++) {
    // A round that starts right after the previous one's commit would start just after a signature,
    // and always wait a whole interval: start at a random point of the interval instead (not timed).
    if (waitCommit) await sleep(randomInt(signatureIntervalMs));
    samples.push(await roundTrip(members, pools, i, waitCommit));
  }
  const pick = (f: (r: RoundTrip) => number) => summarize(samples.map(f));
  const figures: RoundTripFigures = {
    rounds,
    signatureIntervalMs,
    acceptedMs: pick((r) => r.acceptedMs),
    signMs: pick((r) => r.signMs),
    createMs: pick((r) => r.createMs),
    ballotOpenMs: pick((r) => r.ballotOpenMs),
    ballotAcceptMs: pick((r) => r.ballotAcceptMs),
  };
  if (waitCommit) {
    figures.committedMs = pick((r) => r.committedMs!);
    figures.acceptedToCommittedMs = pick((r) => r.committedMs! - r.acceptedMs);
  }
  const c = figures.committedMs;
  console.log(
    `  ${label}: Accepted ${fmtMs(figures.acceptedMs.median)} / ${fmtMs(figures.acceptedMs.p99)} (median / p99)` +
      (c ? `, Committed ${fmtMs(c.median)} / ${fmtMs(c.p99)}` : ""),
  );
  return figures;
}

/** Sequential GET /gov/commit on one connection: the node's HTTPS request floor. */
async function sequentialFloor(pool: Pool, count: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < count + 20; i++) {
    const t = now();
    expectOk(await send(pool, "GET", "/gov/commit"), "commit");
    if (i >= 20) samples.push(Number(now() - t) / 1e6);
  }
  return summarize(samples);
}

// ---------------------------------------------------------------- 3. throughput

interface Phase {
  requests: number;
  seconds: number;
  perSecond: number;
  latencyMs: Summary;
  /** Node child CPU per request, ms (main thread, GC and libuv threads). */
  serverCpuMsPerRequest: number;
  serverCpuCores: number;
}

/** CONNECTIONS workers send the prepared requests, each one in flight; `check` validates each reply. */
async function drive(node: NodeChild, jobs: Array<() => Promise<Reply>>, check: (reply: Reply, index: number) => void): Promise<Phase> {
  let next = 0;
  const latencies: number[] = [];
  const cpuBefore = await node.cpuMs();
  const t0 = now();
  const worker = async () => {
    while (next < jobs.length) {
      const index = next++;
      const t = now();
      const reply = await jobs[index]!();
      latencies.push(Number(now() - t) / 1e6);
      check(reply, index);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const seconds = Number(now() - t0) / 1e9;
  const cpuMs = (await node.cpuMs()) - cpuBefore;
  return {
    requests: jobs.length,
    seconds: sig(seconds),
    perSecond: sig(jobs.length / seconds),
    latencyMs: summarize(latencies),
    serverCpuMsPerRequest: sig(cpuMs / jobs.length),
    serverCpuCores: round(cpuMs / 1000 / seconds, 2),
  };
}

/** GET /gov/commit from CONNECTIONS workers for FLOOR_MS: the node's HTTPS floor at this concurrency. */
async function concurrentFloor(node: NodeChild, pool: Pool): Promise<Phase> {
  // Warm up the connections first.
  await Promise.all(Array.from({ length: CONNECTIONS * 4 }, () => send(pool, "GET", "/gov/commit")));
  const latencies: number[] = [];
  const cpuBefore = await node.cpuMs();
  const t0 = now();
  const deadline = t0 + BigInt(FLOOR_MS) * 1_000_000n;
  const worker = async () => {
    while (now() < deadline) {
      const t = now();
      expectOk(await send(pool, "GET", "/gov/commit"), "commit");
      latencies.push(Number(now() - t) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const seconds = Number(now() - t0) / 1e9;
  const cpuMs = (await node.cpuMs()) - cpuBefore;
  return {
    requests: latencies.length,
    seconds: sig(seconds),
    perSecond: sig(latencies.length / seconds),
    latencyMs: summarize(latencies),
    serverCpuMsPerRequest: sig(cpuMs / latencies.length),
    serverCpuCores: round(cpuMs / 1000 / seconds, 2),
  };
}

interface ThroughputFigures {
  proposals: number;
  connections: number;
  create: Phase;
  ballotOpen: Phase;
  ballotAccept: Phase;
  floor: Phase;
  /** Client signing time before each phase (not in the phase), s. */
  presignSeconds: number[];
}

async function throughput(node: NodeChild, members: Member[]): Promise<ThroughputFigures> {
  const pool = new Pool(node.url, { connections: CONNECTIONS, pipelining: 1, connect: { ca: node.ca } });
  try {
    const [a, b, c] = [members[0]!, members[1]!, members[2]!];
    const presignSeconds: number[] = [];
    const presign = <T>(make: () => T[]): T[] => {
      const t = now();
      const out = make();
      presignSeconds.push(sig(Number(now() - t) / 1e9));
      return out;
    };
    const floor = await concurrentFloor(node, pool);
    console.log(`  HTTPS floor, GET /gov/commit, ${CONNECTIONS} conns: ${fmtInt(floor.perSecond)} req/s`);

    const proposals = presign(() => Array.from({ length: PROPOSALS }, (_, i) => proposal(a, members[i % members.length]!, 100_000 + i)));
    const ids: string[] = new Array(PROPOSALS);
    const create = await drive(
      node,
      proposals.map((p) => () => send(pool, "POST", createPath, p)),
      (reply, i) => {
        const body = expectOk(reply, "proposal");
        if (body["proposalState"] !== "Open") throw new Error(`new proposal is ${String(body["proposalState"])}`);
        ids[i] = body["proposalId"] as string;
      },
    );
    console.log(`  proposals:create, ${fmtInt(PROPOSALS)} (${CONNECTIONS} conns): ${fmtInt(create.perSecond)} proposals/s`);

    const stateCheck = (state: string) => (reply: Reply) => {
      const body = expectOk(reply, "ballot");
      if (body["proposalState"] !== state) throw new Error(`ballot left the proposal ${String(body["proposalState"])}, expected ${state}`);
    };
    const firstBallots = presign(() => ids.map((id) => ballot(b, id)));
    const ballotOpen = await drive(
      node,
      firstBallots.map((env, i) => () => send(pool, "POST", ballotPath(ids[i]!, b), env)),
      stateCheck("Open"),
    );
    console.log(`  ballots that leave the proposal Open (${PROPOSALS} open): ${fmtInt(ballotOpen.perSecond)} ballots/s`);

    const secondBallots = presign(() => ids.map((id) => ballot(c, id)));
    const ballotAccept = await drive(
      node,
      secondBallots.map((env, i) => () => send(pool, "POST", ballotPath(ids[i]!, c), env)),
      stateCheck("Accepted"),
    );
    console.log(`  ballots that accept (open proposals ${PROPOSALS} → 0): ${fmtInt(ballotAccept.perSecond)} ballots/s`);
    return { proposals: PROPOSALS, connections: CONNECTIONS, create, ballotOpen, ballotAccept, floor, presignSeconds };
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------- CPU profile summary

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  header(
    `Governance: COSE Sign1 verify in process; proposal + 2 ballots round trip (${ROUNDS} to Accepted, ${COMMIT_ROUNDS} to Committed at the default 1 s ` +
      `signature interval, ${FAST_ROUNDS} at ${FAST_SIGNATURE_MS} ms); ${PROPOSALS} proposals and their ballots over ${CONNECTIONS} connections`,
  );
  const started = now();
  const members = await Promise.all(["Bank A", "Bank B", "Bank C"].map((name) => Member.create(name)));

  console.log("\n  COSE Sign1 verification in process (ES384, P-384; best of 3 rounds):");
  const cose = measureVerify(members[0]!);
  const raw = cose.ns["raw crypto.verify (KeyObject ready)"]!;
  printTable(
    [["operation", "per call", "per second", "÷ raw verify"], ...Object.entries(cose.ns).map(([name, ns]) => [name, fmtMs(ns / 1e6), fmtInt(1e9 / ns), `${sig(ns / raw)}×`])],
    "    ",
  );

  const profileDir = PROFILE ? tempDir("governance-prof") : undefined;
  const children: NodeChild[] = [];
  const pools: Pool[] = [];
  try {
    // ---- node with the default signature interval: round trips, then throughput
    const node = await launch({ members: members.map((m) => ({ certPem: m.certPem, data: { name: m.name } })) }, profileDir);
    children.push(node);
    const memberPools = members.map(() => new Pool(node.url, { connections: 1, pipelining: 1, connect: { ca: node.ca } }));
    pools.push(...memberPools);
    for (let i = 0; i < members.length; i++) await activate(memberPools[i]!, members[i]!);

    console.log("\n  round trips (sequential; member A proposes, A and B vote yes):");
    const seqFloor = await sequentialFloor(memberPools[0]!, 200);
    console.log(`  HTTPS floor, GET /gov/commit on one connection: ${fmtMs(seqFloor.median)} / ${fmtMs(seqFloor.p99)} (median / p99)`);
    await roundTrips(members, memberPools, WARMUP_ROUNDS, false, 1000, "warm-up");
    const accepted = await roundTrips(members, memberPools, ROUNDS, false, 1000, `${ROUNDS} round trips, to Accepted`);
    const committedDefault = await roundTrips(members, memberPools, COMMIT_ROUNDS, true, 1000, `${COMMIT_ROUNDS} round trips to Committed, signatures every 1 s (default)`);

    console.log(`\n  throughput (${CONNECTIONS} connections, envelopes signed before each phase):`);
    const tput = await throughput(node, members);
    for (const p of memberPools) await p.close();
    pools.length = 0;
    await node.stop();

    // ---- node with a short signature interval: round trips to Committed
    const fast = await launch({ members: members.map((m) => ({ certPem: m.certPem, data: { name: m.name } })), signatureIntervalMs: FAST_SIGNATURE_MS });
    children.push(fast);
    const fastPools = members.map(() => new Pool(fast.url, { connections: 1, pipelining: 1, connect: { ca: fast.ca } }));
    pools.push(...fastPools);
    for (let i = 0; i < members.length; i++) await activate(fastPools[i]!, members[i]!);
    await roundTrips(members, fastPools, WARMUP_ROUNDS, false, FAST_SIGNATURE_MS, "warm-up");
    const committedFast = await roundTrips(members, fastPools, FAST_ROUNDS, true, FAST_SIGNATURE_MS, `${FAST_ROUNDS} round trips to Committed, signatures every ${FAST_SIGNATURE_MS} ms`);
    for (const p of fastPools) await p.close();
    pools.length = 0;
    await fast.stop();

    const profileFile = profileDir ? mainThreadProfile(profileDir) : undefined;
    const profile = profileFile ? summarizeProfile(profileFile) : undefined;

    // ---- report
    const ratios = {
      verifyCoseCertOverRaw: sig(cose.ns["verifyCoseSign1, certificate PEM"]! / raw),
      verifyCoseSpkiOverRaw: sig(cose.ns["verifyCoseSign1, SPKI PEM"]! / raw),
      authenticateOverRaw: sig(cose.ns["authenticate member_cose_sign1"]! / raw),
      roundTripAcceptedOverThreeFloorRequests: sig(accepted.acceptedMs.median / (3 * seqFloor.median)),
      ballotsOpenOverFloorRequests: sig(tput.ballotOpen.perSecond / tput.floor.perSecond),
      ballotsAcceptOverFloorRequests: sig(tput.ballotAccept.perSecond / tput.floor.perSecond),
      ballotOpenServerCpuOverRawVerify: sig((tput.ballotOpen.serverCpuMsPerRequest * 1e6) / raw),
      ballotAcceptServerCpuOverRawVerify: sig((tput.ballotAccept.serverCpuMsPerRequest * 1e6) / raw),
    };
    console.log("\n  round trip, proposal + 2 ballots (ms):");
    const rt = (name: string, f: RoundTripFigures) => {
      const rows: Array<Array<string | number>> = [[`${name}: to Accepted`, fmtMs(f.acceptedMs.median), fmtMs(f.acceptedMs.p99), fmtMs(f.acceptedMs.max)]];
      if (f.committedMs) rows.push([`${name}: to Committed`, fmtMs(f.committedMs.median), fmtMs(f.committedMs.p99), fmtMs(f.committedMs.max)]);
      return rows;
    };
    printTable(
      [
        ["", "median", "p99", "max"],
        ...rt(`${ROUNDS} rounds, 1 s signatures`, accepted),
        ...rt(`${COMMIT_ROUNDS} rounds, 1 s signatures`, committedDefault),
        ...rt(`${FAST_ROUNDS} rounds, ${FAST_SIGNATURE_MS} ms signatures`, committedFast),
        ["  parts: client signing (3 envelopes)", fmtMs(accepted.signMs.median), fmtMs(accepted.signMs.p99), fmtMs(accepted.signMs.max)],
        ["  parts: proposals:create", fmtMs(accepted.createMs.median), fmtMs(accepted.createMs.p99), fmtMs(accepted.createMs.max)],
        ["  parts: ballot → Open", fmtMs(accepted.ballotOpenMs.median), fmtMs(accepted.ballotOpenMs.p99), fmtMs(accepted.ballotOpenMs.max)],
        ["  parts: ballot → Accepted (apply)", fmtMs(accepted.ballotAcceptMs.median), fmtMs(accepted.ballotAcceptMs.p99), fmtMs(accepted.ballotAcceptMs.max)],
        ["baseline: GET /gov/commit, same connection", fmtMs(seqFloor.median), fmtMs(seqFloor.p99), fmtMs(seqFloor.max)],
      ],
      "    ",
    );
    console.log(`\n  throughput, ${CONNECTIONS} connections:`);
    const row = (name: string, p: Phase, unit: string) => [name, `${fmtInt(p.perSecond)} ${unit}`, fmtMs(p.latencyMs.median), fmtMs(p.latencyMs.p99), `${fmtMs(p.serverCpuMsPerRequest)}`, `${p.serverCpuCores} cores`];
    printTable(
      [
        ["phase", "rate", "p50", "p99", "server CPU/req", "server CPU"],
        row(`proposals:create (${PROPOSALS})`, tput.create, "proposals/s"),
        row("ballot, proposal stays Open", tput.ballotOpen, "ballots/s"),
        row("ballot, proposal Accepted", tput.ballotAccept, "ballots/s"),
        row("baseline: GET /gov/commit", tput.floor, "req/s"),
      ],
      "    ",
    );
    console.log("\n  ratios:");
    printTable(
      [
        ["verifyCoseSign1 (cert PEM) ÷ raw verify", `${ratios.verifyCoseCertOverRaw}×`],
        ["verifyCoseSign1 (SPKI PEM) ÷ raw verify", `${ratios.verifyCoseSpkiOverRaw}×`],
        ["authenticate(member_cose_sign1) ÷ raw verify", `${ratios.authenticateOverRaw}×`],
        ["round trip to Accepted ÷ 3 GET /gov/commit", `${ratios.roundTripAcceptedOverThreeFloorRequests}×`],
        ["ballots/s (Open) ÷ GET /gov/commit req/s", `${ratios.ballotsOpenOverFloorRequests}`],
        ["ballots/s (Accepted) ÷ GET /gov/commit req/s", `${ratios.ballotsAcceptOverFloorRequests}`],
        ["server CPU per ballot (Open) ÷ raw verify", `${ratios.ballotOpenServerCpuOverRawVerify}×`],
        ["server CPU per ballot (Accepted) ÷ raw verify", `${ratios.ballotAcceptServerCpuOverRawVerify}×`],
      ],
      "    ",
    );
    if (profile) {
      console.log(`\n  node CPU profile (default-interval child, whole run: ${fmtInt(profile.busyMs)} ms busy; ${profile.file}):`);
      printTable([["category", "ms", "share"], ...profile.byCategory.map((c) => [c.category, fmtInt(c.ms), `${round(c.share * 100, 1)}%`])], "    ");
      console.log();
      printTable([["function (self time)", "ms", "share"], ...profile.topFunctions.slice(0, 15).map((f) => [f.function, fmtInt(f.selfMs), `${round(f.share * 100, 1)}%`])], "    ");
    }

    const path = writeResult("governance", {
      config: {
        members: 3,
        action: "set_member_data",
        ballot: YES,
        rounds: ROUNDS,
        warmupRounds: WARMUP_ROUNDS,
        commitRounds: COMMIT_ROUNDS,
        fastRounds: FAST_ROUNDS,
        fastSignatureIntervalMs: FAST_SIGNATURE_MS,
        pollMs: POLL_MS,
        proposals: PROPOSALS,
        connections: CONNECTIONS,
        client: "undici Pool (one connection per member for round trips; 8 shared for throughput), keep-alive",
        node: "startNode with 3 members (activated), default constitution, ledger in a temp dir, in a child process",
        roundTrip: "A signs + sends proposals:create; A signs + sends a yes ballot (Open); B signs + sends a yes ballot (Accepted, applied); Committed: GET /gov/tx polled",
        throughput: "proposals created by A; then B's yes on each (Open); then C's yes on each (Accepted); envelopes signed before each phase",
      },
      cose,
      roundTrip: { httpsFloorMs: seqFloor, accepted, committedDefault, committedFast },
      throughput: tput,
      ratios,
      ...(profile ? { profile } : {}),
      seconds: sig(Number(now() - started) / 1e9),
    });
    console.log(`\n  wrote ${path} (${(Number(now() - started) / 1e9).toFixed(1)} s)`);
  } finally {
    for (const p of pools) await p.close().catch(() => {});
    for (const c of children) {
      await c.stop().catch(() => {});
      if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill("SIGKILL");
    }
    if (profileDir && !process.env["BENCH_KEEP_PROFILE"]) removeDir(profileDir);
  }
}

if (process.argv[2] === "serve") serveChild();
else await main();
