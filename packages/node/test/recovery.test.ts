// Disaster recovery, as CCF does it: the ledger secrets are never written to
// disk; they are wrapped in the ledger under a key split among the recovery
// members. A service whose node is lost comes back from a copy of its ledger
// on a node started to recover it, and only once enough members submit their
// shares: then every committed transaction, public and private, is back, the
// app serves, and receipts issued before the disaster still verify.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { verifyReceipt, type Receipt } from "../src/merkle/receipt.ts";
import { LedgerSecretsMissingError, startNode, type ServingNode } from "../src/node.ts";
import type { Bundle } from "../src/runtime/bundle.ts";
import { GovMember } from "./helpers/gov-member.ts";
import { HttpsClient, type Reply } from "./helpers/https-client.ts";

const RECORDS_JS = `
export function put(request) {
  const body = request.body.json();
  ccf.kv["records"].set(ccf.strToBuf(body.id), ccf.strToBuf(body.value));
  ccf.kv["public:record_sizes"].set(ccf.strToBuf(body.id), ccf.strToBuf(String(body.value.length)));
  return { statusCode: 204 };
}
export function get(request) {
  const id = request.query.replace(/^id=/, "");
  const value = ccf.kv["records"].get(ccf.strToBuf(id));
  return value === undefined ? { statusCode: 404, body: { error: { code: "ResourceNotFound", message: id } } } : { body: ccf.bufToStr(value) };
}`;
const endpoint = (js_function: string, mode: "readwrite" | "readonly") => ({ js_module: "records.js", js_function, authn_policies: ["no_auth"], mode, forwarding_required: "sometimes" as const });
const RECORDS_APP: Bundle = {
  metadata: { endpoints: { "/records": { post: endpoint("put", "readwrite"), get: endpoint("get", "readonly") } } },
  modules: [{ name: "records.js", module: RECORDS_JS }],
};
const OPTIONS = { port: 0, signatureIntervalMs: 30, ...(process.env.CONFIDE_TEST_LOG ? { log: { debug: () => {}, info: console.log, warn: console.warn, error: console.error } } : {}) };
const SECRET_VALUE = (i: number) => `CONFIDENTIAL-BALANCE-${i}-${"x".repeat(8)}`;

const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `confide-recovery-${name}-`));
  dirs.push(dir);
  return dir;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A proposal by `proposer`, accepted by the votes of `voters`. */
async function pass(client: HttpsClient, proposer: GovMember, voters: GovMember[], actions: unknown[]): Promise<void> {
  const proposed = await proposer.propose(client, actions);
  assert.equal(proposed.status, 200, proposed.text);
  const id = (proposed.json as { proposalId: string }).proposalId;
  let state = (proposed.json as { proposalState: string }).proposalState;
  for (const voter of voters) {
    if (state !== "Open") break;
    const voted = await voter.vote(client, id);
    assert.equal(voted.status, 200, voted.text);
    state = (voted.json as { proposalState: string }).proposalState;
  }
  assert.equal(state, "Accepted");
}

function errorCode(reply: Reply): string | undefined {
  return (reply.json as { error?: { code?: string } } | undefined)?.error?.code;
}

async function serviceStatus(client: HttpsClient): Promise<string> {
  return ((await client.get("/node/network")).json as { service_status: string }).service_status;
}

interface LostService {
  members: GovMember[];
  ledgerCopy: string;
  serviceCertPem: string;
  /** A receipt issued before the disaster, and the value its transaction wrote. */
  receipt: Receipt;
  records: number;
}

/** A service with 3 recovery members (threshold 2), some private records, then lost: only a copy of its ledger remains. */
async function loseAService(options: { rekeys?: number; records?: number } = {}): Promise<LostService> {
  const members = await Promise.all([0, 1, 2].map(() => GovMember.create({ encryption: true })));
  const dir = tempDir("lost");
  const node = await startNode({
    ...OPTIONS,
    dir,
    appBundle: RECORDS_APP,
    members: members.map((m) => ({ certPem: m.certPem, encryptionPublicKeyPem: m.encryption!.publicKeyPem })),
  });
  const client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
  try {
    for (const member of members) await member.activate(client);
    await pass(client, members[0]!, members.slice(1), [{ name: "set_recovery_threshold", args: { recovery_threshold: 2 } }]);
    await eventually("shares for 3 members at threshold 2", async () => {
      const shares = await Promise.all(members.map((m) => client.get(`/gov/recovery/encrypted-shares/${m.id}`)));
      return shares.every((s) => s.status === 200) && readRecord(node).threshold === 2 ? true : undefined;
    });
    const records = options.records ?? 6;
    let receiptSeqno = 0;
    for (let i = 0; i < records; i++) {
      const put = await client.post("/app/records", { id: `r${i}`, value: SECRET_VALUE(i) });
      assert.equal(put.status, 204, put.text);
      if (i === 0) receiptSeqno = Number(put.headers["x-ms-ccf-transaction-id"]!.split(".")[1]);
      // Rekeys between the writes: each later record is sealed with a newer ledger secret.
      if (i > 0 && i <= (options.rekeys ?? 0)) {
        const before = node.core.history.ledgerSecrets.all().length;
        await pass(client, members[0]!, members.slice(1), [{ name: "trigger_ledger_rekey" }]);
        await eventually("the rekey", async () => (node.core.history.ledgerSecrets.all().length > before ? true : undefined));
      }
    }
    const history = node.core.history;
    await history.waitForCommit(history.emitSignature());
    const receipt = history.receipt(receiptSeqno);
    verifyReceipt(receipt, node.core.identity.serviceCertPem);
    const ledgerCopy = join(tempDir("copy"), "ledger");
    cpSync(node.core.ledgerDir, ledgerCopy, { recursive: true });
    return { members, ledgerCopy, serviceCertPem: node.core.identity.serviceCertPem, receipt, records };
  } finally {
    client.close();
    await node.close();
  }
}

function readRecord(node: ServingNode): { threshold: number } {
  const record = node.core.history.store.beginReadOnly().map("public:ccf.internal.recovery_shares").get(Buffer.alloc(8));
  return record === undefined ? { threshold: 0 } : (JSON.parse(record.toString("utf8")) as { threshold: number });
}

async function startRecovery(lost: LostService): Promise<{ node: ServingNode; client: HttpsClient }> {
  const dir = tempDir("recovering");
  const node = await startNode({ ...OPTIONS, dir, ledgerDir: lost.ledgerCopy, recover: true });
  return { node, client: new HttpsClient(node.url, node.core.identity.serviceCertPem) };
}

async function openWithShares(lost: LostService, node: ServingNode, client: HttpsClient, submitters: GovMember[]): Promise<void> {
  const [a, b, c] = lost.members as [GovMember, GovMember, GovMember];
  await pass(client, a, [b, c], [{ name: "transition_service_to_open", args: { previous_service_identity: lost.serviceCertPem, next_service_identity: node.core.identity.serviceCertPem } }]);
  for (const member of submitters) {
    const submitted = await member.submitShare(client, await member.recoveryShare(client));
    assert.equal(submitted.status, 200, submitted.text);
  }
  await eventually("the service to open", async () => ((await serviceStatus(client)) === "Open" ? true : undefined));
}

describe("disaster recovery from a ledger copy with the members' shares", () => {
  it("stays closed below the threshold, refuses wrong, replayed and others' shares, then restores everything", async () => {
    const lost = await loseAService();
    const { node, client } = await startRecovery(lost);
    const [a, b, c] = lost.members as [GovMember, GovMember, GovMember];
    try {
      assert.equal(await serviceStatus(client), "Recovering");
      assert.notEqual(node.core.identity.serviceCertPem, lost.serviceCertPem, "a recovered service has a new identity");
      // The public state is back at once: the members, the app's public table.
      const members = (await client.get("/gov/service/members?api-version=2024-07-01")).json as { value: Array<{ memberId: string }> };
      assert.deepEqual(members.value.map((m) => m.memberId).sort(), lost.members.map((m) => m.id).sort());
      assert.equal(node.core.history.store.beginReadOnly().map("records").size, 0, "no private value before the shares");
      const closed = await client.get("/app/records?id=r1");
      assert.equal(closed.status, 404);
      assert.equal(errorCode(closed), "FrontendNotOpen");

      // Shares are refused until members open the service for them.
      const early = await a.submitShare(client, await a.recoveryShare(client));
      assert.equal(early.status, 403, early.text);
      assert.equal(errorCode(early), "ServiceNotWaitingForRecoveryShares");
      const wrongPrevious = await a.propose(client, [{ name: "transition_service_to_open", args: { previous_service_identity: node.core.identity.serviceCertPem, next_service_identity: node.core.identity.serviceCertPem } }]);
      assert.equal(wrongPrevious.status, 200, wrongPrevious.text);
      const wrongId = (wrongPrevious.json as { proposalId: string }).proposalId;
      await b.vote(client, wrongId);
      const failed = await c.vote(client, wrongId);
      assert.match(failed.text, /previous service identity is not the identity of the service this ledger recovers/);
      assert.equal(await serviceStatus(client), "Recovering");

      await pass(client, a, [b, c], [{ name: "transition_service_to_open", args: { previous_service_identity: lost.serviceCertPem, next_service_identity: node.core.identity.serviceCertPem } }]);
      assert.equal(await serviceStatus(client), "WaitingForRecoveryShares");

      const shareA = await a.recoveryShare(client);
      const othersShare = await b.submitShare(client, shareA);
      assert.equal(othersShare.status, 400, othersShare.text);
      assert.match(othersShare.text, /not the recovery share issued to member/);
      const garbage = await b.submitShare(client, Buffer.alloc(33, 7));
      assert.equal(garbage.status, 400, garbage.text);
      const notJson = await GovMember.post(client, `/gov/recovery/members/${b.id}:recover`, b.sign("recovery_share", "not json"));
      assert.equal(notJson.status, 400, notJson.text);
      const mismatched = await GovMember.post(client, `/gov/recovery/members/${a.id}:recover`, b.sign("recovery_share", { share: shareA.toString("base64") }));
      assert.equal(mismatched.status, 400, mismatched.text);
      assert.equal(errorCode(mismatched), "InvalidAuthenticationInfo");

      const first = await a.submitShare(client, shareA);
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(
        { submittedCount: (first.json as { submittedCount: number }).submittedCount, recoveryThreshold: (first.json as { recoveryThreshold: number }).recoveryThreshold },
        { submittedCount: 1, recoveryThreshold: 2 },
      );
      const replayed = await a.submitShare(client, shareA);
      assert.equal(replayed.status, 400, replayed.text);
      assert.match(replayed.text, /already submitted/);
      // One share of two: still closed, nothing private.
      assert.equal(await serviceStatus(client), "WaitingForRecoveryShares");
      assert.equal((await client.get("/app/records?id=r1")).status, 404);
      assert.equal(node.core.history.store.beginReadOnly().map("records").size, 0);

      const second = await c.submitShare(client, await c.recoveryShare(client));
      assert.equal(second.status, 200, second.text);
      assert.match((second.json as { message: string }).message, /2\/2 recovery shares successfully submitted\nEnd of recovery procedure initiated/);
      await eventually("the service to open", async () => ((await serviceStatus(client)) === "Open" ? true : undefined));

      for (let i = 0; i < lost.records; i++) {
        const got = await client.get(`/app/records?id=r${i}`);
        assert.equal(got.status, 200, got.text);
        assert.equal(got.text, SECRET_VALUE(i));
      }
      const network = (await client.get("/node/network")).json as { recovery_count: number };
      assert.equal(network.recovery_count, 1);
      // A receipt issued before the disaster verifies with the identity the recovered service names as its previous one.
      const previous = (await client.get("/node/service/previous_identity")).json as { previous_service_identity: string };
      assert.equal(previous.previous_service_identity, lost.serviceCertPem);
      verifyReceipt(lost.receipt, previous.previous_service_identity);
      // The service works, and its shares were re-issued for every secret (the old shares are spent).
      assert.equal((await client.post("/app/records", { id: "after", value: "recovered" })).status, 204);
      const newShare = await a.recoveryShare(client);
      assert.notDeepEqual(newShare, shareA);
      const late = await a.submitShare(client, newShare);
      assert.equal(errorCode(late), "ServiceNotWaitingForRecoveryShares");
    } finally {
      client.close();
      await node.close();
    }
  });

  it("a ledger rekeyed twice recovers across both rekeys", async () => {
    const lost = await loseAService({ rekeys: 2, records: 5 });
    const { node, client } = await startRecovery(lost);
    try {
      await openWithShares(lost, node, client, [lost.members[1]!, lost.members[2]!]);
      // The old secrets (3) and the recovered service's new one.
      assert.equal(node.core.history.ledgerSecrets.all().length, 4);
      for (let i = 0; i < lost.records; i++) assert.equal((await client.get(`/app/records?id=r${i}`)).text, SECRET_VALUE(i));
    } finally {
      client.close();
      await node.close();
    }
  });

  it("no file of a node's workspace holds a ledger secret or a private value; a plain restart is refused with what to do", async () => {
    const members = [await GovMember.create({ encryption: true })];
    const dir = tempDir("workspace");
    const node = await startNode({ ...OPTIONS, dir, appBundle: RECORDS_APP, members: members.map((m) => ({ certPem: m.certPem, encryptionPublicKeyPem: m.encryption!.publicKeyPem })) });
    const client = new HttpsClient(node.url, node.core.identity.serviceCertPem);
    try {
      await members[0]!.activate(client);
      for (let i = 0; i < 3; i++) assert.equal((await client.post("/app/records", { id: `r${i}`, value: SECRET_VALUE(i) })).status, 204);
      await node.core.history.waitForCommit(node.core.history.emitSignature());
      const keys = node.core.history.ledgerSecrets.all().map((v) => v.secret.key);
      const files = filesUnder(dir);
      assert.ok(!files.some((file) => file.endsWith("ledger_secret")), files.join("\n"));
      for (const file of files) {
        const bytes = readFileSync(file);
        assert.equal(bytes.indexOf("CONFIDENTIAL-BALANCE-"), -1, `a private value in clear in ${file}`);
        for (const key of keys) {
          assert.equal(bytes.indexOf(key), -1, `the ledger secret in ${file}`);
          assert.equal(bytes.indexOf(key.toString("hex")), -1, `the ledger secret (hex) in ${file}`);
          assert.equal(bytes.indexOf(key.toString("base64")), -1, `the ledger secret (base64) in ${file}`);
        }
      }
    } finally {
      client.close();
      await node.close();
    }
    await assert.rejects(startNode({ ...OPTIONS, dir }), (error: Error) => error instanceof LedgerSecretsMissingError && /command\.type "Recover"/.test(error.message));
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
