// CCF JS app bundles built the way CCF developers build them run unmodified:
// the `features` fixture app (every `ccf` API the ccf-app-samples style of apps
// uses: typed maps with json/string/uint32 converters, raw ccf.kv, the request
// object, auth policies, crypto sign/verify/digest/wrapKey/JWK/X.509,
// historical state and receipts, setApplyWrites, claims digests, consensus,
// globals, a CommonJS dependency, isolation) built with esbuild against
// @microsoft/ccf-app 6, every endpoint of its README checked over real TLS;
// the same app built against ccf-app 5 and the `features-rollup` app built with
// rollup preserveModules, each on its own node.
import assert from "node:assert/strict";
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify, constants as cryptoConstants, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { signCoseSign1 } from "../src/crypto/cose.ts";
import { certId } from "../src/crypto/keys.ts";
import type { Log } from "../src/log.ts";
import { verifyReceipt, type Receipt } from "../src/merkle/receipt.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import { parseBundle, type Bundle } from "../src/runtime/bundle.ts";
import { Tables } from "../src/tables.ts";
import { buildWithEsbuild, buildWithRollup, bundleToJson, type Bundle as BuiltBundle } from "./helpers/build-bundle.ts";
import { dataVersions } from "./helpers/store-versions.ts";
import { HttpsClient, type ClientIdentity, type Reply } from "./helpers/https-client.ts";

const FEATURES = fileURLToPath(new URL("./fixtures/apps/features", import.meta.url));
const FEATURES_ROLLUP = fileURLToPath(new URL("./fixtures/apps/features-rollup", import.meta.url));

const INTERNAL_ERROR = { error: { code: "InternalError", message: "Exception thrown while executing." } };
const TIMEOUT_ERROR = { error: { code: "InternalError", message: "Operation took too long to complete." } };
const SHA256_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

const ISSUER = "https://login.confide.example";
const JWT_KID = "features-kid";
const jwtKey = generateKeyPairSync("rsa", { modulusLength: 2048 });

const sha256Hex = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
const seqnoOf = (txId: string) => Number(txId.split(".")[1]);
const viewOf = (txId: string) => Number(txId.split(".")[0]);

function jwt(): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: "features-tester", exp: Math.floor(Date.now() / 1000) + 600 })
    .setProtectedHeader({ alg: "RS256", kid: JWT_KID })
    .sign(jwtKey.privateKey);
}

async function identity(): Promise<ClientIdentity> {
  const made = await createServiceIdentity();
  return { certPem: made.certPem, keyPem: made.privateKeyPem };
}

/** The bundle as the node gets it: bundle.json, as build_bundle.js writes it, parsed and validated. */
async function deployable(built: Promise<BuiltBundle>): Promise<Bundle> {
  return parseBundle(JSON.parse(bundleToJson(await built)));
}

/** A node with one bundle, its clients and its log lines. */
class Deployment {
  readonly lines: string[] = [];
  private readonly clients: HttpsClient[] = [];
  node!: ServingNode;
  dir!: string;

  async start(bundle: Bundle, users: ClientIdentity[] = [], members: ClientIdentity[] = []): Promise<void> {
    this.dir = mkdtempSync(join(tmpdir(), "confide-bundles-"));
    const record = (level: string) => (message: string) => void this.lines.push(`${level} ${message}`);
    const log: Log = { debug: record("debug"), info: record("info"), warn: record("warn"), error: record("error") };
    this.node = await startNode({
      dir: this.dir,
      port: 0,
      appBundle: bundle,
      users: users.map((u, i) => ({ certPem: u.certPem, data: { name: `user${i}` } })),
      members: members.map((m, i) => ({ certPem: m.certPem, data: { name: `member${i}` } })),
      signatureIntervalMs: 20,
      log,
    });
  }

  client(who?: ClientIdentity): HttpsClient {
    const client = new HttpsClient(this.node.url, this.node.core.identity.serviceCertPem, who);
    this.clients.push(client);
    return client;
  }

  storeVersions(): string {
    return dataVersions(this.node.core.history.store);
  }

  /** Waits (bounded) until the transaction is committed, as CCF clients poll /tx before asking for a receipt. */
  async committed(txId: string): Promise<void> {
    await Promise.race([
      this.node.core.history.waitForCommit(seqnoOf(txId)),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`${txId} not committed within 5 s`)), 5000).unref()),
    ]);
  }

  async close(): Promise<void> {
    for (const client of this.clients) client.close();
    if (this.node) await this.node.close();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

const main = new Deployment();
const v5 = new Deployment();
const rolled = new Deployment();
let user: ClientIdentity;
let member: ClientIdentity;
let stranger: ClientIdentity;
let anon: HttpsClient;

before(async () => {
  const [bundle6, bundle5, bundleRollup, ids] = await Promise.all([
    deployable(buildWithEsbuild(FEATURES, { ccfApp: 6 })),
    deployable(buildWithEsbuild(FEATURES, { ccfApp: 5 })),
    deployable(buildWithRollup(FEATURES_ROLLUP)),
    Promise.all([identity(), identity(), identity()]),
  ]);
  [user, member, stranger] = ids;
  await Promise.all([main.start(bundle6, [user], [member]), v5.start(bundle5), rolled.start(bundleRollup)]);
  // What set_jwt_issuer / set_jwt_public_signing_keys write.
  const tx = main.node.core.history.begin();
  tx.map(Tables.jwtIssuers).set(Buffer.from(ISSUER), Buffer.from(JSON.stringify({ auto_refresh: false })));
  const spki = jwtKey.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  tx.map(Tables.jwtPublicSigningKeys).set(Buffer.from(JWT_KID), Buffer.from(JSON.stringify([{ public_key: spki, issuer: ISSUER, constraint: ISSUER }])));
  main.node.core.history.commit(tx);
  anon = main.client();
});

after(async () => {
  await Promise.all([main.close(), v5.close(), rolled.close()]);
});

/** A receipt obtained from the app verifies against the service certificate and carries the expected claims digest. */
function assertReceipt(deployment: Deployment, receipt: Receipt, claimsDigest: string, txId: string): void {
  verifyReceipt(receipt, deployment.node.core.identity.serviceCertPem);
  assert.ok(receipt.leaf_components, "an app transaction's receipt has leaf_components");
  assert.equal(receipt.leaf_components.claims_digest, claimsDigest);
  assert.match(receipt.leaf_components.commit_evidence, new RegExp(`^ce:${txId.replace(".", "\\.")}:[0-9a-f]{64}$`));
}

async function assertPingWorks(client: HttpsClient, app = "features"): Promise<void> {
  const ping = await client.get("/app/ping");
  assert.equal(ping.status, 200);
  assert.deepEqual(ping.json, { pong: true, app });
}

function assertInternalError(reply: Reply, expected: object = INTERNAL_ERROR): void {
  assert.equal(reply.status, 500, reply.text);
  assert.equal(reply.headers["content-type"], "application/json");
  assert.deepEqual(reply.json, expected);
}

// ---------------------------------------------------------------------------

describe("features, esbuild + @microsoft/ccf-app 6", () => {
  describe("key-value store", () => {
    it("PUT/GET/DELETE /records/{id}: typed string -> json map, has/size/getVersionOfPreviousWrite", async () => {
      const first = await anon.request("PUT", "/app/records/alpha", { body: { msg: "first", tags: ["a", "b"] } });
      assert.equal(first.status, 200, first.text);
      assert.deepEqual(first.json, { id: "alpha", existed: false, previousVersion: null, size: 1 });
      const firstTx = first.headers["x-ms-ccf-transaction-id"]!;
      assert.match(firstTx, /^\d+\.\d+$/);

      const read = await anon.get("/app/records/alpha");
      assert.equal(read.status, 200);
      assert.deepEqual(read.json, { id: "alpha", value: { msg: "first", tags: ["a", "b"] }, version: seqnoOf(firstTx) });

      const second = await anon.request("PUT", "/app/records/alpha", { body: { msg: "second" } });
      assert.deepEqual(second.json, { id: "alpha", existed: true, previousVersion: seqnoOf(firstTx), size: 1 });
      const secondTx = second.headers["x-ms-ccf-transaction-id"]!;
      assert.ok(seqnoOf(secondTx) > seqnoOf(firstTx));
      assert.deepEqual((await anon.get("/app/records/alpha")).json, { id: "alpha", value: { msg: "second" }, version: seqnoOf(secondTx) });

      const missing = await anon.get("/app/records/nobody");
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error.code, "NotFound");

      const deleted = await anon.request("DELETE", "/app/records/alpha");
      assert.deepEqual(deleted.json, { id: "alpha", deleted: true, hasAfter: false });
      assert.equal((await anon.get("/app/records/alpha")).status, 404);
      const again = await anon.request("DELETE", "/app/records/alpha");
      assert.deepEqual(again.json, { id: "alpha", deleted: false, hasAfter: false });
    });

    it("PUT /records/{id} rejects a non-object body or one without msg (400) and invalid JSON (500), storing nothing", async () => {
      const before = main.storeVersions();
      for (const body of ['"just a string"', "[1,2]", "{}", '{"msg": 7}', "null"]) {
        const reply = await anon.request("PUT", "/app/records/bad", { body, headers: { "content-type": "application/json" } });
        assert.equal(reply.status, 400, body);
        assert.equal(reply.json.error.code, "BadRequest");
      }
      assertInternalError(await anon.request("PUT", "/app/records/bad", { body: "{not json", headers: { "content-type": "application/json" } }));
      assert.equal(main.storeVersions(), before);
      assert.equal((await anon.get("/app/records/bad")).status, 404);
    });

    it("GET /records lists with forEach (sorted by id); DELETE /records clears", async () => {
      for (const id of ["r2", "r1", "r3"]) {
        assert.equal((await anon.request("PUT", `/app/records/${id}`, { body: { msg: `m-${id}` } })).status, 200);
      }
      const list = await anon.get("/app/records");
      assert.equal(list.status, 200);
      assert.equal(list.json.size, 3);
      assert.deepEqual(Object.keys(list.json.records), ["r1", "r2", "r3"]);
      assert.deepEqual(list.json.records.r2, { msg: "m-r2" });
      const cleared = await anon.request("DELETE", "/app/records");
      assert.deepEqual(cleared.json, { cleared: 3, sizeAfter: 0 });
      assert.deepEqual((await anon.get("/app/records")).json, { size: 0, records: {} });
    });

    it("POST /counters/{name}: uint32 converter counts 1, 2, 3 in 4 raw bytes", async () => {
      for (const value of [1, 2, 3]) {
        const reply = await anon.post("/app/counters/hits");
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.json, { name: "hits", value, rawByteLength: 4 });
      }
      assert.deepEqual((await anon.post("/app/counters/other")).json, { name: "other", value: 1, rawByteLength: 4 });
    });

    it("POST /log and GET /log/{index}: uint32 keys -> string values", async () => {
      const texts = ["first entry", "second entry, ünïcødé"];
      for (const [index, text] of texts.entries()) {
        const reply = await anon.post("/app/log", text, { "content-type": "text/plain" });
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.json, { index, size: index + 1 });
      }
      const entry = await anon.get("/app/log/1");
      assert.equal(entry.status, 200);
      assert.equal(entry.headers["content-type"], "text/plain");
      assert.equal(entry.text, texts[1]);
      assert.equal((await anon.get("/app/log/0")).text, texts[0]);
      assert.equal((await anon.get("/app/log/99")).status, 404);
      const bad = await anon.get("/app/log/minus-one");
      assert.equal(bad.status, 400);
      assert.equal(bad.json.error.code, "BadRequest");
    });

    it("PUT/GET /raw/{key}: raw ccf.kv bytes round trip exactly; 404 when absent", async () => {
      const bytes = Buffer.from([0, 255, 1, 254, 0x80, 0x7f, 0, 0]);
      const put = await anon.request("PUT", "/app/raw/blob", { body: bytes, headers: { "content-type": "application/octet-stream" } });
      assert.equal(put.status, 200);
      assert.deepEqual(put.json, { key: "blob", byteLength: bytes.length });
      const got = await anon.get("/app/raw/blob");
      assert.equal(got.status, 200);
      assert.equal(got.headers["content-type"], "application/octet-stream");
      assert.deepEqual(got.body, bytes);
      assert.equal((await anon.get("/app/raw/none")).status, 404);
    });

    it("POST /kv/readonly-write: a write in a readonly endpoint is a 500 and nothing is stored", async () => {
      const before = main.storeVersions();
      assertInternalError(await anon.post("/app/kv/readonly-write"));
      assert.equal(main.storeVersions(), before);
      assert.equal((await anon.get("/app/records/readonly-write")).status, 404);
    });
  });

  describe("request object", () => {
    it("GET /echo/{name}: method, url, path, route, query, hostname, params, lower-case headers, empty body, the no_auth caller", async () => {
      const reply = await anon.get("/app/echo/abc?x=1", { "X-Custom-Header": "Mixed Case" });
      assert.equal(reply.status, 200);
      const host = new URL(main.node.url).host;
      assert.deepEqual(
        { ...reply.json, headers: undefined },
        { method: "GET", url: "/app/echo/abc?x=1", path: "/app/echo/abc", route: "/app/echo/{name}", query: "x=1", hostname: host, params: { name: "abc" }, headers: undefined, body: "", caller: { policy: "no_auth" } },
      );
      assert.equal(reply.json.headers["x-custom-header"], "Mixed Case");
      assert.equal(reply.json.headers.host, host);
      for (const name of Object.keys(reply.json.headers)) assert.equal(name, name.toLowerCase());
    });

    it("POST /echo/{name}: the same with method POST and the body text", async () => {
      const reply = await anon.post("/app/echo/poster", "posted text", { "content-type": "text/plain" });
      assert.equal(reply.status, 200);
      assert.equal(reply.json.method, "POST");
      assert.equal(reply.json.body, "posted text");
      assert.equal(reply.json.url, "/app/echo/poster");
      assert.equal(reply.json.query, "");
      assert.deepEqual(reply.json.params, { name: "poster" });
      assert.equal(reply.json.headers["content-type"], "text/plain");
    });

    it("GET /query: the raw query string and its decoded form", async () => {
      assert.deepEqual((await anon.get("/app/query?a=1&b=x%20y")).json, { raw: "a=1&b=x%20y", parsed: { a: "1", b: "x y" } });
      assert.deepEqual((await anon.get("/app/query")).json, { raw: "", parsed: {} });
    });

    const jsonBodies: Array<[string, unknown, string]> = [
      ['{"k":[1,{"n":null}]}', { k: [1, { n: null }] }, "object"],
      ["[1,2,3]", [1, 2, 3], "array"],
      ['"text"', "text", "string"],
      ["12.5", 12.5, "number"],
      ["true", true, "boolean"],
      ["null", null, "null"],
    ];
    for (const [body, parsed, type] of jsonBodies) {
      it(`POST /body/json ${body} -> ${type}`, async () => {
        const reply = await anon.post("/app/body/json", body, { "content-type": "application/json" });
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.json, { parsed, type });
      });
    }

    it("POST /body/json with invalid JSON is a 500", async () => {
      assertInternalError(await anon.post("/app/body/json", "{oops", { "content-type": "application/json" }));
    });

    it("POST /body/text: text/plain <UTF-16 length>:<text>", async () => {
      const reply = await anon.post("/app/body/text", "héllo", { "content-type": "text/plain" });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers["content-type"], "text/plain");
      assert.equal(reply.text, "5:héllo");
      assert.equal((await anon.post("/app/body/text", "")).text, "0:");
    });

    it("POST /body/bytes: arrayBuffer() is a copy of the exact bytes", async () => {
      const bytes = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff));
      const reply = await anon.post("/app/body/bytes", bytes, { "content-type": "application/octet-stream" });
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { byteLength: 300, hex: bytes.toString("hex"), sha256: sha256Hex(bytes) });
    });
  });

  describe("authentication", () => {
    it("GET /auth/user_cert: the registered user's id, user_data and cert", async () => {
      const reply = await main.client(user).get("/app/auth/user_cert");
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { caller: { policy: "user_cert", id: certId(user.certPem), data: { name: "user0" }, cert: user.certPem } });
      for (const who of [undefined, member, stranger]) assert.equal((await main.client(who).get("/app/auth/user_cert")).status, 401);
    });

    it("GET /auth/member_cert: the member's id, member_data and cert", async () => {
      const reply = await main.client(member).get("/app/auth/member_cert");
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { caller: { policy: "member_cert", id: certId(member.certPem), data: { name: "member0" }, cert: member.certPem } });
      assert.equal((await main.client(user).get("/app/auth/member_cert")).status, 401);
    });

    it("GET /auth/any_cert: any client certificate, as PEM; none is 401", async () => {
      const reply = await main.client(stranger).get("/app/auth/any_cert");
      assert.equal(reply.status, 200);
      assert.equal(reply.json.caller.policy, "any_cert");
      assert.equal(reply.json.caller.cert.trim(), stranger.certPem.trim());
      assert.equal((await anon.get("/app/auth/any_cert")).status, 401);
    });

    it("GET /auth/jwt: {keyIssuer, header, payload}; no token is 401", async () => {
      const reply = await anon.get("/app/auth/jwt", { authorization: `Bearer ${await jwt()}` });
      assert.equal(reply.status, 200);
      const { caller } = reply.json;
      assert.equal(caller.policy, "jwt");
      assert.equal(caller.jwt.keyIssuer, ISSUER);
      assert.deepEqual(caller.jwt.header, { alg: "RS256", kid: JWT_KID });
      assert.equal(caller.jwt.payload.sub, "features-tester");
      assert.equal(caller.jwt.payload.iss, ISSUER);
      const refused = await anon.get("/app/auth/jwt");
      assert.equal(refused.status, 401);
      assert.equal(refused.json.error.code, "InvalidAuthenticationInfo");
    });

    it("GET /auth/no_auth: {policy: no_auth}; GET /auth/none ([]): caller null", async () => {
      assert.deepEqual((await anon.get("/app/auth/no_auth")).json, { caller: { policy: "no_auth" } });
      assert.deepEqual((await main.client(user).get("/app/auth/none")).json, { caller: null });
    });

    it("POST /auth/user_cose_sign1: the signing user plus the COSE payload", async () => {
      const payload = '{"signed":"payload"}';
      const envelope = signCoseSign1({ privateKeyPem: user.keyPem, kid: certId(user.certPem), headers: { "ccf.msg.type": "features", "ccf.msg.created_at": Math.floor(Date.now() / 1000) }, payload });
      const reply = await anon.post("/app/auth/user_cose_sign1", envelope, { "content-type": "application/cose" });
      assert.equal(reply.status, 200, reply.text);
      assert.deepEqual(reply.json, {
        caller: {
          policy: "user_cose_sign1",
          id: certId(user.certPem),
          data: { name: "user0" },
          cert: user.certPem,
          // Only the payload, as CCF's create_caller_ident_obj gives it.
          cose: { content: { byteLength: payload.length, hex: Buffer.from(payload).toString("hex") } },
        },
      });
      const strangers = signCoseSign1({ privateKeyPem: stranger.keyPem, kid: certId(stranger.certPem), headers: {}, payload });
      assert.equal((await anon.post("/app/auth/user_cose_sign1", strangers, { "content-type": "application/cose" })).status, 401);
    });

    it("GET /auth/all_of: user_cert and jwt both required", async () => {
      const token = await jwt();
      const both = await main.client(user).get("/app/auth/all_of", { authorization: `Bearer ${token}` });
      assert.equal(both.status, 200);
      const { caller } = both.json;
      // CCF keeps the sub-identities in a std::map: names sorted.
      assert.deepEqual(caller.policy, ["jwt", "user_cert"]);
      assert.equal(caller.user_cert.id, certId(user.certPem));
      assert.equal(caller.jwt.jwt.keyIssuer, ISSUER);
      assert.equal((await main.client(user).get("/app/auth/all_of")).status, 401);
      assert.equal((await anon.get("/app/auth/all_of", { authorization: `Bearer ${token}` })).status, 401);
    });

    it("GET /auth/first_match: the first policy that passes", async () => {
      assert.equal((await main.client(user).get("/app/auth/first_match")).json.caller.policy, "user_cert");
      assert.equal((await main.client(member).get("/app/auth/first_match")).json.caller.policy, "member_cert");
      assert.equal((await anon.get("/app/auth/first_match", { authorization: `Bearer ${await jwt()}` })).json.caller.policy, "jwt");
      assert.deepEqual((await anon.get("/app/auth/first_match")).json, { caller: { policy: "no_auth" } });
    });
  });

  describe("responses and errors", () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const cases: Array<{ path: string; status: number; contentType: string | undefined; body: Buffer | string }> = [
      { path: "/response/json", status: 200, contentType: "application/json", body: '{"hello":"world","n":1,"nested":{"list":[1,2,3],"none":null}}' },
      { path: "/response/text", status: 200, contentType: "text/plain", body: "hello, text" },
      { path: "/response/bytes", status: 200, contentType: "application/octet-stream", body: bytes },
      { path: "/response/number", status: 200, contentType: "application/json", body: "42" },
      { path: "/response/empty", status: 204, contentType: undefined, body: "" },
      { path: "/response/custom", status: 201, contentType: "application/vnd.confide.test+json", body: '{"created":true}' },
    ];
    for (const { path, status, contentType, body } of cases) {
      it(`GET ${path} -> ${status} ${contentType ?? "(no content type)"}`, async () => {
        const reply = await anon.get(`/app${path}`);
        assert.equal(reply.status, status);
        assert.equal(reply.headers["content-type"], contentType);
        assert.deepEqual(reply.body, Buffer.isBuffer(body) ? body : Buffer.from(body));
        if (path === "/response/custom") {
          assert.equal(reply.headers["x-custom-header"], "custom-value");
          assert.equal(reply.headers["x-number"], "7");
        }
      });
    }

    it("POST /response/error-discard/{id}: 400 and the write is discarded", async () => {
      const before = main.storeVersions();
      const reply = await anon.post("/app/response/error-discard/discarded");
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.json, { error: { code: "Deliberate", message: "writes discarded" } });
      assert.equal(main.storeVersions(), before);
      assert.equal((await anon.get("/app/records/discarded")).status, 404);
    });

    it("POST /response/error-apply/{id}: 409 and setApplyWrites(true) keeps the write", async () => {
      const reply = await anon.post("/app/response/error-apply/applied");
      assert.equal(reply.status, 409);
      assert.deepEqual(reply.json, { error: { code: "Deliberate", message: "writes applied" } });
      assert.match(reply.headers["x-ms-ccf-transaction-id"] ?? "", /^\d+\.\d+$/);
      const read = await anon.get("/app/records/applied");
      assert.equal(read.status, 200);
      assert.deepEqual(read.json.value, { msg: "written by a 409 response with setApplyWrites(true)" });
    });

    for (const path of ["/errors/throw", "/errors/not-object", "/errors/bad-status"]) {
      it(`GET ${path} is a clean 500 and the next request works`, async () => {
        assertInternalError(await anon.get(`/app${path}`));
        await assertPingWorks(anon);
      });
    }

    it("GET /errors/throw names the error in details when return_exception_details is on", async () => {
      const history = main.node.core.history;
      const set = (options: object | undefined) => {
        const tx = history.begin();
        const map = tx.map(Tables.jsRuntimeOptions);
        const key = Buffer.alloc(8);
        if (options === undefined) map.delete(key);
        else map.set(key, Buffer.from(JSON.stringify(options)));
        history.commit(tx);
      };
      set({ return_exception_details: true });
      try {
        const reply = await anon.get("/app/errors/throw");
        assert.equal(reply.status, 500);
        assert.equal(reply.json.error.details[0].code, "JSException");
        assert.match(reply.json.error.details[0].message, /deliberate failure from \/errors\/throw/);
      } finally {
        set(undefined);
      }
      assert.deepEqual((await anon.get("/app/errors/throw")).json, INTERNAL_ERROR);
    });
  });

  describe("crypto", () => {
    const DATA = "confide signing test data";
    const schemes: Array<{ scheme: string; length: number; verify: (key: KeyObject, signature: Buffer, data: Buffer) => boolean }> = [
      { scheme: "ecdsa-p256", length: 64, verify: (key, sig, data) => nodeVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig) },
      { scheme: "ecdsa-p384", length: 96, verify: (key, sig, data) => nodeVerify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig) },
      { scheme: "rsa-pss", length: 256, verify: (key, sig, data) => nodeVerify("sha256", data, { key, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig) },
      { scheme: "eddsa", length: 64, verify: (key, sig, data) => nodeVerify(null, data, key, sig) },
    ];
    for (const { scheme, length, verify } of schemes) {
      it(`GET /crypto/sign/${scheme}: sign + verifySignature in the app, and the signature verifies in Node`, async () => {
        const reply = await anon.get(`/app/crypto/sign/${scheme}`);
        assert.equal(reply.status, 200, reply.text);
        const body = reply.json;
        assert.equal(body.scheme, scheme);
        assert.equal(body.data, DATA);
        assert.equal(body.signatureByteLength, length);
        assert.equal(body.verified, true);
        assert.equal(body.tamperedRejected, true);
        assert.equal(body.wrongKeyRejected, true);
        assert.match(body.publicKey, /^-----BEGIN PUBLIC KEY-----/);
        const key = createPublicKey(body.publicKey);
        const signature = Buffer.from(body.signature, "hex");
        assert.equal(verify(key, signature, Buffer.from(DATA)), true);
        assert.equal(verify(key, signature, Buffer.from(DATA + "!")), false);
      });
    }

    it("GET /crypto/sign/{unknown} is 400", async () => {
      const reply = await anon.get("/app/crypto/sign/dsa");
      assert.equal(reply.status, 400);
      assert.equal(reply.json.error.code, "BadRequest");
    });

    it("POST /crypto/verify: signatures made in Node (keys and certificates) verify in the app; others do not", async () => {
      const data = "made outside the sandbox";
      const ec = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
      const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const ed = generateKeyPairSync("ed25519");
      const pem = (key: KeyObject) => key.export({ type: "spki", format: "pem" }).toString();
      const cases: Array<{ algorithm: object; key: string; signature: Buffer }> = [
        { algorithm: { name: "ECDSA", hash: "SHA-256" }, key: pem(ec.publicKey), signature: nodeSign("sha256", Buffer.from(data), { key: ec.privateKey, dsaEncoding: "ieee-p1363" }) },
        { algorithm: { name: "RSA-PSS", hash: "SHA-256", saltLength: 32 }, key: pem(rsa.publicKey), signature: nodeSign("sha256", Buffer.from(data), { key: rsa.privateKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }) },
        { algorithm: { name: "EdDSA" }, key: pem(ed.publicKey), signature: nodeSign(null, Buffer.from(data), ed.privateKey) },
        // A certificate as the verification key (P-384 user certificate).
        { algorithm: { name: "ECDSA", hash: "SHA-256" }, key: user.certPem, signature: nodeSign("sha256", Buffer.from(data), { key: createPrivateKey(user.keyPem), dsaEncoding: "ieee-p1363" }) },
      ];
      for (const { algorithm, key, signature } of cases) {
        const valid = await anon.post("/app/crypto/verify", { algorithm, key, signature: signature.toString("hex"), data });
        assert.equal(valid.status, 200, valid.text);
        assert.deepEqual(valid.json, { valid: true }, JSON.stringify(algorithm));
        const tampered = await anon.post("/app/crypto/verify", { algorithm, key, signature: signature.toString("hex"), data: data + "?" });
        assert.deepEqual(tampered.json, { valid: false }, JSON.stringify(algorithm));
      }
      // CCF's verifySignature accepts only SHA-256 (sign also takes SHA-384/512): a RangeError, so a 500.
      const sha384 = nodeSign("sha384", Buffer.from(data), { key: ec.privateKey, dsaEncoding: "ieee-p1363" });
      assertInternalError(await anon.post("/app/crypto/verify", { algorithm: { name: "ECDSA", hash: "SHA-384" }, key: pem(ec.publicKey), signature: sha384.toString("hex"), data }));
    });

    it("GET /crypto/digest: SHA-256; SHA-384 is a 500 as in CCF", async () => {
      const reply = await anon.get("/app/crypto/digest?data=abc");
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { data: "abc", alg: "SHA-256", hex: SHA256_ABC });
      assertInternalError(await anon.get("/app/crypto/digest?data=abc&alg=SHA-384"));
    });

    const wraps: Array<[string, string, number]> = [
      ["aes-kwp", "AES-KWP", 40],
      ["rsa-oaep", "RSA-OAEP", 256],
      ["rsa-oaep-aes-kwp", "RSA-OAEP-AES-KWP", 296],
    ];
    for (const [path, algorithm, wrappedByteLength] of wraps) {
      it(`GET /crypto/wrap/${path}: wrapKey/unwrapKey round trip, ${wrappedByteLength} wrapped bytes`, async () => {
        const reply = await anon.get(`/app/crypto/wrap/${path}`);
        assert.equal(reply.status, 200, reply.text);
        assert.deepEqual(reply.json, { algorithm, keyByteLength: 32, wrappedByteLength, roundTrip: true, aesKeyLengths: [16, 24, 32] });
      });
    }

    it("GET /crypto/wrap/{unknown} is 400", async () => {
      assert.equal((await anon.get("/app/crypto/wrap/des")).status, 400);
    });

    const jwks: Array<[string, Record<string, string>, string[]]> = [
      ["ec", { kty: "EC", crv: "P-256" }, ["crv", "d", "kid", "kty", "x", "y"]],
      ["rsa", { kty: "RSA" }, ["d", "dp", "dq", "e", "kid", "kty", "n", "p", "q", "qi"]],
      ["eddsa", { kty: "OKP", crv: "Ed25519" }, ["crv", "d", "kid", "kty", "x"]],
    ];
    for (const [kind, fields, privateFields] of jwks) {
      it(`GET /crypto/jwk/${kind}: PEM <-> JWK round trips, public and private`, async () => {
        const reply = await anon.get(`/app/crypto/jwk/${kind}`);
        assert.equal(reply.status, 200, reply.text);
        const body = reply.json;
        assert.equal(body.kind, kind);
        assert.equal(body.publicJwk.kid, "confide-kid");
        for (const [name, value] of Object.entries(fields)) assert.equal(body.publicJwk[name], value);
        assert.equal(body.publicJwk.d, undefined);
        assert.deepEqual(body.privateJwkFields, privateFields);
        assert.deepEqual([body.publicRoundTrip, body.privateRoundTrip, body.crossVerified], [true, true, true]);
        // The public JWK is a real key Node can import.
        const imported = createPublicKey({ key: body.publicJwk, format: "jwk" });
        assert.equal(imported.type, "public");
      });
    }

    it("POST /crypto/x509/bundle: one or more certificates are valid, other text is not", async () => {
      const { serviceCertPem, nodeCertPem } = main.node.core.identity;
      for (const pem of [serviceCertPem, serviceCertPem + nodeCertPem]) {
        assert.deepEqual((await anon.post("/app/crypto/x509/bundle", pem, { "content-type": "text/plain" })).json, { valid: true });
      }
      assert.deepEqual((await anon.post("/app/crypto/x509/bundle", "not a certificate", { "content-type": "text/plain" })).json, { valid: false });
    });

    it("POST /crypto/x509/chain: the node certificate chains to the service certificate, not to an unrelated one", async () => {
      const { serviceCertPem, nodeCertPem } = main.node.core.identity;
      assert.deepEqual((await anon.post("/app/crypto/x509/chain", { chain: nodeCertPem, trusted: serviceCertPem })).json, { valid: true });
      assert.deepEqual((await anon.post("/app/crypto/x509/chain", { chain: nodeCertPem, trusted: stranger.certPem })).json, { valid: false });
    });
  });

  describe("claims, receipts, historical state, consensus", () => {
    const msg = "a claim worth proving";
    let claimTx: string;
    let claimsDigest: string;

    before(async () => {
      const reply = await anon.post("/app/claims", { id: "claim-1", msg });
      assert.equal(reply.status, 200, reply.text);
      claimTx = reply.headers["x-ms-ccf-transaction-id"]!;
      claimsDigest = reply.json.claimsDigest;
      // A later write of the same key: historical reads must still see the old value.
      assert.equal((await anon.post("/app/claims", { id: "claim-1", msg: "overwritten" })).status, 200);
    });

    it("POST /claims returns SHA-256(msg) and rejects a malformed body", async () => {
      assert.equal(claimsDigest, sha256Hex(msg));
      assert.match(claimTx, /^\d+\.\d+$/);
      const bad = await anon.post("/app/claims", { id: 1 });
      assert.equal(bad.status, 400);
    });

    it("GET /app/receipt for the claims transaction verifies and carries the claims digest", async () => {
      await main.committed(claimTx);
      const reply = await anon.getEventually(`/app/receipt?transaction_id=${claimTx}`);
      assert.equal(reply.status, 200, reply.text);
      assertReceipt(main, reply.json as Receipt, claimsDigest, claimTx);
    });

    it("GET /historical/range (getStateRange): 202 retry-after 1 first, then the state at that transaction with a verifiable receipt", async () => {
      const path = `/app/historical/range?transaction_id=${claimTx}&id=claim-1`;
      const first = await anon.get(path);
      if (first.status === 202) {
        assert.equal(first.headers["retry-after"], "1");
        assert.equal(first.headers["content-type"], "text/plain");
      } else {
        assert.equal(first.status, 200, first.text);
      }
      const reply = await anon.getEventually(path);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.transactionId, claimTx);
      assert.equal(reply.json.value, msg);
      assert.equal(reply.json.statesReturned, 1);
      assert.equal(reply.json.dropped, true);
      assertReceipt(main, reply.json.receipt as Receipt, claimsDigest, claimTx);
      const noId = await anon.getEventually(`/app/historical/range?transaction_id=${claimTx}`);
      assert.equal(noId.json.value, null);
    });

    it("GET /historical/range: 400 without a valid transaction_id, 404 for unknown or invalid ones", async () => {
      for (const query of ["", "?transaction_id=banana", "?transaction_id=3"]) {
        const reply = await anon.get(`/app/historical/range${query}`);
        assert.equal(reply.status, 400, query);
        assert.equal(reply.json.error.code, "BadRequest");
      }
      const view = viewOf(claimTx);
      const unknown = await anon.get(`/app/historical/range?transaction_id=${view}.99999999`);
      assert.equal(unknown.status, 404);
      assert.match(unknown.json.error.message, /is Unknown$/);
      // A committed seqno under another view never happened: Invalid.
      const invalid = await anon.get(`/app/historical/range?transaction_id=${view + 1}.${seqnoOf(claimTx)}`);
      assert.equal(invalid.status, 404);
      assert.match(invalid.json.error.message, /is Invalid$/);
    });

    it("GET /historical/claims/{id} (mode historical): node-side 400/404, then ccf.historicalState with a verifiable receipt", async () => {
      const missing = await anon.get("/app/historical/claims/claim-1");
      assert.equal(missing.status, 400);
      assert.equal(missing.json.error.code, "MissingRequiredHeader");
      const garbage = await anon.get("/app/historical/claims/claim-1", { "x-ms-ccf-transaction-id": "nonsense" });
      assert.equal(garbage.status, 400);
      assert.equal(garbage.json.error.code, "InvalidHeaderValue");
      const unknown = await anon.get("/app/historical/claims/claim-1", { "x-ms-ccf-transaction-id": `${viewOf(claimTx)}.99999999` });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.json.error.code, "TransactionPendingOrUnknown");

      const first = await anon.get("/app/historical/claims/claim-1", { "x-ms-ccf-transaction-id": claimTx });
      assert.ok(first.status === 200 || first.status === 202, first.text);
      if (first.status === 202) assert.match(first.headers["retry-after"] ?? "", /^\d+$/);
      const reply = await anon.getEventually("/app/historical/claims/claim-1", { "x-ms-ccf-transaction-id": claimTx });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.transactionId, claimTx);
      assert.equal(reply.json.value, msg);
      assertReceipt(main, reply.json.receipt as Receipt, claimsDigest, claimTx);
      const absent = await anon.getEventually("/app/historical/claims/never-claimed", { "x-ms-ccf-transaction-id": claimTx });
      assert.equal(absent.json.value, null);
    });

    it("GET /consensus: last committed id, view and status of a seqno; null before the first view, Unknown past the log", async () => {
      const reply = await anon.get("/app/consensus");
      assert.equal(reply.status, 200);
      const { lastCommitted } = reply.json;
      assert.ok(Number.isInteger(lastCommitted.view) && lastCommitted.view >= 1);
      assert.ok(lastCommitted.seqno >= seqnoOf(claimTx));
      assert.deepEqual(reply.json, { lastCommitted, seqno: lastCommitted.seqno, view: lastCommitted.view, status: "Committed" });
      const atClaim = await anon.get(`/app/consensus?seqno=${seqnoOf(claimTx)}`);
      assert.deepEqual(atClaim.json, { lastCommitted: atClaim.json.lastCommitted, seqno: seqnoOf(claimTx), view: viewOf(claimTx), status: "Committed" });
      // Before the first view there is none; past the end of the log CCF's view history answers the current view.
      const genesis = await anon.get("/app/consensus?seqno=0");
      assert.equal(genesis.status, 200, genesis.text);
      assert.deepEqual(genesis.json, { lastCommitted: genesis.json.lastCommitted, seqno: 0, view: null, status: null });
      const future = await anon.get("/app/consensus?seqno=99999999");
      assert.equal(future.status, 200, future.text);
      assert.deepEqual(future.json, { lastCommitted: future.json.lastCommitted, seqno: 99999999, view: main.node.core.history.view, status: "Unknown" });
      assert.equal((await anon.get("/app/consensus?seqno=-1")).status, 400);
    });
  });

  describe("globals and governance tables", () => {
    it("GET /ping", async () => {
      await assertPingWorks(anon);
    });

    it("GET /time: Date.now() is 0 until enableUntrustedDateTime(true), then host time", async () => {
      const before = Date.now();
      const reply = await anon.get("/app/time");
      const after = Date.now();
      assert.equal(reply.status, 200);
      const body = reply.json;
      assert.deepEqual({ ...body, after: undefined, afterIso: undefined }, { before: 0, previous: false, after: undefined, afterIso: undefined, restored: true, reset: 0 });
      assert.ok(body.after >= before - 5 && body.after <= after + 5, `${body.after} not in [${before}, ${after}]`);
      assert.equal(body.afterIso, new Date(body.after).toISOString());
    });

    it("GET /console?marker=X: console.log/info/warn/error reach the node log", async () => {
      const marker = `marker-${Date.now()}`;
      const reply = await anon.get(`/app/console?marker=${marker}`);
      assert.deepEqual(reply.json, { logged: marker });
      for (const prefix of ["log", "info", "warn", "error"]) {
        assert.ok(main.lines.some((line) => line.includes(`${prefix} ${marker}`)), `no "${prefix} ${marker}" in the node log`);
      }
    });

    it("GET /random: 16 distinct values in [0, 1)", async () => {
      const reply = await anon.get("/app/random");
      assert.equal(reply.json.values.length, 16);
      assert.equal(reply.json.allInRange, true);
      assert.equal(reply.json.distinct, true);
      assert.notDeepEqual((await anon.get("/app/random")).json.values, reply.json.values);
    });

    it("GET /metrics-logging: enabled by default, returns the previous setting", async () => {
      assert.deepEqual((await anon.get("/app/metrics-logging")).json, { first: true, second: false });
    });

    it("GET /gov/users/{id}: users.info and users.certs readable from app code; 404 for unknown ids", async () => {
      const id = certId(user.certPem);
      const reply = await anon.get(`/app/gov/users/${id}`);
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { id, info: { user_data: { name: "user0" } }, cert: user.certPem });
      assert.equal((await anon.get(`/app/gov/users/${certId(stranger.certPem)}`)).status, 404);
    });

    it("POST /gov/users/{id}: governance maps are read-only for apps (500, unchanged)", async () => {
      const id = certId(user.certPem);
      const before = main.storeVersions();
      assertInternalError(await anon.post(`/app/gov/users/${id}`));
      assert.equal(main.storeVersions(), before);
      assert.deepEqual((await anon.get(`/app/gov/users/${id}`)).json.info, { user_data: { name: "user0" } });
    });
  });

  describe("CommonJS dependency", () => {
    it("POST /encoding/base64 uses base64-js", async () => {
      const reply = await anon.post("/app/encoding/base64", Buffer.from("hello"), { "content-type": "application/octet-stream" });
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { base64: "aGVsbG8=", byteLength: 5, roundTrip: true });
      const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => 255 - i));
      const binary = await anon.post("/app/encoding/base64", bytes, { "content-type": "application/octet-stream" });
      assert.deepEqual(binary.json, { base64: bytes.toString("base64"), byteLength: 100, roundTrip: true });
    });
  });

  describe("isolation probes: a clean 500 inside the sandbox, then the node keeps serving", () => {
    const probes: Array<[string, object]> = [
      ["process", INTERNAL_ERROR],
      ["require", INTERNAL_ERROR],
      ["dynamic-import", INTERNAL_ERROR],
      ["global-fs", INTERNAL_ERROR],
      ["infinite-loop", TIMEOUT_ERROR],
      ["deep-recursion", INTERNAL_ERROR],
      ["allocate", INTERNAL_ERROR],
    ];
    for (const [probe, expected] of probes) {
      it(`GET /isolation/${probe}`, async () => {
        const before = main.storeVersions();
        assertInternalError(await anon.get(`/app/isolation/${probe}`), expected);
        assert.equal(main.storeVersions(), before);
        await assertPingWorks(anon);
      });
    }

    it("the dynamic import never resolved to a host module", async () => {
      assert.ok(!main.lines.some((line) => line.includes("isolation leak")), main.lines.filter((l) => l.includes("leak")).join("\n"));
    });
  });
});

// ---------------------------------------------------------------------------

describe("features, esbuild + @microsoft/ccf-app 5", () => {
  let client: HttpsClient;
  before(() => {
    client = v5.client();
  });

  it("GET /ping", async () => {
    await assertPingWorks(client);
  });

  it("typed maps: PUT/GET /records/{id} and POST /counters/{name}", async () => {
    const put = await client.request("PUT", "/app/records/five", { body: { msg: "built against ccf-app 5" } });
    assert.deepEqual(put.json, { id: "five", existed: false, previousVersion: null, size: 1 });
    const get = await client.get("/app/records/five");
    assert.deepEqual(get.json, { id: "five", value: { msg: "built against ccf-app 5" }, version: seqnoOf(put.headers["x-ms-ccf-transaction-id"]!) });
    assert.deepEqual((await client.post("/app/counters/c")).json, { name: "c", value: 1, rawByteLength: 4 });
    assert.deepEqual((await client.post("/app/counters/c")).json, { name: "c", value: 2, rawByteLength: 4 });
  });

  it("GET /crypto/sign/ecdsa-p256 and /crypto/digest", async () => {
    const reply = await client.get("/app/crypto/sign/ecdsa-p256");
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual([reply.json.verified, reply.json.tamperedRejected, reply.json.wrongKeyRejected, reply.json.signatureByteLength], [true, true, true, 64]);
    assert.equal((await client.get("/app/crypto/digest?data=abc")).json.hex, SHA256_ABC);
  });

  it("POST /claims, then a receipt via /app/receipt and /historical/range that verifies with the claims digest", async () => {
    const reply = await client.post("/app/claims", { id: "v5", msg: "claim from ccf-app 5" });
    assert.equal(reply.status, 200, reply.text);
    const txId = reply.headers["x-ms-ccf-transaction-id"]!;
    assert.equal(reply.json.claimsDigest, sha256Hex("claim from ccf-app 5"));
    await v5.committed(txId);
    const receipt = await client.getEventually(`/app/receipt?transaction_id=${txId}`);
    assert.equal(receipt.status, 200, receipt.text);
    assertReceipt(v5, receipt.json as Receipt, reply.json.claimsDigest, txId);
    const range = await client.getEventually(`/app/historical/range?transaction_id=${txId}&id=v5`);
    assert.equal(range.status, 200, range.text);
    assert.equal(range.json.value, "claim from ccf-app 5");
    assertReceipt(v5, range.json.receipt as Receipt, reply.json.claimsDigest, txId);
  });

  it("GET /echo/{name}", async () => {
    const reply = await client.get("/app/echo/five?q=5");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.route, "/app/echo/{name}");
    assert.deepEqual(reply.json.params, { name: "five" });
    assert.equal(reply.json.query, "q=5");
  });

  it("a throwing handler is a clean 500", async () => {
    assertInternalError(await client.get("/app/errors/throw"));
    await assertPingWorks(client);
  });
});

// ---------------------------------------------------------------------------

describe("features-rollup, rollup preserveModules + a CommonJS dependency", () => {
  let client: HttpsClient;
  before(() => {
    client = rolled.client();
  });

  it("GET /ping answers as features-rollup", async () => {
    await assertPingWorks(client, "features-rollup");
  });

  it("PUT /records/{id} and GET /records/{id} (deep imports of kv.js and converters.js)", async () => {
    const put = await client.request("PUT", "/app/records/r", { body: "rolled text", headers: { "content-type": "text/plain" } });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json, { id: "r", size: 1 });
    const get = await client.get("/app/records/r");
    assert.equal(get.status, 200);
    assert.equal(get.headers["content-type"], "text/plain");
    assert.equal(get.text, "rolled text");
    assert.equal((await client.get("/app/records/absent")).status, 404);
  });

  it("GET /digest", async () => {
    assert.deepEqual((await client.get("/app/digest?data=abc")).json, { data: "abc", sha256: SHA256_ABC });
  });

  it("GET /sign", async () => {
    assert.deepEqual((await client.get("/app/sign")).json, { verified: true, tamperedRejected: true });
  });

  it("POST /base64 (base64-js through @rollup/plugin-commonjs)", async () => {
    assert.deepEqual((await client.post("/app/base64", Buffer.from("hello"), { "content-type": "application/octet-stream" })).json, { base64: "aGVsbG8=" });
  });

  it("GET /consensus", async () => {
    const reply = await client.get("/app/consensus");
    assert.equal(reply.status, 200);
    const { lastCommitted, viewOfLastCommitted } = reply.json;
    assert.ok(lastCommitted.seqno >= 1);
    assert.equal(viewOfLastCommitted, lastCommitted.view);
  });

  it("GET /throw is a clean 500", async () => {
    assertInternalError(await client.get("/app/throw"));
    await assertPingWorks(client, "features-rollup");
  });
});
