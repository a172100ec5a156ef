// The summary counts kept at ingest (src/lib/counts.ts), on a real node under
// real governance: after every step of overlapping submissions by five
// parties (each changing other holders' verdicts), the counts stored for each
// party and the summary it is served equal a reference computed here from the
// submissions alone; a match-rule or k change and a rounds period in between
// (sealed submissions published when the mode returns to continuous) must not
// leave stale counts behind.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Bundle, ServingNode } from "@confide/node";
import { Client, Member, proposeWithTwoVotes, startReconciliationService, type ReconciliationService } from "./helpers/consortium.ts";

const bundle = JSON.parse(readFileSync(new URL("../dist/bundle.json", import.meta.url), "utf8")) as Bundle;

type Party = "A" | "B" | "C" | "D" | "E";
const PARTIES: Party[] = ["A", "B", "C", "D", "E"];
const KEYS = Array.from({ length: 30 }, (_, i) => `5493000IBP32UQZ0K${String(i).padStart(3, "0")}`);
// "b " and "B" differ exactly but agree once normalised.
const VALUES = ["A", "B", "b ", "C"];

type Status = "IN_CONSENSUS" | "LACK_OF_CONSENSUS" | "NOT_ENOUGH_DATA";
type Counts = Record<Status, number>;

/** Deterministic choices: SHA-256 of a label. */
function pick(label: string, n: number): number {
  return createHash("sha256").update(label).digest().readUInt32BE(0) % n;
}

/** Each party's current values, as the reference sees them. */
const model = new Map<string, Map<Party, string>>();

function reference(party: Party, k: number, normalised: boolean): { keys: number; status: Counts; attributes: { nace: Counts } } {
  const status: Counts = { IN_CONSENSUS: 0, LACK_OF_CONSENSUS: 0, NOT_ENOUGH_DATA: 0 };
  let keys = 0;
  const canon = (v: string) => (normalised ? v.trim().replace(/\s+/g, " ").toLowerCase() : v);
  for (const holders of model.values()) {
    if (!holders.has(party)) continue;
    keys++;
    const values = [...holders.values()].map(canon);
    const s: Status = values.length < k ? "NOT_ENOUGH_DATA" : new Set(values).size === 1 ? "IN_CONSENSUS" : "LACK_OF_CONSENSUS";
    status[s]++;
  }
  return { keys, status, attributes: { nace: { ...status } } };
}

let service: ReconciliationService;
let node: ServingNode;
let gov: Client;
let members: Member[];
let as: Record<Party, Client>;

async function pass(actions: unknown[]): Promise<void> {
  assert.equal(await proposeWithTwoVotes(gov, members, actions), "Accepted");
}

/** One step: every party submits a batch over a pseudo-random subset of the keys; the model follows unless `sealed`. */
async function step(label: string, sealed = false): Promise<Map<string, Map<Party, string>>> {
  const next = new Map([...model].map(([key, holders]) => [key, new Map(holders)]));
  for (const party of PARTIES) {
    const rows = KEYS.filter((key) => pick(`${label}/${party}/${key}/held`, 3) !== 0).map((key) => ({ lei: key, nace: VALUES[pick(`${label}/${party}/${key}`, VALUES.length)]! }));
    const reply = await as[party].post("/app/ingest", JSON.stringify(rows));
    assert.equal(reply.status, 200, reply.text);
    for (const { lei, nace } of rows) {
      if (!next.has(lei)) next.set(lei, new Map());
      next.get(lei)!.set(party, nace);
    }
  }
  if (!sealed) {
    model.clear();
    for (const [key, holders] of next) model.set(key, holders);
  }
  return next;
}

/** The counts ingest stored for `party` (the app's private table), before any summary could recount them. */
function storedCounts(party: Party): unknown {
  const tx = node.core.history.store.beginReadOnly();
  const names = node.core.history.store.mapNames().filter((n) => /^recon\.[0-9a-f]+\.counts$/.test(n));
  assert.equal(names.length, 1, names.join(", "));
  const raw = tx.map(names[0]!).get(Buffer.from(party, "utf8"));
  if (raw === undefined) return undefined;
  const { keys, status, attributes } = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
  return { keys, status, attributes };
}

async function assertSummaries(k: number, normalised: boolean, { stored }: { stored: boolean }): Promise<void> {
  for (const party of PARTIES) {
    const expected = reference(party, k, normalised);
    if (stored) assert.deepEqual(storedCounts(party), expected, `stored counts of ${party}`);
    const page = await as[party].get("/app/report?limit=1");
    assert.equal(page.status, 200, page.text);
    assert.deepEqual(page.json.summary, expected, `summary of ${party}`);
  }
}

before(async () => {
  service = await startReconciliationService(PARTIES, bundle, { k: 3 });
  ({ node, gov, members } = service);
  as = service.as as Record<Party, Client>;
});

after(() => service.close());

describe("summary counts kept at ingest", () => {
  it("follow every holder's verdicts as parties add and change values", async () => {
    for (let i = 0; i < 5; i++) {
      await step(`continuous ${i}`);
      // Every party started with no keys, so its counts were kept from its first batch on.
      await assertSummaries(3, false, { stored: true });
    }
  });

  it("are recounted after a match-rule or k change, then kept again", async () => {
    await pass([{ name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes: [{ name: "nace", type: "string", match: { rule: "normalised" } }] } } }]);
    await assertSummaries(3, true, { stored: false });
    await step("normalised");
    await assertSummaries(3, true, { stored: true });
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 4 } } }]);
    await assertSummaries(4, true, { stored: false });
    await step("k4");
    await assertSummaries(4, true, { stored: true });
  });

  it("do not survive a rounds period: sealed submissions are published by the return to continuous mode", async () => {
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 4, mode: "rounds" } } }]);
    const latest = await step("sealed", true);
    // Rounds mode: the summary covers published values only (model unchanged).
    await assertSummaries(4, true, { stored: false });
    await pass([{ name: "set_reconciliation_policy", args: { policy: { k: 4 } } }]);
    model.clear();
    for (const [key, holders] of latest) model.set(key, holders);
    await assertSummaries(4, true, { stored: false });
    await step("after rounds");
    await assertSummaries(4, true, { stored: true });
  });
});
