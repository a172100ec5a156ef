// JWT in one step: `confide jwt add` makes CCF's set_jwt_issuer proposal
// with the issuer's keys (from its JWKS URL over HTTPS, or a file), voted
// through; the app's `jwt` endpoints then accept the issuer's tokens and
// `jwt remove` revokes them. The issuer is the sandbox's demo identity
// provider, a real HTTPS server, against a real node.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfideClient, Member, deployApp, openService } from "../src/index.ts";
import { httpsJson } from "../src/https-json.ts";
import { IDP_FILES, startDemoIdp, type DemoIdp } from "../src/sandbox/idp.ts";
import { confide } from "./helpers/run-confide.ts";
import { startTestService, type TestService } from "./helpers/service.ts";

const JWT_APP = {
  metadata: {
    endpoints: {
      "/whoami": { get: { js_module: "app.js", js_function: "whoami", authn_policies: ["jwt"], mode: "readonly" as const, forwarding_required: "never" as const } },
    },
  },
  modules: [{ name: "app.js", module: "export function whoami(request) { const { sub, party } = request.caller.jwt.payload; return { body: { sub, party } }; }" }],
};

describe("confide jwt add / remove, with the demo identity provider", () => {
  let service: TestService;
  let idp: DemoIdp;
  let idpDir: string;
  let client: ConfideClient;
  let env: Record<string, string>;
  const as = (index: number) => ["--cert", service.members[index]!.files.cert, "--key", service.members[index]!.files.privateKey];
  const voter = (index: number) => ["--voter", `${service.members[index]!.files.cert},${service.members[index]!.files.privateKey}`];
  const whoami = (token: string) => client.request("GET", "/app/whoami", { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    service = await startTestService();
    idpDir = mkdtempSync(join(tmpdir(), "confide-idp-"));
    idp = await startDemoIdp(idpDir, 0);
    client = new ConfideClient({ url: service.node.url, serviceCertPem: service.serviceCertPem });
    const members = [0, 1].map((i) => new Member(client, service.members[i]!));
    for (const member of members) await member.ackStateDigest();
    await deployApp(JWT_APP, members);
    await openService(members);
    env = { CONFIDE_URL: service.node.url, CONFIDE_CACERT: service.serviceCertFile };
  });

  after(async () => {
    client.close();
    await idp.close();
    await service.close();
    rmSync(idpDir, { recursive: true, force: true });
  });

  it("the identity provider keeps its private keys 0600 and hands out tokens over HTTPS", async () => {
    for (const key of [IDP_FILES.signingKey, IDP_FILES.tlsKey]) assert.equal(statSync(join(idpDir, key)).mode & 0o777, 0o600, key);
    const discovery = await httpsJson(new URL(`${idp.issuer}/.well-known/openid-configuration`), { ca: idp.caCertPem });
    assert.deepEqual(discovery.json, { issuer: idp.issuer, jwks_uri: idp.jwksUrl, token_endpoint: idp.tokenUrl, id_token_signing_alg_values_supported: ["RS256"] });
    const refused = await httpsJson(new URL(idp.tokenUrl), { ca: idp.caCertPem });
    assert.equal(refused.status, 400);
  });

  it("jwt add --jwks-url: one command proposes and votes set_jwt_issuer; the issuer's tokens then call the app", async () => {
    const reply = await httpsJson(new URL(`${idp.tokenUrl}?sub=alice&party=Bank%20A`), { ca: idp.caCertPem });
    const token = (reply.json as { access_token: string }).access_token;
    assert.equal((await whoami(token)).status, 401);

    const add = await confide(["jwt", "add", "--issuer", idp.issuer, "--jwks-url", idp.jwksUrl, "--jwks-cacert", idp.caCertFile, ...as(0), ...voter(1)], env);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, new RegExp(`issuer ${idp.issuer.replace(/[.]/g, "\\.")} trusted with 1 key\\(s\\) \\(${idp.jwks.keys[0]!.kid}\\): proposal [0-9a-f]{64}: Accepted`));
    const called = await whoami(token);
    assert.equal(called.status, 200, called.text);
    assert.deepEqual(called.json, { sub: "alice", party: "Bank A" });

    const remove = await confide(["jwt", "remove", "--issuer", idp.issuer, ...as(0), ...voter(1)], env);
    assert.equal(remove.code, 0, remove.stderr);
    assert.equal((await whoami(token)).status, 401);
  });

  it("jwt add --jwks-file; usage errors exit 2 and propose nothing", async () => {
    const file = join(service.dir, "jwks.json");
    writeFileSync(file, JSON.stringify(idp.jwks));
    const add = await confide(["jwt", "add", "--issuer", idp.issuer, "--jwks-file", file, ...as(0), ...voter(1), "--json"], env);
    assert.equal(add.code, 0, add.stderr);
    assert.equal((JSON.parse(add.stdout) as { proposalState: string }).proposalState, "Accepted");
    assert.equal((await whoami(idp.token({ sub: "bob", party: "Bank B" }))).status, 200);

    const bad = join(service.dir, "not-jwks.json");
    writeFileSync(bad, JSON.stringify({ keys: [{ kty: "RSA" }] }));
    const runs = await Promise.all([
      confide(["jwt", "add", "--issuer", "x", ...as(0)], env),
      confide(["jwt", "add", "--issuer", "x", "--jwks-file", file, "--jwks-url", idp.jwksUrl, ...as(0)], env),
      confide(["jwt", "add", "--issuer", "x", "--jwks-file", bad, ...as(0)], env),
    ]);
    for (const run of runs) assert.equal(run.code, 2, run.stderr);
    assert.match(runs[2]!.stderr, /keys\[0\] needs a string kid/);
  });
});
