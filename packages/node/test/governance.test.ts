// CCF governance end to end, over real TLS with real COSE Sign1 envelopes and
// the real ledger: members ack to become Active; proposals are validated and
// resolved by the stored constitution and applied in the accepting
// transaction; the app frontend opens only by proposal; a constitution can
// replace itself; bad governance requests get CCF's errors and change nothing.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaultConstitution } from "@confide/governance";
import fc from "fast-check";
import { SignJWT } from "jose";
import { auditLedger } from "../src/history/audit.ts";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { readLedger } from "../src/ledger/reader.ts";
import { decodeWriteSet } from "../src/kv/write-set.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import type { Bundle } from "../src/runtime/bundle.ts";
import { BYTECODE_VERSION } from "../src/runtime/engine.ts";
import { SENTINEL_KEY, Tables } from "../src/tables.ts";
import { ACCEPT, GovMember, REJECT } from "./helpers/gov-member.ts";
import { HttpsClient, type ClientIdentity, type Reply } from "./helpers/https-client.ts";
import { malformedCose } from "./helpers/malformed-cose.ts";
import { dataVersions } from "./helpers/store-versions.ts";

const appBundle = (greeting: string): Bundle => ({
  metadata: {
    endpoints: {
      "/hello": { get: { js_module: "app.js", js_function: "hello", authn_policies: ["user_cert"], mode: "readonly", forwarding_required: "sometimes" } },
      "/whoami": { get: { js_module: "app.js", js_function: "whoami", authn_policies: ["jwt"], mode: "readonly", forwarding_required: "sometimes" } },
    },
  },
  modules: [
    {
      name: "app.js",
      module: `export function hello(request) { return { body: "${greeting} " + request.caller.id.slice(0, 8) }; }
export function whoami(request) { return { body: request.caller.jwt.payload.sub }; }`,
    },
  ],
});

const UNANIMITY = defaultConstitution().replace(
  /export function resolve\([\s\S]*?\n}\n/,
  `export function resolve(proposal, proposerId, votes) {
  let active = 0;
  ccf.kv["public:ccf.gov.members.info"].forEach((value) => { if (ccf.bufToJsonCompatible(value).status === "Active") active++; });
  if (votes.some((v) => !v.vote)) return "Rejected";
  return votes.filter((v) => v.vote).length === active ? "Accepted" : "Open";
}
`,
);

let dir: string;
let node: ServingNode;
let client: HttpsClient;
let members: GovMember[];
let user: ClientIdentity;
const clients: HttpsClient[] = [];

function clientAs(who: ClientIdentity): HttpsClient {
  const c = new HttpsClient(node.url, node.core.identity.serviceCertPem, who);
  clients.push(c);
  return c;
}

async function proposeAndVote(actions: unknown[], voters: GovMember[]): Promise<{ proposalId: string; states: string[] }> {
  const created = await members[0]!.propose(client, actions);
  assert.equal(created.status, 200, created.text);
  const states = [created.json.proposalState as string];
  for (const voter of voters) {
    const voted = await voter.vote(client, created.json.proposalId);
    assert.equal(voted.status, 200, voted.text);
    states.push(voted.json.proposalState);
  }
  return { proposalId: created.json.proposalId, states };
}

/** Every state a proposal was written with, read from the ledger files. */
function proposalStatesInLedger(proposalId: string): string[] {
  const states: string[] = [];
  for (const record of readLedger(node.core.ledgerDir, {})) {
    const info = decodeWriteSet(record.entry.publicWriteSet, "public").get("public:ccf.gov.proposals_info")?.get(Buffer.from(proposalId).toString("latin1"));
    if (info) states.push((JSON.parse(info.toString("utf8")) as { state: string }).state);
  }
  return states;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-gov-"));
  members = await Promise.all([GovMember.create(), GovMember.create(), GovMember.create()]);
  const made = await createServiceIdentity();
  user = { certPem: made.certPem, keyPem: made.privateKeyPem };
  node = await startNode({ dir, port: 0, members: members.map((m, i) => ({ certPem: m.certPem, data: { name: `Bank ${"ABC"[i]}` } })), signatureIntervalMs: 50 });
  client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
});

after(async () => {
  for (const c of [client, ...clients]) c.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("a 3-member consortium", () => {
  it("starts Opening with Accepted members, who become Active by acking the state digest", async () => {
    const info = await client.get("/gov/service/info");
    assert.equal(info.json.status, "Opening");
    const listed = await client.get("/gov/service/members");
    assert.deepEqual(listed.json.value.map((m: { status: string }) => m.status), ["Accepted", "Accepted", "Accepted"]);
    // Not yet Active: a proposal is refused.
    const early = await members[0]!.propose(client, [{ name: "trigger_ledger_chunk", args: {} }]);
    assert.equal(early.status, 401);
    assert.match(early.json.error.message, /ACTIVE/);
    for (const member of members) await member.activate(client);
    const active = await client.get(`/gov/service/members/${members[1]!.id}`);
    assert.equal(active.json.status, "Active");
    assert.deepEqual(active.json.memberData, { name: "Bank B" });
  });

  it("app endpoints refuse until the service is opened by proposal (2 of 3 votes)", async () => {
    // A user and an app exist, but the frontend is not open.
    const { proposalId, states } = await proposeAndVote(
      [
        { name: "set_user", args: { cert: user.certPem, user_data: { party: "Bank A" } } },
        { name: "set_js_app", args: { bundle: appBundle("hello") } },
      ],
      [members[0]!, members[1]!],
    );
    assert.deepEqual(states, ["Open", "Open", "Accepted"]);
    const closed = await clientAs(user).get("/app/hello");
    assert.equal(closed.status, 404);
    assert.equal(closed.json.error.code, "FrontendNotOpen");
    const opened = await proposeAndVote([{ name: "transition_service_to_open", args: { next_service_identity: node.core.identity.serviceCertPem } }], [members[1]!, members[2]!]);
    assert.deepEqual(opened.states, ["Open", "Open", "Accepted"]);
    assert.equal((await client.get("/gov/service/info")).json.status, "Open");
    const hello = await clientAs(user).get("/app/hello");
    assert.equal(hello.status, 200);
    assert.match(hello.text, /^hello /);
    assert.ok(proposalId);
  });

  it("deploying a new app needs 2 of 3: one vote leaves it Open and the old app serving; the second deploys it", async () => {
    const created = await members[2]!.propose(client, [{ name: "set_js_app", args: { bundle: appBundle("bonjour") } }]);
    const proposalId = created.json.proposalId as string;
    const first = await members[2]!.vote(client, proposalId);
    assert.equal(first.json.proposalState, "Open");
    assert.match((await clientAs(user).get("/app/hello")).text, /^hello /);
    const second = await members[0]!.vote(client, proposalId);
    assert.equal(second.json.proposalState, "Accepted");
    assert.deepEqual(Object.keys(second.json.finalVotes).sort(), [members[0]!.id, members[2]!.id].sort());
    const now = await clientAs(user).get("/app/hello");
    assert.match(now.text, /^bonjour /);

    // The proposal, its ballots and its outcome are in the proposal history and in the ledger.
    const history = await client.get(`/gov/members/proposals/${proposalId}`);
    assert.equal(history.json.proposalState, "Accepted");
    const ballot = await client.get(`/gov/members/proposals/${proposalId}/ballots/${members[2]!.id}`);
    assert.equal(ballot.text, ACCEPT);
    const actions = await client.get(`/gov/members/proposals/${proposalId}/actions`);
    assert.equal(actions.json.actions[0].name, "set_js_app");
    await node.core.history.waitForCommit(node.core.history.lastSeqno);
    assert.deepEqual(proposalStatesInLedger(proposalId), ["Open", "Open", "Accepted"]);
    // The audit tool checks every entry and signature of that ledger (it throws on the first fault).
    const audit = auditLedger(node.core.ledgerDir, { serviceCertPem: node.core.identity.serviceCertPem, secrets: node.core.history.ledgerSecrets });
    assert.ok(audit.signatures > 0);
    assert.equal(audit.endorsementChecked, true);
  });

  it("set_js_app stores each module's bytecode; disable_bytecode_cache and refresh_js_app_bytecode_cache clear and rebuild it", async () => {
    const cached = () => {
      const tx = node.core.history.store.beginReadOnly();
      const names: string[] = [];
      tx.map(Tables.modulesQuickjsBytecode).forEach((_value, key) => names.push(key.toString("utf8")));
      return { names, version: tx.map(Tables.modulesQuickjsVersion).get(SENTINEL_KEY)?.toString("utf8") };
    };
    assert.deepEqual(cached(), { names: ["/app.js"], version: BYTECODE_VERSION });
    const disabled = await proposeAndVote([{ name: "set_js_app", args: { bundle: appBundle("bonjour"), disable_bytecode_cache: true } }], [members[0]!, members[1]!]);
    assert.deepEqual(disabled.states, ["Open", "Open", "Accepted"]);
    assert.deepEqual(cached(), { names: [], version: undefined });
    assert.match((await clientAs(user).get("/app/hello")).text, /^bonjour /);
    const refreshed = await proposeAndVote([{ name: "refresh_js_app_bytecode_cache", args: {} }], [members[0]!, members[1]!]);
    assert.deepEqual(refreshed.states, ["Open", "Open", "Accepted"]);
    assert.deepEqual(cached(), { names: ["/app.js"], version: BYTECODE_VERSION });
    assert.match((await clientAs(user).get("/app/hello")).text, /^bonjour /);
  });

  it("a failed set_js_app (a later action of the same proposal throws) leaves the previous app serving", async () => {
    const { proposalId, states } = await proposeAndVote(
      [
        { name: "set_js_app", args: { bundle: appBundle("hola") } },
        // The service is already open: this action's apply throws.
        { name: "transition_service_to_open", args: { next_service_identity: node.core.identity.serviceCertPem } },
      ],
      [members[0]!, members[1]!],
    );
    assert.deepEqual(states, ["Open", "Open", "Failed"]);
    const failed = await client.get(`/gov/members/proposals/${proposalId}`);
    assert.match(failed.json.failure.reason, /already open/);
    assert.match((await clientAs(user).get("/app/hello")).text, /^bonjour /);
  });

  it("a user added by proposal calls the app; after remove_user it gets 401", async () => {
    const userId = (await clientAs(user).get("/app/hello")).text.split(" ")[1]!;
    assert.equal((await clientAs(user).get("/app/hello")).status, 200);
    const users = await client.get("/gov/service/users");
    const listed = users.json.value.find((u: { userId: string }) => u.userId.startsWith(userId));
    assert.deepEqual(listed.userData, { party: "Bank A" });
    await proposeAndVote([{ name: "remove_user", args: { user_id: listed.userId } }], [members[0]!, members[1]!]);
    const refused = await clientAs(user).get("/app/hello");
    assert.equal(refused.status, 401);
    assert.equal(refused.json.error.code, "InvalidAuthenticationInfo");
  });

  it("set_jwt_issuer with its JWKS lets the app accept that issuer's tokens; remove_jwt_issuer revokes them", async () => {
    const issuer = "https://login.example";
    const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const jwk = { ...keys.publicKey.export({ format: "jwk" }), kid: "bank-key-1", alg: "RS256" };
    await proposeAndVote([{ name: "set_jwt_issuer", args: { issuer, jwks: { keys: [jwk] } } }], [members[0]!, members[1]!]);
    const token = await new SignJWT({ iss: issuer, sub: "analyst@bank-a", exp: Math.floor(Date.now() / 1000) + 600 })
      .setProtectedHeader({ alg: "RS256", kid: "bank-key-1" })
      .sign(keys.privateKey);
    const accepted = await client.get("/app/whoami", { authorization: `Bearer ${token}` });
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(accepted.text, "analyst@bank-a");
    const jwks = await client.get("/gov/service/jwk");
    assert.ok(jwks.json.issuers[issuer]);
    await proposeAndVote([{ name: "remove_jwt_issuer", args: { issuer } }], [members[0]!, members[1]!]);
    assert.equal((await client.get("/app/whoami", { authorization: `Bearer ${token}` })).status, 401);
  });

  it("set_constitution to unanimity (a single no rejects): other open proposals are Dropped; 2 of 3 no longer accept", async () => {
    const pending = (await members[1]!.propose(client, [{ name: "set_member_data", args: { member_id: members[1]!.id, member_data: { name: "B" } } }])).json.proposalId as string;
    const replaced = await proposeAndVote([{ name: "set_constitution", args: { constitution: UNANIMITY } }], [members[0]!, members[1]!]);
    assert.equal(replaced.states.at(-1), "Accepted");
    assert.equal((await client.get(`/gov/members/proposals/${pending}`)).json.proposalState, "Dropped");
    await node.core.history.waitForCommit(node.core.history.lastSeqno);
    assert.deepEqual(proposalStatesInLedger(pending), ["Open", "Dropped"]);
    assert.equal((await client.get("/gov/service/constitution")).text, UNANIMITY);
    const { proposalId, states } = await proposeAndVote([{ name: "set_user", args: { cert: user.certPem } }], [members[0]!, members[1]!]);
    assert.deepEqual(states, ["Open", "Open", "Open"]);
    const third = await members[2]!.vote(client, proposalId);
    assert.equal(third.json.proposalState, "Accepted");
    const vetoed = await proposeAndVote([{ name: "set_user", args: { cert: user.certPem } }], [members[0]!]);
    assert.deepEqual(vetoed.states, ["Open", "Open"]);
    const veto = await members[2]!.vote(client, vetoed.proposalId, REJECT);
    assert.equal(veto.json.proposalState, "Rejected");
  });
});

describe("node effects of a proposal (trigger_snapshot, trigger_ledger_chunk) happen only if it commits", () => {
  const snapshots = () => readdirSync(join(dir, "snapshots")).sort();
  const completedChunks = () => readdirSync(node.core.ledgerDir).filter((name) => /^ledger_\d+-\d+/.test(name)).sort();
  /** Votes with every member until the proposal leaves Open; then a signature, committed. */
  const decide = async (actions: unknown[]): Promise<string> => {
    const created = await members[0]!.propose(client, actions);
    assert.equal(created.status, 200, created.text);
    let state = created.json.proposalState as string;
    for (const voter of members) if (state === "Open") state = (await voter.vote(client, created.json.proposalId)).json.proposalState;
    await node.core.history.waitForCommit(node.core.history.emitSignature());
    return state;
  };

  it("a proposal whose apply() fails after the triggers leaves no snapshot and no chunk end behind", async () => {
    const [snapshotsBefore, chunksBefore] = [snapshots(), completedChunks()];
    const other = await createServiceIdentity();
    const state = await decide([
      { name: "trigger_snapshot", args: {} },
      { name: "trigger_ledger_chunk", args: {} },
      { name: "transition_service_to_open", args: { next_service_identity: other.certPem } }, // not this service's: apply() throws
    ]);
    assert.equal(state, "Failed");
    assert.deepEqual(snapshots(), snapshotsBefore);
    assert.deepEqual(completedChunks(), chunksBefore);
  });

  it("an accepted one takes the snapshot and ends the chunk at the next signature", async () => {
    const [snapshotsBefore, chunksBefore] = [snapshots(), completedChunks()];
    assert.equal(await decide([{ name: "trigger_snapshot", args: {} }, { name: "trigger_ledger_chunk", args: {} }]), "Accepted");
    assert.equal(snapshots().length, snapshotsBefore.length + 1, snapshots().join());
    assert.equal(completedChunks().length, chunksBefore.length + 1, completedChunks().join());
  });
});

describe("bad governance requests: a clear CCF error and no state change", () => {
  /** The request gets `status` and CCF error `code` (and a message matching `message`), and no app or governance table changes. */
  const unchanged = async (action: () => Promise<Reply>, status: number, code: string, message?: RegExp): Promise<void> => {
    const before = dataVersions(node.core.history.store);
    const reply = await action();
    assert.equal(reply.status, status, reply.text);
    assert.equal(reply.json.error.code, code);
    if (message) assert.match(JSON.stringify(reply.json.error), message);
    assert.equal(dataVersions(node.core.history.store), before);
  };
  const setUser = () => [{ name: "set_user", args: { cert: user.certPem } }];

  it("wrong signature, unknown signer, wrong message type, missing created_at, malformed COSE", async () => {
    const stranger = await GovMember.create();
    const envelope = (m: GovMember, type: string, headers: Record<string, unknown> = {}, key?: string) => m.sign(type, { actions: setUser() }, headers, key);
    const create = (body: Buffer) => GovMember.post(client, "/gov/members/proposals:create", body);
    await unchanged(() => create(envelope(members[0]!, "proposal", {}, stranger.keyPem)), 401, "InvalidAuthenticationInfo", /Failed to validate COSE Sign1/);
    await unchanged(() => create(envelope(stranger, "proposal")), 401, "InvalidAuthenticationInfo", /Signer is not a known member/);
    await unchanged(() => create(envelope(members[0]!, "ballot")), 401, "InvalidAuthenticationInfo", /expected ccf.gov.msg.type to be proposal/);
    await unchanged(() => create(envelope(members[0]!, "proposal", { "ccf.gov.msg.created_at": undefined })), 401, "InvalidAuthenticationInfo", /Missing created_at/);
    await unchanged(() => create(Buffer.from("not cbor at all")), 401, "InvalidAuthenticationInfo", /Failed to decode COSE_Sign1/);
    await unchanged(() => create(Buffer.from("d284deadbeef00ff", "hex")), 401, "InvalidAuthenticationInfo", /Failed to decode COSE_Sign1/);
    await unchanged(() => client.post("/gov/members/proposals:create?api-version=2024-07-01", envelope(members[0]!, "proposal"), { "content-type": "application/json" }), 401, "InvalidAuthenticationInfo");
    await unchanged(() => client.post("/gov/members/proposals:create?api-version=1999-01-01", envelope(members[0]!, "proposal"), { "content-type": "application/cose" }), 400, "UnsupportedApiVersionValue");
  });

  it("malformed COSE bodies (fuzzed): each a 401, nothing stored", async () => {
    const create = (body: Buffer) => GovMember.post(client, "/gov/members/proposals:create", body);
    await fc.assert(
      fc.asyncProperty(malformedCose(members[0]!.sign("proposal", { actions: setUser() })), (body) => unchanged(() => create(body), 401, "InvalidAuthenticationInfo")),
      { numRuns: 150 },
    );
  });

  it("a replayed or stale proposal: CCF's window of recent proposals, its median and its size", async () => {
    const RECENT = "public:ccf.gov.cose_recent_proposals";
    const recentKeys = () => {
      const keys: string[] = [];
      node.core.history.store.beginReadOnly().map(RECENT).forEach((_, key) => keys.push(key.toString("utf8")));
      return keys.sort();
    };
    const clearWindow = node.core.history.begin(); // the earlier tests' proposals would move the median
    clearWindow.map(RECENT).clear();
    node.core.history.commit(clearWindow);
    const envelope = members[0]!.sign("proposal", { actions: setUser() });
    const first = await GovMember.post(client, "/gov/members/proposals:create", envelope);
    assert.equal(first.status, 200);
    await unchanged(() => GovMember.post(client, "/gov/members/proposals:create", envelope), 400, "ProposalReplay");

    // Several proposals seen: one signed a day ago is older than the median of the window, so refused.
    const now = Math.floor(Date.now() / 1000);
    for (const createdAt of [now + 1, now + 2, now + 3]) {
      const reply = await members[0]!.propose(client, setUser(), { "ccf.gov.msg.created_at": createdAt });
      assert.equal(reply.status, 200, reply.text);
    }
    const median = recentKeys()[Math.floor(recentKeys().length / 2)]!.split(":")[0]!;
    assert.equal(median, String(now + 2));
    await unchanged(
      () => members[0]!.propose(client, setUser(), { "ccf.gov.msg.created_at": now - 86_400 }),
      400,
      "ProposalCreatedTooLongAgo",
      new RegExp(`created_at must be greater than ${median}`),
    );
    // Older than the median but newer than the oldest kept: still too old, as in CCF.
    await unchanged(() => members[0]!.propose(client, setUser(), { "ccf.gov.msg.created_at": now + 1 }), 400, "ProposalCreatedTooLongAgo");
    assert.equal((await members[0]!.propose(client, setUser(), { "ccf.gov.msg.created_at": now + 2 })).status, 200);

    // The window keeps recent_cose_proposals_window_size keys, the newest ones.
    const resize = await members[0]!.propose(client, [{ name: "set_service_configuration", args: { recent_cose_proposals_window_size: 2 } }], { "ccf.gov.msg.created_at": now + 4 });
    assert.equal(resize.status, 200, resize.text);
    let state = resize.json.proposalState as string;
    for (const voter of members) if (state === "Open") state = (await voter.vote(client, resize.json.proposalId)).json.proposalState;
    assert.equal(state, "Accepted");
    assert.equal((await members[0]!.propose(client, setUser(), { "ccf.gov.msg.created_at": now + 5 })).status, 200);
    assert.deepEqual(recentKeys().map((key) => key.split(":")[0]), [String(now + 4), String(now + 5)]);

    const restore = node.core.history.begin();
    const config = JSON.parse(restore.map(Tables.serviceConfig).get(SENTINEL_KEY)!.toString("utf8")) as Record<string, unknown>;
    restore.map(Tables.serviceConfig).set(SENTINEL_KEY, Buffer.from(JSON.stringify({ ...config, recent_cose_proposals_window_size: 100 })));
    restore.map(RECENT).clear();
    node.core.history.commit(restore);
  });

  it("an unknown action, or args that fail validate", async () => {
    await unchanged(() => members[0]!.propose(client, [{ name: "make_me_admin", args: {} }]), 400, "ProposalFailedToValidate");
    await unchanged(() => members[0]!.propose(client, [{ name: "set_user", args: { cert: 42 } }]), 400, "ProposalFailedToValidate");
    await unchanged(() => members[0]!.propose(client, [{ name: "set_js_app", args: { bundle: { metadata: {}, modules: "x" } } }]), 400, "ProposalFailedToValidate");
  });

  it("a ballot that throws, loops, or comes from another member; a vote twice; an unknown proposal", async () => {
    const created = await members[0]!.propose(client, setUser());
    const proposalId = created.json.proposalId as string;
    await unchanged(() => members[1]!.vote(client, proposalId, "export function vote() { throw new Error('no way') }"), 400, "InvalidInput", /no way/);
    await unchanged(() => members[1]!.vote(client, proposalId, "export function vote() { while (true) {} }"), 400, "InvalidInput", /interrupted/);
    await unchanged(() => members[1]!.vote(client, proposalId, "this is not javascript"), 400, "InvalidInput");
    const asOther = members[1]!.sign("ballot", { ballot: ACCEPT }, { "ccf.gov.msg.proposal_id": proposalId });
    await unchanged(() => GovMember.post(client, `/gov/members/proposals/${proposalId}/ballots/${members[2]!.id}:submit`, asOther), 403, "AuthorizationFailed");
    const mismatched = members[1]!.sign("ballot", { ballot: ACCEPT }, { "ccf.gov.msg.proposal_id": "0".repeat(64) });
    await unchanged(() => GovMember.post(client, `/gov/members/proposals/${proposalId}/ballots/${members[1]!.id}:submit`, mismatched), 400, "InvalidInput");
    await unchanged(() => members[1]!.vote(client, "f".repeat(64)), 404, "ProposalNotFound");
    assert.equal((await members[1]!.vote(client, proposalId)).status, 200);
    await unchanged(() => members[1]!.vote(client, proposalId), 400, "VoteAlreadyExists");
  });

  it("withdrawal: only the proposer, only while Open", async () => {
    const created = await members[0]!.propose(client, setUser());
    const proposalId = created.json.proposalId as string;
    const withdraw = (m: GovMember) =>
      GovMember.post(client, `/gov/members/proposals/${proposalId}:withdraw`, m.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": proposalId }));
    await unchanged(() => withdraw(members[1]!), 403, "AuthorizationFailed");
    const withdrawn = await withdraw(members[0]!);
    assert.equal(withdrawn.json.proposalState, "Withdrawn");
    await unchanged(() => withdraw(members[0]!), 400, "ProposalNotOpen");
    const unknownId = "a".repeat(64);
    const unknown = await GovMember.post(client, `/gov/members/proposals/${unknownId}:withdraw`, members[0]!.sign("withdrawal", "", { "ccf.gov.msg.proposal_id": unknownId }));
    assert.equal(unknown.status, 204);
    await unchanged(() => members[1]!.vote(client, proposalId), 400, "ProposalNotOpen");
  });
});
