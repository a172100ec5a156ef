// Who the caller is for reconciliation: its party, from identity data set by
// governance (users.info user_data / members.info member_data {"party": ...},
// or a JWT claim the policy names), so several users of one bank count as one
// party. Without such data the caller is a party of its own (its id), as in
// the sample, unless the policy requires party data.
import type { Policy } from "./config.ts";

export type PartyResult = { ok: true; party: string } | { ok: false; reason: string };

interface CertCaller {
  policy: string;
  id: string;
  data?: unknown;
}

interface JwtCaller {
  policy: "jwt";
  jwt: { keyIssuer: string; payload: Record<string, unknown> };
}

export function partyOf(caller: unknown, policy: Policy): PartyResult {
  const c = caller as (CertCaller | JwtCaller) | null;
  if (c === null || typeof c !== "object") return { ok: false, reason: "caller is not authenticated" };
  let named: unknown;
  let fallback: string;
  if (c.policy === "jwt") {
    const { keyIssuer, payload } = (c as JwtCaller).jwt;
    named = policy.jwt_party_claim === null ? undefined : payload[policy.jwt_party_claim];
    fallback = `${keyIssuer}#${String(payload.sub)}`;
  } else {
    const { id, data } = c as CertCaller;
    named = typeof data === "object" && data !== null ? (data as { party?: unknown }).party : undefined;
    fallback = id;
  }
  if (typeof named === "string" && named.length > 0) return { ok: true, party: named };
  if (policy.require_party_data) return { ok: false, reason: "the policy requires party data, and this identity has none" };
  return { ok: true, party: fallback };
}
