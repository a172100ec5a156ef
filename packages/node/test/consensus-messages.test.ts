// The consensus wire form: every message round-trips, payloads pass through untouched, and
// malformed, truncated or oversized input is a clear ConsensusMessageError.
import assert from "node:assert/strict";
import { it } from "node:test";
import { decodeMessage, encodeMessage, ConsensusMessageError, type RaftMessage } from "../src/consensus/messages.ts";
import { seqNo, view } from "../src/ids.ts";

const ae: RaftMessage = {
  type: "AppendEntries", view: view(3), prevSeqno: seqNo(10), prevView: view(2), commitSeqno: seqNo(9),
  entries: [
    { view: view(3), isSignature: false, payload: new Uint8Array([1, 2, 3]) },
    { view: view(3), isSignature: true, configuration: ["n0", "n1"], payload: new Uint8Array(0) },
  ],
};

it("round-trips every message type", () => {
  const all: RaftMessage[] = [
    ae,
    { type: "AppendEntriesResponse", view: view(3), success: true, seqno: seqNo(12), commitSeqno: seqNo(9) },
    { type: "RequestVote", view: view(4), lastSignatureSeqno: seqNo(11), lastSignatureView: view(3) },
    { type: "RequestVoteResponse", view: view(4), granted: false },
    { type: "ProposeRequestVote", view: view(4) },
  ];
  // Payloads compare as plain bytes (decoding returns views into the message, not copies).
  const plain = (m: RaftMessage): unknown => ("entries" in m ? { ...m, entries: m.entries.map((e) => ({ ...e, payload: [...e.payload] })) } : m);
  for (const m of all) assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
});

it("refuses truncated, padded and malformed messages", () => {
  const bytes = encodeMessage(ae);
  for (const cut of [1, 5, bytes.length - 1]) assert.throws(() => decodeMessage(bytes.subarray(0, cut)), ConsensusMessageError);
  assert.throws(() => decodeMessage(new Uint8Array([...bytes, 0])), /trailing bytes/);
  assert.throws(() => decodeMessage(new Uint8Array([9, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /unknown consensus message type 9/);
  const badCount = Buffer.from(bytes);
  badCount.writeUInt32LE(1_000_000, 2 + 8 * 4);
  assert.throws(() => decodeMessage(badCount), /AppendEntries with 1000000 entries exceeds/);
  const badView = Buffer.from(bytes);
  badView.writeDoubleLE(-1, 2);
  assert.throws(() => decodeMessage(badView), /view -1 is not a seqno or view/);
});
