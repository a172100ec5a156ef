// CCF transaction ids are "<view>.<seqno>" (GET /node/tx?transaction_id=2.17): both positive integers.
import assert from "node:assert/strict";
import { it } from "node:test";
import { formatTxId, parseTxId, seqNo, view } from "../src/ids.ts";

it("formats and parses tx ids", () => {
  assert.equal(formatTxId({ view: view(2), seqno: seqNo(17) }), "2.17");
  assert.deepEqual(parseTxId("2.17"), { view: 2, seqno: 17 });
  assert.deepEqual(parseTxId(formatTxId({ view: view(1), seqno: seqNo(2 ** 40) })), { view: 1, seqno: 2 ** 40 });
});

it("rejects anything that is not two positive integers", () => {
  for (const bad of ["", "2", "2.", ".17", "2.17.1", "0.5", "5.0", "-1.2", "1.-2", "a.b", "2.17 ", " 2.17", "1e3.2", "1.2x", "9999999999999999.1"]) {
    assert.equal(parseTxId(bad), undefined, JSON.stringify(bad));
  }
});
