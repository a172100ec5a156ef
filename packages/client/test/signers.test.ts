// Pluggable governance signers: a member whose key is held by a key service
// (a local stand-in of Azure Key Vault's sign operation, over real HTTPS)
// acks, proposes, votes and dry-runs on a real node, which checks the COSE
// Sign1 signatures as CCF does; a signature by the wrong key is refused with
// CCF's 401 and changes nothing; a key service that refuses fails the call
// before anything reaches the node.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { CcfClientError, ConfideClient, KeyServiceError, Member, keyVaultSigner, type Identity } from "../src/index.ts";
import { confide } from "./helpers/run-confide.ts";
import { startKeyService, type KeyService } from "./helpers/key-service.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

const TOKEN = "test-bearer-token";

describe("a member signing through a key service", () => {
  let service: TestService;
  let keys: KeyService;
  let client: ConfideClient;
  const identity = (index: number): Identity => {
    const { files } = service.members[index]!;
    return { certPem: readFileSync(files.cert, "utf8"), keyPem: readFileSync(files.privateKey, "utf8") };
  };
  /** member `index`'s certificate, signing with the key service's key `keyName`. */
  const remote = (index: number, keyName: string, token = TOKEN) =>
    new Member(client, { certPem: identity(index).certPem, signer: keyVaultSigner({ keyUrl: `${keys.url}/keys/${keyName}/v1`, token: () => token, caCertPem: keys.caCertPem }) });

  before(async () => {
    service = await startTestService();
    // The service holds member0's key, and member2's under another name (the wrong key for member0).
    keys = await startKeyService({ member0: identity(0).keyPem, other: identity(2).keyPem }, TOKEN);
    client = new ConfideClient({ url: service.node.url, serviceCertPem: service.serviceCertPem });
  });

  after(async () => {
    client.close();
    await keys.close();
    await service.close();
  });

  it("acks, proposes, dry-runs and votes: the node accepts every signature", async () => {
    const member0 = remote(0, "member0");
    await member0.ackStateDigest();
    await new Member(client, identity(1)).ackStateDigest();
    assert.equal((await member0.members()).find((m) => m.memberId === member0.id)?.status, "Active");
    const actions = [{ name: "set_member_data", args: { member_id: member0.id, member_data: { signer: "key service" } } }];
    const dry = await member0.dryRun(actions);
    assert.equal(dry.validation.valid, true);
    const proposal = await member0.propose(actions);
    assert.equal(proposal.proposalState, "Open");
    assert.equal((await member0.vote(proposal.proposalId, true)).proposalState, "Open");
    assert.equal((await new Member(client, identity(1)).vote(proposal.proposalId, true)).proposalState, "Accepted");
    assert.deepEqual((await member0.members()).find((m) => m.memberId === member0.id)?.memberData, { signer: "key service" });
    // state digest + ack, dry-run, proposal, ballot: each signed by the service.
    assert.equal(keys.signed, 5);
  });

  it("a signature by the wrong key: CCF's 401, nothing proposed", async () => {
    const before = (await client.call("GET", "/gov/members/proposals?api-version=2024-07-01")).text;
    const impostor = remote(0, "other");
    await assert.rejects(impostor.propose([{ name: "trigger_snapshot" }]), (error: unknown) => {
      assert.ok(error instanceof CcfClientError);
      assert.equal(error.status, 401);
      assert.equal(error.code, "InvalidAuthenticationInfo");
      return true;
    });
    assert.equal((await client.call("GET", "/gov/members/proposals?api-version=2024-07-01")).text, before);
  });

  it("confide --key-url: the CLI signs through the key service (token from CONFIDE_KEY_TOKEN)", async () => {
    const caFile = join(service.dir, "key-service-ca.pem");
    writeFileSync(caFile, keys.caCertPem);
    const env = { CONFIDE_URL: service.node.url, CONFIDE_CACERT: service.serviceCertFile, CONFIDE_KEY_TOKEN: TOKEN };
    const args = ["propose", "--action", "trigger_snapshot", "--dry-run", "--cert", service.members[0]!.files.cert, "--key-cacert", caFile];
    const signed = keys.signed;
    const run = await confide([...args, "--key-url", `${keys.url}/keys/member0`], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^validate: valid$/m);
    assert.equal(keys.signed, signed + 1);
    const wrong = await confide([...args, "--key-url", `${keys.url}/keys/other`], env);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /error: 401 InvalidAuthenticationInfo/);
    const noToken = await confide([...args, "--key-url", `${keys.url}/keys/member0`], { CONFIDE_URL: service.node.url, CONFIDE_CACERT: service.serviceCertFile });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /CONFIDE_KEY_TOKEN/);
  });

  it("a key service that refuses (bad token, unknown key): the call fails with its error, the node sees nothing", async () => {
    const signed = keys.signed;
    await assert.rejects(remote(0, "member0", "expired").propose([{ name: "trigger_snapshot" }]), (error: unknown) => {
      assert.ok(error instanceof KeyServiceError);
      assert.equal(error.status, 401);
      assert.match(error.message, /refused to sign \(401\): Unauthorized: AKV10000/);
      return true;
    });
    await assert.rejects(remote(0, "missing").propose([{ name: "trigger_snapshot" }]), /KeyNotFound/);
    assert.equal(keys.signed, signed);
  });
});
