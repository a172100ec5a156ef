// The sandbox's demo identity provider: an OpenID-style issuer over HTTPS on
// localhost, so the apps' `jwt` policy can be tried without a real one. It
// publishes its signing key as a JWKS (what set_jwt_issuer takes) and hands
// out RS256 tokens for any subject and party asked for: a demo, bound to
// 127.0.0.1, never an identity provider to trust. Its keys live in the
// workspace (idp/, private keys mode 0600), so a restarted sandbox keeps
// issuing tokens the service already trusts.
import { createHash, createPrivateKey, createPublicKey, createSign, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createNodeCertificate, createServiceIdentity, writePrivateKeyFile, writePublicFile } from "@confide/node";
import type { Jwks } from "../jwt-issuer.ts";

export const IDP_FILES = {
  /** The CA of the IdP's TLS certificate: what a client trusts to fetch the JWKS. */
  caCert: "idp_ca_cert.pem",
  tlsCert: "idp_tls_cert.pem",
  tlsKey: "idp_tls_privk.pem",
  /** The RSA key that signs tokens (RS256, as most identity providers). */
  signingKey: "idp_signing_privk.pem",
} as const;

/** Demo tokens are valid for an hour, as common access tokens are. */
export const IDP_TOKEN_LIFETIME_S = 3600;
/** A token request names a subject and a few claims: nothing near this large. */
const REQUEST_BYTES_MAX = 16 * 1024;

export interface DemoIdp {
  /** The issuer (its tokens' iss): https://127.0.0.1:<port>. */
  issuer: string;
  jwksUrl: string;
  tokenUrl: string;
  caCertFile: string;
  caCertPem: string;
  jwks: Jwks;
  /** A signed token for `claims` (sub at least), as the token endpoint gives it. */
  token(claims: Record<string, unknown>): string;
  close(): Promise<void>;
}

/** Loads the IdP's keys from `dir` (making them on first use) and serves it on 127.0.0.1:`port` (0: a free port). */
export async function startDemoIdp(dir: string, port: number): Promise<DemoIdp> {
  const files = await loadOrCreateKeys(dir);
  const signingKey = createPrivateKey(files.signingKeyPem);
  const jwks = jwksOf(signingKey);
  const kid = jwks.keys[0]!.kid;
  const server = createServer({ key: files.tlsKeyPem, cert: files.tlsCertPem });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const token = (claims: Record<string, unknown>) => signJwt(signingKey, kid, issuer, claims);
  serve(server, issuer, jwks, token);
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    tokenUrl: `${issuer}/token`,
    caCertFile: join(dir, IDP_FILES.caCert),
    caCertPem: files.caCertPem,
    jwks,
    token,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function loadOrCreateKeys(dir: string): Promise<{ caCertPem: string; tlsCertPem: string; tlsKeyPem: string; signingKeyPem: string }> {
  const path = (name: string) => join(dir, name);
  mkdirSync(dir, { recursive: true });
  if (!existsSync(path(IDP_FILES.tlsCert))) {
    // The CA key signs the one TLS certificate and is then dropped: nothing else should chain to it.
    const ca = await createServiceIdentity();
    const tls = generateKeyPairSync("ec", { namedCurve: "secp384r1" });
    const tlsCertPem = await createNodeCertificate({
      nodePublicKeyPem: tls.publicKey.export({ type: "spki", format: "pem" }).toString(),
      serviceCertPem: ca.certPem,
      servicePrivateKeyPem: ca.privateKeyPem,
    });
    writePrivateKeyFile(path(IDP_FILES.tlsKey), tls.privateKey.export({ type: "pkcs8", format: "pem" }).toString());
    writePublicFile(path(IDP_FILES.caCert), ca.certPem);
    writePublicFile(path(IDP_FILES.tlsCert), tlsCertPem);
  }
  if (!existsSync(path(IDP_FILES.signingKey))) {
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    writePrivateKeyFile(path(IDP_FILES.signingKey), privateKey.export({ type: "pkcs8", format: "pem" }).toString());
  }
  const read = (name: string) => readFileSync(path(name), "utf8");
  return { caCertPem: read(IDP_FILES.caCert), tlsCertPem: read(IDP_FILES.tlsCert), tlsKeyPem: read(IDP_FILES.tlsKey), signingKeyPem: read(IDP_FILES.signingKey) };
}

/** The public key as a JWK, its kid the RFC 7638 thumbprint (stable across restarts, no randomness). */
function jwksOf(signingKey: KeyObject): Jwks {
  const { n, e } = createPublicKey(signingKey).export({ format: "jwk" }) as { n: string; e: string };
  const kid = createHash("sha256").update(JSON.stringify({ e, kty: "RSA", n })).digest("base64url");
  return { keys: [{ kty: "RSA", kid, alg: "RS256", use: "sig", n, e }] };
}

function signJwt(key: KeyObject, kid: string, issuer: string, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const body = `${part({ alg: "RS256", typ: "JWT", kid })}.${part({ iat: now, nbf: now, exp: now + IDP_TOKEN_LIFETIME_S, ...claims, iss: issuer })}`;
  return `${body}.${createSign("RSA-SHA256").update(body).sign(key).toString("base64url")}`;
}

/**
 * GET /.well-known/openid-configuration, GET /jwks, and the token endpoint:
 * POST /token with a JSON object of claims (sub required), or GET
 * /token?sub=...&party=... (each query parameter a string claim).
 */
function serve(server: Server, issuer: string, jwks: Jwks, token: (claims: Record<string, unknown>) => string): void {
  server.on("request", (req, res) => {
    const answer = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const url = new URL(req.url ?? "/", issuer);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= REQUEST_BYTES_MAX) chunks.push(chunk);
    });
    req.on("end", () => {
      if (req.method === "GET" && url.pathname === "/.well-known/openid-configuration") {
        return answer(200, { issuer, jwks_uri: `${issuer}/jwks`, token_endpoint: `${issuer}/token`, id_token_signing_alg_values_supported: ["RS256"] });
      }
      if (req.method === "GET" && url.pathname === "/jwks") return answer(200, jwks);
      if (url.pathname !== "/token" || (req.method !== "GET" && req.method !== "POST")) return answer(404, { error: "not_found" });
      if (size > REQUEST_BYTES_MAX) return answer(413, { error: "invalid_request", error_description: `at most ${REQUEST_BYTES_MAX} bytes` });
      let claims: Record<string, unknown>;
      try {
        claims = req.method === "GET" ? Object.fromEntries(url.searchParams) : (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>);
      } catch {
        return answer(400, { error: "invalid_request", error_description: "the body must be a JSON object of claims" });
      }
      if (typeof claims !== "object" || claims === null || typeof claims["sub"] !== "string") {
        return answer(400, { error: "invalid_request", error_description: "a token needs a sub (string)" });
      }
      answer(200, { access_token: token(claims), token_type: "Bearer", expires_in: IDP_TOKEN_LIFETIME_S });
    });
  });
}
