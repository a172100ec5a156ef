// CCF's COSE receipts (CCF 6+/7, draft-ietf-scitt-receipts-ccf-profile) over
// real TLS: GET /<frontend>/receipt/cose serves application/cose that an
// independent verifier (helpers/cose-receipt-verifier.ts) accepts, signed by
// the service key over the same root as the JSON receipt; any altered byte is
// refused; a signature transaction has none (404); verifyCoseReceipt gives a
// clear ReceiptError for malformed input; ledgers written before COSE
// signatures still replay and answer a clear 404.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Decoder, Encoder, Tag } from "cbor-x";
import { History } from "../src/history/history.ts";
import { loadOrCreateIdentity } from "../src/identity.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { verifyCoseReceipt } from "../src/merkle/cose-receipt.ts";
import { ReceiptError, verifyReceipt, type Receipt } from "../src/merkle/receipt.ts";
import { startNode } from "../src/node.ts";
import type { Bundle } from "../src/runtime/bundle.ts";
import { AppNode } from "./helpers/app-node.ts";
import { independentlyVerifyCoseReceipt } from "./helpers/cose-receipt-verifier.ts";
import { HttpsClient, type Reply } from "./helpers/https-client.ts";

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/records/{id}": { put: { js_module: "app.js", js_function: "put", authn_policies: ["no_auth"], mode: "readwrite", forwarding_required: "never" } },
    },
  },
  modules: [
    {
      name: "app.js",
      module: `export function put(request) {
  ccf.kv["records"].set(ccf.strToBuf(request.params.id), request.body.arrayBuffer());
  ccf.rpc.setClaimsDigest(ccf.crypto.digest("SHA-256", request.body.arrayBuffer()));
  return { statusCode: 204 };
}`,
    },
  ],
};

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });

let app: AppNode;
let serviceCertPem: string;
/** A committed app write whose proof is not empty, its COSE receipt and its JSON receipt. */
let txId: string;
let cose: Buffer;
let json: Receipt;

async function committedWrite(id: string): Promise<string> {
  const reply = await app.client.request("PUT", `/app/records/${id}`, { body: Buffer.from(`value of ${id}`) });
  assert.equal(reply.status, 204, reply.text);
  const written = reply.headers["x-ms-ccf-transaction-id"]!;
  await app.node.core.history.waitForCommit(Number(written.split(".")[1]));
  return written;
}

before(async () => {
  app = await AppNode.start(BUNDLE, "cose-receipts-");
  serviceCertPem = app.node.core.identity.serviceCertPem;
  await committedWrite("a");
  txId = await committedWrite("b");
  await committedWrite("c");
  const reply = await app.client.getEventually(`/app/receipt/cose?transaction_id=${txId}`);
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.headers["content-type"], "application/cose");
  cose = reply.body;
  json = (await app.client.getEventually(`/app/receipt?transaction_id=${txId}`)).json as Receipt;
});
after(() => app.close());

/** A copy of the receipt with one byte of `part` (found in it) changed. */
function tampered(part: Buffer): Buffer {
  const at = cose.indexOf(part);
  assert.ok(at >= 0, "the part is in the receipt");
  const copy = Buffer.from(cose);
  copy[at + part.length - 1]! ^= 0x01;
  return copy;
}

describe("COSE receipts", () => {
  it("an app write's COSE receipt verifies independently, signed by the service key over the JSON receipt's root", () => {
    const independent = independentlyVerifyCoseReceipt(cose, serviceCertPem);
    const ours = verifyCoseReceipt(cose, serviceCertPem);
    assert.ok(json.proof.length > 0, "the proof is not empty");
    assert.deepEqual(ours.root, independent.root);
    assert.deepEqual(ours.root, verifyReceipt(json, serviceCertPem), "the JSON receipt's node signature signs the same root");
    assert.equal(ours.leaf.commitEvidence, json.leaf_components!.commit_evidence);
    assert.equal(ours.leaf.claimsDigest.toString("hex"), createHash("sha256").update("value of b").digest("hex"));
    // CCF's protected header: kid = hex SHA-256 of the service public key's DER, as a bstr; txid of the signature.
    const spki = new X509Certificate(serviceCertPem).publicKey.export({ type: "spki", format: "der" });
    assert.equal(Buffer.from(independent.protectedHeader.get(4) as Uint8Array).toString("utf8"), createHash("sha256").update(spki).digest("hex"));
    const signatureSeqno = app.node.core.history.signatures.find((s) => s > Number(txId.split(".")[1]))!;
    assert.equal(ours.txId, `${txId.split(".")[0]}.${signatureSeqno}`);
    assert.ok(Math.abs(ours.issuedAtS - Date.now() / 1000) < 60, "iat is the signing time");
  });

  it("is served on every frontend, the same bytes", async () => {
    for (const frontend of ["/node", "/gov"]) {
      const reply = await app.client.getEventually(`${frontend}/receipt/cose?transaction_id=${txId}`);
      assert.ok(reply.body.equals(cose), frontend);
    }
  });

  it("refuses a receipt with any altered byte: proof hash, signature, write set digest, commit evidence, claims digest", () => {
    const step = json.proof[0]!;
    const parts: Record<string, Buffer> = {
      "proof hash": Buffer.from("left" in step ? step.left : step.right, "hex"),
      signature: cose.subarray(cose.length - 96),
      "write set digest": Buffer.from(json.leaf_components!.write_set_digest, "hex"),
      "commit evidence": Buffer.from(json.leaf_components!.commit_evidence),
      "claims digest": Buffer.from(json.leaf_components!.claims_digest, "hex"),
    };
    for (const [name, part] of Object.entries(parts)) {
      const bad = tampered(part);
      assert.throws(() => independentlyVerifyCoseReceipt(bad, serviceCertPem), /signature does not verify/, name);
      assert.throws(() => verifyCoseReceipt(bad, serviceCertPem), (error: Error) => error instanceof ReceiptError && /does not verify/.test(error.message), name);
    }
  });

  it("refuses a receipt checked against another service's certificate", async () => {
    const other = await AppNode.start(BUNDLE, "cose-other-");
    try {
      assert.throws(() => verifyCoseReceipt(cose, other.node.core.identity.serviceCertPem), (e: Error) => e instanceof ReceiptError && /kid/.test(e.message));
    } finally {
      await other.close();
    }
  });

  it("a signature transaction has no COSE receipt: 404 ResourceNotFound; bad and pending ids answer as for JSON receipts", async () => {
    const view = txId.split(".")[0];
    const signature = app.node.core.history.signatures.at(-1)!;
    const reply = await app.client.getEventually(`/app/receipt/cose?transaction_id=${view}.${signature}`);
    assert.equal(reply.status, 404);
    assert.equal(reply.json.error.code, "ResourceNotFound");
    assert.match(reply.json.error.message, /signature transaction/);
    const bad = await app.client.get("/app/receipt/cose?transaction_id=nope");
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, "InvalidQueryParameterValue");
    const pending = await app.client.get(`/app/receipt/cose?transaction_id=${view}.999999`);
    assert.equal(pending.status, 404);
    assert.equal(pending.json.error.code, "TransactionPendingOrUnknown");
  });
});

describe("verifyCoseReceipt on malformed input", () => {
  const reencode = (edit: (parts: unknown[]) => void): Buffer => {
    const parts = [...((decoder.decode(cose) as Tag).value as unknown[])];
    edit(parts);
    return encoder.encode(new Tag(parts, 18));
  };
  const unprotected = (vdp: unknown) => new Map([[396, vdp]]);
  const cases: Record<string, () => Uint8Array> = {
    "empty input": () => Buffer.alloc(0),
    "not CBOR": () => Buffer.from([0xff, 0x00]),
    "a CBOR map": () => encoder.encode(new Map([[1, 2]])),
    truncated: () => cose.subarray(0, cose.length - 10),
    "an attached payload": () => reencode((p) => (p[2] = Buffer.alloc(32))),
    "no vdp header": () => reencode((p) => (p[1] = new Map())),
    "vdp not a map": () => reencode((p) => (p[1] = unprotected([1]))),
    "two inclusion proofs": () => reencode((p) => ((p[1] as Map<number, Map<number, unknown[]>>).get(396)!.get(-1)!.push(Buffer.alloc(1)))),
    "a proof that is not a bstr": () => reencode((p) => (p[1] = unprotected(new Map([[-1, [7]]])))),
    "a proof that is not CBOR": () => reencode((p) => (p[1] = unprotected(new Map([[-1, [Buffer.from([0xff])]]])))),
    "a leaf of two items": () => reencode((p) => (p[1] = unprotected(new Map([[-1, [encoder.encode(new Map<number, unknown>([[1, [Buffer.alloc(32), "ce"]], [2, []]]))]]])))),
    "a short digest": () =>
      reencode((p) => (p[1] = unprotected(new Map([[-1, [encoder.encode(new Map<number, unknown>([[1, [Buffer.alloc(31), "ce", Buffer.alloc(32)]], [2, []]]))]]])))),
    "an empty commit evidence": () =>
      reencode((p) => (p[1] = unprotected(new Map([[-1, [encoder.encode(new Map<number, unknown>([[1, [Buffer.alloc(32), "", Buffer.alloc(32)]], [2, []]]))]]])))),
    "a path element without its bool": () =>
      reencode((p) => (p[1] = unprotected(new Map([[-1, [encoder.encode(new Map<number, unknown>([[1, [Buffer.alloc(32), "ce", Buffer.alloc(32)]], [2, [[1, Buffer.alloc(32)]]]]))]]])))),
    "no path": () => reencode((p) => (p[1] = unprotected(new Map([[-1, [encoder.encode(new Map<number, unknown>([[1, [Buffer.alloc(32), "ce", Buffer.alloc(32)]]]))]]])))),
    "a protected header of another vds": () => reencode((p) => (p[0] = encoder.encode(new Map([[1, -35], [395, 1]])))),
  };
  for (const [name, make] of Object.entries(cases)) {
    it(`refuses ${name} with a ReceiptError`, () => {
      assert.throws(() => verifyCoseReceipt(make(), serviceCertPem), ReceiptError);
    });
  }
});

describe("ledgers written before COSE signatures", () => {
  it("replay, keep their JSON receipts, answer a clear 404 for COSE receipts; new signatures carry COSE signatures", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pre-cose-"));
    try {
      // A ledger as an earlier Confide wrote it: signatures without public:ccf.internal.cose_signatures.
      const identity = await loadOrCreateIdentity(dir);
      const secrets = LedgerSecrets.first();
      const old = await History.open({
        ledgerDir: join(dir, "ledger"),
        secrets,
        serviceCertPem: identity.serviceCertPem,
        viewFile: join(dir, "view"),
        signer: { nodeId: identity.nodeId, certPem: identity.nodeCertPem, privateKeyPem: identity.nodePrivateKeyPem },
      });
      const tx = old.begin();
      tx.map("public:records").set(Buffer.from("k"), Buffer.from("old"));
      const oldId = old.commit(tx)!;
      old.emitSignature();
      await old.close();

      const node = await startNode({ dir, port: 0, signatureIntervalMs: 50, ledgerSecrets: secrets });
      const client = new HttpsClient(node.url, identity.serviceCertPem);
      try {
        const oldTx = `${oldId.view}.${oldId.seqno}`;
        const jsonReply: Reply = await client.getEventually(`/node/receipt?transaction_id=${oldTx}`);
        assert.equal(jsonReply.status, 200);
        verifyReceipt(jsonReply.json as Receipt, identity.serviceCertPem);
        const coseReply = await client.getEventually(`/node/receipt/cose?transaction_id=${oldTx}`);
        assert.equal(coseReply.status, 404);
        assert.equal(coseReply.json.error.code, "ResourceNotFound");
        assert.match(coseReply.json.error.message, /carries no COSE signature/);

        // The node signed its new view on start, with a COSE signature: the old tx is now in a later tree, but its
        // receipt comes from the signature that first covered it. A new write gets a COSE receipt.
        const write = node.core.history.begin();
        write.map("public:records").set(Buffer.from("k"), Buffer.from("new"));
        const newId = node.core.history.commit(write)!;
        await node.core.history.waitForCommit(newId.seqno);
        const fresh = await client.getEventually(`/node/receipt/cose?transaction_id=${newId.view}.${newId.seqno}`);
        assert.equal(fresh.status, 200, fresh.text);
        independentlyVerifyCoseReceipt(fresh.body, identity.serviceCertPem);
      } finally {
        client.close();
        await node.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
