// The app's private (ledger-encrypted) maps. Typed handles are made per
// request: ccfapp.typedKv binds to the current transaction's ccf.kv.
//
// Keys combine user id and account name as a JSON array, ["<user id>",
// "<account name>"], so no pair of (user, account) can collide whatever
// characters either contains.
import * as ccfapp from "@microsoft/ccf-app";
import type { AccountRef } from "./claim.ts";

const BALANCES = "banking.balances";
const HISTORY = "banking.history";
const HISTORY_LENGTH = "banking.history_length";
const LATEST_CLAIM = "banking.latest_transfer_claim";
/** CCF's built-in users table (read-only to apps): user id → certificate PEM. */
const USERS_CERTS = "public:ccf.gov.users.certs";

export type EntryType = "deposit" | "transfer_out" | "transfer_in";

/** One line of an account's history. */
export interface HistoryEntry {
  /** Position in the account's history, from 0; new entries get the next index. */
  index: number;
  type: EntryType;
  amount: number;
  /** Balance right after this entry. */
  balance: number;
  /** The other account of a transfer. */
  counterparty?: AccountRef;
  /** The member who made a deposit. */
  member_id?: string;
}

export function accountKey(ref: AccountRef): string {
  return JSON.stringify([ref.user_id, ref.account_name]);
}

function historyKey(ref: AccountRef, index: number): string {
  return JSON.stringify([ref.user_id, ref.account_name, index]);
}

/** Balances as unsigned 64-bit integers (bigint): whole units, never floats. */
const balances = () => ccfapp.typedKv(BALANCES, ccfapp.string, ccfapp.uint64);
const history = () => ccfapp.typedKv(HISTORY, ccfapp.string, ccfapp.json<HistoryEntry>());
const historyLength = () => ccfapp.typedKv(HISTORY_LENGTH, ccfapp.string, ccfapp.uint32);
/** Per user: the canonical claim of their latest transfer (read back from historical state for receipts). */
export const latestClaims = (kv?: ccfapp.KvMap) =>
  kv === undefined ? ccfapp.typedKv(LATEST_CLAIM, ccfapp.string, ccfapp.string) : ccfapp.typedKv(kv, ccfapp.string, ccfapp.string);
export const LATEST_CLAIM_MAP = LATEST_CLAIM;

export function userExists(userId: string): boolean {
  return ccfapp.typedKv(USERS_CERTS, ccfapp.string, ccfapp.arrayBuffer).has(userId);
}

export function accountExists(ref: AccountRef): boolean {
  return balances().has(accountKey(ref));
}

export function createAccount(ref: AccountRef): void {
  balances().set(accountKey(ref), 0n);
  historyLength().set(accountKey(ref), 0);
}

/** The balance of an existing account (bigint; callers keep it ≤ Number.MAX_SAFE_INTEGER). */
export function getBalance(ref: AccountRef): bigint {
  const balance = balances().get(accountKey(ref));
  if (balance === undefined) throw new Error(`no account ${accountKey(ref)}`);
  return balance;
}

export function setBalance(ref: AccountRef, balance: bigint): void {
  balances().set(accountKey(ref), balance);
}

export function countEntries(ref: AccountRef): number {
  return historyLength().get(accountKey(ref)) ?? 0;
}

export function appendEntry(ref: AccountRef, entry: Omit<HistoryEntry, "index">): void {
  const index = countEntries(ref);
  history().set(historyKey(ref, index), { index, ...entry });
  historyLength().set(accountKey(ref), index + 1);
}

/** Entries with indices in [from, to), newest first. */
export function entriesNewestFirst(ref: AccountRef, from: number, to: number): HistoryEntry[] {
  const map = history();
  const out: HistoryEntry[] = [];
  for (let index = to - 1; index >= from; index--) {
    const entry = map.get(historyKey(ref, index));
    if (entry === undefined) throw new Error(`history entry ${index} of ${accountKey(ref)} is missing`);
    out.push(entry);
  }
  return out;
}
