// Checks the default constitution against CCF's default semantics: validate()
// names the faulty action and arg, resolve() accepts on a strict majority of
// Active members, apply() writes the governance tables with CCF's encodings.
// The module runs here in Node under a test `ccf` global: an in-memory KV of
// ArrayBuffer keys and values, plus stubs that record the host calls.
import assert from "node:assert/strict";
import { createHash, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, beforeEach, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { defaultConstitution } from "../index.mjs";

const fixture = (name) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const memberPem = fixture("member.pem");
const userPem = fixture("user.pem");
const servicePem = fixture("service.pem");
const encryptionPubPem = fixture("member_enc_pub.pem");

const certId = (pem) => createHash("sha256").update(new X509Certificate(pem).raw).digest("hex");
const memberId = certId(memberPem);
const userId = certId(userPem);
const nodeId = "a".repeat(64);
const otherId = (n) => String(n).padStart(64, "0");

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const toBuf = (s) => encoder.encode(s).buffer;
const fromBuf = (b) => decoder.decode(b);
const hex = (buf) => Buffer.from(buf).toString("hex");
const SENTINEL = hex(new ArrayBuffer(8));

function requireBuffer(value) {
  if (!(value instanceof ArrayBuffer)) throw new TypeError("Argument must be an ArrayBuffer");
  return value;
}

/** One KV map: entries by key bytes (hex), keys and values kept as ArrayBuffers. */
class TestMap {
  entries = new Map();
  get(k) {
    return this.entries.get(hex(requireBuffer(k)))?.value;
  }
  has(k) {
    return this.entries.has(hex(requireBuffer(k)));
  }
  set(k, v) {
    this.entries.set(hex(requireBuffer(k)), { key: k.slice(0), value: requireBuffer(v).slice(0) });
    return this;
  }
  delete(k) {
    this.entries.delete(hex(requireBuffer(k)));
  }
  clear() {
    this.entries.clear();
  }
  forEach(fn) {
    for (const { key, value } of [...this.entries.values()]) fn(value, key, this);
  }
  get size() {
    return this.entries.size;
  }
}

let tables;
let calls;

/** A fresh `ccf` global: empty KV, no recorded host calls. */
function installCcf() {
  tables = new Map();
  calls = [];
  const record = (name, result) => (...args) => {
    calls.push([name, ...args]);
    return result;
  };
  globalThis.ccf = {
    kv: new Proxy({}, { get: (_, name) => tables.get(name) ?? tables.set(name, new TestMap()).get(name) }),
    strToBuf: toBuf,
    bufToStr: (b) => fromBuf(requireBuffer(b)),
    jsonCompatibleToBuf: (v) => toBuf(JSON.stringify(v)),
    bufToJsonCompatible: (b) => JSON.parse(fromBuf(requireBuffer(b))),
    pemToId: certId,
    crypto: {
      isValidX509CertBundle: (pem) => {
        const certs = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
        try {
          return certs.length > 0 && certs.every((c) => new X509Certificate(c));
        } catch {
          return false;
        }
      },
    },
    refreshAppBytecodeCache: record("refreshAppBytecodeCache"),
    setJwtPublicSigningKeys: record("setJwtPublicSigningKeys"),
    removeJwtPublicSigningKeys: record("removeJwtPublicSigningKeys"),
    node: {
      transitionServiceToOpen: record("transitionServiceToOpen"),
      triggerLedgerRekey: record("triggerLedgerRekey"),
      triggerRecoverySharesRefresh: record("triggerRecoverySharesRefresh"),
      triggerLedgerChunk: record("triggerLedgerChunk"),
      triggerSnapshot: record("triggerSnapshot"),
    },
    network: {
      getLatestLedgerSecretSeqno: record("getLatestLedgerSecretSeqno", 42),
      generateEndorsedCertificate: record("generateEndorsedCertificate", "ENDORSED PEM"),
    },
  };
}

/** The raw entries of `public:ccf.gov.<name>`, as {utf8 key (or "sentinel"): utf8 value}. */
function table(name) {
  const out = {};
  ccf.kv[`public:ccf.gov.${name}`].forEach((value, key) => {
    out[hex(key) === SENTINEL ? "sentinel" : fromBuf(key)] = fromBuf(value);
  });
  return out;
}

function put(name, key, value) {
  const k = key === "sentinel" ? new ArrayBuffer(8) : toBuf(key);
  ccf.kv[name].set(k, toBuf(typeof value === "string" ? value : JSON.stringify(value)));
}

function addMember(id, status, { recovery = false } = {}) {
  put("public:ccf.gov.members.info", id, { status });
  if (recovery) put("public:ccf.gov.members.encryption_public_keys", id, "RSA PEM");
}

let constitution;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), "confide-constitution-"));
  const file = join(dir, "constitution.mjs");
  writeFileSync(file, defaultConstitution());
  constitution = await import(pathToFileURL(file).href);
});

beforeEach(installCcf);

const propose = (...actions) => JSON.stringify({ actions: actions.map(([name, args]) => ({ name, args })) });
const validate = (name, args) => constitution.validate(propose([name, args]));
const apply = (...actions) => constitution.apply(propose(...actions), "p1");

describe("defaultConstitution()", () => {
  it("is actions, validate, resolve and apply concatenated, exporting the three entry points", () => {
    const source = defaultConstitution();
    const order = ["class Action", "export function validate", "export function resolve", "export function apply"];
    const positions = order.map((s) => source.indexOf(s));
    assert.ok(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1])), String(positions));
    assert.deepEqual(Object.keys(constitution).sort(), ["apply", "resolve", "validate"]);
  });
});

describe("validate", () => {
  const bundle = () => ({
    metadata: {
      endpoints: {
        "/foo": {
          get: { js_module: "app.js", js_function: "foo", mode: "readonly", forwarding_required: "never", authn_policies: ["user_cert"] },
        },
      },
    },
    modules: [{ name: "app.js", module: "export function foo() {}" }],
  });
  const withEndpoint = (change) => {
    const b = bundle();
    change(b.metadata.endpoints["/foo"].get);
    return { bundle: b };
  };
  const jwks = { keys: [{ kid: "k1", kty: "RSA", n: "AQAB", e: "AQAB" }] };

  // [action, good args, bad args, what the description must say]
  const cases = [
    ["set_constitution", { constitution: "export function validate() {}" }, { constitution: 7 }, "constitution must be of type string"],
    ["set_member", { cert: memberPem, member_data: { name: "m" } }, { cert: "not a cert" }, "cert must be a valid X509 certificate"],
    ["set_member", { cert: memberPem, encryption_pub_key: encryptionPubPem, recovery_role: "Owner" }, { cert: memberPem, encryption_pub_key: encryptionPubPem, recovery_role: "Boss" }, "recovery_role must be one of NonParticipant, Participant, Owner"],
    ["set_member", { cert: memberPem }, { cert: memberPem, recovery_role: "Participant" }, "Cannot specify a recovery_role value when encryption_pub_key is not specified"],
    ["set_member", { cert: memberPem }, { cert: memberPem, member_data: "text" }, "member_data must be of type object but is string"],
    ["remove_member", { member_id: memberId }, { member_id: "abc" }, "member_id must contain exactly 64 characters"],
    ["remove_member", { member_id: memberId }, { member_id: "g".repeat(64) }, "member_id contains non-hexadecimal character"],
    ["set_member_data", { member_id: memberId, member_data: {} }, { member_id: memberId }, "member_data must be of type object but is undefined"],
    ["set_user", { cert: userPem, user_data: { role: "r" } }, { cert: userPem, user_data: 3 }, "user_data must be of type object but is number"],
    ["set_user", { cert: userPem }, {}, "cert must be of type string but is undefined"],
    ["remove_user", { user_id: userId }, { user_id: 12 }, "user_id must be of type string but is number"],
    ["set_user_data", { user_id: userId }, { user_id: userId, user_data: true }, "user_data must be of type object"],
    ["set_recovery_threshold", { recovery_threshold: 2 }, { recovery_threshold: 0 }, "recovery_threshold must be at least 1"],
    ["set_recovery_threshold", { recovery_threshold: 254 }, { recovery_threshold: 255 }, "recovery_threshold must be at most 254"],
    ["set_recovery_threshold", { recovery_threshold: 1 }, { recovery_threshold: 1.5 }, "recovery_threshold must be an integer"],
    ["set_service_configuration", { recent_cose_proposals_window_size: 100 }, { maximum_node_certificate_validity_days: 10 }, "Cannot change maximum_node_certificate_validity_days via set_service_configuration."],
    ["set_service_configuration", { recovery_threshold: 1 }, { recent_cose_proposals_window_size: 10001 }, "recent_cose_proposals_window_size must be at most 10000"],
    ["trigger_recovery_shares_refresh", undefined, { x: 1 }, "Proposal does not accept any argument"],
    ["trigger_ledger_rekey", undefined, {}, "Proposal does not accept any argument"],
    ["transition_service_to_open", { next_service_identity: servicePem }, {}, "next_service_identity must be of type string but is undefined"],
    ["transition_service_to_open", { next_service_identity: servicePem, previous_service_identity: servicePem }, { next_service_identity: servicePem, previous_service_identity: "x" }, "previous_service_identity must be a valid X509 certificate"],
    ["set_js_app", { bundle: bundle() }, { bundle: "x" }, "bundle must be of type object but is string"],
    ["set_js_app", { bundle: bundle(), disable_bytecode_cache: true }, withEndpoint((e) => delete e.mode), `bundle.metadata.endpoints["/foo"]["get"].mode must be one of readwrite, readonly, historical`],
    ["set_js_app", { bundle: bundle() }, withEndpoint((e) => delete e.forwarding_required), `bundle.metadata.endpoints["/foo"]["get"].forwarding_required must be one of sometimes, always, never`],
    ["set_js_app", { bundle: bundle() }, withEndpoint((e) => (e.js_module = "missing.js")), "module 'missing.js' not found in bundle"],
    ["set_js_app", { bundle: bundle() }, withEndpoint((e) => (e.redirection_strategy = "sideways")), "redirection_strategy must be one of none, to_primary, to_backup"],
    ["set_js_app", { bundle: bundle() }, withEndpoint((e) => delete e.authn_policies), "authn_policies must be an array"],
    ["set_js_app", withEndpoint((e) => (e.authn_policies = [{ all_of: ["user_cert", "jwt"] }])), withEndpoint((e) => (e.authn_policies = [{ all_of: [1] }])), "authn_policies[0].all_of[0] must be of type string"],
    ["set_js_app", withEndpoint((e) => (e.openapi_hidden = true)), withEndpoint((e) => (e.openapi_hidden = "yes")), "openapi_hidden must be of type boolean"],
    ["set_js_app", { bundle: bundle() }, { bundle: bundle(), disable_bytecode_cache: 1 }, "disable_bytecode_cache must be of type boolean"],
    ["set_js_app", withEndpoint((e) => (e.interpreter_reuse = { key: "shared" })), withEndpoint((e) => (e.interpreter_reuse = { key: 7 })), "interpreter_reuse.key must be of type string"],
    ["set_js_app", withEndpoint((e) => (e.interpreter_reuse = null)), withEndpoint((e) => (e.interpreter_reuse = "shared")), "interpreter_reuse must be of type object"],
    ["set_js_runtime_options", { max_heap_bytes: 1024, max_stack_bytes: 512, max_execution_time_ms: 100, max_cached_interpreters: 0 }, { max_heap_bytes: 1024, max_stack_bytes: 512, max_execution_time_ms: 100, max_cached_interpreters: -1 }, "max_cached_interpreters must be at least 0"],
    ["set_js_runtime_options", { max_heap_bytes: 1024, max_stack_bytes: 512, max_execution_time_ms: 100, max_cached_interpreters: 5 }, { max_heap_bytes: 1024, max_stack_bytes: 512, max_execution_time_ms: 100, max_cached_interpreters: 1.5 }, "max_cached_interpreters must be an integer"],
    ["set_js_runtime_options", { max_heap_bytes: 1024, max_stack_bytes: 512, max_execution_time_ms: 100, return_exception_details: true }, { max_heap_bytes: 1024, max_stack_bytes: 512 }, "max_execution_time_ms must be an integer"],
    ["set_ca_cert_bundle", { name: "ca", cert_bundle: servicePem + servicePem }, { name: "ca", cert_bundle: "nope" }, "cert_bundle must be a valid X509 certificate"],
    ["remove_ca_cert_bundle", { name: "ca" }, { name: null }, "name must be of type string but is null"],
    ["set_jwt_issuer", { issuer: "https://login.example.com", jwks }, { issuer: "https://login.example.com", jwks: { keys: [{ kid: "k1", kty: "RSA" }] } }, "jwks.keys[0] must contain either x5c"],
    ["set_jwt_issuer", { issuer: "https://login.example.com", auto_refresh: true, ca_cert_bundle_name: "ca" }, { issuer: "https://login.example.com", auto_refresh: true }, "ca_cert_bundle_name is missing but required if auto_refresh is true"],
    ["set_jwt_issuer", { issuer: "plain-name" }, { issuer: "http://login.example.com", auto_refresh: true, ca_cert_bundle_name: "ca" }, "issuer must be a URL starting with https://"],
    ["set_jwt_issuer", { issuer: "x" }, { issuer: "https://a.example.com/?q=1", auto_refresh: true, ca_cert_bundle_name: "ca" }, "issuer must be a URL without query/fragment"],
    ["set_jwt_public_signing_keys", { issuer: "x", jwks: { keys: [{ kid: "k", kty: "EC", x: "a", y: "b", crv: "P-256" }] } }, { issuer: "x", jwks: { keys: {} } }, "jwks.keys must be an array"],
    ["remove_jwt_issuer", { issuer: "x" }, {}, "issuer must be of type string"],
    ["set_node_data", { node_id: nodeId, node_data: { a: 1 } }, { node_id: "x" }, "node_id must contain exactly 64 characters"],
    ["transition_node_to_trusted", { node_id: nodeId, valid_from: "20240101000000Z" }, { node_id: nodeId, valid_from: "20240101000000Z", validity_period_days: 0 }, "validity_period_days must be at least 1"],
    ["transition_node_to_trusted", { node_id: nodeId, valid_from: "20240101000000Z", validity_period_days: 30 }, { node_id: nodeId }, "valid_from must be of type string"],
    ["remove_node", { node_id: nodeId }, { node_id: 5 }, "node_id must be of type string"],
    ["set_node_certificate_validity", { node_id: nodeId, valid_from: "x" }, { node_id: nodeId, valid_from: "x", validity_period_days: "1" }, "validity_period_days must be an integer"],
    ["set_all_nodes_certificate_validity", { valid_from: "x" }, {}, "valid_from must be of type string"],
  ];

  for (const [name, good, bad, message] of cases) {
    it(`${name}: accepts ${JSON.stringify(good)?.slice(0, 60)}; rejects with "${message.slice(0, 60)}"`, () => {
      assert.deepEqual(validate(name, good), { valid: true, description: "" });
      const result = validate(name, bad);
      assert.equal(result.valid, false);
      assert.ok(result.description.startsWith(`${name} at position 0 failed validation: Error: `), result.description);
      assert.ok(result.description.includes(message), result.description);
    });
  }

  it("takes any args for actions without arguments, as CCF does", () => {
    for (const name of ["remove_js_app", "refresh_js_app_bytecode_cache", "trigger_ledger_chunk", "trigger_snapshot"]) {
      assert.equal(validate(name, undefined).valid, true, name);
      assert.equal(validate(name, {}).valid, true, name);
    }
  });

  it("refuses an action that needs args when they are missing", () => {
    assert.match(validate("set_user", undefined).description, /^set_user at position 0 failed validation: Error: args must be of type object but is undefined$/);
  });

  it("names unknown actions and reports every faulty action with its position", () => {
    const result = constitution.validate(propose(["set_user", { cert: userPem }], ["launch_rockets", {}], ["remove_user", { user_id: "x" }]));
    assert.equal(result.valid, false);
    assert.equal(
      result.description,
      "launch_rockets: no such action, remove_user at position 2 failed validation: Error: user_id must contain exactly 64 characters",
    );
  });

  it("refuses a proposal without an actions array", () => {
    for (const body of ["{}", "[]", "null", '{"actions":{}}']) {
      assert.deepEqual(constitution.validate(body), { valid: false, description: "proposal must be an object with an actions array" });
    }
  });

  it("accepts an empty proposal", () => {
    assert.deepEqual(constitution.validate('{"actions":[]}'), { valid: true, description: "" });
  });

  it("assert_service_identity compares with the service certificate", () => {
    put("public:ccf.gov.service.info", "sentinel", { cert: servicePem, status: "Open" });
    assert.equal(validate("assert_service_identity", { service_identity: servicePem }).valid, true);
    assert.match(validate("assert_service_identity", { service_identity: userPem }).description, /Service identity certificate mismatch/);
  });
});

describe("resolve: a strict majority of Active members accepts", () => {
  const votes = (yes, no = 0) => [
    ...Array.from({ length: yes }, (_, i) => ({ member_id: otherId(i), vote: true })),
    ...Array.from({ length: no }, (_, i) => ({ member_id: otherId(yes + i), vote: false })),
  ];
  const resolve = (v) => constitution.resolve(propose(["set_user", { cert: userPem }]), otherId(0), v, "p1");

  const expectations = [
    // [active members, yes, no, expected]
    [1, 0, 0, "Open"],
    [1, 0, 1, "Open"],
    [1, 1, 0, "Accepted"],
    [2, 1, 0, "Open"],
    [2, 1, 1, "Open"],
    [2, 2, 0, "Accepted"],
    [3, 1, 0, "Open"],
    [3, 1, 2, "Open"],
    [3, 2, 0, "Accepted"],
    [3, 2, 1, "Accepted"],
    [3, 0, 3, "Open"],
  ];
  for (const [active, yes, no, expected] of expectations) {
    it(`${active} active, ${yes} yes, ${no} no: ${expected}`, () => {
      for (let i = 0; i < active; i++) addMember(otherId(i), "Active");
      assert.equal(resolve(votes(yes, no)), expected);
    });
  }

  it("does not count members that are only Accepted", () => {
    addMember(otherId(0), "Active");
    addMember(otherId(1), "Accepted");
    addMember(otherId(2), "Accepted");
    assert.equal(resolve(votes(1)), "Accepted");
  });

  it("never rejects, however many vote no", () => {
    for (let i = 0; i < 5; i++) addMember(otherId(i), "Active");
    assert.equal(resolve(votes(0, 5)), "Open");
  });
});

describe("apply", () => {
  it("set_user writes the cert under its id and {user_data}; without data, no info entry", () => {
    apply(["set_user", { cert: userPem, user_data: { role: "reader" } }]);
    assert.deepEqual(table("users.certs"), { [userId]: userPem });
    assert.deepEqual(table("users.info"), { [userId]: '{"user_data":{"role":"reader"}}' });

    apply(["set_user", { cert: userPem }]);
    assert.deepEqual(table("users.certs"), { [userId]: userPem });
    assert.deepEqual(table("users.info"), {});
  });

  it("set_user_data and remove_user", () => {
    apply(["set_user", { cert: userPem }], ["set_user_data", { user_id: userId, user_data: { n: 1 } }]);
    assert.deepEqual(table("users.info"), { [userId]: '{"user_data":{"n":1}}' });
    apply(["remove_user", { user_id: userId }]);
    assert.deepEqual(table("users.certs"), {});
    assert.deepEqual(table("users.info"), {});
  });

  it("runs actions in order", () => {
    apply(["set_user", { cert: userPem }], ["remove_user", { user_id: userId }]);
    assert.deepEqual(table("users.certs"), {});
  });

  it("set_member writes cert, Accepted info, encryption key and an ack of the last signature's root", () => {
    put("public:ccf.internal.signatures", "sentinel", { view: 2, seqno: 9, root: "ab".repeat(32) });
    apply(["set_member", { cert: memberPem, encryption_pub_key: encryptionPubPem, member_data: { name: "m1" }, recovery_role: "Owner" }]);
    assert.deepEqual(table("members.certs"), { [memberId]: memberPem });
    assert.deepEqual(table("members.encryption_public_keys"), { [memberId]: encryptionPubPem });
    assert.deepEqual(table("members.info"), { [memberId]: '{"member_data":{"name":"m1"},"recovery_role":"Owner","status":"Accepted"}' });
    assert.deepEqual(table("members.acks"), { [memberId]: `{"state_digest":"${"ab".repeat(32)}"}` });
  });

  it("set_member before any signature acks the zero digest, and drops a stale encryption key", () => {
    put("public:ccf.gov.members.encryption_public_keys", memberId, "OLD");
    apply(["set_member", { cert: memberPem }]);
    assert.deepEqual(table("members.info"), { [memberId]: '{"status":"Accepted"}' });
    assert.deepEqual(table("members.encryption_public_keys"), {});
    assert.deepEqual(table("members.acks"), { [memberId]: `{"state_digest":"${"0".repeat(64)}"}` });
  });

  it("set_member_data keeps the status; fails for an unknown member", () => {
    addMember(memberId, "Active");
    apply(["set_member_data", { member_id: memberId, member_data: { x: 1 } }]);
    assert.deepEqual(table("members.info"), { [memberId]: '{"status":"Active","member_data":{"x":1}}' });
    assert.throws(() => apply(["set_member_data", { member_id: otherId(1), member_data: {} }]), /does not exist/);
  });

  it("remove_member deletes every trace; idempotent for an unknown member", () => {
    put("public:ccf.internal.signatures", "sentinel", { root: "00" });
    apply(["set_member", { cert: memberPem }]);
    put("public:ccf.gov.history", memberId, "signed request");
    apply(["remove_member", { member_id: memberId }]);
    for (const name of ["members.certs", "members.info", "members.acks", "members.encryption_public_keys", "history"]) {
      assert.deepEqual(table(name), {}, name);
    }
    apply(["remove_member", { member_id: memberId }]);
    assert.deepEqual(calls, []);
  });

  it("remove_member keeps enough active recovery members, and rekeys when one leaves", () => {
    put("public:ccf.gov.service.config", "sentinel", { recovery_threshold: 2 });
    for (let i = 0; i < 3; i++) addMember(otherId(i), "Active", { recovery: true });
    apply(["remove_member", { member_id: otherId(0) }]);
    assert.deepEqual(calls, [["triggerLedgerRekey"]]);
    assert.throws(() => apply(["remove_member", { member_id: otherId(1) }]), /Number of active recovery members \(1\) would be less than recovery threshold \(2\)/);
  });

  describe("set_js_app", () => {
    const bundle = () => ({
      metadata: {
        endpoints: {
          "/foo": {
            get: { js_module: "endpoints/foo.js", js_function: "get", forwarding_required: "never", authn_policies: [], mode: "readonly" },
            post: { js_module: "endpoints/foo.js", js_function: "post", forwarding_required: "always", authn_policies: ["user_cert"], mode: "readwrite" },
          },
          "/items/{id}": { delete: { js_module: "app.js", js_function: "del", forwarding_required: "sometimes", authn_policies: ["jwt"], mode: "readwrite" } },
        },
      },
      modules: [
        { name: "endpoints/foo.js", module: "export function get() {}" },
        { name: "app.js", module: "export function del() {}" },
      ],
    });

    it("replaces modules and endpoints, keyed as CCF keys them, and flushes interpreters", () => {
      put("public:ccf.gov.modules", "/old.js", "old");
      put("public:ccf.gov.endpoints", "GET /old", {});
      apply(["set_js_app", { bundle: bundle() }]);
      assert.deepEqual(table("modules"), { "/endpoints/foo.js": "export function get() {}", "/app.js": "export function del() {}" });
      assert.deepEqual(table("endpoints"), {
        "GET /foo": '{"js_module":"/endpoints/foo.js","js_function":"get","forwarding_required":"never","authn_policies":[],"mode":"readonly"}',
        "POST /foo": '{"js_module":"/endpoints/foo.js","js_function":"post","forwarding_required":"always","authn_policies":["user_cert"],"mode":"readwrite"}',
        "DELETE /items/{id}": '{"js_module":"/app.js","js_function":"del","forwarding_required":"sometimes","authn_policies":["jwt"],"mode":"readwrite"}',
      });
      assert.deepEqual(table("interpreter.flush"), { sentinel: "true" });
      assert.deepEqual(calls, [["refreshAppBytecodeCache"]]);
    });

    it("with disable_bytecode_cache clears the bytecode tables instead of refreshing them", () => {
      put("public:ccf.gov.modules_quickjs_bytecode", "/app.js", "bytes");
      put("public:ccf.gov.modules_quickjs_version", "sentinel", "v");
      apply(["set_js_app", { bundle: bundle(), disable_bytecode_cache: true }]);
      assert.deepEqual(table("modules_quickjs_bytecode"), {});
      assert.deepEqual(table("modules_quickjs_version"), {});
      assert.deepEqual(calls, []);
    });

    it("remove_js_app clears every app table", () => {
      apply(["set_js_app", { bundle: bundle() }]);
      put("public:ccf.gov.modules_quickjs_bytecode", "/app.js", "bytes");
      apply(["remove_js_app"]);
      for (const name of ["modules", "endpoints", "interpreter.flush", "modules_quickjs_bytecode", "modules_quickjs_version"]) {
        assert.deepEqual(table(name), {}, name);
      }
    });
  });

  it("set_constitution stores a JSON string and drops the other Open proposals", () => {
    put("public:ccf.gov.proposals_info", "p1", { proposer_id: memberId, state: "Open" });
    put("public:ccf.gov.proposals_info", "p2", { proposer_id: memberId, state: "Open", ballots: {} });
    put("public:ccf.gov.proposals_info", "p3", { proposer_id: memberId, state: "Accepted" });
    apply(["set_constitution", { constitution: 'export function resolve() { return "Open"; }' }]);
    assert.deepEqual(table("constitution"), { sentinel: '"export function resolve() { return \\"Open\\"; }"' });
    assert.deepEqual(table("proposals_info"), {
      p1: JSON.stringify({ proposer_id: memberId, state: "Open" }),
      p2: JSON.stringify({ proposer_id: memberId, state: "Dropped", ballots: {} }),
      p3: JSON.stringify({ proposer_id: memberId, state: "Accepted" }),
    });
  });

  describe("transition_service_to_open", () => {
    it("passes the identities to the node as UTF-8 buffers", () => {
      put("public:ccf.gov.service.info", "sentinel", { cert: servicePem, status: "Opening" });
      apply(["transition_service_to_open", { next_service_identity: servicePem }]);
      assert.equal(calls.length, 1);
      const [name, previous, next] = calls[0];
      assert.equal(name, "transitionServiceToOpen");
      assert.equal(previous, undefined);
      assert.equal(fromBuf(next), servicePem);
    });

    it("needs the previous identity to open a recovering service", () => {
      put("public:ccf.gov.service.info", "sentinel", { cert: servicePem, status: "Recovering" });
      assert.throws(() => apply(["transition_service_to_open", { next_service_identity: servicePem }]), /requires both/);
      apply(["transition_service_to_open", { next_service_identity: servicePem, previous_service_identity: userPem }]);
      assert.equal(fromBuf(calls[0][1]), userPem);
    });
  });

  describe("JWT issuers", () => {
    const jwks = { keys: [{ kid: "k1", kty: "RSA", n: "AQAB", e: "AQAB" }] };

    it("set_jwt_issuer stores the metadata without the keys and hands the keys to the node", () => {
      apply(["set_jwt_issuer", { issuer: "https://idp.example", jwks }]);
      assert.deepEqual(table("jwt.issuers"), { "https://idp.example": '{"issuer":"https://idp.example"}' });
      assert.deepEqual(calls, [["setJwtPublicSigningKeys", "https://idp.example", { issuer: "https://idp.example" }, jwks]]);
    });

    it("set_jwt_issuer with auto_refresh needs the CA bundle to exist", () => {
      const args = { issuer: "https://idp.example", auto_refresh: true, ca_cert_bundle_name: "idp_ca" };
      assert.throws(() => apply(["set_jwt_issuer", args]), /No CA cert bundle found with name 'idp_ca'/);
      apply(["set_ca_cert_bundle", { name: "idp_ca", cert_bundle: servicePem }], ["set_jwt_issuer", args]);
      assert.deepEqual(table("tls.ca_cert_bundles"), { idp_ca: JSON.stringify(servicePem) });
      assert.deepEqual(table("jwt.issuers"), { "https://idp.example": JSON.stringify(args) });
    });

    it("set_jwt_public_signing_keys uses the stored metadata; fails for an unknown issuer", () => {
      assert.throws(() => apply(["set_jwt_public_signing_keys", { issuer: "i", jwks }]), /issuer i not found/);
      apply(["set_jwt_issuer", { issuer: "i" }], ["set_jwt_public_signing_keys", { issuer: "i", jwks }]);
      assert.deepEqual(calls, [["setJwtPublicSigningKeys", "i", { issuer: "i" }, jwks]]);
    });

    it("remove_jwt_issuer deletes the issuer and its keys; idempotent", () => {
      apply(["set_jwt_issuer", { issuer: "i" }], ["remove_jwt_issuer", { issuer: "i" }], ["remove_jwt_issuer", { issuer: "i" }]);
      assert.deepEqual(table("jwt.issuers"), {});
      assert.deepEqual(calls, [["removeJwtPublicSigningKeys", "i"]]);
    });
  });

  describe("service configuration", () => {
    beforeEach(() => {
      put("public:ccf.gov.service.config", "sentinel", { recovery_threshold: 1, consensus: "CFT" });
      put("public:ccf.gov.service.info", "sentinel", { cert: servicePem, status: "Opening" });
    });

    it("set_recovery_threshold updates service.config and refreshes the recovery shares", () => {
      apply(["set_recovery_threshold", { recovery_threshold: 3 }]);
      assert.deepEqual(table("service.config"), { sentinel: '{"recovery_threshold":3,"consensus":"CFT"}' });
      assert.deepEqual(calls, [["triggerRecoverySharesRefresh"]]);
    });

    it("set_recovery_threshold to the current value refreshes nothing", () => {
      apply(["set_recovery_threshold", { recovery_threshold: 1 }]);
      assert.deepEqual(calls, []);
    });

    it("an open service cannot need more shares than it has active recovery members", () => {
      put("public:ccf.gov.service.info", "sentinel", { cert: servicePem, status: "Open" });
      addMember(otherId(0), "Active", { recovery: true });
      addMember(otherId(1), "Accepted", { recovery: true });
      assert.throws(() => apply(["set_recovery_threshold", { recovery_threshold: 2 }]), /greater than the number of recovery members 1/);
    });

    it("set_service_configuration sets the window size and allows only a OneTransaction → TwoTransaction change", () => {
      apply(["set_service_configuration", { recent_cose_proposals_window_size: 50, reconfiguration_type: "TwoTransaction" }]);
      assert.deepEqual(table("service.config"), {
        sentinel: '{"recovery_threshold":1,"consensus":"CFT","reconfiguration_type":"TwoTransaction","recent_cose_proposals_window_size":50}',
      });
      assert.throws(() => apply(["set_service_configuration", { reconfiguration_type: "OneTransaction" }]), /Cannot change reconfiguration type from TwoTransaction to OneTransaction/);
    });
  });

  it("set_js_runtime_options stores the snake_case options as given", () => {
    const options = { max_heap_bytes: 104857600, max_stack_bytes: 1048576, max_execution_time_ms: 1000, log_exception_details: true, max_cached_interpreters: 10 };
    apply(["set_js_runtime_options", options]);
    assert.deepEqual(table("js_runtime_options"), { sentinel: JSON.stringify(options) });
  });

  describe("nodes", () => {
    const node = (status, extra = {}) => put("public:ccf.gov.nodes.info", nodeId, { status, cert: "NODE PEM", ...extra });
    const nodeInfo = () => JSON.parse(table("nodes.info")[nodeId]);

    beforeEach(() => put("public:ccf.gov.service.config", "sentinel", { recovery_threshold: 1, maximum_node_certificate_validity_days: 100 }));

    it("set_node_data replaces node_data; fails for an unknown node", () => {
      node("Trusted");
      apply(["set_node_data", { node_id: nodeId, node_data: { rack: 7 } }]);
      assert.deepEqual(nodeInfo(), { status: "Trusted", cert: "NODE PEM", node_data: { rack: 7 } });
      assert.throws(() => apply(["set_node_data", { node_id: otherId(1), node_data: {} }]), /No such node/);
    });

    it("transition_node_to_trusted trusts a Pending node and endorses its CSR", () => {
      node("Pending", { certificate_signing_request: "CSR" });
      apply(["transition_node_to_trusted", { node_id: nodeId, valid_from: "20250101000000Z" }]);
      assert.deepEqual(nodeInfo(), { status: "Trusted", cert: "NODE PEM", certificate_signing_request: "CSR", ledger_secret_seqno: 42 });
      assert.deepEqual(calls, [["getLatestLedgerSecretSeqno"], ["generateEndorsedCertificate", "CSR", "20250101000000Z", 100]]);
      assert.deepEqual(table("nodes.endorsed_certificates"), { [nodeId]: "ENDORSED PEM" });
    });

    it("transition_node_to_trusted refuses a validity beyond the service maximum", () => {
      node("Pending", { certificate_signing_request: "CSR" });
      assert.throws(() => apply(["transition_node_to_trusted", { node_id: nodeId, valid_from: "x", validity_period_days: 101 }]), /service max allowed is 100/);
    });

    it("transition_node_to_trusted leaves a node that is not Pending alone", () => {
      node("Retired");
      apply(["transition_node_to_trusted", { node_id: nodeId, valid_from: "x" }]);
      assert.equal(nodeInfo().status, "Retired");
      assert.deepEqual(calls, []);
    });

    it("remove_node deletes a Pending node and retires any other", () => {
      node("Pending");
      apply(["remove_node", { node_id: nodeId }]);
      assert.deepEqual(table("nodes.info"), {});
      node("Trusted");
      apply(["remove_node", { node_id: nodeId }], ["remove_node", { node_id: otherId(9) }]);
      assert.equal(nodeInfo().status, "Retired");
    });

    it("set_all_nodes_certificate_validity re-endorses only Trusted nodes", () => {
      node("Trusted", { certificate_signing_request: "CSR" });
      put("public:ccf.gov.nodes.info", otherId(1), { status: "Pending", certificate_signing_request: "CSR2" });
      apply(["set_all_nodes_certificate_validity", { valid_from: "v", validity_period_days: 10 }]);
      assert.deepEqual(calls, [["generateEndorsedCertificate", "CSR", "v", 10]]);
    });
  });

  it("trigger actions call the node", () => {
    apply(["trigger_ledger_chunk"], ["trigger_snapshot"], ["trigger_ledger_rekey"], ["trigger_recovery_shares_refresh"], ["refresh_js_app_bytecode_cache"]);
    assert.deepEqual(calls, [["triggerLedgerChunk"], ["triggerSnapshot"], ["triggerLedgerRekey"], ["triggerRecoverySharesRefresh"], ["refreshAppBytecodeCache"]]);
  });
});
