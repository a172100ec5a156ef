// Governance dry-run (Confide's own, not CCF's): what a signed proposal would
// do, computed by the same code that runs it for real, in transactions that
// are always discarded. It answers three questions before anyone votes:
// does the constitution's validate() accept it, what would :create answer
// (Open, or Accepted at once), and what would apply() write if it were
// accepted now: a diff of the KV, and for the app's endpoint table, the
// endpoints added, removed and changed.
import { createHash } from "node:crypto";
import type { DryRun, DryRunApply, DryRunEndpointDiff, DryRunKvChange, DryRunValue } from "@confide/sdk";
import { CcfError } from "../errors.ts";
import type { History } from "../history/history.ts";
import type { HttpRequest } from "../http/message.ts";
import type { Tx } from "../kv/tx.ts";
import { isPublicMap, type WriteSet } from "../kv/write-set.ts";
import { DRY_RUN_VALUE_BYTES_MAX } from "../limits.ts";
import { parseEndpointKey } from "../runtime/bundle.ts";
import { Tables } from "../tables.ts";
import type { ConstitutionRunner } from "./constitution.ts";
import { memberRequest, type MemberRequest } from "./member-requests.ts";
import { proposalIdOf, submitProposal } from "./operations.ts";
import { ApplyFailed, failureOf, proposalView } from "./proposals.ts";

/**
 * Runs a signed proposal (the body :create takes) without keeping anything.
 * A request that fails authentication throws the CcfError :create would;
 * every other outcome is in the result.
 */
export function dryRunProposal(history: History, runner: ConstitutionRunner, request: HttpRequest): DryRun {
  const created = history.begin();
  try {
    const signed = memberRequest(created, request, { type: "proposal", active: true });
    const proposal = signed.payload.toString("utf8");
    const proposalId = proposalIdOf(history.merkleRoot(), signed.signature);
    const result: DryRun = { proposalId, proposerId: signed.memberId, validation: validate(history, runner, proposal), create: createOutcome(created, runner, history, signed) };
    if (result.validation.valid) result.apply = applyOutcome(history, runner, proposal, proposalId);
    return result;
  } finally {
    created.abort();
  }
}

function discarded<T>(history: History, run: (tx: Tx) => T): T {
  const tx = history.begin();
  try {
    return run(tx);
  } finally {
    if (tx.isOpen) tx.abort();
  }
}

function validate(history: History, runner: ConstitutionRunner, proposal: string): DryRun["validation"] {
  return discarded(history, (tx) => {
    try {
      return runner.validate(tx, proposal);
    } catch (error) {
      return { valid: false, description: failureOf(error).reason };
    }
  });
}

function createOutcome(tx: Tx, runner: ConstitutionRunner, history: History, signed: MemberRequest): DryRun["create"] {
  try {
    const { proposalId, info } = submitProposal(tx, runner, history.merkleRoot(), signed);
    return { proposal: proposalView(proposalId, info) };
  } catch (error) {
    // Accepted at once but apply() threw: :create records the proposal as Failed.
    if (error instanceof ApplyFailed) {
      const proposalId = proposalIdOf(history.merkleRoot(), signed.signature);
      return { proposal: proposalView(proposalId, { proposer_id: signed.memberId, state: "Failed", ballots: {}, failure: error.failure }) };
    }
    if (error instanceof CcfError) return { error: { code: error.code, message: error.message } };
    throw error;
  }
}

function applyOutcome(history: History, runner: ConstitutionRunner, proposal: string, proposalId: string): DryRunApply {
  return discarded(history, (tx) => {
    const before = history.store.beginReadOnly();
    try {
      runner.apply(tx, proposal, proposalId);
    } catch (error) {
      return { failure: failureOf(error) };
    }
    const writes = tx.finish();
    return { writes: kvDiff(before, writes), endpoints: endpointDiff(before, writes) };
  });
}

const byName = ([a]: [string, unknown], [b]: [string, unknown]): number => (a < b ? -1 : a > b ? 1 : 0);

/** The keys `writes` changes against the state `before` reads; writes of the value already there are left out. */
export function kvDiff(before: Tx, writes: WriteSet): DryRunKvChange[] {
  const changes: DryRunKvChange[] = [];
  for (const [table, mapWrites] of [...writes].sort(byName)) {
    const old = before.map(table);
    for (const [keyText, after] of [...mapWrites].sort(byName)) {
      const key = Buffer.from(keyText, "latin1");
      const previous = old.get(key);
      if (previous === undefined && after === null) continue;
      if (previous !== undefined && after !== null && previous.equals(after)) continue;
      const change = previous === undefined ? "added" : after === null ? "removed" : "changed";
      if (!isPublicMap(table)) {
        changes.push({
          table,
          private: true,
          keyBytes: key.length,
          change,
          ...(previous !== undefined ? { beforeBytes: previous.length } : {}),
          ...(after !== null ? { afterBytes: after.length } : {}),
        });
        continue;
      }
      changes.push({ table, key: showKey(key), change, ...(previous !== undefined ? { before: show(previous) } : {}), ...(after !== null ? { after: show(after) } : {}) });
    }
  }
  return changes;
}

function utf8Text(bytes: Buffer): string | undefined {
  const text = bytes.toString("utf8");
  return Buffer.from(text, "utf8").equals(bytes) ? text : undefined;
}

/** Keys are mostly ids and names (UTF-8); binary ones (CCF's sentinel key of value tables) are shown in hex. */
function showKey(key: Buffer): string {
  const text = utf8Text(key);
  return text !== undefined && !/[\u0000-\u001f]/.test(text) ? text : `0x${key.toString("hex")}`;
}

function show(value: Buffer): DryRunValue {
  const text = value.length <= DRY_RUN_VALUE_BYTES_MAX ? utf8Text(value) : undefined;
  if (text === undefined) return { bytes: value.length, sha256: createHash("sha256").update(value).digest("hex") };
  try {
    return { json: JSON.parse(text) };
  } catch {
    return { text };
  }
}

/** The app's endpoints apply() would add, remove or change, read from its writes to public:ccf.gov.endpoints. */
export function endpointDiff(before: Tx, writes: WriteSet): DryRunEndpointDiff {
  const diff: DryRunEndpointDiff = { added: [], removed: [], changed: [] };
  const mapWrites = writes.get(Tables.endpoints);
  if (mapWrites === undefined) return diff;
  const old = before.map(Tables.endpoints);
  const parse = (value: Buffer | undefined | null) => (value ? (JSON.parse(value.toString("utf8")) as Record<string, unknown>) : undefined);
  for (const keyText of [...mapWrites.keys()].sort()) {
    const key = Buffer.from(keyText, "latin1");
    const { method, path } = parseEndpointKey(key);
    const previous = parse(old.get(key));
    const next = parse(mapWrites.get(keyText));
    if (previous === undefined && next !== undefined) diff.added.push({ method, path, authn_policies: next.authn_policies, mode: next.mode });
    else if (previous !== undefined && next === undefined) diff.removed.push({ method, path, authn_policies: previous.authn_policies, mode: previous.mode });
    else if (previous !== undefined && next !== undefined) {
      const fields: Record<string, { before: unknown; after: unknown }> = {};
      for (const field of new Set([...Object.keys(previous), ...Object.keys(next)])) {
        if (JSON.stringify(previous[field]) !== JSON.stringify(next[field])) fields[field] = { before: previous[field], after: next[field] };
      }
      if (Object.keys(fields).length > 0) diff.changed.push({ method, path, fields });
    }
  }
  return diff;
}
