// The shapes shared by the authentication policies (CCF's AuthnPolicy /
// AuthnIdentity, src/endpoints/authentication) and their caller.

/** An endpoint's entry in `authn_policies` (a policy name, or a conjunction of names), as app.json has it. */
export type { AuthnPolicy } from "../../runtime/bundle.ts";

export interface AuthRequest {
  /** Header names lower-case. */
  headers: Record<string, string>;
  body: Buffer;
  /** DER of the TLS peer certificate, if the client presented one. */
  clientCertDer: Buffer | undefined;
}

/** Reads the committed value of `key` in KV table `table`. */
export type TableReader = (table: string, key: Buffer) => Buffer | undefined;

/** The identity a policy established: plain data, as the JS `request.caller` sees it (cose.content is the one Buffer). */
export type Caller = { policy: string | string[]; [field: string]: unknown };

export interface AuthContext {
  request: AuthRequest;
  read: TableReader;
  /** Host time in seconds since the epoch (CCF checks validity against untrusted host time). */
  nowSeconds: number;
}

/** A policy's verdict: the caller, or CCF's reason for refusing plus the `www-authenticate` challenge it sets. */
export type PolicyResult =
  | { ok: true; caller: Caller }
  | { ok: false; reason: string; challenge: string | undefined };

export interface Policy {
  /** CCF's security scheme name: what `auth_policy` in the 401 details says. */
  readonly name: string;
  authenticate(context: AuthContext): PolicyResult;
}

export function refuse(reason: string, challenge?: string): PolicyResult {
  return { ok: false, reason, challenge };
}
