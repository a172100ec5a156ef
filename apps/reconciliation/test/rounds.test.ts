// Rounds mode on a real node under real governance: submissions are sealed
// until a round closes (by a close_reconciliation_round proposal, or by the
// policy's schedule), reports cover closed rounds only, and a party that
// resubmits many guesses for a key learns nothing before the close: its
// report bytes stay identical.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Bundle } from "@confide/node";
import { Client, Member, proposeWithTwoVotes, startReconciliationService, type ReconciliationService, type Reply } from "./helpers/consortium.ts";

const bundle = JSON.parse(readFileSync(new URL("../dist/bundle.json", import.meta.url), "utf8")) as Bundle;

type Party = "A" | "B" | "C" | "D" | "E";
const PARTIES: Party[] = ["A", "B", "C", "D", "E"];
const K1 = "5493000IBP32UQZ0KL01";
const K2 = "5493000IBP32UQZ0KL02";

let service: ReconciliationService;
let gov: Client;
let members: Member[];
let as: Record<Party, Client>;

const proposal = (actions: unknown[]): Promise<string> => proposeWithTwoVotes(gov, members, actions);

async function pass(actions: unknown[]): Promise<void> {
  assert.equal(await proposal(actions), "Accepted");
}

const submit = (party: Party, rows: Record<string, string>): Promise<Reply> =>
  as[party].post("/app/ingest", JSON.stringify(Object.entries(rows).map(([lei, nace]) => ({ lei, nace }))));

async function ok(reply: Promise<Reply>): Promise<Reply> {
  const r = await reply;
  assert.equal(r.status, 200, r.text);
  return r;
}

before(async () => {
  service = await startReconciliationService(PARTIES, bundle, { k: 3, mode: "rounds", revision_limit: 100 });
  ({ gov, members } = service);
  as = service.as as Record<Party, Client>;
});

after(() => service.close());

describe("rounds mode", () => {
  it("governance validates round policies and closes", async () => {
    const bad = await members[0]!.propose(gov, [{ name: "set_reconciliation_policy", args: { policy: { mode: "continuous", round_schedule: { first_close: "2025-01-01T00:00:00Z", every_seconds: 60 } } } }]);
    assert.match(bad.json.error.message, /round_schedule needs policy\.mode rounds/);
    const badTime = await members[0]!.propose(gov, [{ name: "set_reconciliation_policy", args: { policy: { mode: "rounds", round_schedule: { first_close: "tomorrow", every_seconds: 60 } } } }]);
    assert.match(badTime.json.error.message, /first_close must be a UTC time/);
    // A close names the next round to close, so a stale or mistyped one is refused.
    const early = await members[0]!.propose(gov, [{ name: "close_reconciliation_round", args: { round: 5 } }]);
    assert.match(early.json.error.message, /args\.round must be 0/);
  });

  it("seals submissions until the round closes by proposal", async () => {
    await ok(submit("A", { [K1]: "C.18", [K2]: "A.01" }));
    await ok(submit("B", { [K1]: "C.18", [K2]: "A.01" }));
    await ok(submit("C", { [K1]: "C.18" }));
    const d = await ok(submit("D", { [K1]: "X.99" }));
    assert.deepEqual(d.json.round, { sealed_in: 0 });
    for (const party of PARTIES) {
      const page = await ok(as[party].get("/app/report"));
      assert.deepEqual(page.json.content, [], party);
      assert.deepEqual(page.json.round, { closed: 0 });
      assert.equal(page.json.summary.keys, 0);
    }
    const sealed = await as.A.get(`/app/report/${K1}`);
    assert.equal(sealed.status, 400);
    assert.equal(sealed.json.error.errorType, "KeySealed");
    assert.match(sealed.json.error.errorMessage, /sealed until round 0 closes/);

    await pass([{ name: "close_reconciliation_round", args: { round: 0 } }]);
    // A second close for the same round is refused instead of closing round 1.
    const again = await members[0]!.propose(gov, [{ name: "close_reconciliation_round", args: { round: 0 } }]);
    assert.equal(again.status, 400);
    assert.match(again.json.error.message, /args\.round must be 1/);
    const d1 = await ok(as.D.get(`/app/report/${K1}`));
    assert.deepEqual(d1.json.content, { group_status: "LACK_OF_CONSENSUS", majority_minority: "Minority", count_of_unique_values: 2, members_in_agreement: 1, lei: K1, nace: "X.99" });
    assert.deepEqual(d1.json.round, { closed: 1 });
    const a = await ok(as.A.get("/app/report"));
    assert.deepEqual(a.json.content.map((r: { group_status: string }) => r.group_status), ["LACK_OF_CONSENSUS", "NOT_ENOUGH_DATA"]);
  });

  it("a party resubmitting many guesses learns nothing new before the round closes (report identical)", async () => {
    const reportBefore = await ok(as.D.get("/app/report"));
    const keyBefore = await ok(as.D.get(`/app/report/${K1}`));
    const othersBefore = await Promise.all((["A", "B", "C", "E"] as Party[]).map((p) => ok(as[p].get("/app/report"))));
    const eKeyBefore = await as.E.get(`/app/report/${K1}`);
    assert.equal(eKeyBefore.json.error.errorType, "KeyNotFound");
    // D (holding K1) and E (not holding it) guess other parties' value, the right one among them.
    const guesses = ["A.01", "B.05", "C.17", "C.19", "K.64", "C.18", "M.70", "C.18"];
    for (const guess of guesses) {
      await ok(submit("D", { [K1]: guess }));
      await ok(submit("E", { [K1]: guess }));
      const report = await ok(as.D.get("/app/report"));
      const key = await ok(as.D.get(`/app/report/${K1}`));
      assert.equal(report.text, reportBefore.text, `D's report after guessing ${guess}`);
      assert.equal(key.text, keyBefore.text, `D's row for K1 after guessing ${guess}`);
      const eKey = await as.E.get(`/app/report/${K1}`);
      assert.equal(eKey.status, 400);
      assert.equal(eKey.json.error.errorType, "KeySealed");
      assert.equal((await ok(as.E.get("/app/report"))).text, othersBefore[3]!.text);
    }
    // Nor does anyone else's report move.
    const othersAfter = await Promise.all((["A", "B", "C", "E"] as Party[]).map((p) => ok(as[p].get("/app/report"))));
    assert.deepEqual(othersAfter.map((r) => r.text), othersBefore.map((r) => r.text));

    await pass([{ name: "close_reconciliation_round", args: { round: 1 } }]);
    // The last guess of the round counts: all five now agree.
    const d = await ok(as.D.get(`/app/report/${K1}?view=detailed`));
    assert.deepEqual(d.json.content, {
      key: K1,
      status: "IN_CONSENSUS",
      revisions: 1,
      attributes: { nace: { status: "IN_CONSENSUS", value: "C.18", majority_minority: "Majority", agreeing: 5, disagreeing: 0, total_votes: 5, distinct_values: 1 } },
    });
    assert.deepEqual(d.json.round, { closed: 2 });
  });

  it("the revision limit bounds changes per key within one round", async () => {
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 3, mode: "rounds", revision_limit: 1 } } }]);
    await ok(submit("C", { [K2]: "A.02" }));
    await ok(submit("C", { [K2]: "A.03" }));
    const third = await submit("C", { [K2]: "A.04" });
    assert.equal(third.status, 400);
    assert.match(third.json.error.details[0].reason, /revision limit reached: .* per key in a round/);
    await pass([{ name: "close_reconciliation_round", args: { round: 2 } }]);
    // A new round, a new allowance.
    await ok(submit("C", { [K2]: "A.01" }));
    await ok(submit("C", { [K2]: "A.05" }));
    await pass([{ name: "close_reconciliation_round", args: { round: 3 } }]);
    const c = await ok(as.C.get(`/app/report/${K2}`));
    assert.deepEqual(c.json.content, { group_status: "LACK_OF_CONSENSUS", majority_minority: "Minority", count_of_unique_values: 2, members_in_agreement: 1, lei: K2, nace: "A.05" });
  });

  it("closes rounds by the policy's schedule", async () => {
    const firstClose = new Date(Date.now() + 1500).toISOString().replace(/\.\d+Z$/, "Z");
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 3, mode: "rounds", round_schedule: { first_close: firstClose, every_seconds: 3600 } } } }]);
    const before = await ok(as.C.get(`/app/report/${K2}`));
    assert.deepEqual(before.json.round, { closed: 4, by_proposal: 4 });
    await ok(submit("C", { [K2]: "A.01" }));
    assert.equal((await ok(as.C.get(`/app/report/${K2}`))).text, before.text);
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(firstClose) - Date.now() + 100)));
    const afterClose = await ok(as.C.get(`/app/report/${K2}`));
    assert.deepEqual(afterClose.json.round, { closed: 5, by_proposal: 4 });
    assert.equal(afterClose.json.content.group_status, "IN_CONSENSUS");
  });

  it("back in continuous mode, sealed submissions count at once", async () => {
    await ok(submit("A", { [K2]: "A.09" }));
    assert.equal((await ok(as.A.get(`/app/report/${K2}`))).json.content.nace, "A.01");
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 3 } } }]);
    const a = await ok(as.A.get(`/app/report/${K2}`));
    assert.equal(a.json.content.nace, "A.09");
    assert.equal(a.json.round, undefined);
  });
});
