// CCF authentication end to end over real TLS: the node requests a client
// certificate but accepts any, and the user_cert / member_cert policies look
// its SHA-256 up in the governance tables; JWTs are checked against the keys in
// public:ccf.gov.jwt.*; request.caller is filled exactly as CCF fills it, and
// every refusal is 401 InvalidAuthenticationInfo with one detail per policy.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId } from "../src/crypto/keys.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import type { AuthnPolicy, Bundle, EndpointProperties } from "../src/runtime/bundle.ts";
import { Tables } from "../src/tables.ts";
import { HttpsClient, type ClientIdentity } from "./helpers/https-client.ts";

const whoami = (authn_policies: AuthnPolicy[]): Record<string, EndpointProperties> => ({
  get: { js_module: "app.js", js_function: "whoami", authn_policies, mode: "readonly", forwarding_required: "never" },
});

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/user": whoami(["user_cert"]),
      "/member": whoami(["member_cert"]),
      "/any": whoami(["any_cert"]),
      "/jwt": whoami(["jwt"]),
      "/user-or-jwt": whoami(["user_cert", "jwt"]),
      "/user-and-jwt": whoami([{ all_of: ["user_cert", "jwt"] }]),
      "/party": { get: { js_module: "app.js", js_function: "party", authn_policies: ["user_cert"], mode: "readonly", forwarding_required: "never" } },
    },
  },
  modules: [
    {
      name: "app.js",
      module: `
export function whoami(request) { return { body: request.caller }; }
export function party(request) {
  // Real apps check callers in the governance tables themselves.
  const info = ccf.kv["public:ccf.gov.users.info"].get(ccf.strToBuf(request.caller.id));
  return { body: ccf.bufToJsonCompatible(info).user_data.party };
}`,
    },
  ],
};

const ISSUER = "https://login.example";
const jwtKey = generateKeyPairSync("rsa", { modulusLength: 2048 });
const nowSeconds = () => Math.floor(Date.now() / 1000);

async function identity(validFrom?: Date, validityDays?: number): Promise<ClientIdentity> {
  const made = await createServiceIdentity({ ...(validFrom ? { validFrom } : {}), ...(validityDays ? { validityDays } : {}) });
  return { certPem: made.certPem, keyPem: made.privateKeyPem };
}

function token(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: "alice", exp: nowSeconds() + 600, ...claims }).setProtectedHeader({ alg: "RS256", kid: "key-1" }).sign(jwtKey.privateKey);
}

let dir: string;
let node: ServingNode;
let user: ClientIdentity;
let member: ClientIdentity;
let stranger: ClientIdentity;
let expired: ClientIdentity;
const clients: HttpsClient[] = [];

function clientAs(who?: ClientIdentity): HttpsClient {
  const client = new HttpsClient(node.url, node.core.identity.serviceCertPem, who);
  clients.push(client);
  return client;
}

before(async () => {
  [user, member, stranger] = await Promise.all([identity(), identity(), identity()]);
  expired = await identity(new Date(Date.now() - 3 * 86_400_000), 1);
  dir = mkdtempSync(join(tmpdir(), "confide-auth-"));
  node = await startNode({
    dir,
    port: 0,
    appBundle: BUNDLE,
    members: [{ certPem: member.certPem, data: { name: "Bank A" } }],
    users: [{ certPem: user.certPem, data: { party: "Bank A" } }, { certPem: expired.certPem }],
  });
  // What set_jwt_issuer / set_jwt_public_signing_keys will write once governance exists.
  const tx = node.core.history.begin();
  tx.map(Tables.jwtIssuers).set(Buffer.from(ISSUER), Buffer.from(JSON.stringify({ auto_refresh: false })));
  const spki = jwtKey.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  tx.map(Tables.jwtPublicSigningKeys).set(Buffer.from("key-1"), Buffer.from(JSON.stringify([{ public_key: spki, issuer: ISSUER, constraint: ISSUER }])));
  node.core.history.commit(tx);
});

after(async () => {
  for (const client of clients) client.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("certificate policies", () => {
  it("user_cert: caller {policy, id, data, cert} for a registered user's TLS certificate", async () => {
    const reply = await clientAs(user).get("/app/user");
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.json, { policy: "user_cert", id: certId(user.certPem), data: { party: "Bank A" }, cert: user.certPem });
    assert.equal((await clientAs(user).get("/app/party")).text, "Bank A");
  });

  it("member_cert: the member's id and member_data", async () => {
    const reply = await clientAs(member).get("/app/member");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.id, certId(member.certPem));
    assert.deepEqual(reply.json.data, { name: "Bank A" });
    assert.equal((await clientAs(user).get("/app/member")).status, 401);
  });

  it("any_cert accepts any client certificate and gives its PEM", async () => {
    const reply = await clientAs(stranger).get("/app/any");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.policy, "any_cert");
    assert.equal(reply.json.cert.trim(), stranger.certPem.trim());
  });

  it("no, unknown or expired certificates are 401 InvalidAuthenticationInfo with a detail per policy", async () => {
    for (const who of [undefined, stranger, expired]) {
      const reply = await clientAs(who).get("/app/user");
      assert.equal(reply.status, 401);
      assert.equal(reply.json.error.code, "InvalidAuthenticationInfo");
      assert.deepEqual(
        reply.json.error.details.map((d: { auth_policy: string }) => d.auth_policy),
        ["user_cert"],
      );
    }
    const noCert = await clientAs().get("/app/any");
    assert.equal(noCert.status, 401);
  });
});

describe("JWT and combined policies", () => {
  it("jwt: caller {policy, jwt: {keyIssuer, header, payload}}", async () => {
    const jwt = await token({});
    const reply = await clientAs().get("/app/jwt", { authorization: `Bearer ${jwt}` });
    assert.equal(reply.status, 200);
    assert.equal(reply.json.policy, "jwt");
    assert.equal(reply.json.jwt.keyIssuer, ISSUER);
    assert.equal(reply.json.jwt.header.kid, "key-1");
    assert.equal(reply.json.jwt.payload.sub, "alice");
  });

  it("expired, forged or missing JWTs are 401 with the jwt challenge", async () => {
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = await new SignJWT({ iss: ISSUER, exp: nowSeconds() + 600 }).setProtectedHeader({ alg: "RS256", kid: "key-1" }).sign(other.privateKey);
    for (const header of [`Bearer ${await token({ exp: nowSeconds() - 10 })}`, `Bearer ${forged}`, undefined]) {
      const reply = await clientAs().get("/app/jwt", header ? { authorization: header } : undefined);
      assert.equal(reply.status, 401);
      assert.equal(reply.json.error.code, "InvalidAuthenticationInfo");
      assert.match(reply.headers["www-authenticate"]!, /^Bearer/);
    }
  });

  it("a list of policies takes the first that passes; all_of needs every one", async () => {
    const jwt = await token({});
    assert.equal((await clientAs(user).get("/app/user-or-jwt")).json.policy, "user_cert");
    assert.equal((await clientAs().get("/app/user-or-jwt", { authorization: `Bearer ${jwt}` })).json.policy, "jwt");
    const both = await clientAs(user).get("/app/user-and-jwt", { authorization: `Bearer ${jwt}` });
    assert.equal(both.status, 200);
    assert.deepEqual(both.json.policy, ["jwt", "user_cert"]);
    assert.equal(both.json.user_cert.id, certId(user.certPem));
    // Each member keeps the shape it has alone (CCF builds the sub-callers the same way).
    assert.equal(both.json.jwt.jwt.keyIssuer, ISSUER);
    const one = await clientAs(user).get("/app/user-and-jwt");
    assert.equal(one.status, 401);
    const none = await clientAs().get("/app/user-or-jwt");
    assert.deepEqual(
      none.json.error.details.map((d: { auth_policy: string }) => d.auth_policy),
      ["user_cert", "jwt"],
    );
  });
});
