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
  CoseReceiptError,
  verifyCoseReceipt,
  verifyReceipt,
  type GeneratedIdentity,
  type Proposal,
} from "../src/index.ts";
import { decodeCoseSign1, signCoseSign1, verifyCoseSign1, verifyReceipt as nodeVerifyReceipt, type Receipt } from "@confide/node";
import { ReceiptError, signGovRequest, govMessages, toHex } from "@confide/sdk";
import { pemSigner } from "../src/index.ts";
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
    assert.equal((await verifyReceipt(receipt, service.serviceCertPem)).root.length, 32);
    assert.match(await client.commit(), /^\d+\.\d+$/);
  });

  it("gives a COSE receipt that verifyCoseReceipt accepts, refuses when altered or malformed, and none for a signature transaction", async () => {
    const write = await userClient.put("/records/cose", "hello COSE");
    await userClient.waitForCommit(write.txId!, { timeoutMs: 10_000 });
    const cose = await userClient.coseReceipt(write.txId!);
    const verified = verifyCoseReceipt(cose, service.serviceCertPem);
    assert.deepEqual(new Uint8Array(verified.root), (await verifyReceipt(await userClient.receipt(write.txId!), service.serviceCertPem)).root);
    const altered = Buffer.from(cose);
    altered[altered.length - 1]! ^= 1;
    assert.throws(() => verifyCoseReceipt(altered, service.serviceCertPem), (error: unknown) => error instanceof CoseReceiptError && /does not verify/.test(error.message));
    assert.throws(() => verifyCoseReceipt(Buffer.from("not cbor at all"), service.serviceCertPem), CoseReceiptError);
    // The signature that committed the write: CCF gives no COSE receipt for it.
    await assert.rejects(userClient.coseReceipt(verified.txId), (error: unknown) => error instanceof CcfClientError && error.status === 404 && error.code === "ResourceNotFound");
  });

  it("the browser-safe verifier (WebCrypto) agrees with the node's on real receipts, and names the step a tampered one fails", async () => {
    const write = await userClient.put("/records/agree", "same root");
    await userClient.waitForCommit(write.txId!, { timeoutMs: 10_000 });
    const receipt = await userClient.receipt(write.txId!);
    const verified = await verifyReceipt(receipt, service.serviceCertPem);
    assert.equal(toHex(verified.root), nodeVerifyReceipt(receipt, service.serviceCertPem).toString("hex"));
    assert.deepEqual(verified.steps.map((s) => [s.name, s.ok]), [["leaf", true], ["proof", true], ["signature", true], ["certificate", true]]);
    // A signature transaction's receipt carries its leaf instead of its components.
    const signatureTx = verifyCoseReceipt(await userClient.coseReceipt(write.txId!), service.serviceCertPem).txId;
    const sigReceipt = await userClient.receipt(signatureTx);
    assert.equal(toHex((await verifyReceipt(sigReceipt, service.serviceCertPem)).root), nodeVerifyReceipt(sigReceipt, service.serviceCertPem).toString("hex"));

    const flip = (hex: string) => `${hex.slice(0, -1)}${hex.endsWith("0") ? "1" : "0"}`;
    const other = await generateIdentity("impostor");
    const tampered: Array<[string, Receipt, string]> = [
      ["write_set_digest", { ...receipt, leaf_components: { ...receipt.leaf_components!, write_set_digest: flip(receipt.leaf_components!.write_set_digest) } }, "signature"],
      ["commit_evidence", { ...receipt, leaf_components: { ...receipt.leaf_components!, commit_evidence: "ce:1.1:nothex" } }, "leaf"],
      ["proof", { ...receipt, proof: receipt.proof.map((step) => ("left" in step ? { left: flip(step.left) } : { right: flip(step.right) })) }, receipt.proof.length > 0 ? "signature" : "leaf"],
      ["signature", { ...receipt, signature: Buffer.from(Buffer.from(receipt.signature, "base64").map((b, i) => (i === 10 ? b ^ 1 : b))).toString("base64") }, "signature"],
      ["cert", { ...receipt, cert: other.certPem }, "signature"],
    ];
    for (const [what, bad, step] of tampered) {
      await assert.rejects(verifyReceipt(bad, service.serviceCertPem), (error: unknown) => error instanceof ReceiptError && error.step === step && error.steps.at(-1)?.ok === false, what);
      assert.throws(() => nodeVerifyReceipt(bad, service.serviceCertPem), Error, `the node's verifier accepts the tampered ${what}`);
    }
    // A receipt checked against another service's certificate fails at the certificate step.
    await assert.rejects(verifyReceipt(receipt, other.certPem), (error: unknown) => error instanceof ReceiptError && error.step === "certificate");
  });

  it("the SDK's COSE Sign1 governance envelope is the node's: same protected header bytes, and the node verifies its signature", async () => {
    const member = service.members[0]!;
    const message = { ...govMessages.proposal({ actions: [{ name: "set_constitution", args: { constitution: "x" } }] }), createdAt: 1_700_000_000 };
    const request = await signGovRequest(pemSigner(member.keyPem), members[0]!.id, message);
    assert.equal(request.path, "/gov/members/proposals:create?api-version=2024-07-01");
    const ours = decodeCoseSign1(request.body);
    const theirs = decodeCoseSign1(signCoseSign1({ privateKeyPem: member.keyPem, kid: members[0]!.id, headers: { "ccf.gov.msg.type": "proposal", "ccf.gov.msg.created_at": 1_700_000_000 }, payload: message.payload }));
    assert.ok(ours.tagged);
    assert.deepEqual(ours.protectedBytes, theirs.protectedBytes);
    assert.deepEqual(ours.payload, theirs.payload);
    assert.ok(verifyCoseSign1(ours, member.certPem));
    assert.ok(!verifyCoseSign1(ours, service.members[1]!.certPem));
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
