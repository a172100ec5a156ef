// A conjunction of policies (CCF src/endpoints/authentication/all_of_auth.cpp):
// it passes when every member passes. CCF keys the members by name in a sorted
// map, so they run in name order, the scheme name is the sorted names joined
// by "+", and the caller is `{policy: [names], <name>: <that policy's caller>}`.
// A refusal names the member that refused ("<name>:<reason>") and carries that
// member's challenge.
import type { AuthContext, Caller, Policy, PolicyResult } from "./types.ts";

export class DuplicatePolicyError extends Error {}

/** `members` must be non-empty; a name listed twice throws (a deployment error). */
export function allOfPolicy(members: readonly Policy[]): Policy {
  const sorted = [...members].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = sorted.map((member) => member.name);
  const name = names.join("+");
  if (new Set(names).size !== names.length) {
    throw new DuplicatePolicyError(`AND authentication policy contains duplicate policies (policy = ${name})`);
  }
  return {
    name,
    authenticate(context: AuthContext): PolicyResult {
      const caller: Caller = { policy: names };
      for (const member of sorted) {
        const result = member.authenticate(context);
        if (!result.ok) return { ok: false, reason: `${member.name}:${result.reason}`, challenge: result.challenge };
        caller[member.name] = result.caller;
      }
      return { ok: true, caller };
    },
  };
}
