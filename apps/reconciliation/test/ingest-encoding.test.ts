// How ingest stores a key's state (src/lib/state-codec.ts), on a real node:
// one flat JSON array per key, and a service upgraded from the app's first
// encoding (nested objects, test/fixtures/bundle-first-encoding.json) by
// set_js_app keeps its data: same reports, revisions and summary counts, and
// the next write of a key stores it in the flat encoding.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { Bundle, ServingNode } from "@confide/node";
import { proposeWithTwoVotes, startReconciliationService, type ReconciliationService } from "./helpers/consortium.ts";

const current = JSON.parse(readFileSync(new URL("../dist/bundle.json", import.meta.url), "utf8")) as Bundle;
const first = JSON.parse(readFileSync(new URL("./fixtures/bundle-first-encoding.json", import.meta.url), "utf8")) as Bundle;

const KEY = "5493000IBP32UQZ0KL24";
const OTHER = "5493000IBP32UQZ0KL25";

/** The stored bytes of `key` in the dataset's records table, as text. */
function storedState(node: ServingNode, key: string): string | undefined {
  const names = node.core.history.store.mapNames().filter((n) => /^recon\.[0-9a-f]+\.records$/.test(n));
  assert.equal(names.length, 1, names.join(", "));
  return node.core.history.store.beginReadOnly().map(names[0]!).get(Buffer.from(key, "utf8"))?.toString("utf8");
}

async function ingest(service: ReconciliationService, party: string, rows: Array<{ lei: string; nace: string }>): Promise<void> {
  const reply = await service.as[party]!.post("/app/ingest", JSON.stringify(rows));
  assert.equal(reply.status, 200, reply.text);
}

describe("stored key state", () => {
  let service: ReconciliationService;
  before(async () => {
    service = await startReconciliationService(["A", "B", "C"], current, { k: 3 });
  });
  after(() => service.close());

  it("is one flat array per key: party, kind, revisions, values in schema order", async () => {
    await ingest(service, "A", [{ lei: KEY, nace: "C.10.1" }]);
    await ingest(service, "B", [{ lei: KEY, nace: "C.10.2" }]);
    await ingest(service, "B", [{ lei: KEY, nace: "C.10.1" }]);
    assert.equal(storedState(service.node, KEY), '["A",1,0,"C.10.1","B",1,1,"C.10.1"]');
  });

  // A new holder's entry is spliced onto the stored text unparsed when the party's name is nowhere in it
  // and its commas show fewer than k - 1 holders; the text must be what JSON.stringify would write.
  it("is the same text whether a new holder's entry is spliced on or the state parsed and written again", async () => {
    const key = "5493000IBP32UQZ0KL30";
    await ingest(service, "A", [{ lei: key, nace: "B" }]); // "B" is also a party's name: B's submission must parse the state
    await ingest(service, "B", [{ lei: key, nace: "x,y" }]); // a comma in a value only overstates the holders
    assert.equal(storedState(service.node, key), '["A",1,0,"B","B",1,0,"x,y"]');
    await ingest(service, "C", [{ lei: key, nace: 'q"\\u' }]);
    assert.equal(storedState(service.node, key), JSON.stringify(["A", 1, 0, "B", "B", 1, 0, "x,y", "C", 1, 0, 'q"\\u']));
    const summary = (await service.as["C"]!.get("/app/report?limit=1")).json.summary;
    assert.equal(summary.status.LACK_OF_CONSENSUS, 1);
  });
});

// Usual JSON batches are checked without walking every record's fields: no field outside the schema when the text
// has no more colons than the records' schema fields (src/lib/records.ts). Any other batch is checked record by record.
describe("JSON batches checked at once", () => {
  let service: ReconciliationService;
  before(async () => {
    service = await startReconciliationService(["A", "B", "C"], current, { k: 3 });
  });
  after(() => service.close());

  it("values with colons are checked record by record and stored", async () => {
    await ingest(service, "A", [{ lei: KEY, nace: "12:30" }, { lei: OTHER, nace: "https://x" }]);
    assert.equal(storedState(service.node, KEY), '["A",1,0,"12:30"]');
    assert.equal(storedState(service.node, OTHER), '["A",1,0,"https://x"]');
  });

  it("a field outside the schema is refused by row, wherever the batch's colons are", async () => {
    const key = "5493000IBP32UQZ0KL31";
    for (const rows of [
      [{ lei: key, nace: "A" }, { lei: OTHER, nace: "B", naics: "1" }],
      [{ lei: key, nace: "A:1" }, { lei: OTHER, nace: "B", naics: "1" }],
    ]) {
      const reply = await service.as["B"]!.post("/app/ingest", JSON.stringify(rows));
      assert.equal(reply.status, 400, reply.text);
      assert.deepEqual(reply.json.error.details, [{ row: 2, field: "naics", reason: "is not a field of the schema (lei, nace)" }]);
      assert.equal(storedState(service.node, key), undefined);
    }
  });

  it("a member named twice counts once, as JSON.parse reads it (the last value)", async () => {
    const key = "5493000IBP32UQZ0KL32";
    const reply = await service.as["C"]!.post("/app/ingest", `[{"lei":"${key}","nace":"A","nace":"B"}]`);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(storedState(service.node, key), '["C",1,0,"B"]');
  });
});

describe("an app upgraded from the first encoding", () => {
  let service: ReconciliationService;
  before(async () => {
    service = await startReconciliationService(["A", "B", "C"], first, { k: 3 });
  });
  after(() => service.close());

  it("reads what that encoding stored: reports, revisions and counts go on", async () => {
    await ingest(service, "A", [{ lei: KEY, nace: "C.10.1" }, { lei: OTHER, nace: "K.64.1" }]);
    await ingest(service, "B", [{ lei: KEY, nace: "C.10.9" }]);
    await ingest(service, "B", [{ lei: KEY, nace: "C.10.1" }]);
    await ingest(service, "C", [{ lei: KEY, nace: "C.10.1" }, { lei: OTHER, nace: "K.64.1" }]);
    assert.match(storedState(service.node, KEY)!, /^\{/, "the first encoding stores an object");
    const before = (await service.as["B"]!.get("/app/report?view=detailed")).json;

    const state = await proposeWithTwoVotes(service.gov, service.members, [{ name: "set_js_app", args: { bundle: current } }]);
    assert.equal(state, "Accepted");
    const after = (await service.as["B"]!.get("/app/report?view=detailed")).json;
    assert.deepEqual(after.content, before.content);
    assert.deepEqual(after.summary, before.summary);
    assert.equal(after.content[0].revisions, 1);

    // B changes its value again: revision 2, and C's counts (kept at ingest) follow.
    await ingest(service, "B", [{ lei: KEY, nace: "C.10.3" }]);
    assert.equal(storedState(service.node, KEY), '["A",1,0,"C.10.1","B",1,2,"C.10.3","C",1,0,"C.10.1"]');
    const b = (await service.as["B"]!.get(`/app/report/${KEY}?view=detailed`)).json;
    assert.equal(b.content.revisions, 2);
    const c = (await service.as["C"]!.get("/app/report")).json;
    assert.deepEqual(c.summary.status, { IN_CONSENSUS: 0, LACK_OF_CONSENSUS: 1, NOT_ENOUGH_DATA: 1 });
  });
});
