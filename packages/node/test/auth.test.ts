// CCF's HTTP authentication policies (src/endpoints/authentication/*.cpp,
// frontend.h get_authenticated_identity, js.h policy names, 6.x): the caller
// shapes of user_cert / member_cert / any_cert / jwt / user_cose_sign1 /
// member_cose_sign1 / no_auth / all_of, first passing policy wins, and the 401
// InvalidAuthenticationInfo "Invalid authentication credentials." with one
// {auth_policy, code, message} detail per policy and the last policy's
// www-authenticate challenge. Unparseable COSE bodies are refused (401) like bad signatures, as in CCF.
// Real keys, certificates, a real Store written through Tx, real JWTs (jose).
import assert from "node:assert/strict";
import { generateKeyPairSync, webcrypto, X509Certificate, type KeyObject } from "node:crypto";
import { before, describe, it } from "node:test";
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Encoder, Tag } from "cbor-x";
import fc from "fast-check";
import { SignJWT } from "jose";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { signCoseSign1 } from "../src/crypto/cose.ts";
import { certId } from "../src/crypto/keys.ts";
import { CcfError } from "../src/errors.ts";
import { authenticate, DuplicatePolicyError, UnknownAuthPolicyError, type AuthRequest, type AuthnPolicy, type Caller, type TableReader } from "../src/http/auth/policies.ts";
import { seqNo } from "../src/ids.ts";
import { Store } from "../src/kv/store.ts";
import { idKey, Tables } from "../src/tables.ts";
import { malformedCose } from "./helpers/malformed-cose.ts";

const NOW = Math.floor(Date.now() / 1000);
const DAY = 24 * 60 * 60;
const COSE_CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';
const JWT_CHALLENGE = 'Bearer realm="JWT bearer token access", error="invalid_token"';

interface Identity {
  privateKeyPem: string;
  certPem: string;
  der: Buffer;
  id: string;
}

function identityOf(privateKeyPem: string, certPem: string): Identity {
  return { privateKeyPem, certPem, der: new X509Certificate(certPem).raw, id: certId(certPem) };
}

/** A self-signed P-384 certificate (as CCF's sandbox keys), valid over the given window. */
async function p384Identity(validFrom = new Date((NOW - 60) * 1000), validityDays = 365): Promise<Identity> {
  const { privateKeyPem, certPem } = await createServiceIdentity({ validFrom, validityDays });
  return identityOf(privateKeyPem, certPem);
}

/** A self-signed P-256 certificate. */
async function p256Identity(): Promise<Identity> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const algorithm = { name: "ECDSA", namedCurve: "P-256" };
  const pkcs8 = new Uint8Array(privateKey.export({ type: "pkcs8", format: "der" }));
  const signingKey = await webcrypto.subtle.importKey("pkcs8", pkcs8, algorithm, false, ["sign"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: "01",
    subject: "CN=P-256 user",
    issuer: "CN=P-256 user",
    notBefore: new Date((NOW - 60) * 1000),
    notAfter: new Date((NOW + DAY) * 1000),
    publicKey: new Uint8Array(publicKey.export({ type: "spki", format: "der" })),
    signingKey: signingKey as unknown as CryptoKey,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
  });
  return identityOf(privateKey.export({ type: "pkcs8", format: "pem" }).toString(), cert.toString("pem"));
}

function commit(store: Store, writes: Array<[string, Buffer, Buffer]>): void {
  const tx = store.begin();
  for (const [table, key, value] of writes) tx.map(table).set(key, value);
  store.apply(tx.finish(), seqNo(store.lastSeqno + 1));
}

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const spkiBase64 = (key: KeyObject) => key.export({ type: "spki", format: "der" }).toString("base64");

function request(overrides: Partial<AuthRequest> = {}): AuthRequest {
  return { headers: {}, body: Buffer.alloc(0), clientCertDer: undefined, ...overrides };
}

function coseRequest(envelope: Buffer, contentType: string | null = "application/cose"): AuthRequest {
  return request({ headers: contentType === null ? {} : { "content-type": contentType }, body: envelope });
}

function bearer(token: string): AuthRequest {
  return request({ headers: { authorization: `Bearer ${token}` } });
}

let store: Store;
let read: TableReader;
let user: Identity; // P-384, with user_data
let user256: Identity; // P-256, no users.info entry
let member: Identity; // P-384, status Accepted
let expiredMember: Identity;
let stranger: Identity;
let expired: Identity;
let notYetValid: Identity;
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const es256 = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
const es384 = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
const otherRsa = generateKeyPairSync("rsa", { modulusLength: 2048 });

function auth(policies: readonly AuthnPolicy[], req: AuthRequest, now = NOW): Caller | null {
  return authenticate(policies, req, read, now);
}

/** The CcfError that authentication throws. */
function refusal(policies: readonly AuthnPolicy[], req: AuthRequest, now = NOW): CcfError {
  try {
    auth(policies, req, now);
  } catch (error) {
    assert.ok(error instanceof CcfError, `expected a CcfError, got ${String(error)}`);
    return error;
  }
  assert.fail("authentication passed");
}

/** Asserts the 401 CCF sends when every policy refuses. */
function assert401(error: CcfError, details: Array<[string, string | RegExp]>, challenge: string | undefined): void {
  assert.equal(error.status, 401);
  assert.equal(error.code, "InvalidAuthenticationInfo");
  assert.equal(error.message, "Invalid authentication credentials.");
  assert.equal(error.details?.length, details.length);
  details.forEach(([policy, message], i) => {
    const detail = error.details?.[i];
    assert.equal(detail?.["auth_policy"], policy);
    assert.equal(detail?.code, "InvalidAuthenticationInfo");
    if (typeof message === "string") assert.equal(detail?.message, message);
    else assert.match(detail?.message ?? "", message);
  });
  assert.deepEqual(error.headers, challenge === undefined ? undefined : { "www-authenticate": challenge });
}

/** The 401 for a COSE body `policy` cannot parse: the detail names the parse failure. */
function assertUnparseable(error: CcfError, policy: string, message: RegExp): void {
  assert401(error, [[policy, message]], COSE_CHALLENGE);
}

before(async () => {
  [user, user256, member, expiredMember, stranger, expired, notYetValid] = await Promise.all([
    p384Identity(),
    p256Identity(),
    p384Identity(),
    p384Identity(new Date((NOW - 10 * DAY) * 1000), 1),
    p384Identity(),
    p384Identity(new Date((NOW - 10 * DAY) * 1000), 1),
    p384Identity(new Date((NOW + 10 * DAY) * 1000), 1),
  ]);
  store = new Store();
  read = (table, key) => store.beginReadOnly().map(table).get(key);
  commit(store, [
    [Tables.usersCerts, idKey(user.id), Buffer.from(user.certPem)],
    [Tables.usersInfo, idKey(user.id), json({ user_data: { role: "auditor" } })],
    [Tables.usersCerts, idKey(user256.id), Buffer.from(user256.certPem)],
    [Tables.usersCerts, idKey(expired.id), Buffer.from(expired.certPem)],
    [Tables.usersCerts, idKey(notYetValid.id), Buffer.from(notYetValid.certPem)],
    [Tables.membersCerts, idKey(member.id), Buffer.from(member.certPem)],
    [Tables.membersInfo, idKey(member.id), json({ status: "Accepted", member_data: { name: "m0" } })],
    [Tables.membersCerts, idKey(expiredMember.id), Buffer.from(expiredMember.certPem)],
    [Tables.membersInfo, idKey(expiredMember.id), json({ status: "Active" })],
    [Tables.jwtPublicSigningKeys, Buffer.from("rsa-kid"), json([{ public_key: spkiBase64(rsa.publicKey), issuer: "my_issuer" }])],
    [Tables.jwtPublicSigningKeys, Buffer.from("ec-kid"), json([{ public_key: spkiBase64(es256.publicKey), issuer: "https://idp.example", constraint: "https://idp.example" }])],
    [Tables.jwtPublicSigningKeys, Buffer.from("ec384-kid"), json([{ public_key: spkiBase64(es384.publicKey), issuer: "https://idp.example" }])],
    [
      Tables.jwtPublicSigningKeys,
      Buffer.from("two-keys"),
      json([
        { public_key: spkiBase64(otherRsa.publicKey), issuer: "first" },
        { public_key: spkiBase64(rsa.publicKey), issuer: "second" },
      ]),
    ],
    [
      Tables.jwtPublicSigningKeys,
      Buffer.from("entra-kid"),
      json([{ public_key: spkiBase64(rsa.publicKey), issuer: "entra", constraint: "https://login.microsoftonline.com/{tenantid}/v2.0" }]),
    ],
    [Tables.jwtPublicSigningKeys, Buffer.from("empty-kid"), json([])],
  ]);
});

describe("no policies and no_auth", () => {
  it("an endpoint without policies has no caller", () => {
    assert.equal(auth([], request()), null);
  });
  it("no_auth always passes with {policy: 'no_auth'}", () => {
    assert.deepEqual(auth(["no_auth"], request()), { policy: "no_auth" });
  });
});

describe("user_cert", () => {
  it("identifies a registered user by the SHA-256 of the client cert DER, with user_data and the KV PEM", () => {
    assert.deepEqual(auth(["user_cert"], request({ clientCertDer: user.der })), {
      policy: "user_cert",
      id: user.id,
      data: { role: "auditor" },
      cert: user.certPem,
    });
  });
  it("gives data null when users.info has no entry (P-256 certificate)", () => {
    assert.deepEqual(auth(["user_cert"], request({ clientCertDer: user256.der })), {
      policy: "user_cert",
      id: user256.id,
      data: null,
      cert: user256.certPem,
    });
  });
  it("refuses a request without client certificate", () => {
    assert401(refusal(["user_cert"], request()), [["user_cert", "No caller user certificate"]], undefined);
  });
  it("refuses an unregistered certificate, and a member's", () => {
    assert401(refusal(["user_cert"], request({ clientCertDer: stranger.der })), [["user_cert", "Could not find matching user certificate"]], undefined);
    assert401(refusal(["user_cert"], request({ clientCertDer: member.der })), [["user_cert", "Could not find matching user certificate"]], undefined);
  });
  it("refuses a registered certificate outside its validity period", () => {
    assert401(refusal(["user_cert"], request({ clientCertDer: expired.der })), [["user_cert", /^Current time \d+ is after certificate's Not After validity period \d+$/]], undefined);
    assert401(refusal(["user_cert"], request({ clientCertDer: notYetValid.der })), [["user_cert", /^Current time \d+ is before certificate's Not Before validity period \d+$/]], undefined);
  });
  it("checks validity against the given host time, to the second", () => {
    const notAfter = Date.parse(new X509Certificate(expired.der).validTo) / 1000;
    assert.equal((auth(["user_cert"], request({ clientCertDer: expired.der }), notAfter) as Caller)["id"], expired.id);
    assert401(refusal(["user_cert"], request({ clientCertDer: expired.der }), notAfter + 1), [["user_cert", `Current time ${notAfter + 1} is after certificate's Not After validity period ${notAfter}`]], undefined);
  });
});

describe("member_cert", () => {
  it("identifies any registered member, whatever its status, with member_data", () => {
    assert.deepEqual(auth(["member_cert"], request({ clientCertDer: member.der })), {
      policy: "member_cert",
      id: member.id,
      data: { name: "m0" },
      cert: member.certPem,
    });
  });
  it("does not check the validity period (CCF 6.x), and gives data null without member_data", () => {
    const caller = auth(["member_cert"], request({ clientCertDer: expiredMember.der }));
    assert.deepEqual(caller, { policy: "member_cert", id: expiredMember.id, data: null, cert: expiredMember.certPem });
  });
  it("refuses a missing or unregistered certificate", () => {
    assert401(refusal(["member_cert"], request()), [["member_cert", "No caller member certificate"]], undefined);
    assert401(refusal(["member_cert"], request({ clientCertDer: user.der })), [["member_cert", "Could not find matching member certificate"]], undefined);
  });
});

describe("any_cert", () => {
  it("passes any certificate, giving its PEM", () => {
    assert.deepEqual(auth(["any_cert"], request({ clientCertDer: stranger.der })), { policy: "any_cert", cert: stranger.certPem });
  });
  it("refuses no certificate and expired certificates", () => {
    assert401(refusal(["any_cert"], request()), [["any_cert", "No caller certificate"]], undefined);
    assert401(refusal(["any_cert"], request({ clientCertDer: expired.der })), [["any_cert", /is after certificate's Not After/]], undefined);
  });
});

describe("jwt", () => {
  const claims = { sub: "alice", iss: "https://idp.example" };
  const rs256 = (kid: string, payload: Record<string, unknown>, key: KeyObject = rsa.privateKey) =>
    new SignJWT(payload).setProtectedHeader({ alg: "RS256", kid, typ: "JWT" }).sign(key);

  it("accepts an RS256 token and gives {keyIssuer, header, payload}", async () => {
    const token = await rs256("rsa-kid", { ...claims, exp: NOW + 60, nbf: NOW - 60 });
    assert.deepEqual(auth(["jwt"], bearer(token)), {
      policy: "jwt",
      jwt: {
        keyIssuer: "my_issuer",
        header: { alg: "RS256", kid: "rsa-kid", typ: "JWT" },
        payload: { ...claims, exp: NOW + 60, nbf: NOW - 60 },
      },
    });
  });

  it("accepts an ES256 token whose iss meets the key's issuer constraint", async () => {
    const token = await new SignJWT({ ...claims, exp: NOW + 60 }).setProtectedHeader({ alg: "ES256", kid: "ec-kid" }).sign(es256.privateKey);
    const caller = auth(["jwt"], bearer(token)) as Caller;
    assert.equal((caller["jwt"] as { keyIssuer: string }).keyIssuer, "https://idp.example");
  });

  it("accepts an ES384 token (P-384 key, SHA-384) and refuses one whose alg does not fit the key", async () => {
    const token = await new SignJWT({ ...claims, iss: "https://idp.example", exp: NOW + 60 }).setProtectedHeader({ alg: "ES384", kid: "ec384-kid" }).sign(es384.privateKey);
    const caller = auth(["jwt"], bearer(token)) as Caller;
    assert.equal((caller["jwt"] as { header: { alg: string } }).header.alg, "ES384");
    const wrongAlg = await new SignJWT({ ...claims, iss: "https://idp.example", exp: NOW + 60 }).setProtectedHeader({ alg: "ES256", kid: "ec384-kid" }).sign(es256.privateKey);
    assert.equal(refusal(["jwt"], bearer(wrongAlg)).status, 401);
  });

  it("refuses a token whose iss does not meet the constraint", async () => {
    const token = await new SignJWT({ ...claims, iss: "https://evil.example", exp: NOW + 60 }).setProtectedHeader({ alg: "ES256", kid: "ec-kid" }).sign(es256.privateKey);
    assert401(refusal(["jwt"], bearer(token)), [["jwt", "Kid ec-kid failed issuer constraint validation https://idp.example"]], JWT_CHALLENGE);
  });

  it("applies the Entra rule: {tenantid} filled from tid, which must be iss's first path segment", async () => {
    const iss = "https://login.microsoftonline.com/tenant-1/v2.0";
    const good = await rs256("entra-kid", { iss, tid: "tenant-1", exp: NOW + 60 });
    assert.equal((auth(["jwt"], bearer(good)) as Caller)["policy"], "jwt");
    const wrongTenant = await rs256("entra-kid", { iss, tid: "tenant-2", exp: NOW + 60 });
    assert401(refusal(["jwt"], bearer(wrongTenant)), [["jwt", /^Kid entra-kid failed issuer constraint validation/]], JWT_CHALLENGE);
  });

  it("tries each key listed for the kid and uses the one that verifies", async () => {
    const token = await rs256("two-keys", { ...claims, exp: NOW + 60 });
    assert.equal(((auth(["jwt"], bearer(token)) as Caller)["jwt"] as { keyIssuer: string }).keyIssuer, "second");
  });

  it("refuses expired and not-yet-valid tokens against host time (exp itself still valid)", async () => {
    const atExp = await rs256("rsa-kid", { ...claims, exp: NOW });
    assert.equal((auth(["jwt"], bearer(atExp)) as Caller)["policy"], "jwt");
    const expiredToken = await rs256("rsa-kid", { ...claims, exp: NOW - 1 });
    assert401(refusal(["jwt"], bearer(expiredToken)), [["jwt", `Current time ${NOW} is after token's Expiration Time (exp) claim ${NOW - 1}`]], JWT_CHALLENGE);
    const early = await rs256("rsa-kid", { ...claims, exp: NOW + 600, nbf: NOW + 300 });
    assert401(refusal(["jwt"], bearer(early)), [["jwt", `Current time ${NOW} is before token's Not Before (nbf) claim ${NOW + 300}`]], JWT_CHALLENGE);
  });

  it("refuses an unknown kid, a kid with no keys, and a tampered or wrongly-keyed signature", async () => {
    const unknown = await rs256("nope", { ...claims, exp: NOW + 60 });
    assert401(refusal(["jwt"], bearer(unknown)), [["jwt", "JWT signing key not found for kid nope"]], JWT_CHALLENGE);
    const empty = await rs256("empty-kid", { ...claims, exp: NOW + 60 });
    assert401(refusal(["jwt"], bearer(empty)), [["jwt", "JWT signing key not found for kid empty-kid"]], JWT_CHALLENGE);
    const token = await rs256("rsa-kid", { ...claims, exp: NOW + 60 });
    const [h, , s] = token.split(".") as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: "mallory", exp: NOW + 60 })).toString("base64url");
    assert401(refusal(["jwt"], bearer(`${h}.${forged}.${s}`)), [["jwt", "Signature verification failed"]], JWT_CHALLENGE);
    const wrongKey = await rs256("rsa-kid", { ...claims, exp: NOW + 60 }, otherRsa.privateKey);
    assert401(refusal(["jwt"], bearer(wrongKey)), [["jwt", "Signature verification failed"]], JWT_CHALLENGE);
  });

  it("refuses malformed Authorization headers and tokens with CCF's reasons", async () => {
    assert401(refusal(["jwt"], request()), [["jwt", "Missing authorization header"]], JWT_CHALLENGE);
    assert401(refusal(["jwt"], request({ headers: { authorization: "Bearer" } })), [["jwt", "Authorization header only contains one field"]], JWT_CHALLENGE);
    assert401(refusal(["jwt"], request({ headers: { authorization: "Basic abc" } })), [["jwt", "Authorization header does not have Bearer scheme"]], JWT_CHALLENGE);
    assert401(refusal(["jwt"], bearer("a.b")), [["jwt", "Malformed JWT: must contain exactly 3 parts"]], JWT_CHALLENGE);
    assert401(refusal(["jwt"], bearer("a.b.c.d")), [["jwt", "Malformed JWT: must contain exactly 3 parts"]], JWT_CHALLENGE);
    assert401(refusal(["jwt"], bearer("a$.b.c")), [["jwt", "Malformed JWT: a part is not base64url"]], JWT_CHALLENGE);
    const notJson = `${Buffer.from("{").toString("base64url")}.e30.c2ln`;
    assert401(refusal(["jwt"], bearer(notJson)), [["jwt", /^JWT header or payload is not valid JSON/]], JWT_CHALLENGE);
    const es512 = await new SignJWT({ ...claims, exp: NOW + 60 }).setProtectedHeader({ alg: "ES512", kid: "ec-kid" }).sign(generateKeyPairSync("ec", { namedCurve: "secp521r1" }).privateKey);
    assert401(refusal(["jwt"], bearer(es512)), [["jwt", /^JWT header does not follow schema/]], JWT_CHALLENGE);
    const noExp = await rs256("rsa-kid", claims);
    assert401(refusal(["jwt"], bearer(noExp)), [["jwt", /^JWT payload is missing required field/]], JWT_CHALLENGE);
  });
});

describe("user_cose_sign1 and member_cose_sign1", () => {
  const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
  const userEnvelope = (headers: Record<string, unknown> = {}, signer: Identity = user, kid = signer.id) =>
    signCoseSign1({ privateKeyPem: signer.privateKeyPem, kid, headers, payload: '{"x":1}' });
  const govHeaders = { "ccf.gov.msg.type": "proposal", "ccf.gov.msg.created_at": NOW };

  it("identifies a registered user from the kid, with the verified payload as cose.content", () => {
    const caller = auth(["user_cose_sign1"], coseRequest(userEnvelope({ "ccf.msg.type": "greeting", "ccf.msg.created_at": NOW })));
    assert.deepEqual(caller, {
      policy: "user_cose_sign1",
      id: user.id,
      data: { role: "auditor" },
      cert: user.certPem,
      cose: {
        content: Buffer.from('{"x":1}'),
        protectedHeader: { alg: -35, kid: user.id, "ccf.msg.type": "greeting", "ccf.msg.created_at": NOW },
      },
    });
  });

  it("verifies a P-256 user's ES256 envelope; the user headers are optional", () => {
    const caller = auth(["user_cose_sign1"], coseRequest(userEnvelope({}, user256))) as Caller;
    assert.deepEqual(caller["cose"], { content: Buffer.from('{"x":1}'), protectedHeader: { alg: -7, kid: user256.id } });
  });

  it("identifies a member (any status) with the governance headers", () => {
    const envelope = userEnvelope({ ...govHeaders, "ccf.gov.msg.proposal_id": "abc" }, member);
    const caller = auth(["member_cose_sign1"], coseRequest(envelope)) as Caller;
    assert.equal(caller["id"], member.id);
    assert.deepEqual(caller["data"], { name: "m0" });
    assert.deepEqual((caller["cose"] as { protectedHeader: unknown }).protectedHeader, {
      alg: -35,
      kid: member.id,
      "ccf.gov.msg.type": "proposal",
      "ccf.gov.msg.created_at": NOW,
      "ccf.gov.msg.proposal_id": "abc",
    });
  });

  it("refuses without content-type application/cose", () => {
    assert401(refusal(["user_cose_sign1"], coseRequest(userEnvelope(), null)), [["user_cose_sign1", "Missing content-type header"]], COSE_CHALLENGE);
    assert401(refusal(["user_cose_sign1"], coseRequest(userEnvelope(), "application/json")), [["user_cose_sign1", "Content type is not set to application/cose"]], COSE_CHALLENGE);
  });

  it("refuses an unknown signer, a tampered signature, and a non-ECDSA algorithm", () => {
    assert401(refusal(["user_cose_sign1"], coseRequest(userEnvelope({}, stranger))), [["user_cose_sign1", "Signer is not a known user"]], COSE_CHALLENGE);
    assert401(refusal(["member_cose_sign1"], coseRequest(userEnvelope(govHeaders, user))), [["member_cose_sign1", "Signer is not a known member"]], COSE_CHALLENGE);
    // Signed by the stranger but claiming the registered user's kid.
    assert401(refusal(["user_cose_sign1"], coseRequest(userEnvelope({}, stranger, user.id))), [["user_cose_sign1", "Failed to validate COSE Sign1"]], COSE_CHALLENGE);
    const envelope = userEnvelope();
    envelope[envelope.length - 1] = (envelope[envelope.length - 1] ?? 0) ^ 1;
    assert401(refusal(["user_cose_sign1"], coseRequest(envelope)), [["user_cose_sign1", "Failed to validate COSE Sign1"]], COSE_CHALLENGE);
    const ps256 = encoder.encode(new Tag([encoder.encode(new Map<unknown, unknown>([[1, -37], [4, Buffer.from(user.id)]])), new Map(), Buffer.from("x"), Buffer.alloc(64)], 18));
    assert401(refusal(["user_cose_sign1"], coseRequest(ps256)), [["user_cose_sign1", "Unsupported algorithm: -37"]], COSE_CHALLENGE);
  });

  it("refuses an algorithm other than the one of the signer's curve, even with a valid signature", () => {
    // ES256 (SHA-256) signed with the P-384 key: a real signature, but CCF fixes the algorithm by the key.
    const es256OverP384 = signCoseSign1({ privateKeyPem: user.privateKeyPem, alg: -7, kid: user.id, headers: {}, payload: "x" });
    assert401(refusal(["user_cose_sign1"], coseRequest(es256OverP384)), [["user_cose_sign1", "Algorithm -7 does not match the signer's key (expected -35)"]], COSE_CHALLENGE);
    const es384OverP256 = signCoseSign1({ privateKeyPem: user256.privateKeyPem, alg: -35, kid: user256.id, headers: {}, payload: "x" });
    assert401(refusal(["user_cose_sign1"], coseRequest(es384OverP256)), [["user_cose_sign1", "Algorithm -35 does not match the signer's key (expected -7)"]], COSE_CHALLENGE);
  });

  it("refuses bodies it cannot parse with 401, naming the parse failure, as CCF", () => {
    const good = userEnvelope();
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(Buffer.from('{"not":"cose"}'))), "user_cose_sign1", /^Failed to decode COSE_Sign1/);
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(good.subarray(0, good.length - 5))), "user_cose_sign1", /^Failed to decode COSE_Sign1/);
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(good.subarray(1))), "user_cose_sign1", /^COSE_Sign1 is not tagged$/);
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(Buffer.concat([Buffer.from([0xd8, 0x62]), good.subarray(1)]))), "user_cose_sign1", /tag 98/);
    const noKid = signCoseSign1({ privateKeyPem: user.privateKeyPem, headers: {}, payload: "x" });
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(noKid)), "user_cose_sign1", /^Missing kid in protected header$/);
    const textKid = encoder.encode(new Tag([encoder.encode(new Map<unknown, unknown>([[1, -35], [4, user.id]])), new Map(), Buffer.from("x"), Buffer.alloc(96)], 18));
    assertUnparseable(refusal(["user_cose_sign1"], coseRequest(textKid)), "user_cose_sign1", /^Failed to decode protected header/);
    assertUnparseable(refusal(["member_cose_sign1"], coseRequest(userEnvelope({ "ccf.gov.msg.type": "proposal" }, member))), "member_cose_sign1", /^Missing created_at in protected header$/);
    assertUnparseable(refusal(["member_cose_sign1"], coseRequest(userEnvelope({ "ccf.gov.msg.created_at": -1 }, member))), "member_cose_sign1", /^Header parameter created_at must be positive$/);
    assertUnparseable(refusal(["member_cose_sign1"], coseRequest(userEnvelope({ "ccf.gov.msg.created_at": "now" }, member))), "member_cose_sign1", /^Failed to decode protected header/);
  });

  it("answers every malformed body with 401, never another error (fuzzed)", () => {
    const good = userEnvelope(govHeaders, member);
    fc.assert(
      fc.property(malformedCose(good), (body) => {
        for (const policy of ["member_cose_sign1", "user_cose_sign1"] as const) {
          const error = refusal([policy], coseRequest(body));
          assert.equal(error.status, 401, error.message);
          assert.equal(error.code, "InvalidAuthenticationInfo");
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("goes on to the next policy after an unparseable body, as after any refusal", () => {
    assert.equal(auth(["user_cose_sign1", "no_auth"], coseRequest(Buffer.from("junk")))?.policy, "no_auth");
  });
});

describe("policy lists", () => {
  it("takes the first policy that passes", () => {
    assert.equal(auth(["jwt", "user_cert", "any_cert"], request({ clientCertDer: user.der }))?.policy, "user_cert");
    assert.equal(auth(["user_cert", "any_cert"], request({ clientCertDer: stranger.der }))?.policy, "any_cert");
  });

  it("reports every refusal, with the challenge of the last policy only", () => {
    assert401(
      refusal(["user_cert", "jwt"], request()),
      [["user_cert", "No caller user certificate"], ["jwt", "Missing authorization header"]],
      JWT_CHALLENGE,
    );
    assert401(
      refusal(["jwt", "user_cert"], request()),
      [["jwt", "Missing authorization header"], ["user_cert", "No caller user certificate"]],
      undefined,
    );
  });

  it("all_of runs its members in name order and gives each caller under its name", async () => {
    const token = await new SignJWT({ iss: "x", exp: NOW + 60 }).setProtectedHeader({ alg: "RS256", kid: "rsa-kid" }).sign(rsa.privateKey);
    const req = request({ clientCertDer: user.der, headers: { authorization: `Bearer ${token}` } });
    const caller = auth([{ all_of: ["user_cert", "jwt"] }], req) as Caller;
    assert.deepEqual(caller["policy"], ["jwt", "user_cert"]);
    assert.deepEqual(caller["user_cert"], { policy: "user_cert", id: user.id, data: { role: "auditor" }, cert: user.certPem });
    assert.equal((caller["jwt"] as Caller)["policy"], "jwt");
  });

  it("all_of refuses when one member refuses, naming it and using its challenge", () => {
    assert401(
      refusal([{ all_of: ["user_cert", "jwt"] }], request({ clientCertDer: user.der })),
      [["jwt+user_cert", "jwt:Missing authorization header"]],
      JWT_CHALLENGE,
    );
    assert401(
      refusal([{ all_of: ["jwt", "user_cert"] }], request()),
      [["jwt+user_cert", "jwt:Missing authorization header"]],
      JWT_CHALLENGE,
    );
  });

  it("rejects unknown names and malformed entries as deployment errors, before authenticating", () => {
    assert.throws(() => auth(["no_auth", "magic"], request()), new UnknownAuthPolicyError("Unknown auth policy: magic"));
    assert.throws(() => auth([{ all_of: ["user_cert", "magic"] }], request()), UnknownAuthPolicyError);
    assert.throws(() => auth([{ all_of: [] }], request()), /^Error: Unsupported auth policy/);
    assert.throws(() => auth([{ any_of: ["jwt"] } as unknown as AuthnPolicy], request()), UnknownAuthPolicyError);
    assert.throws(() => auth([{ all_of: ["jwt", "jwt"] }], request()), DuplicatePolicyError);
  });
});
