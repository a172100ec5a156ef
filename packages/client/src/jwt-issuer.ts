// Trusting a JWT issuer takes CCF's set_jwt_issuer proposal with the issuer's
// signing keys (a JWKS) in it; the node then accepts the issuer's tokens on
// endpoints with the `jwt` policy. The keys come from a file or the issuer's
// JWKS URL, fetched here and checked before anything is proposed.
import { readFileSync } from "node:fs";
import type { Action } from "@confide/sdk";
import { httpsJson } from "./https-json.ts";

export interface Jwks {
  keys: Array<{ kid: string; kty: string; [field: string]: unknown }>;
}

/** The JWKS is not one set_jwt_issuer takes: every key needs a kid and a kty. */
export class JwksError extends Error {
  override name = "JwksError";
}

export function parseJwks(value: unknown, from: string): Jwks {
  const keys = (value as { keys?: unknown } | null | undefined)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new JwksError(`${from} holds no JWKS ({"keys": [...]} with at least one key)`);
  for (const [i, key] of keys.entries()) {
    const { kid, kty } = (key ?? {}) as { kid?: unknown; kty?: unknown };
    if (typeof kid !== "string" || typeof kty !== "string") throw new JwksError(`${from}: keys[${i}] needs a string kid and kty`);
  }
  return value as Jwks;
}

export function readJwksFile(file: string): Jwks {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new JwksError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return parseJwks(JSON.parse(text), file);
  } catch (error) {
    throw error instanceof JwksError ? error : new JwksError(`${file} is not JSON: ${(error as Error).message}`);
  }
}

/** GETs the issuer's JWKS (`caCertPem`: the CA its TLS certificate chains to, if not a public one). */
export async function fetchJwks(url: string, caCertPem?: string): Promise<Jwks> {
  const reply = await httpsJson(new URL(url), caCertPem === undefined ? {} : { ca: caCertPem }).catch((error: Error) => {
    throw new JwksError(`cannot fetch the JWKS from ${error.message}`);
  });
  if (reply.status !== 200) throw new JwksError(`the JWKS at ${url} answered ${reply.status}`);
  return parseJwks(reply.json, url);
}

/** CCF's set_jwt_issuer with the keys given (no auto_refresh: Confide does not fetch keys itself). */
export function setJwtIssuer(issuer: string, jwks: Jwks): Action {
  return { name: "set_jwt_issuer", args: { issuer, jwks } };
}
