// CCF's classic /gov API (deprecated in 5.x, still served by 6.x), over real
// TLS with real member certificates and COSE Sign1 envelopes: a member gets
// its state digest by TLS client certificate and acks it, proposes, votes and
// withdraws on /gov/proposals, and reads proposals, members and the
// /gov/kv/... tables in CCF's snake_case shapes. The classic and the
// API-versioned routes write the same tables. Bad requests get CCF's errors
// and change nothing.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId } from "../src/crypto/keys.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { ACCEPT, API, GovMember, REJECT } from "./helpers/gov-member.ts";
import { HttpsClient, type Reply } from "./helpers/https-client.ts";
import { dataVersions } from "./helpers/store-versions.ts";

let dir: string;
let node: ServingNode;
let client: HttpsClient;
let members: GovMember[];
const clients: HttpsClient[] = [];

const COSE = { "content-type": "application/cose" };
const post = (path: string, envelope: Buffer): Promise<Reply> => client.post(path, envelope, COSE);
const propose = (member: GovMember, actions: unknown[]): Promise<Reply> => post("/gov/proposals", member.sign("proposal", { actions }));
const vote = (member: GovMember, proposalId: string, ballot = ACCEPT): Promise<Reply> =>
  post(`/gov/proposals/${proposalId}/ballots`, member.sign("ballot", { ballot }, { "ccf.gov.msg.proposal_id": proposalId }));

function clientAs(member: GovMember): HttpsClient {
  const c = new HttpsClient(node.url, node.core.identity.serviceCertPem, { certPem: member.certPem, keyPem: member.keyPem });
  clients.push(c);
  return c;
}

async function newUserCert(): Promise<string> {
  return (await createServiceIdentity()).certPem;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-classic-gov-"));
  members = await Promise.all([GovMember.create(), GovMember.create(), GovMember.create()]);
  node = await startNode({ dir, port: 0, members: members.map((m, i) => ({ certPem: m.certPem, data: { name: `m${i}` } })), signatureIntervalMs: 50 });
  client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
});

after(async () => {
  for (const c of [client, ...clients]) c.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the classic governance flow", () => {
  it("GET /gov/members: {member_id: {status, member_data, cert, public_encryption_key}}", async () => {
    const reply = await client.get("/gov/members");
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(Object.keys(reply.json).sort(), members.map((m) => m.id).sort());
    assert.deepEqual(reply.json[members[1]!.id], { status: "Accepted", member_data: { name: "m1" }, cert: members[1]!.certPem, public_encryption_key: null });
  });

  it("a member fetches its state digest by TLS client certificate (or signed request) and acks it: Active", async () => {
    const [first, second, third] = members as [GovMember, GovMember, GovMember];
    const digest = await clientAs(first).post("/gov/ack/update_state_digest");
    assert.equal(digest.status, 200, digest.text);
    assert.match(digest.json.state_digest, /^[0-9a-f]{64}$/);
    assert.deepEqual(Object.keys(digest.json), ["state_digest"]);
    const ack = await post("/gov/ack", first.sign("ack", digest.json));
    assert.equal(ack.status, 204, ack.text);
    // The same digest refresh, signed instead of by certificate.
    for (const member of [second, third]) {
      const signed = await post("/gov/ack/update_state_digest", member.sign("state_digest", ""));
      assert.equal(signed.status, 200, signed.text);
      assert.equal((await post("/gov/ack", member.sign("ack", signed.json))).status, 204);
    }
    const listed = await client.get("/gov/members");
    assert.deepEqual(members.map((m) => listed.json[m.id].status), ["Active", "Active", "Active"]);
    // The new API reads what the classic one wrote.
    assert.equal((await client.get(`/gov/service/members/${first.id}?${API}`)).json.status, "Active");
    const acks = await client.get("/gov/kv/members/acks");
    assert.equal(acks.json[first.id].state_digest, digest.json.state_digest);
    assert.ok(acks.json[first.id].cose_sign1, "the signed ack is kept");
  });

  it("propose and vote: the proposal is Accepted by a majority and applied; its state reads back in both APIs", async () => {
    const userCert = await newUserCert();
    const created = await propose(members[0]!, [{ name: "set_user", args: { cert: userCert, user_data: { desk: 7 } } }]);
    assert.equal(created.status, 200, created.text);
    const proposalId = created.json.proposal_id as string;
    assert.match(proposalId, /^[0-9a-f]{64}$/);
    assert.deepEqual(created.json, { proposal_id: proposalId, proposer_id: members[0]!.id, state: "Open", ballot_count: 0 });
    assert.equal((await client.get("/gov/proposals")).json[proposalId].state, "Open");

    const first = await vote(members[0]!, proposalId);
    assert.deepEqual(first.json, { proposal_id: proposalId, proposer_id: members[0]!.id, state: "Open", ballot_count: 1 });
    const second = await vote(members[1]!, proposalId);
    assert.equal(second.status, 200, second.text);
    assert.deepEqual(second.json, {
      proposal_id: proposalId,
      proposer_id: members[0]!.id,
      state: "Accepted",
      ballot_count: 2,
      votes: { [members[0]!.id]: true, [members[1]!.id]: true },
    });
    // Applied in the accepting transaction: the user is registered.
    const users = await client.get("/gov/kv/users/certs");
    assert.equal(users.json[certId(userCert)], userCert);
    assert.deepEqual((await client.get("/gov/kv/users/info")).json[certId(userCert)], { user_data: { desk: 7 } });

    const info = await client.get(`/gov/proposals/${proposalId}`);
    assert.deepEqual(info.json, {
      proposer_id: members[0]!.id,
      state: "Accepted",
      ballots: { [members[0]!.id]: ACCEPT, [members[1]!.id]: ACCEPT },
      final_votes: { [members[0]!.id]: true, [members[1]!.id]: true },
    });
    const actions = await client.get(`/gov/proposals/${proposalId}/actions`);
    assert.deepEqual(actions.json, { actions: [{ name: "set_user", args: { cert: userCert, user_data: { desk: 7 } } }] });
    assert.deepEqual((await client.get(`/gov/proposals/${proposalId}/ballots/${members[1]!.id}`)).json, { ballot: ACCEPT });
    assert.equal((await client.get(`/gov/members/proposals/${proposalId}?${API}`)).json.proposalState, "Accepted");
    // Only open proposals are listed.
    assert.equal((await client.get("/gov/proposals")).json[proposalId], undefined);
  });

  it("withdraw: the proposer withdraws an Open proposal", async () => {
    const created = await propose(members[2]!, [{ name: "set_user", args: { cert: await newUserCert() } }]);
    const proposalId = created.json.proposal_id as string;
    const withdrawn = await post(`/gov/proposals/${proposalId}/withdraw`, members[2]!.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": proposalId }));
    assert.equal(withdrawn.status, 200, withdrawn.text);
    assert.deepEqual(withdrawn.json, { proposer_id: members[2]!.id, state: "Withdrawn", ballots: {} });
    assert.equal((await client.get(`/gov/proposals/${proposalId}`)).json.state, "Withdrawn");
  });

  it("votes against leave a proposal Open (the default resolve never rejects); the tables read through /gov/kv", async () => {
    const created = await propose(members[0]!, [{ name: "set_user", args: { cert: await newUserCert() } }]);
    const proposalId = created.json.proposal_id as string;
    await vote(members[0]!, proposalId, REJECT);
    await vote(members[1]!, proposalId, REJECT);
    const last = await vote(members[2]!, proposalId, REJECT);
    assert.deepEqual(last.json, { proposal_id: proposalId, proposer_id: members[0]!.id, state: "Open", ballot_count: 3 });

    const constitution = await client.get("/gov/kv/constitution");
    assert.equal(typeof constitution.json, "string");
    assert.match(constitution.json, /export function resolve/);
    const serviceInfo = await client.get("/gov/kv/service/info");
    assert.equal(serviceInfo.json.status, "Opening");
    assert.equal(serviceInfo.json.cert, node.core.identity.serviceCertPem);
    // An unset value table is 204, as CCF's JSON adapter answers null.
    assert.equal((await client.get("/gov/kv/service/previous_service_identity")).status, 204);
    const proposals = await client.get("/gov/kv/proposals");
    assert.deepEqual(JSON.parse(Buffer.from(proposals.json[proposalId], "base64").toString("utf8")).actions[0].name, "set_user");
  });
});

describe("bad classic governance requests: CCF's error, and nothing stored", () => {
  const unchanged = async (action: () => Promise<Reply>, status: number, code: string, message?: RegExp): Promise<void> => {
    const before = dataVersions(node.core.history.store);
    const reply = await action();
    assert.equal(reply.status, status, reply.text);
    assert.equal(reply.json.error.code, code, reply.text);
    if (message) assert.match(reply.json.error.message, message);
    assert.equal(dataVersions(node.core.history.store), before);
  };

  it("an Accepted (not yet Active) member cannot propose: 403", async () => {
    const newcomer = await GovMember.create();
    const added = await propose(members[0]!, [{ name: "set_member", args: { cert: newcomer.certPem } }]);
    const proposalId = added.json.proposal_id as string;
    await vote(members[0]!, proposalId);
    assert.equal((await vote(members[1]!, proposalId)).json.state, "Accepted");
    await unchanged(() => propose(newcomer, [{ name: "set_user", args: { cert: members[0]!.certPem } }]), 403, "AuthorizationFailed", /is not active/);
    // A wrong digest does not activate it.
    await unchanged(() => post("/gov/ack", newcomer.sign("ack", { state_digest: "00".repeat(32) + "ff" })), 400, "StateDigestMismatch");
    assert.equal((await client.get("/gov/members")).json[newcomer.id].status, "Accepted");
  });

  it("no member certificate and no signature; a wrong message type", async () => {
    await unchanged(() => client.post("/gov/ack/update_state_digest"), 401, "InvalidAuthenticationInfo");
    await unchanged(() => post("/gov/proposals", members[0]!.sign("ballot", { actions: [] })), 401, "InvalidAuthenticationInfo", /proposal/);
  });

  it("ballots: a proposal id that does not match the URL, an unknown proposal, a second vote", async () => {
    const created = await propose(members[0]!, [{ name: "set_user", args: { cert: await newUserCert() } }]);
    const proposalId = created.json.proposal_id as string;
    const other = "ab".repeat(32);
    await unchanged(
      () => post(`/gov/proposals/${proposalId}/ballots`, members[1]!.sign("ballot", { ballot: ACCEPT }, { "ccf.gov.msg.proposal_id": other })),
      400,
      "InvalidResourceName",
      /does not match URL/,
    );
    await unchanged(() => vote(members[1]!, other), 404, "ProposalNotFound");
    assert.equal((await vote(members[1]!, proposalId)).status, 200);
    await unchanged(() => vote(members[1]!, proposalId), 400, "VoteAlreadyExists");
    await unchanged(() => post(`/gov/proposals/${other}/withdraw`, members[0]!.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": other })), 400, "ProposalNotFound");
    await unchanged(
      () => post(`/gov/proposals/${proposalId}/withdraw`, members[1]!.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": proposalId })),
      403,
      "AuthorizationFailed",
      /can only be withdrawn by proposer/,
    );
    await unchanged(() => client.get(`/gov/proposals/${other}`), 404, "ProposalNotFound");
    await unchanged(() => client.get(`/gov/proposals/${proposalId}/ballots/${members[2]!.id}`), 404, "VoteNotFound");
  });

  it("a proposal that fails validation, a replayed one, and one whose apply() fails (500, discarded)", async () => {
    await unchanged(() => propose(members[0]!, [{ name: "no_such_action", args: {} }]), 400, "ProposalFailedToValidate");
    const envelope = members[0]!.sign("proposal", { actions: [{ name: "set_user", args: { cert: await newUserCert() } }] });
    assert.equal((await post("/gov/proposals", envelope)).status, 200);
    await unchanged(() => post("/gov/proposals", envelope), 400, "ProposalReplay");
    // Accepted by the second vote, but apply() throws (no such member): the classic API discards
    // the transaction and answers 500, so the ballot is not stored and the proposal stays Open.
    const failing = await propose(members[0]!, [{ name: "set_member_data", args: { member_id: "cd".repeat(32), member_data: {} } }]);
    const proposalId = failing.json.proposal_id as string;
    assert.equal((await vote(members[0]!, proposalId)).json.state, "Open");
    await unchanged(() => vote(members[1]!, proposalId), 500, "InternalError", /does not exist/);
    const after = await client.get(`/gov/proposals/${proposalId}`);
    assert.equal(after.json.state, "Open");
    assert.deepEqual(Object.keys(after.json.ballots), [members[0]!.id]);
  });

  it("recovery routes answer as a service that holds no shares and is not recovering", async () => {
    await unchanged(() => client.get(`/gov/encrypted_recovery_share/${members[0]!.id}`), 404, "ResourceNotFound", /Recovery share not found/);
    await unchanged(() => clientAs(members[0]!).get("/gov/recovery_share"), 404, "ResourceNotFound");
    await unchanged(() => clientAs(members[0]!).post("/gov/recovery_share", { share: "AAAA" }), 403, "ServiceNotWaitingForRecoveryShares");
  });
});
