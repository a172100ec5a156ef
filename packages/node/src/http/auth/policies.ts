// Authentication of a request against an endpoint's `authn_policies`, as CCF's
// frontend does it (src/node/rpc/frontend.h, get_authenticated_identity):
// policies are tried in order and the first to pass gives the caller; when
// none passes the answer is 401 InvalidAuthenticationInfo "Invalid
// authentication credentials." with one detail per policy and the
// `www-authenticate` challenge of the last one. No policies: no caller.
// The names an endpoint may use are CCF's (include/ccf/endpoints/authentication/js.h),
// plus member_cose_sign1, which CCF offers to governance rather than to JS apps.
import { CcfError, ErrorCode, type CcfErrorDetail } from "../../errors.ts";
import { allOfPolicy } from "./all-of.ts";
import { anyCertPolicy, memberCertPolicy, userCertPolicy } from "./cert.ts";
import { memberCoseSign1Policy, userCoseSign1Policy } from "./cose.ts";
import { jwtPolicy } from "./jwt.ts";
import type { AuthnPolicy, AuthRequest, Caller, Policy, TableReader } from "./types.ts";

export type { AuthnPolicy, AuthRequest, Caller, TableReader } from "./types.ts";
export { DuplicatePolicyError } from "./all-of.ts";

/** An `authn_policies` entry that names no known policy: the deployment is wrong, not the request. */
export class UnknownAuthPolicyError extends Error {}

const noAuthPolicy: Policy = {
  name: "no_auth",
  authenticate: () => ({ ok: true, caller: { policy: "no_auth" } }),
};

const NAMED: ReadonlyMap<string, Policy> = new Map(
  [userCertPolicy, memberCertPolicy, anyCertPolicy, jwtPolicy, userCoseSign1Policy, memberCoseSign1Policy, noAuthPolicy].map(
    (policy) => [policy.name, policy],
  ),
);

function named(name: string): Policy {
  const policy = NAMED.get(name);
  if (policy === undefined) throw new UnknownAuthPolicyError(`Unknown auth policy: ${name}`);
  return policy;
}

function resolve(entry: unknown): Policy {
  if (typeof entry === "string") return named(entry);
  const members = typeof entry === "object" && entry !== null ? (entry as { all_of?: unknown }).all_of : undefined;
  if (Array.isArray(members) && members.length > 0 && members.every((member) => typeof member === "string")) {
    return allOfPolicy(members.map(named));
  }
  throw new UnknownAuthPolicyError(
    'Unsupported auth policy. Policies must be either a string, or an object containing an "all_of" key ' +
      `with list-of-strings value. Unsupported value: ${JSON.stringify(entry)}`,
  );
}

/**
 * The caller of `request` under `policies`, or null when the endpoint has none.
 * Throws CcfError 401 when no policy passes (500 for a COSE body CCF cannot
 * parse), and UnknownAuthPolicyError / DuplicatePolicyError for a bad list.
 */
export function authenticate(
  policies: readonly AuthnPolicy[],
  request: AuthRequest,
  read: TableReader,
  nowSeconds: number,
): Caller | null {
  if (policies.length === 0) return null;
  // Resolve the whole list first: CCF rejects a bad list when it installs the endpoint.
  const resolved = policies.map(resolve);
  const context = { request, read, nowSeconds };
  const details: CcfErrorDetail[] = [];
  let challenge: string | undefined;
  for (const policy of resolved) {
    const result = policy.authenticate(context);
    if (result.ok) return result.caller;
    details.push({ auth_policy: policy.name, code: ErrorCode.InvalidAuthenticationInfo, message: result.reason });
    challenge = result.challenge;
  }
  throw new CcfError(
    401,
    ErrorCode.InvalidAuthenticationInfo,
    "Invalid authentication credentials.",
    details,
    challenge === undefined ? undefined : { "www-authenticate": challenge },
  );
}
