// The web console in a real browser (Debian's Chromium driven by
// playwright-core) against a real sandbox on ephemeral ports: a member
// proposes a user and two members vote it in (the proposal shows Accepted and
// the user appears); a malformed proposal shows the service's error and
// proposes nothing; a party's CSV upload shows report counts equal to the
// API's, a bad CSV shows the app's error and ingests nothing; a receipt
// verifies in the page, step by step, and a tampered one fails at its
// signature; the ledger explorer lists the node's ledger files (genesis, a
// signature and what it signs, a private write only as its size) and a
// transaction clicked there gets its receipt verified; the report's table is
// filtered, paged and downloaded, its majority/minority chart counts what the
// API says; Banking shows the user's accounts and a transfer whose receipt
// verifies. The browser's console must stay free of errors on every page.
// Screenshots go to docs/img/ for docs/console.md.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { ConfideClient, Governance, Member, ReconClient, generateIdentity, readIdentity } from "@confide/client";
import type { LedgerPage, ReportQuery } from "@confide/sdk";
import { DEFAULT_BUNDLES, startSandbox, type RunningSandbox } from "../../client/src/sandbox/sandbox.ts";
import type { SandboxDescription } from "../../client/src/sandbox/workspace.ts";

const CHROMIUM = "/usr/bin/chromium";
// As the machine notes say: without the background-networking flags Chromium dials out and this closed network refuses it.
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const CONSOLE_DIR = fileURLToPath(new URL("../dist/", import.meta.url));
const DOCS_IMG = fileURLToPath(new URL("../../../docs/img/", import.meta.url));
/** A page's live data is polled every second; a few polls is plenty. */
const UI_TIMEOUT_MS = 15_000;

describe("web console in Chromium", () => {
  let sandbox: RunningSandbox;
  let description: SandboxDescription;
  let workspace: string;
  let browser: Browser;
  let page: Page;
  const browserErrors: string[] = [];

  const service = (name: string) => description.services.find((s) => s.name === name)!;
  const clientAs = (serviceName: string, identity?: { certificate: string; key: string }) => {
    const svc = service(serviceName);
    return new ConfideClient({
      url: svc.url,
      serviceCertPem: readFileSync(svc.serviceCertificate, "utf8"),
      ...(identity ? { identity: readIdentity(identity.certificate, identity.key) } : {}),
    });
  };
  /** Chromium logs each 4xx answer as a failed resource load: a test that provokes a refusal takes exactly those off. */
  const takeRefusals = (count: number, status: number) => {
    const refusals = browserErrors.filter((e) => e === `Failed to load resource: the server responded with a status of ${status} (Bad Request)`);
    assert.equal(refusals.length, count, `expected ${count} refused request(s) in the browser log, got: ${JSON.stringify(browserErrors)}`);
    browserErrors.splice(0, browserErrors.length, ...browserErrors.filter((e) => !refusals.includes(e)));
  };
  const actAs = (name: string) => page.getByLabel("Acting as").selectOption(name);
  const useService = (name: string) => page.getByRole("combobox", { name: /^Service/ }).selectOption(name);
  const userClient = (serviceName: string, userName: string) => {
    const user = description.users.find((u) => u.name === userName)!;
    return clientAs(serviceName, { certificate: user.certificate, key: user.key });
  };
  const open = (pageName: string) => page.getByRole("navigation", { name: "Pages" }).getByRole("button", { name: pageName }).click();

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Chromium is not installed at ${CHROMIUM}: the console's browser tests need it. Install it with: apt-get install -y chromium`);
    if (!existsSync(join(CONSOLE_DIR, "index.html"))) {
      const built = spawnSync("npm", ["run", "build", "-w", "@confide/console"], { encoding: "utf8" });
      assert.equal(built.status, 0, `building the console failed:\n${built.stdout}\n${built.stderr}`);
    }
    workspace = mkdtempSync(join(tmpdir(), "confide-console-"));
    sandbox = await startSandbox({
      workspace,
      fresh: true,
      port: 0,
      bankingPort: 0,
      consolePort: 0,
      consoleDir: CONSOLE_DIR,
      usersPerBank: 1,
      bundles: DEFAULT_BUNDLES,
      displayCwd: workspace,
      out: () => undefined,
      err: () => undefined,
    });
    description = sandbox.description;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    // The console serves the node's certificate, which chains to the service certificate, not to a public CA.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1366, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on("console", (message) => message.type() === "error" && browserErrors.push(message.text()));
    page.on("pageerror", (error) => browserErrors.push(error.message));
    page.setDefaultTimeout(UI_TIMEOUT_MS);
    mkdirSync(DOCS_IMG, { recursive: true });
    await page.goto(description.console!.url);
  });

  after(async () => {
    await browser?.close();
    await sandbox?.stop();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  it("is served over HTTPS on localhost, named in sandbox.json, and shows the network live", async () => {
    assert.match(description.console!.url, /^https:\/\/localhost:\d+$/);
    await open("Network");
    await assert.doesNotReject(page.getByTestId("status-reconciliation").filter({ hasText: "Open" }).waitFor());
    await page.getByTestId("status-banking").filter({ hasText: "Open" }).waitFor();
    await page.screenshot({ path: join(DOCS_IMG, "console-network.png"), fullPage: true });
    assert.deepEqual(browserErrors, []);
  });

  it("a member proposes a user, two members vote, the proposal shows Accepted and the user appears", async () => {
    const newUser = await generateIdentity("console_user");
    await actAs("bank_a");
    await open("Governance");
    await page.getByLabel("Template").selectOption({ label: "Add user" });
    await page.getByLabel("Proposal (JSON)").fill(JSON.stringify({ actions: [{ name: "set_user", args: { cert: newUser.certPem, user_data: { via: "console" } } }] }, null, 2));
    await page.getByRole("button", { name: "Submit proposal" }).click();
    const status = await page.getByRole("status").filter({ hasText: /^Proposal [0-9a-f]+ is Open$/ }).textContent();
    const proposalId = /Proposal ([0-9a-f]+) is/.exec(status ?? "")![1]!;
    const row = page.locator(`tr[data-proposal-id="${proposalId}"]`);
    await row.getByText("set_user").waitFor();

    await page.getByRole("button", { name: `Vote yes on ${proposalId}` }).click();
    await row.getByRole("cell", { name: "1", exact: true }).waitFor();
    await row.getByText("Open").waitFor();
    await actAs("bank_b");
    await page.getByRole("button", { name: `Vote yes on ${proposalId}` }).click();
    await row.getByText("Accepted").waitFor();
    await page.locator(`tr[data-user-id="${newUser.id}"]`).waitFor();

    const gov = new Governance(clientAs("reconciliation"));
    assert.equal((await gov.proposal(proposalId)).proposalState, "Accepted");
    assert.ok((await gov.users()).some((u) => u.userId === newUser.id));
    gov.client.close();
    await page.screenshot({ path: join(DOCS_IMG, "console-governance.png"), fullPage: true });
    assert.deepEqual(browserErrors, []);
  });

  it("a malformed proposal shows the service's error and proposes nothing", async () => {
    const client = clientAs("reconciliation");
    const gov = new Governance(client);
    const before = (await gov.proposals()).length;
    const malformed = { actions: [{ name: "set_user", args: { cert: "not a certificate" } }] };
    // What the service says to this very proposal, sent by the API as another member (it is refused, so nothing is stored).
    const member = description.members.find((m) => m.name === "bank_c")!;
    const direct = await new Member(client, readIdentity(member.certificate, member.signingKey)).propose(malformed).then(
      () => assert.fail("the service accepted a malformed proposal"),
      (error: { code?: string }) => error,
    );
    await actAs("bank_a");
    await open("Governance");
    await page.getByLabel("Proposal (JSON)").fill(JSON.stringify(malformed));
    await page.getByRole("button", { name: "Submit proposal" }).click();
    const alert = page.getByRole("alert").filter({ hasText: direct.code! });
    await alert.waitFor();
    assert.equal((await gov.proposals()).length, before);
    client.close();
    takeRefusals(1, 400);
    assert.deepEqual(browserErrors, []);
  });

  it("a party uploads a CSV and sees report counts equal to the API's; a bad CSV shows the app's error and ingests nothing", async () => {
    const user = description.users.find((u) => u.name === "bank_a_user0")!;
    const recon = new ReconClient(clientAs("reconciliation", { certificate: user.certificate, key: user.key }));
    await actAs("bank_a_user0");
    await open("Reconciliation");
    const csv = "trade_id,price,settles,ccy\r\nT-9001,10.00,2026-12-10,USD\r\nT-9002,11.50,2026-12-11,EUR\r\n";
    await page.getByLabel("CSV file").setInputFiles({ name: "bank_a.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByTestId("ingest-counts").filter({ hasText: "2 records: 2 added" }).waitFor();
    assert.equal(await page.getByLabel("Upload progress").getAttribute("value"), "1");

    await page.getByRole("button", { name: "Show report" }).click();
    const api = (await recon.reportPage({ summary: true })).summary as { keys: number; status: Record<string, number> };
    for (const [status, count] of Object.entries(api.status)) {
      await page.getByTestId(`count-${status}`).filter({ hasText: new RegExp(`^${count}$`) }).waitFor();
    }
    await page.getByRole("table", { name: "Report rows" }).getByText("T-9001").waitFor();
    await page.screenshot({ path: join(DOCS_IMG, "console-reconciliation.png"), fullPage: true });

    const bad = "trade_id,price,settles,ccy\r\nT-9003,not a price,2026-12-12,USD\r\n";
    // What the app says to this very CSV through the API (refused, so nothing is stored).
    const refused = await recon.ingestCsv(bad).then(() => assert.fail("the app accepted a bad CSV"), (error: Error & { errorType?: string }) => error);
    await page.getByLabel("CSV file").setInputFiles({ name: "bad.csv", mimeType: "text/csv", buffer: Buffer.from(bad) });
    await page.getByRole("button", { name: "Upload" }).click();
    await page.getByRole("alert").filter({ hasText: refused.message }).waitFor();
    const after = (await recon.reportPage({ summary: true })).summary as { keys: number };
    assert.equal(after.keys, api.keys);
    await assert.rejects(recon.reportKey("T-9003"));
    recon.client.close();
    takeRefusals(1, 400);
    assert.deepEqual(browserErrors, []);
  });

  it("a receipt verifies in the page step by step, and a tampered one fails at its signature", async () => {
    const user = description.users.find((u) => u.name === "bank_b_user0")!;
    const client = clientAs("reconciliation", { certificate: user.certificate, key: user.key });
    const write = await client.request("POST", "/app/ingest", { body: [{ trade_id: "T-9100", price: "1.00", settles: "2026-12-20", ccy: "USD" }] });
    assert.equal(write.status, 200, write.text);
    await client.waitForCommit(write.txId!);
    client.close();
    await open("Ledger");
    await page.getByLabel("Transaction id").fill(write.txId!);
    await page.getByRole("button", { name: "Verify receipt" }).click();
    await page.getByRole("status").filter({ hasText: `Receipt for ${write.txId} verified` }).waitFor();
    const steps = page.getByLabel("Receipt verification").getByRole("listitem");
    assert.deepEqual(await steps.evaluateAll((items) => items.map((li) => li.className)), ["ok", "ok", "ok", "ok"]);
    await page.screenshot({ path: join(DOCS_IMG, "console-receipt.png"), fullPage: true });

    await page.getByLabel("Tamper with the signature first").check();
    await page.getByRole("button", { name: "Verify receipt" }).click();
    await page.getByRole("status").filter({ hasText: `Receipt for ${write.txId} does not verify (signature)` }).waitFor();
    assert.deepEqual(await steps.evaluateAll((items) => items.map((li) => li.className)), ["ok", "ok", "error"]);
    assert.deepEqual(browserErrors, []);
  });

  it("the ledger explorer lists genesis and a signature with their writes, a private write only as its size, and a clicked transaction's receipt verifies", async () => {
    // A private write whose clear values must never reach the page: the app keeps trades in private tables.
    const secretTrade = `T-${randomUUID().slice(0, 8)}`;
    const writer = userClient("reconciliation", "bank_c_user0");
    const write = await writer.request("POST", "/app/ingest", { body: [{ trade_id: secretTrade, price: "4242.42", settles: "2026-12-24", ccy: "GBP" }] });
    assert.equal(write.status, 200, write.text);
    await writer.waitForCommit(write.txId!);
    writer.close();
    const ingestTx = write.txId!;
    await actAs("bank_a");
    await useService("reconciliation");
    await open("Ledger");
    // The receipt test before this one left the page forging receipts.
    await page.getByLabel("Tamper with the signature first").uncheck();
    const transactions = page.getByRole("table", { name: "Transactions" });
    await transactions.locator("tbody tr").first().waitFor();
    assert.ok(await page.getByRole("list", { name: "Chunk files" }).getByText(/open \(being written\)/).count() === 1);

    // The newest page: a signature names the root it signs; the transaction before it gets a receipt over that very root.
    const signature = transactions.locator("tr.signature").filter({ has: page.locator("xpath=following-sibling::tr[1][not(contains(@class,'signature'))]") }).first();
    await signature.waitFor();
    const sigSeqno = Number(await signature.getAttribute("data-seqno"));
    const badge = (await page.getByTestId(`signature-${sigSeqno}`).textContent())!;
    const root = /root ([0-9a-f]{64})/.exec(badge)![1]!;
    assert.match(badge, new RegExp(`Signature over seqnos 1–${sigSeqno - 1}`));
    await assert.doesNotReject(signature.getByText("public:ccf.internal.signatures").waitFor());
    const signed = transactions.locator(`tr[data-seqno="${sigSeqno - 1}"]`);
    const signedTxId = (await signed.locator("td").first().locator("button").textContent())!;
    await signed.getByRole("button", { name: `Receipt for ${signedTxId}` }).click();
    const verdict = page.getByRole("status").filter({ hasText: `Receipt for ${signedTxId}` });
    await verdict.waitFor();
    assert.equal(await verdict.textContent(), `Receipt for ${signedTxId} verified: root ${root}`);
    assert.equal(await page.getByLabel("Transaction id").inputValue(), signedTxId);
    await page.screenshot({ path: join(DOCS_IMG, "console-ledger.png"), fullPage: true });

    // The private write: only its sealed size shows, never the trade.
    const ingestSeqno = Number(String(ingestTx).split(".")[1]);
    assert.ok(ingestSeqno > 0, `ingest tx id ${String(ingestTx)}`);
    await page.getByLabel("From seqno").fill(String(ingestSeqno));
    await page.getByRole("button", { name: "Go", exact: true }).click();
    const ingestRow = transactions.locator(`tr[data-seqno="${ingestSeqno}"]`);
    await ingestRow.waitFor();
    assert.match((await page.getByTestId(`private-${ingestSeqno}`).textContent())!, /^\d+ bytes, encrypted$/);
    const html = await page.content();
    for (const clear of [secretTrade, "4242.42", "2026-12-24"]) assert.ok(!html.includes(clear), `the page shows the private value ${clear}`);

    // Genesis: the first page of the ledger, its first writes listed, the rest (the constitution) one click away.
    // By keyboard: Enter in the seqno field goes there, Enter on Expand expands.
    await page.getByLabel("From seqno").fill("1");
    await page.getByLabel("From seqno").press("Enter");
    const genesis = transactions.locator('tr[data-seqno="1"]');
    await genesis.getByText("public:ccf.gov.service.info").waitFor();
    assert.equal(await genesis.getByText("public:ccf.gov.constitution", { exact: true }).count(), 0);
    await genesis.getByText(/more of \d+ writes/).waitFor();
    await genesis.getByRole("button", { name: /^Expand / }).focus();
    await page.keyboard.press("Enter");
    await genesis.getByText("public:ccf.gov.constitution", { exact: true }).waitFor();
    assert.equal(await genesis.getByRole("button", { name: /^Collapse / }).getAttribute("aria-expanded"), "true");
    assert.equal(await page.getByRole("button", { name: "Older" }).isDisabled(), true);
    await page.getByRole("button", { name: "Newest" }).click();
    await transactions.locator(`tr[data-seqno="${sigSeqno}"]`).waitFor();

    // The console server's ledger endpoint refuses what it cannot answer, in CCF's error shape.
    const api = (path: string) => page.request.get(`${description.console!.url}/api/services/reconciliation${path}`);
    const badLimit = await api("/ledger?limit=0");
    assert.equal(badLimit.status(), 400);
    assert.equal(((await badLimit.json()) as { error: { code: string } }).error.code, "InvalidQueryParameterValue");
    const beyond = await api(`/ledger/${sigSeqno + 1_000_000}`);
    assert.equal(beyond.status(), 404);
    assert.equal(((await beyond.json()) as { error: { code: string } }).error.code, "TransactionNotFound");
    const listed = (await (await api("/ledger?limit=100")).json()) as LedgerPage;
    assert.ok(listed.transactions.every((t, i) => i === 0 || t.seqno === listed.transactions[i - 1]!.seqno - 1));
    assert.deepEqual(browserErrors, []);
  });

  it("the report table is filtered by status, paged by the app's cursor, and downloaded as CSV; the majority/minority chart counts as the API does", async () => {
    const recon = new ReconClient(userClient("reconciliation", "bank_a_user0"));
    const rows = Array.from({ length: 45 }, (_, i) => `T-3${String(i).padStart(3, "0")},${i}.00,2026-11-${String((i % 28) + 1).padStart(2, "0")},USD`);
    await recon.ingestCsv(`trade_id,price,settles,ccy\r\n${rows.join("\r\n")}\r\n`);
    const apiRows = async (query: ReportQuery) => {
      const all: Record<string, unknown>[] = [];
      for await (const p of recon.reportPages({ ...query, summary: false })) all.push(...p.rows);
      return all;
    };
    const everything = await apiRows({});
    assert.ok(everything.length > 40, String(everything.length));

    await actAs("bank_a_user0");
    await useService("reconciliation");
    await open("Reconciliation");
    await page.getByRole("button", { name: "Show report" }).click();
    const table = page.getByRole("table", { name: "Report rows" });
    const keysShown = () => table.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => tr.querySelector("td")!.textContent));
    const firstColumnKey = (row: Record<string, unknown>) => String(row.key ?? row.trade_id);
    await page.waitForFunction(() => document.querySelectorAll('table[aria-label="Report rows"] tbody tr').length === 20);
    const pageOne = await keysShown();
    assert.deepEqual(pageOne, everything.slice(0, 20).map(firstColumnKey));
    await page.getByRole("button", { name: "Next page" }).click();
    await table.getByText(firstColumnKey(everything[20]!), { exact: true }).waitFor();
    assert.deepEqual(await keysShown(), everything.slice(20, 40).map(firstColumnKey));
    await page.getByRole("button", { name: "Previous page" }).click();
    await table.getByText(pageOne[0]!, { exact: true }).waitFor();
    assert.deepEqual(await keysShown(), pageOne);

    // Majority/minority of the party's own values, per attribute, as the API's detailed rows count them:
    // Bank A's values are with the majority, Bank C's price and settlement date of some trades are not.
    const standing = async (client: ReconClient) => {
      const counts: Record<string, number> = {};
      for await (const p of client.reportPages({ view: "detailed", summary: false })) {
        for (const row of p.rows) {
          for (const [attribute, verdict] of Object.entries(row.attributes as Record<string, { majority_minority: string | null }>)) {
            for (const side of ["Majority", "Minority"]) counts[`${side.toLowerCase()}-${attribute}`] = (counts[`${side.toLowerCase()}-${attribute}`] ?? 0) + (verdict.majority_minority === side ? 1 : 0);
          }
        }
      }
      return counts;
    };
    const checkStanding = async (counts: Record<string, number>) => {
      assert.deepEqual(Object.keys(counts).sort(), ["majority-ccy", "majority-price", "majority-settles", "minority-ccy", "minority-price", "minority-settles"]);
      for (const [testId, count] of Object.entries(counts)) await page.getByTestId(testId).filter({ hasText: new RegExp(`^${count}$`) }).waitFor();
    };
    await checkStanding(await standing(recon));

    // Filtered: only the keys of that status, the same as the API's.
    const filtered = await apiRows({ status: "LACK_OF_CONSENSUS" });
    assert.ok(filtered.length > 0 && filtered.length < 20, String(filtered.length));
    await page.getByRole("combobox", { name: /^Status/ }).selectOption("LACK_OF_CONSENSUS");
    await page.getByRole("button", { name: "Show report" }).click();
    await page.waitForFunction((n) => document.querySelectorAll('table[aria-label="Report rows"] tbody tr').length === n, filtered.length);
    assert.deepEqual(await keysShown(), filtered.map(firstColumnKey));
    assert.equal(await page.getByRole("button", { name: "Next page" }).isDisabled(), true);

    // Downloaded: the whole filtered report, as CSV.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV" }).click()]);
    const csv = readFileSync((await download.path())!, "utf8").trimEnd().split("\r\n");
    assert.equal(csv.length, filtered.length + 1);
    assert.deepEqual(csv.slice(1).map((line) => line.split(",")[0]), filtered.map(firstColumnKey));
    recon.client.close();

    const minority = new ReconClient(userClient("reconciliation", "bank_c_user0"));
    const bankC = await standing(minority);
    minority.client.close();
    assert.ok(bankC["minority-price"]! > 0 && bankC["minority-settles"]! > 0, JSON.stringify(bankC));
    await actAs("bank_c_user0");
    await page.getByRole("combobox", { name: /^Status/ }).selectOption("");
    await page.getByRole("button", { name: "Show report" }).click();
    await checkStanding(bankC);
    await page.screenshot({ path: join(DOCS_IMG, "console-reconciliation-report.png"), fullPage: true });
    assert.deepEqual(browserErrors, []);
  });

  it("Banking: the acting user's accounts, and a transfer whose receipt verifies in the page", async () => {
    const bank = userClient("banking", "bank_a_user0");
    const balance = async (account: string) => ((await bank.request("GET", `/app/balance/${account}`)).json as { balance: number }).balance;
    const checking = await balance("checking");
    await actAs("bank_a_user0");
    await useService("banking");
    await open("Banking");
    const accounts = page.getByRole("table", { name: "Accounts" });
    await accounts.getByRole("row", { name: `checking ${checking}` }).waitFor();
    await accounts.getByRole("row", { name: `savings ${await balance("savings")}` }).waitFor();
    await page.getByLabel("To").selectOption({ label: "Bank B user 0" });
    await page.getByLabel("Amount").fill("7");
    await page.getByRole("button", { name: "Transfer" }).click();
    await page.getByRole("status").filter({ hasText: /^Transfer \d+\.\d+ committed; its receipt verified in this page\.$/ }).waitFor();
    assert.equal(await balance("checking"), checking - 7);
    await accounts.getByRole("row", { name: `checking ${checking - 7}` }).waitFor();
    bank.close();
    await page.screenshot({ path: join(DOCS_IMG, "console-banking.png"), fullPage: true });
    assert.deepEqual(browserErrors, []);
  });

  it("shows no error in the browser console on any page, as a member or as a user, on either service", async () => {
    for (const service of ["reconciliation", "banking"]) {
      for (const as of ["bank_b", "bank_b_user0"]) {
        await useService(service);
        await actAs(as);
        for (const name of ["Network", "Governance", "Ledger", "Reconciliation", "Banking"]) {
          await open(name);
          await page.getByRole("heading", { level: 2 }).first().waitFor();
          // A couple of live polls.
          await page.waitForTimeout(1_200);
        }
      }
    }
    assert.deepEqual(browserErrors, []);
  });
});
