// The reconciliation app on a real node, deployed and reconfigured by real
// governance: five parties (one with two users) submit overlapping LEI → NACE
// data as JSON and CSV; every report row must equal a reference computed here
// from the submissions; proposals change verdicts only once accepted; bad
// batches are refused whole; a report's receipt proves its exact bytes.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { startNode, verifyReceipt, type Bundle, type ServingNode } from "@confide/node";
import { Client, createIdentity, Member, REJECT, type Identity, type Reply } from "./helpers/consortium.ts";

const bundle = JSON.parse(readFileSync(new URL("../dist/bundle.json", import.meta.url), "utf8")) as Bundle;

type Party = "Bank A" | "Bank B" | "Bank C" | "Bank D" | "Bank E";
const PARTIES: Party[] = ["Bank A", "Bank B", "Bank C", "Bank D", "Bank E"];

// LEI-like keys; each comment says what the key exercises.
const L = (n: number): string => `5493000IBP32UQZ0KL${String(n).padStart(2, "0")}`;
const SUBMISSIONS: Record<Party, Record<string, string>> = {
  "Bank A": { [L(1)]: "C.18.13", [L(2)]: "A.01.1", [L(3)]: "K.64.1", [L(4)]: "F.41", [L(7)]: "H.49", [L(8)]: "M.70" },
  "Bank B": { [L(1)]: "C.18.13", [L(2)]: "A.01.1", [L(3)]: "k.64.1 ", [L(4)]: "F.42", [L(7)]: "H.49", [L(8)]: "M.70" },
  "Bank C": { [L(1)]: "C.18.13", [L(2)]: "A.01.2", [L(3)]: "K.64.1", [L(6)]: "G.46", [L(7)]: "J.62", [L(8)]: "M.70" },
  "Bank D": { [L(1)]: "C.18.13", [L(2)]: "A.01.1", [L(6)]: "G.46", [L(7)]: "J.62", [L(8)]: "M.70" },
  "Bank E": { [L(1)]: "C.18.13", [L(5)]: "N.77", [L(6)]: "G.47", [L(8)]: "M.70" },
};
// L1 all agree; L2 3 v 1; L3 differs only by case and space; L4 two parties;
// L5 one party; L6 2 v 1; L7 a 2 v 2 tie; L8 Bank A first sends M.71, then
// its second user replaces it by M.70.

/** The sample's report row for `party`, computed from the submissions alone. */
function expectedRow(party: Party, key: string, k: number, same: (a: string, b: string) => boolean): Record<string, unknown> {
  const mine = SUBMISSIONS[party][key]!;
  const values = PARTIES.map((p) => SUBMISSIONS[p][key]).filter((v): v is string => v !== undefined);
  if (values.length < k) {
    return { group_status: "NOT_ENOUGH_DATA", majority_minority: null, count_of_unique_values: null, members_in_agreement: null, lei: key, nace: mine };
  }
  const distinct: string[] = [];
  for (const v of values) if (!distinct.some((d) => same(d, v))) distinct.push(v);
  const agreeing = values.filter((v) => same(v, mine)).length;
  return {
    group_status: distinct.length === 1 ? "IN_CONSENSUS" : "LACK_OF_CONSENSUS",
    majority_minority: agreeing > values.length - agreeing ? "Majority" : "Minority",
    count_of_unique_values: distinct.length,
    members_in_agreement: agreeing,
    lei: key,
    nace: mine,
  };
}
const exact = (a: string, b: string): boolean => a === b;
const normalised = (a: string, b: string): boolean => a.trim().toLowerCase() === b.trim().toLowerCase();

const csv = (rows: Record<string, string>, header = "lei,nace"): string =>
  [header, ...Object.entries(rows).map(([k, v]) => `${k},"${v}"`)].join("\r\n") + "\r\n";
const json = (rows: Record<string, string>): string => JSON.stringify(Object.entries(rows).map(([lei, nace]) => ({ lei, nace })));

let dir: string;
let node: ServingNode;
let gov: Client;
let members: Member[];
const as = {} as Record<Party | "Bank A user 2" | "nobody", Client>;
let partyless: Identity;

async function passProposal(actions: unknown[]): Promise<Reply> {
  const created = await members[0]!.propose(gov, actions);
  assert.equal(created.status, 200, created.text);
  const voted = await members[1]!.vote(gov, created.json.proposalId);
  await members[0]!.vote(gov, created.json.proposalId);
  assert.equal((await gov.get(`/gov/members/proposals/${created.json.proposalId}`)).json.proposalState, "Accepted", voted.text);
  return created;
}

/** Every row of a party's report, following cursors (small pages, to exercise paging). */
async function allRows(client: Client, query = ""): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let cursor: string | null = "";
  while (cursor !== null) {
    const page = await client.get(`/app/report?limit=2${query}${cursor === "" ? "" : `&cursor=${cursor}`}`);
    assert.equal(page.status, 200, page.text);
    rows.push(...page.json.content);
    cursor = page.json.next_cursor;
  }
  return rows;
}

async function assertReports(k: number, same: (a: string, b: string) => boolean): Promise<void> {
  for (const party of PARTIES) {
    const keys = Object.keys(SUBMISSIONS[party]);
    const expected = keys.map((key) => expectedRow(party, key, k, same));
    assert.deepEqual(await allRows(as[party]), expected, party);
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-recon-"));
  const ids = await Promise.all([...PARTIES, "Bank A user 2", "nobody"].map((name) => createIdentity(name)));
  members = ids.slice(0, 3).map((id) => new Member(id));
  partyless = ids[6]!;
  node = await startNode({
    dir,
    port: 0,
    signatureIntervalMs: 50,
    members: members.map((m, i) => ({ certPem: m.identity.certPem, data: { party: PARTIES[i] } })),
  });
  const serviceCert = node.core.identity.serviceCertPem;
  gov = new Client(node.url, serviceCert);
  for (const m of members) await m.activate(gov);
  // The constitution in force validates a proposal, so the app's actions come first, on their own.
  await passProposal([
    { name: "set_constitution", args: { constitution: constitutionWith(reconciliationActions()) } },
    { name: "set_user", args: { cert: ids[3]!.certPem, user_data: { party: "Bank D" } } },
    { name: "set_user", args: { cert: ids[4]!.certPem, user_data: { party: "Bank E" } } },
    { name: "set_user", args: { cert: ids[5]!.certPem, user_data: { party: "Bank A" } } },
    { name: "set_user", args: { cert: partyless.certPem } },
    { name: "transition_service_to_open", args: { next_service_identity: serviceCert } },
  ]);
  await passProposal([
    { name: "set_js_app", args: { bundle } },
    { name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes: [{ name: "nace", type: "string" }] } } },
    { name: "set_reconciliation_policy", args: { policy: { k: 3 } } },
  ]);
  ids.forEach((id, i) => (as[([...PARTIES, "Bank A user 2", "nobody"] as const)[i]!] = new Client(node.url, serviceCert, id)));
});

after(async () => {
  for (const c of [gov, ...Object.values(as)]) c.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("reconciliation of five parties (sample schema: lei → nace, exact, k = 3)", () => {
  it("ingests JSON and CSV (any content-type) in the sample's envelope", async () => {
    const first = await as["Bank A"].post("/app/ingest", json({ ...SUBMISSIONS["Bank A"], [L(8)]: "M.71" }));
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, {
      content: "data has ingested successfully",
      error: null,
      success: true,
      failure: false,
      statusCode: 200,
      status: "Success",
      ingest: { records: 6, added: 6, changed: 0, unchanged: 0 },
    });
    // Bank A's second user is the same party: this replaces Bank A's L8 value.
    const replaced = await as["Bank A user 2"].post("/app/csv/ingest", csv({ [L(8)]: "M.70" }), "text/csv");
    assert.deepEqual(replaced.json.ingest, { records: 1, added: 0, changed: 1, unchanged: 0 });
    assert.equal((await as["Bank B"].post("/app/csv/ingest", csv(SUBMISSIONS["Bank B"]), "text/plain")).status, 200);
    assert.equal((await as["Bank C"].post("/app/ingest", json(SUBMISSIONS["Bank C"]))).status, 200);
    assert.equal((await as["Bank D"].post("/app/csv/ingest", csv(SUBMISSIONS["Bank D"]), "application/octet-stream")).status, 200);
    const e = await as["Bank E"].post("/app/ingest", json(SUBMISSIONS["Bank E"]));
    assert.equal(e.status, 200, e.text);
    // Resending a batch unchanged stores nothing new.
    const again = await as["Bank E"].post("/app/ingest", json(SUBMISSIONS["Bank E"]));
    assert.deepEqual(again.json.ingest, { records: 4, added: 0, changed: 0, unchanged: 4 });
  });

  it("reports every status and count as the independent reference computes them", async () => {
    await assertReports(3, exact);
    const page = await as["Bank C"].get("/app/report");
    assert.equal(page.json.next_cursor, null);
    assert.deepEqual(page.json.summary, {
      keys: 6,
      status: { IN_CONSENSUS: 2, LACK_OF_CONSENSUS: 4, NOT_ENOUGH_DATA: 0 },
      attributes: { nace: { IN_CONSENSUS: 2, LACK_OF_CONSENSUS: 4, NOT_ENOUGH_DATA: 0 } },
    });
    const one = await as["Bank C"].get(`/app/report/${L(2)}`);
    assert.deepEqual(one.json.content, expectedRow("Bank C", L(2), 3, exact));
    const filtered = await allRows(as["Bank A"], "&status=NOT_ENOUGH_DATA");
    assert.deepEqual(filtered.map((r) => r.lei), [L(4)]);
    const detailed = await as["Bank D"].get(`/app/report/${L(7)}?view=detailed`);
    assert.deepEqual(detailed.json.content, {
      key: L(7),
      status: "LACK_OF_CONSENSUS",
      revisions: 0,
      attributes: { nace: { status: "LACK_OF_CONSENSUS", value: "J.62", majority_minority: "Minority", agreeing: 2, disagreeing: 2, total_votes: 4, distinct_values: 2 } },
    });
  });

  it("answers a key the caller never submitted with the same 400, whether or not another party holds it", async () => {
    const heldByOthers = await as["Bank E"].get(`/app/report/${L(2)}`);
    const heldByNobody = await as["Bank E"].get("/app/report/NOSUCHKEY");
    assert.equal(heldByOthers.status, 400);
    assert.equal(heldByOthers.text, heldByNobody.text);
    assert.equal(heldByOthers.json.error.errorType, "KeyNotFound");
  });

  it("a receipt for a report's transaction verifies and its claims digest is SHA-256 of the body", async () => {
    const reply = await as["Bank B"].get("/app/report");
    const txId = reply.headers["x-ms-ccf-transaction-id"];
    assert.match(txId ?? "", /^\d+\.\d+$/);
    let receipt: Reply;
    do {
      await new Promise((r) => setTimeout(r, 30));
      receipt = await as["Bank B"].get(`/app/receipt?transaction_id=${txId}`);
    } while (receipt.status !== 200);
    verifyReceipt(receipt.json, node.core.identity.serviceCertPem);
    assert.equal(receipt.json.leaf_components.claims_digest, createHash("sha256").update(reply.text, "utf8").digest("hex"));
  });
});

describe("governance of the schema and policy", () => {
  it("refuses a bad schema with a description naming the fault", async () => {
    const bad = await members[0]!.propose(gov, [
      { name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes: [{ name: "price", type: "number", match: { rule: "relative", tolerance: 5 } }] } } },
    ]);
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /schema\.attributes\[0\]\.match\.tolerance must be a fraction/);
    const badPolicy = await members[0]!.propose(gov, [{ name: "set_reconciliation_policy", args: { policy: { k: 1 } } }]);
    assert.match(badPolicy.json.error.message, /policy\.k must be an integer from 2/);
  });

  it("a proposal that is not accepted changes no verdict; an accepted one does", async () => {
    const open = await members[1]!.propose(gov, [{ name: "set_reconciliation_policy", args: { policy: { k: 2 } } }]);
    await members[1]!.vote(gov, open.json.proposalId);
    await members[0]!.vote(gov, open.json.proposalId, REJECT);
    const state = await members[2]!.vote(gov, open.json.proposalId, REJECT);
    assert.equal(state.json.proposalState, "Open");
    await assertReports(3, exact);
    await passProposal([{ name: "set_reconciliation_policy", args: { policy: { k: 2 } } }]);
    await assertReports(2, exact);
    await passProposal([{ name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes: [{ name: "nace", type: "string", match: { rule: "normalised" } }] } } }]);
    await assertReports(2, normalised);
  });
});

describe("bad batches are refused whole and store nothing", () => {
  const newKey = "529900T8BM49AURSDO55";
  async function assertNothingStored(): Promise<void> {
    await assertReports(2, normalised);
    assert.equal((await as["Bank B"].get(`/app/report/${newKey}`)).status, 400);
  }

  const cases: Array<[string, string, string, RegExp]> = [
    ["a JSON array sent to the CSV endpoint", "/app/csv/ingest", JSON.stringify([{ lei: newKey, nace: "A" }]), /JSON, not CSV/],
    ["an unclosed quote", "/app/csv/ingest", `lei,nace\n${newKey},"A.01\n`, /malformed CSV/],
    ["a wrong column count", "/app/csv/ingest", `lei,nace\n${newKey},A.01\n${L(1)},B,C\n`, /has 3 columns; the header has 2/],
    ["an unknown header", "/app/csv/ingest", `lei,naics\n${newKey},A.01\n`, /unknown column/],
    ["a wrong type", "/app/ingest", JSON.stringify([{ lei: newKey, nace: "A" }, { lei: L(9), nace: 42 }]), /must be a string, not number 42/],
    // JSON records with exactly the schema's fields and usual values are taken without the full check: the rest still get it.
    ["an unknown JSON field", "/app/ingest", JSON.stringify([{ lei: newKey, nace: "A", naics: "1" }]), /"field":"naics","reason":"is not a field of the schema/],
    ["a JSON record without its key", "/app/ingest", JSON.stringify([{ nace: "A" }]), /"field":"lei","reason":"must be a string/],
    ["a required JSON field left out", "/app/ingest", JSON.stringify([{ lei: newKey }]), /"field":"nace","reason":"is required"/],
    ["a required JSON field null", "/app/ingest", JSON.stringify([{ lei: newKey, nace: null }]), /"field":"nace","reason":"is required"/],
    ["a record that is not an object", "/app/ingest", JSON.stringify([{ lei: newKey, nace: "A" }, "x"]), /must be a JSON object/],
    ["duplicate keys in one batch", "/app/ingest", JSON.stringify([{ lei: newKey, nace: "A" }, { lei: newKey, nace: "B" }]), /duplicate key .* \(first at row 1\)/],
    ["an empty body", "/app/ingest", "", /empty/],
    ["an empty CSV body", "/app/csv/ingest", "  \n", /empty/],
  ];
  for (const [what, path, body, reason] of cases) {
    it(`400 for ${what}`, async () => {
      const reply = await as["Bank B"].post(path, body, path.includes("csv") ? "text/csv" : "application/json");
      assert.equal(reply.status, 400, reply.text);
      assert.equal(reply.json.status, "Error");
      assert.match(JSON.stringify(reply.json.error), reason);
      await assertNothingStored();
    });
  }

  it("lists each error by row and field", async () => {
    const reply = await as["Bank B"].post("/app/csv/ingest", `nace,lei\nA.01,${newKey}\n,${L(9)}\nB.02,\n`, "text/csv");
    assert.deepEqual(reply.json.error.details, [
      { row: 2, field: "nace", reason: "is required" },
      { row: 3, field: "lei", reason: "must not be empty" },
    ]);
    await assertNothingStored();
  });

  it("413 for a 10 MB body", async () => {
    const big = `lei,nace\n${`${newKey},A.01\n`.repeat(400_000)}`;
    assert.ok(big.length > 10_000_000);
    const reply = await as["Bank B"].post("/app/csv/ingest", big, "text/csv").catch((e: Error) => ({ status: 0, text: e.message }) as Reply);
    assert.equal(reply.status, 413, reply.text);
    await assertNothingStored();
  });
});

describe("policy limits", () => {
  it("enforces the revision limit and, when required, party data (403)", async () => {
    await passProposal([{ name: "set_reconciliation_policy", args: { policy: { k: 2, revision_limit: 1, require_party_data: true } } }]);
    const once = await as["Bank E"].post("/app/ingest", json({ [L(5)]: "N.78" }));
    assert.deepEqual(once.json.ingest, { records: 1, added: 0, changed: 1, unchanged: 0 });
    const twice = await as["Bank E"].post("/app/ingest", json({ [L(5)]: "N.79" }));
    assert.equal(twice.status, 400);
    assert.match(twice.json.error.details[0].reason, /revision limit reached/);
    const row = await as["Bank E"].get(`/app/report/${L(5)}?view=detailed`);
    assert.equal(row.json.content.revisions, 1);
    assert.equal(row.json.content.attributes.nace.value, "N.78");
    const refused = await as.nobody.post("/app/ingest", json({ [L(1)]: "C.18.13" }));
    assert.equal(refused.status, 403);
    assert.equal((await as.nobody.get("/app/report")).status, 403);
  });
});

describe("a richer schema: decimal and date tolerances, enums", () => {
  it("groups values within tolerance and reports per attribute", async () => {
    const schema = {
      key: "trade_id",
      attributes: [
        { name: "price", type: "decimal", match: { rule: "absolute", tolerance: 0.01 } },
        { name: "settles", type: "date", match: { rule: "days", tolerance: 1 } },
        { name: "ccy", type: "enum", values: ["USD", "EUR", "GBP"] },
      ],
    };
    await passProposal([{ name: "set_reconciliation_schema", args: { schema } }, { name: "set_reconciliation_policy", args: { policy: { k: 3 } } }]);
    // A new shape is a new dataset: the LEI data no longer shows.
    assert.deepEqual((await as["Bank A"].get("/app/report")).json.content, []);
    const trades: Record<Party, string> = {
      "Bank A": "T1,100.00,2025-03-03,USD",
      "Bank B": "T1,100.004,2025-03-04,USD",
      "Bank C": "T1,100.02,2025-03-03,USD",
      "Bank D": "T1,099.999,2025-03-06,EUR",
      "Bank E": "T2,5,2025-03-06,GBP",
    };
    for (const party of PARTIES) {
      const reply = await as[party].post("/app/csv/ingest", `trade_id,price,settles,ccy\n${trades[party]}\n`, "text/csv");
      assert.equal(reply.status, 200, reply.text);
    }
    const bad = await as["Bank A"].post("/app/ingest", JSON.stringify([{ trade_id: "T3", price: "1.0.0", settles: "2025-02-30", ccy: "JPY" }]));
    assert.deepEqual(bad.json.error.details.map((d: { field: string }) => d.field), ["price", "settles", "ccy"]);
    const a = await as["Bank A"].get("/app/report/T1");
    // price: 99.999, 100.00, 100.004 lie within 0.01 of 99.999; 100.02 does not.
    // settles: 03-03 ×2 and 03-04 lie within a day of 03-03; 03-06 does not.
    assert.deepEqual(a.json.content, {
      key: "T1",
      status: "LACK_OF_CONSENSUS",
      revisions: 0,
      attributes: {
        price: { status: "LACK_OF_CONSENSUS", value: "100", majority_minority: "Majority", agreeing: 3, disagreeing: 1, total_votes: 4, distinct_values: 2 },
        settles: { status: "LACK_OF_CONSENSUS", value: "2025-03-03", majority_minority: "Majority", agreeing: 3, disagreeing: 1, total_votes: 4, distinct_values: 2 },
        ccy: { status: "LACK_OF_CONSENSUS", value: "USD", majority_minority: "Majority", agreeing: 3, disagreeing: 1, total_votes: 4, distinct_values: 2 },
      },
    });
    const d = await as["Bank D"].get("/app/report?attribute=price&status=LACK_OF_CONSENSUS");
    assert.deepEqual(d.json.content[0].attributes, {
      price: { status: "LACK_OF_CONSENSUS", value: "99.999", majority_minority: "Majority", agreeing: 3, disagreeing: 1, total_votes: 4, distinct_values: 2 },
    });
    const e = await as["Bank E"].get("/app/report/T2");
    assert.deepEqual(e.json.content.attributes.ccy, { status: "NOT_ENOUGH_DATA", value: "GBP", majority_minority: null, agreeing: null, disagreeing: null, total_votes: null, distinct_values: null });
  });
});
