// The confide CLI as real child processes against a real node: keygen, ack,
// deploy, open, propose/vote (CCF's set_user flow), proposals --json,
// receipt --verify (JSON and --cose); --help on every command; exit code 2 for usage errors and
// 1 with CCF's error code when the service refuses.
import assert from "node:assert/strict";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfideClient, loadBundle, readIdentity, verifyCoseReceipt, type DryRun, type Proposal } from "../src/index.ts";
import { confide } from "./helpers/run-confide.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

const COMMANDS = ["keygen", "ack", "propose", "vote", "withdraw", "proposals", "members", "users", "deploy", "open", "node", "receipt"];

describe("confide CLI", () => {
  let service: TestService;
  let env: Record<string, string>;
  const as = (index: number) => {
    const { files } = service.members[index]!;
    return ["--cert", files.cert, "--key", files.privateKey];
  };
  const voter = (index: number) => {
    const { files } = service.members[index]!;
    return ["--voter", `${files.cert},${files.privateKey}`];
  };

  before(async () => {
    service = await startTestService();
    env = { CONFIDE_URL: service.node.url, CONFIDE_CACERT: service.serviceCertFile };
  });

  after(async () => {
    await service.close();
  });

  it("--help works for every command", async () => {
    const runs = await Promise.all([confide(["--help"]), ...COMMANDS.map((command) => confide([command, "--help"]))]);
    for (const [i, run] of runs.entries()) {
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, i === 0 ? /Usage: confide \[options\] \[command\]/ : new RegExp(`Usage: confide ${COMMANDS[i - 1]}`));
    }
  });

  it("keygen writes a certificate and a 0600 private key", async () => {
    const run = await confide(["keygen", "--name", "user0", "--out", join(service.dir, "cli-keys"), "--json"]);
    assert.equal(run.code, 0, run.stderr);
    const made = JSON.parse(run.stdout) as { id: string; files: { cert: string; privateKey: string } };
    assert.match(made.id, /^[0-9a-f]{64}$/);
    assert.equal(statSync(made.files.privateKey).mode & 0o777, 0o600);
    assert.equal(made.files.cert, join(service.dir, "cli-keys", "user0_cert.pem"));
  });

  it("ack makes members Active", async () => {
    for (const index of [0, 1]) {
      const run = await confide(["ack", ...as(index)], env);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`member ${service.members[index]!.id} is Active`));
    }
    const members = await confide(["members", "--json"], env);
    assert.deepEqual((JSON.parse(members.stdout) as Array<{ status: string }>).map((m) => m.status).sort(), ["Accepted", "Active", "Active"]);
  });

  it("deploy of an app directory and open, each with a second voter", async () => {
    const deploy = await confide(["deploy", service.appDir, ...as(0), ...voter(1)], env);
    assert.equal(deploy.code, 0, deploy.stderr);
    assert.match(deploy.stdout, /deployed .*: proposal [0-9a-f]{64}: Accepted/);
    const open = await confide(["open", ...as(0), ...voter(1), "--json"], env);
    assert.equal(open.code, 0, open.stderr);
    assert.equal((JSON.parse(open.stdout) as Proposal).proposalState, "Accepted");
  });

  it("propose --dry-run: prints validate, the endpoint diff and the KV diff of a set_js_app; proposes nothing; exit 1 if it would fail", async () => {
    const bundle = loadBundle(service.appDir);
    const whoami = bundle.metadata.endpoints["/whoami"]!.get!;
    bundle.metadata.endpoints["/whoami"] = { get: { ...whoami, authn_policies: ["jwt"] } };
    bundle.metadata.endpoints["/status"] = { get: { ...whoami, js_function: "whoami" } };
    const file = join(service.dir, "app-v2.json");
    writeFileSync(file, JSON.stringify({ actions: [{ name: "set_js_app", args: { bundle } }] }));
    const before = await confide(["proposals", "--json"], env);
    const run = await confide(["propose", file, "--dry-run", ...as(0)], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^dry run of proposal [0-9a-f]{64} by [0-9a-f]{64} \(nothing was kept\)$/m);
    assert.match(run.stdout, /^validate: valid$/m);
    assert.match(run.stdout, /^create would leave it Open$/m);
    assert.match(run.stdout, /^  \+ GET \/status  \["user_cert"\] readonly$/m);
    assert.match(run.stdout, /^  ~ GET \/whoami  authn_policies \["user_cert"\] -> \["jwt"\]$/m);
    assert.match(run.stdout, /^  \+ public:ccf.gov.endpoints  GET \/status  = \{/m);
    assert.deepEqual((await confide(["proposals", "--json"], env)).stdout, before.stdout);

    const json = await confide(["propose", "--action", "set_user", "--args", JSON.stringify({ cert: service.members[2]!.certPem }), "--dry-run", "--json", ...as(0)], env);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as DryRun;
    assert.equal(parsed.validation.valid, true);
    assert.deepEqual(parsed.apply && "writes" in parsed.apply ? parsed.apply.writes.map((w) => [w.table, w.change]) : [], [["public:ccf.gov.users.certs", "added"]]);

    const refused = await confide(["propose", "--action", "no_such_action", "--dry-run", ...as(0)], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /^validate: invalid: .*no_such_action/m);
    assert.match(refused.stdout, /^create would be refused: ProposalFailedToValidate/m);
  });

  it("propose --action set_user, vote --accept twice, proposals --json; the user's write has a receipt that verifies", async () => {
    const user = readIdentity(join(service.dir, "cli-keys", "user0_cert.pem"), join(service.dir, "cli-keys", "user0_privk.pem"));
    const propose = await confide(["propose", "--action", "set_user", "--args", JSON.stringify({ cert: user.certPem }), ...as(0), "--json"], env);
    assert.equal(propose.code, 0, propose.stderr);
    const { proposalId } = JSON.parse(propose.stdout) as Proposal;

    const first = await confide(["vote", proposalId, "--accept", ...as(0)], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /: Open, 1 ballot/);
    const second = await confide(["vote", proposalId, "--accept", ...as(1)], env);
    assert.match(second.stdout, /: Accepted, 2 ballot/);

    const list = await confide(["proposals", "--json"], env);
    assert.equal(list.code, 0, list.stderr);
    const proposals = JSON.parse(list.stdout) as Proposal[];
    assert.equal(proposals.find((p) => p.proposalId === proposalId)?.proposalState, "Accepted");

    const userClient = new ConfideClient({ url: service.node.url, serviceCertPem: service.serviceCertPem, identity: user });
    const write = await userClient.put("/records/cli", "from the CLI test").finally(() => userClient.close());
    const receipt = await confide(["receipt", write.txId!, "--verify"], env);
    assert.equal(receipt.code, 0, receipt.stderr);
    assert.match(receipt.stdout, new RegExp(`receipt for ${write.txId!.replace(".", "\\.")} verified against the service certificate`));
    const json = await confide(["receipt", write.txId!, "--verify", "--json"], env);
    assert.equal((JSON.parse(json.stdout) as { verified: boolean }).verified, true);

    const out = join(service.dir, "receipt.cose");
    const cose = await confide(["receipt", write.txId!, "--cose", "--verify", "--out", out], env);
    assert.equal(cose.code, 0, cose.stderr);
    assert.match(cose.stdout, new RegExp(`COSE receipt for ${write.txId!.replace(".", "\\.")} verified against the service certificate`));
    assert.deepEqual(verifyCoseReceipt(readFileSync(out), service.serviceCertPem).root.toString("hex"), (JSON.parse(json.stdout) as { root: string }).root);
    const coseJson = await confide(["receipt", write.txId!, "--cose", "--verify", "--json"], env);
    const parsed = JSON.parse(coseJson.stdout) as { verified: boolean; coseReceipt: string; signedAt: string };
    assert.equal(parsed.verified, true);
    assert.ok(Buffer.from(parsed.coseReceipt, "base64").equals(readFileSync(out)));
    const signature = await confide(["receipt", parsed.signedAt, "--cose"], env);
    assert.equal(signature.code, 1);
    assert.match(signature.stderr, /404 ResourceNotFound: .*signature transaction/);
  });

  it("exits 2 on usage errors", async () => {
    const runs = await Promise.all([
      confide(["vote", "abc", "--accept", "--reject", ...as(0)], env),
      confide(["proposals", "--no-such-flag"], env),
      confide(["propose", join(service.dir, "missing.json"), ...as(0)], env),
      confide(["proposals"], { CONFIDE_URL: service.node.url }),
      confide(["deploy", join(service.dir, "missing-app"), ...as(0)], env),
      confide(["nonsense"]),
    ]);
    for (const run of runs) {
      assert.equal(run.code, 2, `${run.stdout}${run.stderr}`);
      assert.match(run.stderr, /error/);
    }
  });

  it("exits 1 with CCF's code when the service refuses", async () => {
    const run = await confide(["propose", "--action", "no_such_action", "--args", "{}", ...as(0)], env);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: 400 ProposalFailedToValidate: .*no_such_action/);
    // member2 never acked: not Active, so may not propose.
    const inactive = await confide(["propose", "--action", "trigger_snapshot", ...as(2)], env);
    assert.equal(inactive.code, 1);
    assert.match(inactive.stderr, /401 InvalidAuthenticationInfo/);
  });
});
