// `confide recon` as child processes and the SDK's report receipts, against a
// real node running the reconciliation app under real governance: generated
// data with valid LEIs; a streamed ingest that fails part-way, refuses a file
// whose sent part changed, and resumes without resending; the policy's batch
// limit learnt from its refusal; report rows equal to a reference computed
// from the files; every report page's receipt verified.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { startNode, type ServingNode } from "@confide/node";
import { Client, createIdentity, Member, proposeWithTwoVotes, type Identity } from "../../../apps/reconciliation/test/helpers/consortium.ts";
import { buildBundle } from "../../../apps/reconciliation/scripts/build.ts";
import { ConfideClient, ReceiptError, ReconClient, verifyReportReceipt } from "../src/index.ts";
import { confide } from "./helpers/run-confide.ts";
import { isValidLei } from "../src/recon/generate.ts";

const BANKS = ["bankA", "bankB", "bankC"] as const;

/** Rows of a generated CSV: lei → nace. */
function readParty(file: string): Map<string, string> {
  const [, ...lines] = readFileSync(file, "utf8").trim().split("\n");
  return new Map(lines.map((line) => line.split(",") as [string, string]));
}

let dir: string;
let node: ServingNode;
let gov: Client;
let members: Member[];
let env: Record<string, string>;
const ids = {} as Record<(typeof BANKS)[number], Identity>;

async function pass(actions: unknown[]): Promise<void> {
  assert.equal(await proposeWithTwoVotes(gov, members, actions), "Accepted");
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-recon-cli-"));
  for (const bank of BANKS) {
    ids[bank] = await createIdentity(bank);
    writeFileSync(join(dir, `${bank}_cert.pem`), ids[bank].certPem);
    writeFileSync(join(dir, `${bank}_privk.pem`), ids[bank].keyPem);
  }
  members = BANKS.map((bank) => new Member(ids[bank]));
  node = await startNode({ dir: join(dir, "node"), port: 0, signatureIntervalMs: 20, members: BANKS.map((bank) => ({ certPem: ids[bank].certPem, data: { party: bank } })) });
  const serviceCert = node.core.identity.serviceCertPem;
  writeFileSync(join(dir, "service_cert.pem"), serviceCert);
  env = { CONFIDE_URL: node.url, CONFIDE_CACERT: join(dir, "service_cert.pem") };
  gov = new Client(node.url, serviceCert);
  for (const m of members) await m.activate(gov);
  await pass([
    { name: "set_constitution", args: { constitution: constitutionWith(reconciliationActions()) } },
    { name: "transition_service_to_open", args: { next_service_identity: serviceCert } },
  ]);
  await pass([{ name: "set_js_app", args: { bundle: await buildBundle() } }, { name: "set_reconciliation_policy", args: { policy: { k: 2 } } }]);
});

after(async () => {
  gov.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("confide recon", () => {
  const data = () => join(dir, "data");
  const as = (bank: string) => ["--as", join(dir, bank)];

  it("--help lists the recon commands", async () => {
    const run = await confide(["recon", "--help"]);
    assert.equal(run.code, 0, run.stderr);
    for (const command of ["ingest", "report", "generate"]) assert.match(run.stdout, new RegExp(`\\n  ${command} `));
    assert.equal((await confide(["recon", "generate", "--keys", "0"])).code, 2);
  });

  it("generate writes one CSV per party: valid LEIs, the asked overlap, the same files for the same seed", async () => {
    const args = ["recon", "generate", "--parties", "3", "--keys", "3000", "--overlap", "0.7", "--disagree", "0.1", "--seed", "s1", "--json"];
    const run = await confide([...args, "--out", data()]);
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as { files: string[]; records: number[] };
    assert.equal(result.files.length, 3);
    const keys = new Set<string>();
    for (const [i, file] of result.files.entries()) {
      const text = readFileSync(file, "utf8");
      assert.ok(text.startsWith("lei,nace\n"));
      const rows = readParty(file);
      assert.equal(rows.size, result.records[i]);
      // Each party holds about 70% of the keys (3 standard deviations: ±75).
      assert.ok(Math.abs(rows.size - 2100) < 100, `${rows.size} rows`);
      for (const [lei, nace] of rows) {
        assert.ok(isValidLei(lei), lei);
        assert.match(nace, /^[A-U]\.\d\d(\.\d+)?$/);
        keys.add(lei);
      }
    }
    assert.equal(keys.size, 3000);
    const again = await confide([...args, "--out", join(dir, "again")]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readFileSync(join(dir, "again", "party-1.csv"), "utf8"), readFileSync(result.files[0]!, "utf8"));
    const rich = await confide(["recon", "generate", "--parties", "2", "--keys", "10", "--fields", "nace,price,settles", "--out", join(dir, "rich")]);
    assert.equal(rich.code, 0, rich.stderr);
    const [header, first] = readFileSync(join(dir, "rich", "party-1.csv"), "utf8").split("\n");
    assert.equal(header, "lei,nace,price,settles");
    assert.match(first!, /^[0-9A-Z]{20},[A-U]\.[\d.]+,\d+\.\d\d,\d{4}-\d\d-\d\d$/);
    assert.ok(existsSync(join(dir, "rich", "schema-proposal.json")));
  });

  it("ingest streams in batches, stops at a bad batch, refuses a changed file, and resumes without resending", async () => {
    const file = join(dir, "bankA.csv");
    const good = readFileSync(join(data(), "party-1.csv"), "utf8");
    const lines = good.split("\n");
    const total = lines.filter((l) => l !== "").length - 1;
    const bad = [...lines];
    bad[1200] = `${bad[1200]!.split(",")[0]},`; // record 1200: nace missing
    writeFileSync(file, bad.join("\n"));
    const failed = await confide(["recon", "ingest", file, ...as("bankA"), "--batch-size", "500"], env);
    assert.equal(failed.code, 1, failed.stderr);
    assert.match(failed.stderr, /batch 1: 500 records done/);
    assert.match(failed.stderr, /batch 2: 1000 records done/);
    assert.match(failed.stderr, /400 ValidationError: .*\n {2}row 200 nace: is required/);
    assert.match(failed.stderr, /stopped after 1000 records; run the same command again to resume/);
    const state = JSON.parse(readFileSync(`${file}.confide-ingest.json`, "utf8")) as { records_done: number };
    assert.equal(state.records_done, 1000);

    // A change to a record already sent is refused: the resume would skip it.
    const changed = [...lines];
    changed[10] = `${changed[10]!.split(",")[0]},Z.99`;
    writeFileSync(file, changed.join("\n"));
    const refused = await confide(["recon", "ingest", file, ...as("bankA"), "--batch-size", "500"], env);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /the first 1000 records of .* changed since the interrupted run: use --restart/);

    writeFileSync(file, good);
    const resumed = await confide(["recon", "ingest", file, ...as("bankA"), "--batch-size", "500", "--json"], env);
    assert.equal(resumed.code, 0, resumed.stderr);
    const summary = JSON.parse(resumed.stdout);
    assert.equal(summary.resumed_after, 1000);
    assert.equal(summary.sent, total - 1000);
    // Totals span both runs, and nothing was sent twice: every record was added once.
    assert.deepEqual(summary.totals, { records: total, added: total, changed: 0, unchanged: 0 });
    assert.ok(!existsSync(`${file}.confide-ingest.json`));
  });

  it("learns a smaller batch limit from the policy's refusal", async () => {
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 2, batch_size: 400 } } }]);
    for (const [i, bank] of [[2, "bankB"], [3, "bankC"]] as const) {
      const run = await confide(["recon", "ingest", join(data(), `party-${i}.csv`), ...as(bank), "--json"], env);
      assert.equal(run.code, 0, run.stderr);
      const summary = JSON.parse(run.stdout);
      assert.equal(summary.batch_size, 400);
      assert.equal(summary.totals.added, readParty(join(data(), `party-${i}.csv`)).size);
    }
  });

  it("report --status LACK_OF_CONSENSUS --csv matches a reference computed from the files, every page's receipt verified", async () => {
    const parties = [1, 2, 3].map((i) => readParty(join(data(), `party-${i}.csv`)));
    const expected: string[] = [];
    for (const [lei, nace] of parties[0]!) {
      const values = parties.map((p) => p.get(lei)).filter((v): v is string => v !== undefined);
      if (values.length >= 2 && new Set(values).size > 1) {
        const agreeing = values.filter((v) => v === nace).length;
        expected.push(["LACK_OF_CONSENSUS", agreeing > values.length - agreeing ? "Majority" : "Minority", new Set(values).size, agreeing, lei, nace].join(","));
      }
    }
    assert.ok(expected.length > 50);
    const run = await confide(["recon", "report", ...as("bankA"), "--status", "LACK_OF_CONSENSUS", "--csv", "--verify"], env);
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trim().split("\n");
    assert.equal(header, "group_status,majority_minority,count_of_unique_values,members_in_agreement,lei,nace");
    assert.deepEqual(rows, expected);
    assert.match(run.stderr, /verified the receipt of every page/);
  });

  it("the SDK verifies a report's receipt and rejects a body it does not cover", async () => {
    const client = new ConfideClient({ url: node.url, serviceCertPem: node.core.identity.serviceCertPem, identity: ids.bankB });
    try {
      const recon = new ReconClient(client);
      const page = await recon.reportPage({ limit: 10 });
      assert.equal(page.rows.length, 10);
      const verified = await recon.verifyReport(page.response);
      assert.equal(verified.txId, page.response.txId);
      assert.equal(verified.receipt.leaf_components?.claims_digest, verified.claimsDigest);
      const { row, response } = await recon.reportKey(String(page.rows[0]!.lei));
      assert.equal(row.lei, page.rows[0]!.lei);
      await verifyReportReceipt(client, response);
      const forged = Buffer.from(response.text.replace(/"(Majority|Minority)"/, (m) => (m === '"Majority"' ? '"Minority"' : '"Majority"')));
      await assert.rejects(verifyReportReceipt(client, { ...response, body: forged }), ReceiptError);
    } finally {
      client.close();
    }
  });
});
