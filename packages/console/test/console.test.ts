// The web console in a real browser (Debian's Chromium driven by
// playwright-core) against a real sandbox on ephemeral ports: a member
// proposes a user and two members vote it in (the proposal shows Accepted and
// the user appears); a malformed proposal shows the service's error and
// proposes nothing; a party's CSV upload shows report counts equal to the
// API's, a bad CSV shows the app's error and ingests nothing; a receipt
// verifies in the page, step by step, and a tampered one fails at its
// signature. The browser's console must stay free of errors throughout.
// Screenshots go to docs/img/ for docs/console.md.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { ConfideClient, Governance, Member, ReconClient, generateIdentity, readIdentity } from "@confide/client";
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
});
