// Banking endpoints (the API of CCF's ccf-app-samples banking-app): members
// (banks) open accounts for users and deposit into them; users check their
// balances, transfer between accounts, read their history and fetch a
// receipt that proves a transfer's claim.
import * as ccfapp from "@microsoft/ccf-app";
import { canonicalClaim, claimDigest, toHex, transferClaim, type AccountRef } from "../lib/claim.ts";
import { errorResponse, invalidInput, notFound, type ErrorResponse } from "../lib/errors.ts";
import { AMOUNT_MAX, accountName, amount, jsonObject, parseQuery, queryInt, txId, userId } from "../lib/input.ts";
import * as store from "../lib/store.ts";

/** History pages: 20 entries unless asked, never more than 100 (bounded work per request). */
const HISTORY_PAGE_DEFAULT = 20;
const HISTORY_PAGE_MAX = 100;
/** How long the node may keep a fetched historical state (seconds), as CCF's samples ask. */
const HISTORICAL_EXPIRY_S = 1800;

const noContent = (): ccfapp.Response => ({ statusCode: 204 });

/** The authenticated caller's id (user_cert / member_cert policies set it). */
function callerId(request: ccfapp.Request): string {
  const caller = request.caller as ccfapp.UserCertAuthnIdentity | ccfapp.MemberCertAuthnIdentity | undefined;
  if (caller === undefined || typeof caller.id !== "string") {
    // Only reachable if app.json lost its authn_policies: a programming error.
    throw new Error("endpoint requires user_cert or member_cert authentication");
  }
  return caller.id;
}

function accountNotFound(ref: AccountRef): ErrorResponse {
  return notFound("AccountNotFound", `Account ${ref.account_name} of user ${ref.user_id} does not exist`);
}

function userNotFound(id: string): ErrorResponse {
  return notFound("UserNotFound", `User ${id} does not exist`);
}

/** PUT /account/{user_id}/{account_name} (members): opens an empty account. 204; 400 if it already exists. */
export function createAccount(request: ccfapp.Request): ccfapp.Response {
  const name = accountName(request.params["account_name"], "account_name");
  if (!name.ok) return name.response;
  const user = request.params["user_id"] ?? "";
  if (!store.userExists(user)) return userNotFound(user);
  const ref = { user_id: user, account_name: name.value };
  if (store.accountExists(ref)) {
    return errorResponse(400, "AccountAlreadyExists", `Account ${ref.account_name} of user ${ref.user_id} already exists`);
  }
  store.createAccount(ref);
  return noContent();
}

/** POST /deposit/{user_id}/{account_name} (members), body {"value": n}: adds n to the account. 204. */
export function deposit(request: ccfapp.Request): ccfapp.Response {
  const body = jsonObject(request);
  if (!body.ok) return body.response;
  const value = amount(body.value["value"], "value");
  if (!value.ok) return value.response;
  const name = accountName(request.params["account_name"], "account_name");
  if (!name.ok) return name.response;
  const user = request.params["user_id"] ?? "";
  if (!store.userExists(user)) return userNotFound(user);
  const ref = { user_id: user, account_name: name.value };
  if (!store.accountExists(ref)) return accountNotFound(ref);
  const balance = store.getBalance(ref) + BigInt(value.value);
  if (balance > BigInt(AMOUNT_MAX)) {
    return errorResponse(400, "BalanceLimitExceeded", `The balance would exceed ${AMOUNT_MAX}`);
  }
  store.setBalance(ref, balance);
  store.appendEntry(ref, { type: "deposit", amount: value.value, balance: Number(balance), member_id: callerId(request) });
  return noContent();
}

/** GET /balance/{account_name} (users): {"balance": n} of the caller's account. */
export function balance(request: ccfapp.Request): ccfapp.Response {
  const name = accountName(request.params["account_name"], "account_name");
  if (!name.ok) return name.response;
  const ref = { user_id: callerId(request), account_name: name.value };
  if (!store.accountExists(ref)) return accountNotFound(ref);
  return { body: { balance: Number(store.getBalance(ref)) } };
}

/**
 * POST /transfer/{account_name} (users), body {"value": n, "user_id_to": id,
 * "account_name_to": name}: moves n from the caller's account to another
 * existing account, in one transaction, and sets the transaction's claims
 * digest to SHA-256 of the canonical transfer claim (lib/claim.ts). 204.
 */
export function transfer(request: ccfapp.Request): ccfapp.Response {
  const body = jsonObject(request);
  if (!body.ok) return body.response;
  const value = amount(body.value["value"], "value");
  if (!value.ok) return value.response;
  const toUser = userId(body.value["user_id_to"], "user_id_to");
  if (!toUser.ok) return toUser.response;
  const toName = accountName(body.value["account_name_to"], "account_name_to");
  if (!toName.ok) return toName.response;
  const fromName = accountName(request.params["account_name"], "account_name");
  if (!fromName.ok) return fromName.response;

  const payer: AccountRef = { user_id: callerId(request), account_name: fromName.value };
  const payee: AccountRef = { user_id: toUser.value, account_name: toName.value };
  if (store.accountKey(payer) === store.accountKey(payee)) {
    return invalidInput("Cannot transfer to the same account");
  }
  if (!store.accountExists(payer)) return accountNotFound(payer);
  if (!store.userExists(payee.user_id)) return userNotFound(payee.user_id);
  if (!store.accountExists(payee)) return accountNotFound(payee);

  const payerBalance = store.getBalance(payer);
  const moved = BigInt(value.value);
  if (payerBalance < moved) {
    return errorResponse(400, "InsufficientFunds", `Balance ${payerBalance} is less than ${value.value}`);
  }
  const payeeBalance = store.getBalance(payee) + moved;
  if (payeeBalance > BigInt(AMOUNT_MAX)) {
    return errorResponse(400, "BalanceLimitExceeded", `The payee's balance would exceed ${AMOUNT_MAX}`);
  }
  store.setBalance(payer, payerBalance - moved);
  store.setBalance(payee, payeeBalance);
  store.appendEntry(payer, { type: "transfer_out", amount: value.value, balance: Number(payerBalance - moved), counterparty: payee });
  store.appendEntry(payee, { type: "transfer_in", amount: value.value, balance: Number(payeeBalance), counterparty: payer });

  const claim = canonicalClaim(transferClaim(payer, payee, value.value));
  // Kept per payer so GET /transfer/receipt can find, in the transaction's
  // historical state, the claim behind its claims digest.
  store.latestClaims().set(payer.user_id, claim);
  ccfapp.setClaimsDigest(claimDigest(claim));
  return noContent();
}

/**
 * GET /history/{account_name}?limit=<1..100>&before=<index> (users): the
 * caller's account entries, newest first. Follow `nextLink` for older ones.
 */
export function history(request: ccfapp.Request): ccfapp.Response {
  const name = accountName(request.params["account_name"], "account_name");
  if (!name.ok) return name.response;
  const query = parseQuery(request.query);
  if (!query.ok) return query.response;
  const limit = queryInt(query.value, "limit", 1, HISTORY_PAGE_MAX);
  if (!limit.ok) return limit.response;
  const before = queryInt(query.value, "before", 0, Number.MAX_SAFE_INTEGER);
  if (!before.ok) return before.response;

  const ref = { user_id: callerId(request), account_name: name.value };
  if (!store.accountExists(ref)) return accountNotFound(ref);
  const total = store.countEntries(ref);
  const to = Math.min(before.value ?? total, total);
  const pageSize = limit.value ?? HISTORY_PAGE_DEFAULT;
  const from = Math.max(0, to - pageSize);
  const body: Record<string, unknown> = {
    account_name: ref.account_name,
    total,
    transactions: store.entriesNewestFirst(ref, from, to),
  };
  if (from > 0) body["nextLink"] = `/app/history/${ref.account_name}?before=${from}&limit=${pageSize}`;
  return { body };
}

/**
 * GET /transfer/receipt?transaction_id=<view>.<seqno> (users): the receipt of
 * one of the caller's transfers with its claim. 202 (retry-after) while the
 * transaction is not yet committed or its state is being fetched; 404 if the
 * transaction is unknown or is not a transfer made by the caller.
 */
export function transferReceipt(request: ccfapp.Request): ccfapp.Response {
  const query = parseQuery(request.query);
  if (!query.ok) return query.response;
  const id = txId(query.value["transaction_id"]);
  if (!id.ok) return id.response;
  const { view, seqno } = id.value;
  const txName = `${view}.${seqno}`;

  const status = ccfapp.getStatusForTxId(view, seqno);
  if (status === "Pending") return retryLater(`Transaction ${txName} is not committed yet`);
  if (status !== "Committed") return notFound("TransactionNotFound", `Transaction ${txName} is ${status}`);

  // Handle = seqno: concurrent requests for one transaction share one fetch.
  const states = ccfapp.getStateRange(seqno, seqno, seqno, HISTORICAL_EXPIRY_S);
  if (states === null) return retryLater(`Transaction ${txName} is being fetched`);
  const state = states[0];
  if (state === undefined) throw new Error(`getStateRange(${seqno}) returned no state`);

  const caller = callerId(request);
  const claimsAtTx = state.kv[store.LATEST_CLAIM_MAP];
  const claim = claimsAtTx === undefined ? undefined : store.latestClaims(claimsAtTx).get(caller);
  const digest = claim === undefined ? undefined : toHex(claimDigest(claim));
  const receipt = state.receipt;
  // Everything needed is read: free the cached state rather than keep it for HISTORICAL_EXPIRY_S.
  ccfapp.dropCachedStates(seqno);
  // The caller's latest claim as of this transaction matches the receipt's
  // claims digest only if this transaction is that transfer: anything else
  // (another user's transfer, a deposit, a governance change) carries a
  // different digest or none.
  if (digest === undefined || receipt.leaf_components?.claims_digest !== digest) {
    return notFound("TransferNotFound", `Transaction ${txName} is not one of your transfers`);
  }
  return { body: { transaction_id: state.transactionId, claim, claims_digest: digest, receipt } };
}

function retryLater(message: string): ccfapp.Response {
  return { statusCode: 202, headers: { "retry-after": "1" }, body: message };
}
