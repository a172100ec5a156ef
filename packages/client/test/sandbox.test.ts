// `confide sandbox` as a user runs it (CCF's sandbox.sh workflow): a real
// child process on free ports and a temp workspace reaches ready; every curl
// line it prints works exactly as printed; sandbox.json names files that
// exist, private keys mode 0600; the consortium is Active, the services Open,
// the apps deployed by accepted proposals; Ctrl-C exits 0 with the ledgers
// flushed; a re-run replays them (same service certificates, nothing proposed
// twice, ready sooner); --fresh starts over (and deletes nothing it did not make); a taken port or workspace is a
// clear error with a non-zero exit.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { createServer, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { certId, ConfideClient, Governance } from "../src/index.ts";
import { OPENING_DEPOSIT, PARTIES, TRADES, TRANSFERS } from "../src/sandbox/demo.ts";
import { READY_PREFIX } from "../src/sandbox/output.ts";
import type { SandboxDescription } from "../src/sandbox/workspace.ts";

const CONFIDE = fileURLToPath(new URL("../bin/confide.js", import.meta.url));
/** Fresh start is a few seconds here; the bound leaves room for a loaded machine. */
const READY_TIMEOUT_MS = 40_000;
const EXIT_TIMEOUT_MS = 15_000;
const CURL_TIMEOUT_MS = 10_000;
const HAVE_CURL = spawnSync("curl", ["--version"]).status === 0;

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One `confide sandbox` child, its output collected as it comes. */
class SandboxRun {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;

  constructor(args: string[], cwd: string) {
    // Without INIT_CWD (npm sets it when the tests run under npm), printed paths are relative to cwd, where curl runs.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "INIT_CWD" && !name.startsWith("CONFIDE_")));
    this.child = spawn(process.execPath, [CONFIDE, "sandbox", ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (chunk: Buffer) => (this.stdout += chunk.toString("utf8")));
    this.child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = new Promise((resolveExit) => this.child.once("exit", (code, signal) => resolveExit({ code, signal })));
  }

  /** Resolves with stdout once `text` appears; rejects if the child exits first or the time runs out. */
  async waitFor(text: string, timeoutMs = READY_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let exit: Exit | undefined;
    void this.exited.then((e) => (exit = e));
    while (!this.stdout.includes(text)) {
      if (exit !== undefined) throw new Error(`sandbox exited (${exit.code ?? exit.signal}) before "${text}"\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.stdout;
  }

  async ready(): Promise<number> {
    await this.waitFor("Ctrl-C stops both nodes");
    const seconds = /Confide sandbox ready in ([\d.]+) s/.exec(this.stdout);
    assert.ok(seconds, this.stdout);
    return Number(seconds[1]);
  }

  async exit(timeoutMs = EXIT_TIMEOUT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`sandbox still running after ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async interrupt(): Promise<Exit> {
    this.child.kill("SIGINT");
    return this.exit();
  }

  /** Test clean-up only: a child the test failed to stop must not outlive it. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** The curl lines that call an app with a certificate (the token line is tokenLines'). */
  curlLines(): string[] {
    return this.lines().filter((line) => line.startsWith("curl ") && !line.includes("$TOKEN"));
  }

  /** TOKEN=$(curl ... the identity provider ...), then the curl line using $TOKEN. */
  tokenLines(): string[] {
    return this.lines().filter((line) => line.startsWith("TOKEN=") || (line.startsWith("curl ") && line.includes("$TOKEN")));
  }

  private lines(): string[] {
    return this.stdout.split("\n").map((line) => line.trim());
  }
}

/** Two ports free right now, held until both are known so they differ. */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

interface HttpResult {
  status: number;
  body: string;
}

/** Runs a printed line exactly as printed through sh, adding only flags that report the status. */
function runWithCurl(line: string, cwd: string): Promise<HttpResult> {
  return new Promise((resolveRun, reject) => {
    execFile("sh", ["-c", `${line} --silent --show-error --write-out '\\n%{http_code}'`], { cwd, timeout: CURL_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${line}\n${stderr || error.message}`));
      const cut = stdout.lastIndexOf("\n");
      resolveRun({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
    });
  });
}

/** Splits a POSIX shell line into words (quotes and backslashes; no expansions, which the sandbox never prints). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unclosed ' in ${line}`);
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let text = "";
      for (i++; line[i] !== '"'; i++) {
        assert.ok(i < line.length, `unclosed " in ${line}`);
        text += line[i] === "\\" && /["\\$`]/.test(line[i + 1] ?? "") ? line[++i] : line[i];
      }
      word = (word ?? "") + text;
    } else if (c === "\\") {
      word = (word ?? "") + (line[++i] ?? "");
    } else {
      assert.ok(!"$`|;&<>*?".includes(c), `the test's fallback does not expand ${c}: ${line}`);
      word = (word ?? "") + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** The same request as the curl line, with node:https, for machines without curl: only the flags the sandbox prints. */
function runWithNode(line: string, cwd: string): Promise<HttpResult> {
  const [command, ...args] = shellWords(line);
  assert.equal(command, "curl");
  let url: string | undefined;
  let method: string | undefined;
  let data: string | undefined;
  const headers: Record<string, string> = {};
  const tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const value = (): string => {
      const next = args[++i];
      assert.ok(next !== undefined, `${arg} needs a value`);
      return next;
    };
    if (arg === "--cacert") tls.ca = readFileSync(resolve(cwd, value()));
    else if (arg === "--cert") tls.cert = readFileSync(resolve(cwd, value()));
    else if (arg === "--key") tls.key = readFileSync(resolve(cwd, value()));
    else if (arg === "-X" || arg === "--request") method = value();
    else if (arg === "-H" || arg === "--header") {
      const [name, ...rest] = value().split(":");
      headers[name!.trim().toLowerCase()] = rest.join(":").trim();
    } else if (arg === "-d" || arg === "--data") data = value();
    else if (!arg.startsWith("-") && url === undefined) url = arg;
    else assert.fail(`the test's fallback does not know curl flag ${arg}`);
  }
  assert.ok(url !== undefined, `no URL in ${line}`);
  // curl -d posts form data unless told otherwise, as here.
  if (data !== undefined) headers["content-type"] ??= "application/x-www-form-urlencoded";
  return new Promise((resolveRun, reject) => {
    const req = httpsRequest(url, { method: method ?? (data === undefined ? "GET" : "POST"), headers, ...tls, timeout: CURL_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolveRun({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer to ${line}`)));
    req.on("error", reject);
    req.end(data);
  });
}

/** What each app's printed call must answer for Bank A's first user, from the demo data alone. */
function checkAnswer(url: string, body: string): void {
  const json = JSON.parse(body) as Record<string, unknown>;
  if (url.endsWith("/app/report")) {
    const rows = json["content"] as { key: string; status: string }[];
    assert.deepEqual(rows.map((r) => r.key), TRADES["Bank A"].map((t) => t.trade_id));
    const status = Object.fromEntries(rows.map((r) => [r.key, r.status]));
    assert.equal(status["T-1001"], "IN_CONSENSUS");
    assert.equal(status["T-1003"], "LACK_OF_CONSENSUS"); // Bank C's price is off
    assert.equal(status["T-1006"], "NOT_ENOUGH_DATA"); // two banks of k = 3
  } else if (url.endsWith("/app/balance/checking")) {
    const paid = TRANSFERS.filter((t) => t.from.party === "Bank A" && t.from.index === 0 && t.fromAccount === "checking").reduce((sum, t) => sum + t.value, 0);
    assert.deepEqual(json, { balance: OPENING_DEPOSIT - paid });
  } else {
    assert.fail(`no expectation for ${url}`);
  }
}

describe("confide sandbox", () => {
  let root: string;
  let ports: number[];
  let args: string[];
  let fresh: SandboxRun;
  let freshReadySeconds: number;
  let description: SandboxDescription;
  const runs: SandboxRun[] = [];
  const run = (extra: string[] = [], cwd = root): SandboxRun => {
    const r = new SandboxRun([...args, ...extra], cwd);
    runs.push(r);
    return r;
  };
  const servicesCerts = (): string[] => description.services.map((s) => readFileSync(s.serviceCertificate, "utf8"));
  before(async () => {
    root = mkdtempSync(join(tmpdir(), "confide-sandbox-"));
    ports = await freePorts(4);
    args = ["--workspace", "workspace", "--port", String(ports[0]), "--banking-port", String(ports[1]), "--console-port", String(ports[2]), "--idp-port", String(ports[3])];
    fresh = run();
    freshReadySeconds = await fresh.ready();
    description = JSON.parse(readFileSync(join(root, "workspace", "sandbox.json"), "utf8")) as SandboxDescription;
  });

  after(() => {
    for (const r of runs) r.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it("prints each service's URL and certificate, and a curl line per app", () => {
    for (const service of description.services) {
      assert.match(fresh.stdout, new RegExp(`${service.name}\\s+${service.url}\\s+service certificate workspace/${service.name}/service_cert.pem`));
    }
    assert.deepEqual(description.services.map((s) => s.url), ports.slice(0, 2).map((p) => `https://127.0.0.1:${p}`));
    const lines = fresh.curlLines();
    assert.equal(lines.length, 2, fresh.stdout);
    for (const service of description.services) assert.equal(lines.filter((l) => l.includes(service.url)).length, 1, service.name);
    assert.match(fresh.stdout, /proposal \w+… set_js_app \+ set_reconciliation_schema \+ set_reconciliation_policy: Accepted/);
  });

  it("serves the web console over HTTPS on its port, prints its URL and names it in sandbox.json", async () => {
    assert.deepEqual(description.console, { url: `https://localhost:${ports[2]}` });
    assert.match(fresh.stdout, new RegExp(`console\\s+https://localhost:${ports[2]}\\s`));
    // The console serves the reconciliation node's certificate, which the service certificate issued.
    const ca = readFileSync(description.services[0]!.serviceCertificate, "utf8");
    const get = (path: string) =>
      new Promise<{ status: number; type: string; body: string }>((resolveGet, reject) => {
        httpsRequest(`${description.console!.url}${path}`, { ca }, (res) => {
          let body = "";
          res.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
          res.on("end", () => resolveGet({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), body }));
        })
          .on("error", reject)
          .end();
      });
    const page = await get("/");
    assert.equal(page.status, 200);
    assert.match(page.type, /text\/html/);
    const ids = JSON.parse((await get("/api/identities")).body) as { members: { name: string }[]; users: unknown[] };
    assert.deepEqual(ids.members.map((m) => m.name), description.members.map((m) => m.name));
    assert.doesNotMatch(JSON.stringify(ids), /PRIVATE KEY/);
  });

  it("every printed curl line works as printed", async () => {
    for (const line of fresh.curlLines()) {
      const url = shellWords(line).find((w) => w.startsWith("https://"))!;
      const results = [...(HAVE_CURL ? [await runWithCurl(line, root)] : []), await runWithNode(line, root)];
      for (const { status, body } of results) {
        assert.ok(status >= 200 && status < 300, `${line}: ${status} ${body}`);
        checkAnswer(url, body);
      }
    }
  });

  it("the demo identity provider: trusted by proposal; the printed token lines call the reconciliation app as Bank A", async () => {
    const idp = description.identityProvider!;
    assert.match(fresh.stdout, /proposal \w+… set_jwt_issuer https:\/\/127\.0\.0\.1:\d+: Accepted/);
    assert.equal(statSync(join(root, "workspace", "idp", "idp_signing_privk.pem")).mode & 0o777, 0o600);
    const [tokenLine, callLine] = fresh.tokenLines();
    assert.ok(tokenLine !== undefined && callLine !== undefined, fresh.stdout);
    const url = `${description.services[0]!.url}/app/report`;
    let body: string;
    if (HAVE_CURL && spawnSync("jq", ["--version"]).status === 0) {
      const ran = spawnSync("bash", ["-c", `set -eo pipefail\n${tokenLine}\n${callLine}`], { cwd: root, encoding: "utf8" });
      assert.equal(ran.status, 0, ran.stderr);
      body = ran.stdout;
    } else {
      const inner = /^TOKEN=\$\((curl .*) \| jq -r \.access_token\)$/.exec(tokenLine)![1]!.replace("curl -s ", "curl ");
      const token = (JSON.parse((await runWithNode(inner, root)).body) as { access_token: string }).access_token;
      body = (await runWithNode(callLine.replace("$TOKEN", token), root)).body;
    }
    checkAnswer(url, body);
    assert.equal(idp.issuer, new URL(idp.tokenUrl).origin);
  });

  it("sandbox.json names every service, member and user by files that exist; private keys are 0600", () => {
    assert.equal(description.workspace, join(root, "workspace"));
    assert.deepEqual(description.services.map((s) => [s.name, s.app]), [["reconciliation", "@confide/app-reconciliation"], ["banking", "@confide/app-banking"]]);
    assert.deepEqual(description.members.map((m) => m.party), [...PARTIES]);
    assert.deepEqual(description.users.map((u) => u.party), PARTIES.flatMap((p) => [p, p]));
    const mode = (file: string) => statSync(file).mode & 0o777;
    for (const s of description.services) assert.ok(existsSync(s.serviceCertificate), s.serviceCertificate);
    for (const m of description.members) {
      assert.equal(certId(readFileSync(m.certificate, "utf8")), m.id);
      assert.ok(readFileSync(m.encryptionPublicKey, "utf8").includes("BEGIN PUBLIC KEY"));
      for (const key of [m.signingKey, m.encryptionKey]) assert.equal(mode(key), 0o600, key);
    }
    for (const u of description.users) {
      assert.equal(certId(readFileSync(u.certificate, "utf8")), u.id);
      assert.equal(mode(u.key), 0o600, u.key);
    }
  });

  it("leaves each service as a consortium would: members Active with their party, users added, the app deployed, Open", async () => {
    for (const s of description.services) {
      const client = new ConfideClient({ url: s.url, serviceCertPem: readFileSync(s.serviceCertificate, "utf8") });
      try {
        const gov = new Governance(client);
        assert.equal((await gov.serviceInfo()).status, "Open");
        const members = await gov.members();
        assert.deepEqual(new Set(members.map((m) => `${m.memberId} ${m.status} ${JSON.stringify(m.memberData)}`)), new Set(description.members.map((m) => `${m.id} Active {"party":"${m.party}"}`)));
        const users = await gov.users();
        assert.deepEqual(new Set(users.map((u) => `${u.userId} ${JSON.stringify(u.userData)}`)), new Set(description.users.map((u) => `${u.id} {"party":"${u.party}"}`)));
        const proposals = await gov.proposals();
        assert.ok(proposals.length > 0);
        // CCF keeps finished proposals only for a while; every one the sandbox made that is still listed was Accepted.
        assert.ok(proposals.every((p) => p.proposalState === "Accepted"), JSON.stringify(proposals));
      } finally {
        client.close();
      }
    }
  });

  it("Ctrl-C (SIGINT) stops it cleanly: exit 0, ledgers flushed, workspace released", async () => {
    const exit = await fresh.interrupt();
    assert.deepEqual(exit, { code: 0, signal: null }, fresh.stderr);
    assert.match(fresh.stdout, /sandbox stopped: ledgers signed and flushed/);
    assert.ok(!existsSync(join(root, "workspace", "sandbox.lock")));
  });

  it("a re-run without --recover is refused with what to do: the ledgers' secrets were never on disk", async () => {
    const certs = servicesCerts();
    const again = run();
    assert.equal((await again.exit()).code, 2);
    assert.match(again.stderr, /holds the ledgers of a sandbox that stopped[\s\S]*npm start -- --recover[\s\S]*npm start -- --fresh/);
    assert.deepEqual(servicesCerts(), certs, "a refused start changes nothing");
  });

  it("--recover brings each service back from its ledger: new identities, two banks' shares, the demo data back, nothing proposed twice", async (t) => {
    const certs = servicesCerts();
    const again = run(["--recover"]);
    const seconds = await again.ready();
    const recovered = servicesCerts();
    assert.ok(recovered.every((cert, i) => cert !== certs[i]), "a recovered service has a new identity");
    assert.equal((again.stdout.match(/recovering: public state replayed to seqno \d+/g) ?? []).length, 2, again.stdout);
    assert.equal((again.stdout.match(/transition_service_to_open \(previous and next identity\): Accepted/g) ?? []).length, 2, again.stdout);
    assert.equal((again.stdout.match(/Bank A submitted its recovery share: 1\/2 recovery shares/g) ?? []).length, 2, again.stdout);
    assert.equal((again.stdout.match(/Bank B submitted its recovery share: 2\/2 recovery shares successfully submitted; End of recovery procedure initiated/g) ?? []).length, 2, again.stdout);
    assert.equal((again.stdout.match(/nothing to propose/g) ?? []).length, 2, again.stdout);
    assert.doesNotMatch(again.stdout, /made \d+ identities|ingested|accounts opened|set_user|set_js_app/);
    const reread = JSON.parse(readFileSync(join(root, "workspace", "sandbox.json"), "utf8")) as SandboxDescription;
    assert.deepEqual(reread.services.map((s) => s.url), description.services.map((s) => s.url));
    t.diagnostic(`ready in ${freshReadySeconds} s fresh, ${seconds} s recovered (as the sandbox reports them)`);
    // The demo data came back from the ledger: the printed lines give the same answers.
    for (const line of again.curlLines()) {
      const { status, body } = await runWithNode(line, root);
      assert.equal(status, 200, body);
      checkAnswer(shellWords(line).find((w) => w.startsWith("https://"))!, body);
    }

    // While it runs, its ports and its workspace are taken: clear errors, non-zero exits, nothing written.
    const other = join(root, "other");
    const portTaken = run(["--workspace", other]);
    assert.equal((await portTaken.exit()).code, 1);
    assert.match(portTaken.stderr, new RegExp(`error: port ${ports[0]} \\(the reconciliation service\\) is in use`));
    assert.ok(!existsSync(join(other, "keys")), "no keys made before the port check");
    const [spare1, spare2] = await freePorts(2);
    const workspaceTaken = run(["--port", String(spare1), "--banking-port", String(spare2), "--recover"]);
    assert.equal((await workspaceTaken.exit()).code, 1);
    assert.match(workspaceTaken.stderr, new RegExp(`is in use by a sandbox running as pid ${again.child.pid}`));

    assert.deepEqual(await again.interrupt(), { code: 0, signal: null }, again.stderr);
  });

  it("--fresh starts over with new services, leaving files it did not make", async () => {
    const before = servicesCerts();
    writeFileSync(join(root, "workspace", "notes.txt"), "mine\n");
    const restarted = run(["--fresh"]);
    await restarted.ready();
    assert.match(restarted.stdout, /\(new\)/);
    assert.match(restarted.stdout, /made 9 identities/);
    const after = servicesCerts();
    assert.ok(after.every((cert, i) => cert !== before[i]), "new service certificates");
    assert.deepEqual(await restarted.interrupt(), { code: 0, signal: null }, restarted.stderr);

    // --fresh deletes only what the sandbox made: other files in the workspace (confide-node's node0/, say) stay.
    assert.ok(existsSync(join(root, "workspace", "notes.txt")));
  });
});
