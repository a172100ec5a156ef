// A governance dry-run (Confide's /gov/members/proposals:dry-run) as the CLI
// prints it: validate's verdict, what :create would answer, then apply()'s
// endpoint diff and KV diff, one line per change (+ added, - removed, ~ changed).
import type { DryRun, DryRunKvChange, DryRunValue } from "@confide/sdk";

/** Longest value shown on a line; the --json output has it all. */
const VALUE_CHARS_MAX = 100;

function clip(text: string): string {
  return text.length > VALUE_CHARS_MAX ? `${text.slice(0, VALUE_CHARS_MAX - 1)}…` : text;
}

function showValue(value: DryRunValue): string {
  if ("json" in value) return clip(JSON.stringify(value.json));
  if ("text" in value) return clip(JSON.stringify(value.text));
  return `<${value.bytes} bytes, sha256 ${value.sha256.slice(0, 16)}…>`;
}

const MARK = { added: "+", removed: "-", changed: "~" } as const;

function showChange(change: DryRunKvChange): string {
  if ("private" in change) {
    const sizes = [change.beforeBytes, change.afterBytes].map((bytes) => (bytes === undefined ? "none" : `${bytes} bytes`)).join(" -> ");
    return `${MARK[change.change]} ${change.table} (private: shown as sizes) key of ${change.keyBytes} bytes: ${sizes}`;
  }
  const values =
    change.change === "added" ? `= ${showValue(change.after!)}` : change.change === "removed" ? `(was ${showValue(change.before!)})` : `${showValue(change.before!)} -> ${showValue(change.after!)}`;
  return `${MARK[change.change]} ${change.table}  ${change.key}  ${values}`;
}

/** Whether the proposal would go through: validate accepts it, :create takes it, apply() does not throw. */
export function dryRunSucceeds(result: DryRun): boolean {
  return result.validation.valid && "proposal" in result.create && result.apply !== undefined && !("failure" in result.apply);
}

export function describeDryRun(result: DryRun): string {
  const lines = [`dry run of proposal ${result.proposalId} by ${result.proposerId} (nothing was kept)`];
  lines.push(`validate: ${result.validation.valid ? "valid" : `invalid: ${result.validation.description}`}`);
  if ("error" in result.create) lines.push(`create would be refused: ${result.create.error.code}: ${result.create.error.message}`);
  else lines.push(`create would leave it ${result.create.proposal.proposalState}${result.create.proposal.failure ? ` (${result.create.proposal.failure.reason})` : ""}`);
  const apply = result.apply;
  if (apply === undefined) return lines.join("\n");
  if ("failure" in apply) {
    lines.push(`apply would fail: ${apply.failure.reason}`);
    return lines.join("\n");
  }
  const { added, removed, changed } = apply.endpoints;
  if (added.length + removed.length + changed.length > 0) {
    lines.push("app endpoints, if accepted now:");
    for (const e of added) lines.push(`  + ${e.method} ${e.path}  ${JSON.stringify(e.authn_policies)} ${String(e.mode)}`);
    for (const e of removed) lines.push(`  - ${e.method} ${e.path}  ${JSON.stringify(e.authn_policies)} ${String(e.mode)}`);
    for (const e of changed) {
      const fields = Object.entries(e.fields).map(([field, { before, after }]) => `${field} ${clip(JSON.stringify(before) ?? "none")} -> ${clip(JSON.stringify(after) ?? "none")}`);
      lines.push(`  ~ ${e.method} ${e.path}  ${fields.join("; ")}`);
    }
  }
  lines.push(apply.writes.length === 0 ? "KV writes, if accepted now: none" : `KV writes, if accepted now (${apply.writes.length}):`);
  for (const change of apply.writes) lines.push(`  ${showChange(change)}`);
  return lines.join("\n");
}
