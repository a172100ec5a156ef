// The banking app (CCF's ccf-app-samples banking-app API) on a real node over
// TLS, deployed by governance: members open accounts and deposit, users check
// balances and transfer; every bad request gets a CCF-shaped 4xx and leaves
// balances unchanged; history pages newest first; and under 100 concurrent
// transfer clients money is neither created nor destroyed while every
// transfer's receipt verifies and proves the claim the client recomputes.
import assert from "node:assert/strict";
import { createHash, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import {
  ConfideClient,
  Member,
  deployApp,
  generateIdentity,
  openService,
  proposeAndAccept,
  verifyReceipt,
  type Bundle,
  type CcfResponse,
  type GeneratedIdentity,
  type Receipt,
  type RequestBody,
} from "@confide/client";
import { startNode, type ServingNode } from "@confide/node";

const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
/** Built by `npm run build` (the package's pretest): the same file a CCF operator would propose. */
const BUNDLE_FILE = join(APP_DIR, "dist", "bundle.json");

const USER_COUNT = 10;
const ACCOUNT_NAMES = ["checking", "savings"] as const;
const CONCURRENT_CLIENTS = 100;
const TRANSFERS_PER_CLIENT = 3;
/** Small enough that some concurrent transfers overdraw and must be refused. */
const INITIAL_DEPOSIT = 300;
const TRANSFER_MAX = 150;

interface AccountRef {
  user_id: string;
  account_name: string;
}

let dir: string;
let node: ServingNode;
let serviceCertPem: string;
let anonymous: ConfideClient;
let members: GeneratedIdentity[];
let users: GeneratedIdentity[];
const clients: ConfideClient[] = [];

function clientAs(identity?: GeneratedIdentity): ConfideClient {
  const client = new ConfideClient({ url: node.url, serviceCertPem, ...(identity ? { identity } : {}) });
  clients.push(client);
  return client;
}

/** One app request; returns whatever the node answered (errors included). */
function app(client: ConfideClient, method: string, path: string, body?: RequestBody): Promise<CcfResponse> {
  return client.request(method, `/app${path}`, body === undefined ? {} : { body });
}

// One kept-alive client per identity for the functional tests.
let bank: ConfideClient;
let otherBank: ConfideClient;
const userClients = new Map<string, ConfideClient>();
const userClient = (user: GeneratedIdentity): ConfideClient => userClients.get(user.id)!;

async function balanceOf(ref: AccountRef): Promise<number> {
  const reply = await app(userClients.get(ref.user_id)!, "GET", `/balance/${ref.account_name}`);
  assert.equal(reply.status, 200, reply.text);
  const balance = (reply.json as { balance: number }).balance;
  assert.ok(Number.isSafeInteger(balance));
  return balance;
}

const allAccounts = (): AccountRef[] => users.flatMap((u) => ACCOUNT_NAMES.map((account_name) => ({ user_id: u.id, account_name })));

async function allBalances(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const ref of allAccounts()) out.set(JSON.stringify(ref), await balanceOf(ref));
  return out;
}

/** The claim's canonical byte form, written from the README (not from the app's code). */
function canonicalClaim(payer: AccountRef, payee: AccountRef, amount: number): string {
  const ref = (a: AccountRef): string => JSON.stringify({ account_name: a.account_name, user_id: a.user_id });
  return `{"amount":${amount},"payee":${ref(payee)},"payer":${ref(payer)},"type":"transfer"}`;
}

const sha256Hex = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex");

interface TransferReceipt {
  transaction_id: string;
  claim: string;
  claims_digest: string;
  receipt: Receipt;
}

/** GET /app/transfer/receipt, asking again while the node answers 202 (not committed yet / being fetched). */
async function transferReceipt(client: ConfideClient, txId: string): Promise<CcfResponse> {
  for (let attempt = 0; ; attempt++) {
    const reply = await app(client, "GET", `/transfer/receipt?transaction_id=${txId}`);
    if (reply.status !== 202 || attempt >= 200) return reply;
    await sleep(20);
  }
}

/** Checks a transfer's receipt end to end: signature chain to the service, claims digest = SHA-256 of the recomputed claim. */
async function assertProvesTransfer(reply: CcfResponse, txId: string, payer: AccountRef, payee: AccountRef, amount: number): Promise<void> {
  assert.equal(reply.status, 200, `receipt of ${txId}: ${reply.status} ${reply.text}`);
  const body = reply.json as TransferReceipt;
  const expected = canonicalClaim(payer, payee, amount);
  assert.equal(body.transaction_id, txId);
  assert.equal(body.claim, expected);
  await assert.doesNotReject(verifyReceipt(body.receipt, serviceCertPem), `receipt of ${txId} does not verify`);
  assert.equal(body.receipt.leaf_components?.claims_digest, sha256Hex(expected));
  assert.equal(body.claims_digest, sha256Hex(expected));
  assert.ok(body.receipt.leaf_components?.commit_evidence.startsWith(`ce:${txId}:`));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-banking-"));
  members = await Promise.all(["bank0", "bank1", "bank2"].map((name) => generateIdentity(name)));
  users = await Promise.all(Array.from({ length: USER_COUNT }, (_, i) => generateIdentity(`user${i}`)));
  // Frequent signatures: transfers commit (and get receipts) within tens of milliseconds.
  node = await startNode({ dir, port: 0, signatureIntervalMs: 20, members: members.map((m) => ({ certPem: m.certPem, data: { bank: m.name } })) });
  serviceCertPem = node.core.identity.serviceCertPem;
  anonymous = clientAs();
  const consortium = members.map((m) => new Member(anonymous, m));
  for (const member of consortium) await member.ackStateDigest();
  // As in the sample's demo: users are added by proposal, the app is deployed and the service opened by a majority.
  await proposeAndAccept(
    users.map((u) => ({ name: "set_user", args: { cert: u.certPem, user_data: { name: u.name } } })),
    consortium.slice(0, 2),
  );
  const bundle = JSON.parse(readFileSync(BUNDLE_FILE, "utf8")) as Bundle;
  await deployApp(bundle, consortium.slice(1, 3));
  await openService(consortium.slice(0, 2));
  bank = clientAs(members[0]);
  otherBank = clientAs(members[1]);
  for (const u of users) userClients.set(u.id, clientAs(u));
  // Every user gets the same accounts and one deposit in each (from either bank).
  for (const [i, ref] of allAccounts().entries()) {
    const opened = await app(bank, "PUT", `/account/${ref.user_id}/${ref.account_name}`);
    assert.equal(opened.status, 204, opened.text);
    const deposited = await app(i % 2 === 0 ? bank : otherBank, "POST", `/deposit/${ref.user_id}/${ref.account_name}`, { value: INITIAL_DEPOSIT });
    assert.equal(deposited.status, 204, deposited.text);
  }
});

after(async () => {
  for (const client of clients) client.close();
  await node?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("members open accounts and deposit", () => {
  it("opens an account (204), refuses to open it twice (400) or for an unknown user (404)", async () => {
    const alice = users[0]!;
    const opened = await app(bank, "PUT", `/account/${alice.id}/travel`);
    assert.equal(opened.status, 204);
    assert.equal(opened.body.length, 0);
    assert.match(opened.txId ?? "", /^\d+\.\d+$/);
    const again = await app(otherBank, "PUT", `/account/${alice.id}/travel`);
    assert.equal(again.status, 400);
    assert.equal((again.json as { error: { code: string } }).error.code, "AccountAlreadyExists");
    const stranger = await app(bank, "PUT", `/account/${"ab".repeat(32)}/travel`);
    assert.equal(stranger.status, 404);
    assert.equal((stranger.json as { error: { code: string } }).error.code, "UserNotFound");
    assert.equal(await balanceOf({ user_id: alice.id, account_name: "travel" }), 0);
  });

  it("deposits add to the balance the user sees", async () => {
    const alice = users[0]!;
    const travel = { user_id: alice.id, account_name: "travel" };
    assert.equal((await app(bank, "POST", `/deposit/${alice.id}/travel`, { value: 70 })).status, 204);
    assert.equal((await app(otherBank, "POST", `/deposit/${alice.id}/travel`, { value: 5 })).status, 204);
    assert.equal(await balanceOf(travel), 75);
    const reply = await app(userClient(alice), "GET", "/balance/travel");
    assert.deepEqual(reply.json, { balance: 75 });
    assert.equal(reply.headers["content-type"], "application/json");
  });
});

describe("users transfer", () => {
  it("moves the amount between two users' accounts in one transaction (204 and a transaction id)", async () => {
    const [alice, bob] = [users[0]!, users[1]!];
    const from = { user_id: alice.id, account_name: "checking" };
    const to = { user_id: bob.id, account_name: "savings" };
    const [fromBefore, toBefore] = [await balanceOf(from), await balanceOf(to)];
    const reply = await app(userClient(alice), "POST", "/transfer/checking", { value: 40, user_id_to: bob.id, account_name_to: "savings" });
    assert.equal(reply.status, 204, reply.text);
    assert.match(reply.txId ?? "", /^\d+\.\d+$/);
    assert.equal(await balanceOf(from), fromBefore - 40);
    assert.equal(await balanceOf(to), toBefore + 40);
  });

  it("allows moving money between one's own accounts, and the whole balance", async () => {
    const carol = users[2]!;
    const checking = { user_id: carol.id, account_name: "checking" };
    const savings = { user_id: carol.id, account_name: "savings" };
    const all = await balanceOf(checking);
    const before = await balanceOf(savings);
    const reply = await app(userClient(carol), "POST", "/transfer/checking", { value: all, user_id_to: carol.id, account_name_to: "savings" });
    assert.equal(reply.status, 204, reply.text);
    assert.equal(await balanceOf(checking), 0);
    assert.equal(await balanceOf(savings), before + all);
    // Put it back for the later tests.
    assert.equal((await app(userClient(carol), "POST", "/transfer/savings", { value: all, user_id_to: carol.id, account_name_to: "checking" })).status, 204);
  });
});

describe("bad requests: the right 4xx, CCF's error shape, balances unchanged", () => {
  const dave = () => users[3]!;
  const erin = () => users[4]!;
  const transferTo = (extra: Record<string, unknown>): Record<string, unknown> => ({ user_id_to: erin().id, account_name_to: "checking", ...extra });

  interface Case {
    name: string;
    send: () => Promise<CcfResponse>;
    status: number;
    code?: string;
  }

  const cases: Case[] = [
    { name: "overdraft", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1_000_000 })), status: 400, code: "InsufficientFunds" },
    { name: "overdraft by one", send: async () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: (await balanceOf({ user_id: dave().id, account_name: "checking" })) + 1 })), status: 400, code: "InsufficientFunds" },
    { name: "negative amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: -10 })), status: 400, code: "InvalidInput" },
    { name: "zero amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 0 })), status: 400, code: "InvalidInput" },
    { name: "fractional amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1.5 })), status: 400, code: "InvalidInput" },
    { name: "string amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: "10" })), status: 400, code: "InvalidInput" },
    { name: "amount beyond 2^53", send: () => app(userClient(dave()), "POST", "/transfer/checking", '{"value": 9007199254740993, "user_id_to": "x", "account_name_to": "checking"}'), status: 400, code: "InvalidInput" },
    { name: "huge float amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1e300 })), status: 400, code: "InvalidInput" },
    { name: "null amount", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: null })), status: 400, code: "InvalidInput" },
    { name: "missing value", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({})), status: 400, code: "InvalidInput" },
    { name: "missing user_id_to", send: () => app(userClient(dave()), "POST", "/transfer/checking", { value: 1, account_name_to: "checking" }), status: 400, code: "InvalidInput" },
    { name: "missing account_name_to", send: () => app(userClient(dave()), "POST", "/transfer/checking", { value: 1, user_id_to: erin().id }), status: 400, code: "InvalidInput" },
    { name: "numeric user_id_to", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1, user_id_to: 7 })), status: 400, code: "InvalidInput" },
    { name: "body not JSON", send: () => app(userClient(dave()), "POST", "/transfer/checking", "value=10"), status: 400, code: "InvalidInput" },
    { name: "empty body", send: () => app(userClient(dave()), "POST", "/transfer/checking"), status: 400, code: "InvalidInput" },
    { name: "body a JSON array", send: () => app(userClient(dave()), "POST", "/transfer/checking", [1, 2]), status: 400, code: "InvalidInput" },
    { name: "unknown payer account", send: () => app(userClient(dave()), "POST", "/transfer/holiday", transferTo({ value: 1 })), status: 404, code: "AccountNotFound" },
    { name: "unknown payee user", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1, user_id_to: "cd".repeat(32) })), status: 404, code: "UserNotFound" },
    { name: "unknown payee account", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1, account_name_to: "holiday" })), status: 404, code: "AccountNotFound" },
    { name: "a member's id as payee", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1, user_id_to: members[0]!.id })), status: 404, code: "UserNotFound" },
    { name: "self-transfer", send: () => app(userClient(dave()), "POST", "/transfer/checking", { value: 1, user_id_to: dave().id, account_name_to: "checking" }), status: 400, code: "InvalidInput" },
    { name: "bad account name", send: () => app(userClient(dave()), "POST", "/transfer/checking", transferTo({ value: 1, account_name_to: "a/b" })), status: 400, code: "InvalidInput" },
    { name: "deposit: negative", send: () => app(bank, "POST", `/deposit/${dave().id}/checking`, { value: -5 }), status: 400, code: "InvalidInput" },
    { name: "deposit: fractional", send: () => app(bank, "POST", `/deposit/${dave().id}/checking`, { value: 2.5 }), status: 400, code: "InvalidInput" },
    { name: "deposit: string", send: () => app(bank, "POST", `/deposit/${dave().id}/checking`, { value: "5" }), status: 400, code: "InvalidInput" },
    { name: "deposit: missing value", send: () => app(bank, "POST", `/deposit/${dave().id}/checking`, {}), status: 400, code: "InvalidInput" },
    { name: "deposit: unknown account", send: () => app(bank, "POST", `/deposit/${dave().id}/holiday`, { value: 5 }), status: 404, code: "AccountNotFound" },
    { name: "deposit: unknown user", send: () => app(bank, "POST", `/deposit/${"ef".repeat(32)}/checking`, { value: 5 }), status: 404, code: "UserNotFound" },
    { name: "deposit: past 2^53 - 1", send: () => app(bank, "POST", `/deposit/${dave().id}/checking`, { value: Number.MAX_SAFE_INTEGER }), status: 400, code: "BalanceLimitExceeded" },
    { name: "balance: unknown account", send: () => app(userClient(dave()), "GET", "/balance/holiday"), status: 404, code: "AccountNotFound" },
    // Wrong caller policy: the node refuses before the app runs.
    { name: "user deposits (member_cert only)", send: () => app(userClient(dave()), "POST", `/deposit/${dave().id}/checking`, { value: 5 }), status: 401, code: "InvalidAuthenticationInfo" },
    { name: "user opens an account (member_cert only)", send: () => app(userClient(dave()), "PUT", `/account/${dave().id}/mine`), status: 401, code: "InvalidAuthenticationInfo" },
    { name: "member transfers (user_cert only)", send: () => app(bank, "POST", "/transfer/checking", transferTo({ value: 1 })), status: 401, code: "InvalidAuthenticationInfo" },
    { name: "member reads a balance (user_cert only)", send: () => app(bank, "GET", "/balance/checking"), status: 401, code: "InvalidAuthenticationInfo" },
    { name: "no client certificate", send: () => app(anonymous, "POST", "/transfer/checking", transferTo({ value: 1 })), status: 401, code: "InvalidAuthenticationInfo" },
    { name: "unknown user certificate", send: async () => app(clientAs(await generateIdentity("mallory")), "POST", "/transfer/checking", transferTo({ value: 1 })), status: 401, code: "InvalidAuthenticationInfo" },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status}${c.code ? ` ${c.code}` : ""}`, async () => {
      const before = await allBalances();
      const reply = await c.send();
      assert.equal(reply.status, c.status, reply.text);
      const error = (reply.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
      assert.equal(typeof error?.message, "string", `CCF error shape expected, got ${reply.text}`);
      if (c.code !== undefined) assert.equal(error?.code, c.code);
      assert.deepEqual(await allBalances(), before);
    });
  }
});

describe("history", () => {
  it("lists the caller's account entries newest first, in pages linked by nextLink", async () => {
    const [frank, grace] = [users[5]!, users[6]!];
    // A fresh account: 1 deposit, then 12 transfers out.
    assert.equal((await app(bank, "PUT", `/account/${frank.id}/ledger`)).status, 204);
    assert.equal((await app(bank, "POST", `/deposit/${frank.id}/ledger`, { value: 1000 })).status, 204);
    for (let i = 1; i <= 12; i++) {
      const reply = await app(userClient(frank), "POST", "/transfer/ledger", { value: i, user_id_to: grace.id, account_name_to: "savings" });
      assert.equal(reply.status, 204, reply.text);
    }
    const first = await app(userClient(frank), "GET", "/history/ledger?limit=5");
    assert.equal(first.status, 200, first.text);
    const page = first.json as { account_name: string; total: number; transactions: Array<Record<string, unknown>>; nextLink?: string };
    assert.equal(page.account_name, "ledger");
    assert.equal(page.total, 13);
    assert.deepEqual(page.transactions[0], {
      index: 12,
      type: "transfer_out",
      amount: 12,
      balance: 1000 - 78,
      counterparty: { user_id: grace.id, account_name: "savings" },
    });
    assert.deepEqual(page.transactions.map((t) => t.index), [12, 11, 10, 9, 8]);
    // Follow the links to the end: every entry once, newest first, the deposit last.
    const seen = [...page.transactions];
    let next = page.nextLink;
    while (next !== undefined) {
      const reply = await userClient(frank).request("GET", next);
      assert.equal(reply.status, 200, reply.text);
      const more = reply.json as typeof page;
      seen.push(...more.transactions);
      next = more.nextLink;
    }
    assert.deepEqual(seen.map((t) => t.index), [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    assert.deepEqual(seen.at(-1), { index: 0, type: "deposit", amount: 1000, balance: 1000, member_id: members[0]!.id });
    // The payee sees the incoming side.
    const incoming = await app(userClient(grace), "GET", "/history/savings?limit=1");
    assert.deepEqual((incoming.json as typeof page).transactions[0], {
      index: (incoming.json as typeof page).total - 1,
      type: "transfer_in",
      amount: 12,
      balance: await balanceOf({ user_id: grace.id, account_name: "savings" }),
      counterparty: { user_id: frank.id, account_name: "ledger" },
    });
    // Defaults: 20 per page, so all 13 at once.
    const all = await app(userClient(frank), "GET", "/history/ledger");
    assert.equal((all.json as typeof page).transactions.length, 13);
    assert.equal((all.json as typeof page).nextLink, undefined);
  });

  it("is private to the account holder and refuses bad paging parameters", async () => {
    const [frank, grace] = [users[5]!, users[6]!];
    // Grace has no "ledger" account: she cannot read Frank's.
    assert.equal((await app(userClient(grace), "GET", "/history/ledger")).status, 404);
    for (const query of ["limit=0", "limit=101", "limit=x", "before=-1", "limit=1.5"]) {
      const reply = await app(userClient(frank), "GET", `/history/ledger?${query}`);
      assert.equal(reply.status, 400, query);
      assert.equal((reply.json as { error: { code: string } }).error.code, "InvalidQueryParameterValue");
    }
    assert.equal((await app(bank, "GET", "/history/ledger")).status, 401);
  });
});

describe("transfer receipts", () => {
  it("returns a receipt that verifies and proves the recomputed claim; only to the payer, only for transfers", async () => {
    const [heidi, ivan] = [users[7]!, users[8]!];
    const payer = { user_id: heidi.id, account_name: "savings" };
    const payee = { user_id: ivan.id, account_name: "checking" };
    const sent = await app(userClient(heidi), "POST", "/transfer/savings", { value: 17, user_id_to: ivan.id, account_name_to: "checking" });
    assert.equal(sent.status, 204, sent.text);
    const txId = sent.txId!;
    await assertProvesTransfer(await transferReceipt(userClient(heidi), txId), txId, payer, payee, 17);
    // The payee (or anyone else) is not given the payer's receipt.
    const other = await transferReceipt(userClient(ivan), txId);
    assert.equal(other.status, 404);
    assert.equal((other.json as { error: { code: string } }).error.code, "TransferNotFound");
    // A deposit is not a transfer.
    const deposit = await app(bank, "POST", `/deposit/${heidi.id}/savings`, { value: 1 });
    const notTransfer = await transferReceipt(userClient(heidi), deposit.txId!);
    assert.equal(notTransfer.status, 404);
    // Bad and unknown transaction ids.
    for (const bad of ["", "abc", "2", "2.x", "0.0", "-1.5"]) {
      const reply = await app(userClient(heidi), "GET", `/transfer/receipt?transaction_id=${bad}`);
      assert.equal(reply.status, 400, bad);
    }
    assert.equal((await app(userClient(heidi), "GET", "/transfer/receipt")).status, 400);
    const [view] = txId.split(".");
    const unknown = await app(userClient(heidi), "GET", `/transfer/receipt?transaction_id=${view}.99999999`);
    assert.equal(unknown.status, 404);
    assert.equal((unknown.json as { error: { code: string } }).error.code, "TransactionNotFound");
  });
});

describe("must hold: concurrent transfers never create or destroy money", () => {
  it(`${CONCURRENT_CLIENTS} clients × ${TRANSFERS_PER_CLIENT} random transfers: the sum is invariant, each balance adds up, every receipt proves its claim`, async (t) => {
    const accounts = allAccounts();
    const before = await allBalances();
    const total = [...before.values()].reduce((a, b) => a + b, 0);

    interface Done {
      client: ConfideClient;
      payer: AccountRef;
      payee: AccountRef;
      amount: number;
      txId: string;
    }
    const done: Done[] = [];
    let refused = 0;
    // Each task is one client with its own kept-alive TLS connection, acting as one user.
    const tasks = Array.from({ length: CONCURRENT_CLIENTS }, async (_, i) => {
      const user = users[i % USER_COUNT]!;
      const client = clientAs(user);
      for (let t = 0; t < TRANSFERS_PER_CLIENT; t++) {
        const payer = { user_id: user.id, account_name: ACCOUNT_NAMES[randomInt(ACCOUNT_NAMES.length)]! };
        const others = accounts.filter((a) => !(a.user_id === payer.user_id && a.account_name === payer.account_name));
        const payee = others[randomInt(others.length)]!;
        const amount = randomInt(1, TRANSFER_MAX + 1);
        const reply = await app(client, "POST", `/transfer/${payer.account_name}`, { value: amount, user_id_to: payee.user_id, account_name_to: payee.account_name });
        if (reply.status === 204) {
          done.push({ client, payer, payee, amount, txId: reply.txId! });
        } else {
          // The only acceptable refusal: the payer's balance was too low at that moment.
          assert.equal(reply.status, 400, reply.text);
          assert.equal((reply.json as { error: { code: string } }).error.code, "InsufficientFunds");
          refused++;
        }
      }
    });
    await Promise.all(tasks);
    assert.equal(done.length + refused, CONCURRENT_CLIENTS * TRANSFERS_PER_CLIENT);
    assert.ok(done.length > 0);
    assert.equal(new Set(done.map((d) => d.txId)).size, done.length, "each transfer is its own transaction");
    t.diagnostic(`${done.length} transfers accepted, ${refused} refused for insufficient funds`);

    // Conservation: the sum is unchanged, and each balance is exactly what the accepted transfers imply.
    const after = await allBalances();
    assert.equal([...after.values()].reduce((a, b) => a + b, 0), total);
    const expected = new Map(before);
    for (const d of done) {
      expected.set(JSON.stringify(d.payer), expected.get(JSON.stringify(d.payer))! - d.amount);
      expected.set(JSON.stringify(d.payee), expected.get(JSON.stringify(d.payee))! + d.amount);
    }
    assert.deepEqual(after, expected);
    for (const balance of after.values()) assert.ok(balance >= 0);

    // Every accepted transfer's receipt verifies against the service certificate and proves its claim.
    await Promise.all(
      Array.from({ length: CONCURRENT_CLIENTS }, async (_, i) => {
        for (let j = i; j < done.length; j += CONCURRENT_CLIENTS) {
          const d = done[j]!;
          await assertProvesTransfer(await transferReceipt(d.client, d.txId), d.txId, d.payer, d.payee, d.amount);
        }
      }),
    );
  });
});
