// The `jwt` policy (CCF src/endpoints/authentication/jwt_auth.cpp and
// src/http/http_jwt.h, 6.x): `Authorization: Bearer <header>.<payload>.<sig>`.
// The header needs `alg` (RS256 or ES256 as CCF 6.x, and ES384 as Confide's
// issue asks; the key's type must fit the alg) and `kid`; the payload `exp` and
// `iss`, optionally `nbf` and `tid`. The kid's entries in the signing-keys
// table, `[{public_key: base64 DER SPKI, issuer, constraint?}]`, are tried in
// turn: signature (RSA PKCS#1 v1.5 or ECDSA r‖s, hash by alg), then
// nbf/exp against host time, then the issuer constraint.
import { constants, createPublicKey, verify, type KeyObject } from "node:crypto";
import { Tables } from "../../tables.ts";
import { refuse, type AuthContext, type Policy, type PolicyResult } from "./types.ts";

const CHALLENGE = 'Bearer realm="JWT bearer token access", error="invalid_token"';
/** Each accepted JWT alg: the key type it needs and its hash. */
const ALGORITHMS: ReadonlyMap<string, { keyType: "rsa" | "ec"; hash: string }> = new Map([
  ["RS256", { keyType: "rsa", hash: "sha256" }],
  ["ES256", { keyType: "ec", hash: "sha256" }],
  ["ES384", { keyType: "ec", hash: "sha384" }],
]);
const ENTRA_HOST = "login.microsoftonline.com";
const TENANT_PLACEHOLDER = "{tenantid}";
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** Parsed keys kept, as CCF's verifier cache does (10 entries). */
const KEY_CACHE_SIZE = 10;

interface KeyMetadata {
  public_key: string;
  issuer: string;
  constraint?: string | null;
}

interface Token {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  kid: string;
  exp: number;
  nbf: number | undefined;
  iss: string;
  tid: string | undefined;
  signedContent: Buffer;
  signature: Buffer;
}

type Parsed = { ok: true; token: Token } | { ok: false; reason: string };

const keyCache = new Map<string, KeyObject>();

function publicKey(derBase64: string): KeyObject {
  let key = keyCache.get(derBase64);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.from(derBase64, "base64"), format: "der", type: "spki" });
    if (keyCache.size >= KEY_CACHE_SIZE) keyCache.delete(keyCache.keys().next().value!);
    keyCache.set(derBase64, key);
  }
  return key;
}

function signatureVerifies(token: Token, derBase64: string): boolean {
  try {
    const key = publicKey(derBase64);
    const alg = ALGORITHMS.get(token.header["alg"] as string)!;
    if (key.asymmetricKeyType !== alg.keyType) return false;
    if (alg.keyType === "rsa") return verify(alg.hash, token.signedContent, { key, padding: constants.RSA_PKCS1_PADDING }, token.signature);
    return verify(alg.hash, token.signedContent, { key, dsaEncoding: "ieee-p1363" }, token.signature);
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isSeconds(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0;
}

function parseToken(authorization: string | undefined): Parsed {
  if (authorization === undefined) return { ok: false, reason: "Missing authorization header" };
  const space = authorization.indexOf(" ");
  if (space < 0) return { ok: false, reason: "Authorization header only contains one field" };
  if (authorization.slice(0, space) !== "Bearer") {
    return { ok: false, reason: "Authorization header does not have Bearer scheme" };
  }
  const compact = authorization.slice(space + 1);
  const parts = compact.split(".");
  if (parts.length !== 3) return { ok: false, reason: "Malformed JWT: must contain exactly 3 parts" };
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  // CCF 6.0 answers 500 to undecodable base64url; later releases refuse with 401, as here.
  if (![headerPart, payloadPart, signaturePart].every((part) => BASE64URL.test(part))) {
    return { ok: false, reason: "Malformed JWT: a part is not base64url" };
  }
  let header: unknown;
  let payload: unknown;
  try {
    header = JSON.parse(Buffer.from(headerPart, "base64url").toString("utf8"));
    payload = JSON.parse(Buffer.from(payloadPart, "base64url").toString("utf8"));
  } catch (error) {
    return { ok: false, reason: `JWT header or payload is not valid JSON: ${(error as Error).message}` };
  }
  if (!isObject(header) || !isObject(payload)) return { ok: false, reason: "JWT header or payload is not an object" };
  if (typeof header["alg"] !== "string" || !ALGORITHMS.has(header["alg"]) || typeof header["kid"] !== "string") {
    return { ok: false, reason: "JWT header does not follow schema: needs alg (RS256, ES256 or ES384) and kid strings" };
  }
  const { exp, iss, nbf, tid } = payload;
  if (!isSeconds(exp) || typeof iss !== "string" || !(nbf === undefined || isSeconds(nbf)) || !(tid === undefined || typeof tid === "string")) {
    return { ok: false, reason: "JWT payload is missing required field: needs exp (number) and iss (string)" };
  }
  return {
    ok: true,
    token: {
      header,
      payload,
      kid: header["kid"],
      exp,
      nbf,
      iss,
      tid,
      signedContent: Buffer.from(compact.slice(0, headerPart.length + 1 + payloadPart.length), "utf8"),
      signature: Buffer.from(signaturePart, "base64url"),
    },
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "";
  }
}

/**
 * CCF's validate_issuer: `iss` must equal the constraint (and carry no `tid`),
 * except for Microsoft Entra, where the constraint may hold `{tenantid}` and
 * the first path segment of `iss` must be the token's `tid`.
 */
function issuerMatches(iss: string, tid: string | undefined, constraint: string): boolean {
  if (hostOf(constraint) !== ENTRA_HOST) return iss === constraint && tid === undefined;
  const expected = tid === undefined ? constraint : constraint.replace(TENANT_PLACEHOLDER, tid);
  if (iss !== expected) return false;
  let path: string;
  try {
    path = new URL(iss).pathname;
  } catch {
    return false;
  }
  const tenant = path.split("/").find((segment) => segment.length > 0);
  return tenant !== undefined && tid !== undefined && tenant === tid;
}

function keyMetadata(value: Buffer | undefined): KeyMetadata[] {
  if (value === undefined) return [];
  const list = JSON.parse(value.toString("utf8")) as unknown;
  return Array.isArray(list) ? (list as KeyMetadata[]) : [];
}

export const jwtPolicy: Policy = {
  name: "jwt",
  authenticate({ request, read, nowSeconds }: AuthContext): PolicyResult {
    const parsed = parseToken(request.headers["authorization"]);
    if (!parsed.ok) return refuse(parsed.reason, CHALLENGE);
    const { token } = parsed;
    const candidates = keyMetadata(read(Tables.jwtPublicSigningKeys, Buffer.from(token.kid, "utf8")));
    if (candidates.length === 0) return refuse(`JWT signing key not found for kid ${token.kid}`, CHALLENGE);

    const now = Math.floor(nowSeconds);
    let reason = "";
    for (const metadata of candidates) {
      if (!signatureVerifies(token, metadata.public_key)) {
        reason = "Signature verification failed";
      } else if (token.nbf !== undefined && now < token.nbf) {
        reason = `Current time ${now} is before token's Not Before (nbf) claim ${token.nbf}`;
      } else if (now > token.exp) {
        reason = `Current time ${now} is after token's Expiration Time (exp) claim ${token.exp}`;
      } else if (metadata.constraint != null && !issuerMatches(token.iss, token.tid, metadata.constraint)) {
        reason = `Kid ${token.kid} failed issuer constraint validation ${metadata.constraint}`;
      } else {
        return {
          ok: true,
          caller: { policy: "jwt", jwt: { keyIssuer: metadata.issuer, header: token.header, payload: token.payload } },
        };
      }
    }
    return refuse(reason, CHALLENGE);
  },
};
