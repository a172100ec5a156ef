// The SDK against a real node over TLS: members ack and become Active
// (CCF's member lifecycle), an app is deployed and the service opened by
// proposals, set_user needs a majority of active members (2 of 3) before the
// user is let in, remove_user shuts them out again, a receipt for the user's
// write verifies against the service certificate, and refusals carry CCF's code.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  CcfClientError,
  ConfideClient,
  Member,
  deployApp,
  generateIdentity,
  loadBundle,
  openService,
  proposeAndAccept,
  ReceiptError,
  verifyCoseReceipt,
  verifyReceipt,
  type GeneratedIdentity,
  type Proposal,
} from "../src/index.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

describe("SDK governance and app flow", () => {
  let service: TestService;
  let client: ConfideClient;
  let members: Member[];
  let user: GeneratedIdentity;
  let userClient: ConfideClient;

  before(async () => {
    service = await startTestService();
    client = new ConfideClient({ url: service.node.url, serviceCertPem: service.serviceCertPem });
    members = service.members.map((identity) => new Member(client, identity));
    user = await generateIdentity("user0");
    userClient = new ConfideClient({ url: service.node.url, serviceCertPem: service.serviceCertPem, identity: user });
  });

  after(async () => {
    client.close();
    userClient.close();
    await service.close();
  });

  it("genesis members start Accepted and become Active when they ack the state digest", async () => {
    const before = await members[0]!.members();
    assert.deepEqual(before.map((m) => m.status), ["Accepted", "Accepted", "Accepted"]);
    for (const member of members) await member.ackStateDigest();
    const active = await members[0]!.members();
    assert.deepEqual(new Set(active.map((m) => m.memberId)), new Set(members.map((m) => m.id)));
    assert.ok(active.every((m) => m.status === "Active"));
  });

  it("deploys an app directory and opens the service", async () => {
    await deployApp(loadBundle(service.appDir), members.slice(0, 2));
    assert.equal((await members[0]!.serviceInfo()).status, "Opening");
    const opened = await openService(members.slice(0, 2));
    assert.equal(opened.proposalState, "Accepted");
    assert.equal((await members[0]!.serviceInfo()).status, "Open");
  });

  it("set_user takes 2 of 3 votes: Open and 401 after the first, Accepted and let in after the second", async () => {
    await assert.rejects(userClient.get("/whoami"), (error: unknown) => error instanceof CcfClientError && error.status === 401);
    const seen: Array<[string, Proposal["proposalState"]]> = [];
    const accepted = await proposeAndAccept([{ name: "set_user", args: { cert: user.certPem, user_data: { role: "tester" } } }], members.slice(0, 2), {
      onBallot: async (proposal, voter) => {
        seen.push([voter.id, proposal.proposalState]);
        if (proposal.proposalState === "Open") {
          await assert.rejects(userClient.get("/whoami"), (error: unknown) => error instanceof CcfClientError && error.status === 401 && error.code === "InvalidAuthenticationInfo");
        }
      },
    });
    assert.deepEqual(seen, [
      [members[0]!.id, "Open"],
      [members[1]!.id, "Accepted"],
    ]);
    assert.deepEqual(accepted.finalVotes, { [members[0]!.id]: true, [members[1]!.id]: true });
    assert.deepEqual((await userClient.get("/whoami")).json, { id: user.id });
    assert.deepEqual(await members[2]!.users(), [{ userId: user.id, certificate: user.certPem, userData: { role: "tester" } }]);
    const actions = await members[2]!.proposalActions(accepted.proposalId);
    assert.equal(actions.actions[0]?.name, "set_user");
  });

  it("gives a receipt for the user's write that verifies against the service certificate", async () => {
    const write = await userClient.put("/records/a", "hello");
    assert.equal(write.status, 204);
    assert.match(write.txId ?? "", /^\d+\.\d+$/);
    await userClient.waitForCommit(write.txId!, { timeoutMs: 10_000 });
    assert.equal(await userClient.txStatus(write.txId!), "Committed");
    const receipt = await userClient.receipt(write.txId!);
    assert.equal(verifyReceipt(receipt, service.serviceCertPem).length, 32);
    assert.match(await client.commit(), /^\d+\.\d+$/);
  });

  it("gives a COSE receipt that verifyCoseReceipt accepts, refuses when altered or malformed, and none for a signature transaction", async () => {
    const write = await userClient.put("/records/cose", "hello COSE");
    await userClient.waitForCommit(write.txId!, { timeoutMs: 10_000 });
    const cose = await userClient.coseReceipt(write.txId!);
    const verified = verifyCoseReceipt(cose, service.serviceCertPem);
    assert.deepEqual(verified.root, verifyReceipt(await userClient.receipt(write.txId!), service.serviceCertPem));
    const altered = Buffer.from(cose);
    altered[altered.length - 1]! ^= 1;
    assert.throws(() => verifyCoseReceipt(altered, service.serviceCertPem), (error: unknown) => error instanceof ReceiptError && /does not verify/.test(error.message));
    assert.throws(() => verifyCoseReceipt(Buffer.from("not cbor at all"), service.serviceCertPem), ReceiptError);
    // The signature that committed the write: CCF gives no COSE receipt for it.
    await assert.rejects(userClient.coseReceipt(verified.txId), (error: unknown) => error instanceof CcfClientError && error.status === 404 && error.code === "ResourceNotFound");
  });

  it("remove_user shuts the user out again", async () => {
    await proposeAndAccept([{ name: "remove_user", args: { user_id: user.id } }], members.slice(1));
    await assert.rejects(userClient.get("/whoami"), (error: unknown) => error instanceof CcfClientError && error.status === 401);
    assert.deepEqual(await members[0]!.users(), []);
  });

  it("a vote against and a withdrawal end proposals that are not accepted", async () => {
    const proposal = await members[0]!.propose([{ name: "set_member_data", args: { member_id: members[0]!.id, member_data: { x: 1 } } }]);
    assert.equal((await members[1]!.vote(proposal.proposalId, false)).proposalState, "Open");
    assert.equal((await members[0]!.withdraw(proposal.proposalId))?.proposalState, "Withdrawn");
    assert.equal((await members[2]!.proposal(proposal.proposalId)).proposalState, "Withdrawn");
  });

  it("throws CcfClientError with CCF's code when the service refuses", async () => {
    await assert.rejects(members[0]!.propose([{ name: "no_such_action", args: {} }]), (error: unknown) => {
      assert.ok(error instanceof CcfClientError);
      assert.equal(error.status, 400);
      assert.equal(error.code, "ProposalFailedToValidate");
      assert.match(error.message, /no_such_action/);
      return true;
    });
    await assert.rejects(members[0]!.proposal("00".repeat(32)), (error: unknown) => error instanceof CcfClientError && error.status === 404 && error.code === "ProposalNotFound");
  });

  it("reads the constitution and service info", async () => {
    assert.match(await members[0]!.constitution(), /export function validate/);
    const info = await members[0]!.serviceInfo();
    assert.equal(info.certificate, service.serviceCertPem);
  });
});
