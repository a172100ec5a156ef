// Governance dry-run (Confide's extension to CCF's /gov API): a signed
// proposal, the body of :create, answered with validate()'s result, what
// :create would say, and apply()'s KV and endpoint diff, over real TLS
// against a real node; nothing is kept: no ledger entry, no table changes,
// and the same envelope can then be proposed for real.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaultConstitution } from "@confide/governance";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId } from "../src/crypto/keys.ts";
import { endpointDiff, kvDiff } from "../src/governance/dry-run.ts";
import { Store } from "../src/kv/store.ts";
import { seqNo } from "../src/ids.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import type { Bundle, EndpointProperties } from "../src/runtime/bundle.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient, type Reply } from "./helpers/https-client.ts";
import { dataVersions } from "./helpers/store-versions.ts";

const DRY_RUN = "/gov/members/proposals:dry-run";

const endpoint = (fn: string, extra: Partial<EndpointProperties> = {}): EndpointProperties => ({
  js_module: "app.js",
  js_function: fn,
  authn_policies: ["user_cert"],
  mode: "readonly",
  forwarding_required: "sometimes",
  ...extra,
});

const bundle = (endpoints: Bundle["metadata"]["endpoints"]): Bundle => ({
  metadata: { endpoints },
  modules: [{ name: "app.js", module: "export function a() { return { body: 'a' }; }\nexport function b() { return { body: 'b' }; }\nexport function c() { return { body: 'c' }; }" }],
});

let dir: string;
let node: ServingNode;
let client: HttpsClient;
let members: GovMember[];

/** The node's ledger and stored state, to compare before and after a dry-run. */
const snapshot = () => ({ seqno: node.core.history.lastSeqno, data: dataVersions(node.core.history.store) });

/** Dry-runs `envelope`, checking it leaves the ledger and every table as they were. */
async function dryRun(envelope: Buffer): Promise<Reply> {
  const before = snapshot();
  const reply = await GovMember.post(client, DRY_RUN, envelope);
  assert.deepEqual(snapshot(), before, "a dry-run wrote something");
  return reply;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-dry-run-"));
  members = await Promise.all([GovMember.create(), GovMember.create()]);
  node = await startNode({ dir, port: 0, members: members.map((m) => ({ certPem: m.certPem })), signatureIntervalMs: 3_600_000, signatureIntervalTx: 1_000_000 });
  client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
  for (const member of members) await member.activate(client);
  // App v1, deployed for real (both members vote): the dry-runs below change it.
  const v1 = bundle({ "/a": { get: endpoint("a") }, "/b": { get: endpoint("b") } });
  const created = await members[0]!.propose(client, [{ name: "set_js_app", args: { bundle: v1 } }]);
  await members[0]!.vote(client, created.json.proposalId);
  const voted = await members[1]!.vote(client, created.json.proposalId);
  assert.equal(voted.json.proposalState, "Accepted", voted.text);
});

after(async () => {
  client.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("POST /gov/members/proposals:dry-run", () => {
  it("set_user: valid, :create would leave it Open, and apply() adds the user's cert and info", async () => {
    const { certPem } = await createServiceIdentity();
    const reply = await dryRun(members[0]!.sign("proposal", { actions: [{ name: "set_user", args: { cert: certPem, user_data: { role: "auditor" } } }] }));
    assert.equal(reply.status, 200, reply.text);
    const result = reply.json;
    assert.equal(result.proposerId, members[0]!.id);
    assert.deepEqual(result.validation, { valid: true, description: "" });
    assert.equal(result.create.proposal.proposalState, "Open");
    assert.equal(result.create.proposal.proposalId, result.proposalId);
    const userId = certId(certPem);
    assert.deepEqual(
      result.apply.writes.map((w: { table: string; key: string; change: string }) => [w.table, w.key, w.change]),
      [
        ["public:ccf.gov.users.certs", userId, "added"],
        ["public:ccf.gov.users.info", userId, "added"],
      ],
    );
    assert.deepEqual(result.apply.writes[1].after, { json: { user_data: { role: "auditor" } } });
    assert.equal(result.apply.writes[0].before, undefined);
    assert.deepEqual(result.apply.endpoints, { added: [], removed: [], changed: [] });
    assert.equal((await client.get(`/gov/service/users/${userId}?api-version=2024-07-01`)).status, 404);
  });

  it("set_js_app: the endpoints added, removed and changed (method, path, auth policies, mode); unchanged ones are left out", async () => {
    const v2 = bundle({ "/a": { get: endpoint("a") }, "/b": { get: endpoint("b", { authn_policies: ["jwt", "user_cert"], mode: "readwrite" }) }, "/c": { post: endpoint("c") } });
    const reply = await dryRun(members[0]!.sign("proposal", { actions: [{ name: "set_js_app", args: { bundle: v2 } }] }));
    assert.equal(reply.status, 200, reply.text);
    const { endpoints, writes } = reply.json.apply;
    assert.deepEqual(endpoints.added, [{ method: "POST", path: "/c", authn_policies: ["user_cert"], mode: "readonly" }]);
    assert.deepEqual(endpoints.removed, []);
    assert.deepEqual(endpoints.changed, [
      { method: "GET", path: "/b", fields: { authn_policies: { before: ["user_cert"], after: ["jwt", "user_cert"] }, mode: { before: "readonly", after: "readwrite" } } },
    ]);
    const tables = new Set(writes.map((w: { table: string }) => w.table));
    assert.ok(tables.has("public:ccf.gov.endpoints"));
    // The module's source is the same as v1's, and GET /a is untouched: neither is in the diff.
    assert.ok(!tables.has("public:ccf.gov.modules"), JSON.stringify([...tables]));
    assert.ok(!writes.some((w: { key: string }) => w.key === "GET /a"));

    const removing = await dryRun(members[0]!.sign("proposal", { actions: [{ name: "remove_js_app" }] }));
    assert.deepEqual(removing.json.apply.endpoints.removed.map((e: { method: string; path: string }) => `${e.method} ${e.path}`), ["GET /a", "GET /b"]);
    const gone = removing.json.apply.writes.find((w: { table: string }) => w.table === "public:ccf.gov.modules");
    assert.equal(gone.change, "removed");
    assert.equal(gone.key, "/app.js");
    assert.match(gone.before.text, /export function a/);
  });

  it("a proposal whose apply() throws: valid, and the failure; nothing is written", async () => {
    const { certPem: otherService } = await createServiceIdentity();
    const reply = await dryRun(members[0]!.sign("proposal", { actions: [{ name: "transition_service_to_open", args: { next_service_identity: otherService } }] }));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.validation.valid, true);
    assert.match(reply.json.apply.failure.reason, /not this service's certificate/);
    assert.equal(reply.json.apply.writes, undefined);
  });

  it("a proposal validate() refuses: the reason, :create's error, no apply", async () => {
    const reply = await dryRun(members[0]!.sign("proposal", { actions: [{ name: "no_such_action" }] }));
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.json.validation.valid, false);
    assert.match(reply.json.validation.description, /no_such_action/);
    assert.equal(reply.json.create.error.code, "ProposalFailedToValidate");
    assert.equal(reply.json.apply, undefined);
  });

  it("records nothing: the same envelope is then accepted by :create, with the id the dry-run gave", async () => {
    const { certPem } = await createServiceIdentity();
    const envelope = members[1]!.sign("proposal", { actions: [{ name: "set_user", args: { cert: certPem } }] });
    const dry = await dryRun(envelope);
    const created = await GovMember.post(client, "/gov/members/proposals:create", envelope);
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json.proposalId, dry.json.proposalId);
    await GovMember.post(client, `/gov/members/proposals/${created.json.proposalId}:withdraw`, members[1]!.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": created.json.proposalId }));
  });

  it("is authenticated as :create is: CCF's errors for a stranger, a wrong message type, an unknown api-version", async () => {
    const stranger = await GovMember.create();
    const proposal = { actions: [{ name: "set_user", args: { cert: stranger.certPem } }] };
    const unknown = await dryRun(stranger.sign("proposal", proposal));
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.error.code, "InvalidAuthenticationInfo");
    assert.match(JSON.stringify(unknown.json.error), /Signer is not a known member/);
    const ballot = await dryRun(members[0]!.sign("ballot", proposal));
    assert.equal(ballot.status, 401);
    assert.match(JSON.stringify(ballot.json.error), /expected ccf.gov.msg.type to be proposal/);
    const version = await client.post(`${DRY_RUN}?api-version=1999-01-01`, members[0]!.sign("proposal", proposal), { "content-type": "application/cose" });
    assert.equal(version.status, 400);
    assert.equal(version.json.error.code, "UnsupportedApiVersionValue");
  });
});

/** A constitution that accepts every valid proposal when it is created. */
const ACCEPT_AT_ONCE = defaultConstitution().replace(/export function resolve\([\s\S]*?\n}\n/, 'export function resolve() { return "Accepted"; }\n');

describe("dry-run under a constitution that accepts at once", () => {
  it("says :create would leave it Accepted, or Failed when its apply() throws; keeps nothing", async () => {
    const soloDir = mkdtempSync(join(tmpdir(), "confide-dry-run-solo-"));
    const solo = await GovMember.create();
    const soloNode = await startNode({ dir: soloDir, port: 0, members: [{ certPem: solo.certPem }], constitution: ACCEPT_AT_ONCE, signatureIntervalMs: 3_600_000, signatureIntervalTx: 1_000_000 });
    const soloClient = new HttpsClient(soloNode.url, soloNode.core.identity.serviceCertPem);
    try {
      await solo.activate(soloClient);
      const before = { seqno: soloNode.core.history.lastSeqno, data: dataVersions(soloNode.core.history.store) };
      const { certPem } = await createServiceIdentity();
      const accepted = await GovMember.post(soloClient, DRY_RUN, solo.sign("proposal", { actions: [{ name: "set_user", args: { cert: certPem } }] }));
      assert.equal(accepted.json.create.proposal.proposalState, "Accepted", accepted.text);
      const failing = await GovMember.post(soloClient, DRY_RUN, solo.sign("proposal", { actions: [{ name: "transition_service_to_open", args: { next_service_identity: certPem } }] }));
      assert.equal(failing.json.create.proposal.proposalState, "Failed", failing.text);
      assert.equal(failing.json.create.proposal.proposalId, failing.json.proposalId);
      assert.match(failing.json.create.proposal.failure.reason, /not this service's certificate/);
      assert.deepEqual({ seqno: soloNode.core.history.lastSeqno, data: dataVersions(soloNode.core.history.store) }, before);
      assert.equal((await soloClient.get(`/gov/service/users/${certId(certPem)}?api-version=2024-07-01`)).status, 404);
    } finally {
      soloClient.close();
      await soloNode.close();
      rmSync(soloDir, { recursive: true, force: true });
    }
  });
});

describe("the dry-run diff", () => {
  const b = Buffer.from;
  /** A store holding one public and one private map, and a transaction changing both. */
  function changes() {
    const store = new Store();
    const setup = store.begin();
    setup.map("public:t").set(b("same"), b('"x"'));
    setup.map("public:t").set(b("gone"), b("1"));
    setup.map("secret").set(b("alice"), b("balance=100"));
    store.apply(setup.finish(), seqNo(1));
    const tx = store.begin();
    tx.map("public:t").set(b("same"), b('"x"'));
    tx.map("public:t").delete(b("gone"));
    tx.map("public:t").set(Buffer.alloc(8), Buffer.from([0xff, 0x00]));
    tx.map("secret").set(b("alice"), b("balance=250"));
    tx.map("secret").set(b("bob"), b("balance=5"));
    return { writes: tx.finish(), before: store.beginReadOnly() };
  }

  it("private maps show sizes only, never keys or values; public keys and values in clear; same-value writes left out", () => {
    const { writes, before } = changes();
    const diff = kvDiff(before, writes);
    assert.deepEqual(diff, [
      { table: "public:t", key: "0x0000000000000000", change: "added", after: { bytes: 2, sha256: createHash("sha256").update(Buffer.from([0xff, 0x00])).digest("hex") } },
      { table: "public:t", key: "gone", change: "removed", before: { json: 1 } },
      { table: "secret", private: true, keyBytes: 5, change: "changed", beforeBytes: 11, afterBytes: 11 },
      { table: "secret", private: true, keyBytes: 3, change: "added", afterBytes: 9 },
    ]);
    assert.ok(!JSON.stringify(diff).includes("alice") && !JSON.stringify(diff).includes("balance"));
    assert.deepEqual(endpointDiff(before, writes), { added: [], removed: [], changed: [] });
  });
});
