// The governance scripts of microsoft/ccf-app-samples work against a Confide
// node as written: setup_governance.sh (which calls add_member.sh,
// add_user.sh and submit_proposal.sh) activates member0, adds a member and two
// users, opens the service and deploys an app; demo_governance.sh adds two
// users with the votes of two other members. They speak CCF's classic /gov
// API through curl and jq, signing with ccf_cose_sign1. The scripts are copied
// verbatim in fixtures/ccf-app-samples (SOURCE.md says from where, and what the
// machine provides in place of CCF's install: our ccf_cose_sign1 and
// keygenerator.sh bins); this test runs them with bash as child processes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { certId } from "../src/crypto/keys.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { SENTINEL_KEY, Tables, idKey } from "../src/tables.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient } from "./helpers/https-client.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/ccf-app-samples/", import.meta.url));
const CLIENT_BIN = fileURLToPath(new URL("../../client/bin/", import.meta.url));
/** demo_governance.sh has the sandbox's address written in. */
const DEMO_PORT = 8000;
/** A script makes a dozen signed requests, each a `ccf_cose_sign1` start (~0.5 s), and RSA keys. */
const SCRIPT_TIMEOUT_MS = 120_000;

let work: string;
/** A directory for PATH with ccf_cose_sign1 and keygenerator.sh, and the BASH_ENV file. */
let tools: string;
let bashEnv: string;

function writeExecutable(path: string, text: string): void {
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

before(() => {
  work = mkdtempSync(join(tmpdir(), "confide-ccf-app-samples-"));
  tools = join(work, "tools");
  mkdirSync(tools);
  symlinkSync(join(CLIENT_BIN, "ccf_cose_sign1.js"), join(tools, "ccf_cose_sign1"));
  symlinkSync(join(CLIENT_BIN, "keygenerator.js"), join(tools, "keygenerator.sh"));
  bashEnv = join(tools, "ccf-install.bash");
  // bash reads BASH_ENV before each script: the CCF install tool the scripts call by absolute path.
  writeFileSync(bashEnv, 'function /opt/ccf_virtual/bin/keygenerator.sh { keygenerator.sh "$@"; }\n');
});

after(() => rmSync(work, { recursive: true, force: true }));

/** Runs `script` with bash in `cwd`; resolves with its exit code and output. */
function runScript(script: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [script, ...args], {
      cwd,
      env: { ...process.env, PATH: `${tools}:${process.env.PATH ?? ""}`, BASH_ENV: bashEnv },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), SCRIPT_TIMEOUT_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function writeIdentity(dir: string, name: string, member: GovMember): void {
  writeFileSync(join(dir, `${name}_cert.pem`), member.certPem);
  writeFileSync(join(dir, `${name}_privk.pem`), member.keyPem, { mode: 0o600 });
}

const helloBundle = {
  metadata: {
    endpoints: {
      "/hello": { get: { js_module: "app.js", js_function: "hello", authn_policies: ["user_cert"], mode: "readonly", forwarding_required: "sometimes" } },
    },
  },
  modules: [{ name: "app.js", module: 'export function hello(request) { return { body: "hello " + request.caller.id }; }' }],
};

function tableValue(node: ServingNode, table: string, key: Buffer): string | undefined {
  return node.core.history.store.beginReadOnly().map(table).get(key)?.toString("utf8");
}

describe("banking-app/governance/scripts/setup_governance.sh", () => {
  let node: ServingNode;
  let member0: GovMember;
  before(async () => {
    member0 = await GovMember.create();
    node = await startNode({ dir: join(work, "setup-node"), port: 0, members: [{ certPem: member0.certPem }], signatureIntervalMs: 50 });
  });
  after(() => node.close());

  it("activates member0, adds member1, user0 and user1, opens the service and deploys the app", async () => {
    const root = join(work, "samples");
    cpSync(FIXTURES, root, { recursive: true });
    const app = join(root, "banking-app");
    const certs = join(root, "certs");
    mkdirSync(certs);
    writeFileSync(join(certs, "service_cert.pem"), node.core.identity.serviceCertPem);
    writeIdentity(certs, "member0", member0);
    mkdirSync(join(app, "dist"));
    writeFileSync(join(app, "dist", "set_js_app.json"), JSON.stringify({ actions: [{ name: "set_js_app", args: { bundle: helloBundle } }] }));
    // The python venv the script activates: here its bin (pip) and our ccf_cose_sign1 go on PATH.
    mkdirSync(join(app, "env", "bin"), { recursive: true });
    writeFileSync(join(app, "env", "bin", "activate"), `export PATH="${join(app, "env", "bin")}:${tools}:$PATH"\n`);
    writeExecutable(join(app, "env", "bin", "pip"), "#!/bin/sh\n# The ccf python package is not needed: ccf_cose_sign1 comes from @confide/client.\nexit 0\n");

    const port = new URL(node.url).port;
    const run = await runScript(join(app, "governance", "scripts", "setup_governance.sh"), ["--nodeAddress", `127.0.0.1:${port}`, "--certificate_dir", certs], app);
    assert.equal(run.code, 0, run.output);

    const info = (id: string) => JSON.parse(tableValue(node, Tables.membersInfo, idKey(id)) ?? "null") as { status: string } | null;
    assert.equal(info(member0.id)?.status, "Active", run.output);
    const member1 = certId(readFileSync(join(certs, "member1_cert.pem"), "utf8"));
    assert.equal(info(member1)?.status, "Accepted", run.output);
    assert.equal(tableValue(node, Tables.membersEncryptionKeys, idKey(member1)), readFileSync(join(certs, "member1_enc_pubk.pem"), "utf8"));
    for (const user of ["user0", "user1"]) {
      const certPem = readFileSync(join(certs, `${user}_cert.pem`), "utf8");
      assert.ok(tableValue(node, Tables.usersCerts, idKey(certId(certPem))), `${user} is registered\n${run.output}`);
    }
    assert.equal(JSON.parse(tableValue(node, Tables.serviceInfo, SENTINEL_KEY)!).status, "Open", run.output);
    // The deployed app serves user0.
    const user0 = { certPem: readFileSync(join(certs, "user0_cert.pem"), "utf8"), keyPem: readFileSync(join(certs, "user0_privk.pem"), "utf8") };
    const client = new HttpsClient(node.url, node.core.identity.serviceCertPem, user0);
    try {
      const hello = await client.get("/app/hello");
      assert.equal(hello.status, 200, hello.text);
      assert.equal(hello.text, `hello ${certId(user0.certPem)}`);
    } finally {
      client.close();
    }
  });
});

describe("banking-app/scripts/demo_governance.sh", () => {
  let node: ServingNode;
  let members: GovMember[];
  before(async () => {
    members = await Promise.all([GovMember.create(), GovMember.create(), GovMember.create()]);
    try {
      node = await startNode({ dir: join(work, "demo-node"), port: DEMO_PORT, members: members.map((m) => ({ certPem: m.certPem })), signatureIntervalMs: 50 });
    } catch (error) {
      // The script has the address written in: the test cannot run elsewhere, so it fails, saying why.
      if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") {
        throw new Error(`port ${DEMO_PORT}, which demo_governance.sh has written in, is in use: stop what listens there (a sandbox?) and run again`);
      }
      throw error;
    }
    const client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
    try {
      for (const member of members) await member.activate(client);
    } finally {
      client.close();
    }
  });
  after(() => node?.close());

  it("member0 proposes user0 and user1, member1 and member2 vote them in", async () => {
    // The script runs in the sandbox's workspace/sandbox_common, with the votes two levels up.
    const workspace = join(work, "demo", "workspace", "sandbox_common");
    mkdirSync(workspace, { recursive: true });
    cpSync(join(FIXTURES, "banking-app", "vote"), join(work, "demo", "vote"), { recursive: true });
    writeFileSync(join(workspace, "service_cert.pem"), node.core.identity.serviceCertPem);
    members.forEach((member, i) => writeIdentity(workspace, `member${i}`, member));

    const run = await runScript(join(FIXTURES, "banking-app", "scripts", "demo_governance.sh"), [], workspace);
    assert.equal(run.code, 0, run.output);
    for (const user of ["user0", "user1"]) {
      const certPem = readFileSync(join(workspace, `${user}_cert.pem`), "utf8");
      assert.ok(tableValue(node, Tables.usersCerts, idKey(certId(certPem))), `${user} is registered\n${run.output}`);
    }
    assert.match(run.output, /"state": "Accepted"/);
    assert.match(run.output, /ccf-6\.0\.1/);
  });
});
