// The application claim of a transfer. Its SHA-256 becomes the transaction's
// claims digest (ccf.rpc.setClaimsDigest), which CCF folds into the Merkle
// leaf: a receipt for the transfer then proves this exact claim.
//
// Canonical byte form (UTF-8, no whitespace, keys in this fixed, sorted order):
//   {"amount":<n>,"payee":{"account_name":"<a>","user_id":"<u>"},"payer":{"account_name":"<a>","user_id":"<u>"},"type":"transfer"}
// <n> is the amount as a decimal integer; account names match
// [A-Za-z0-9_.-]{1,64} and user ids are lowercase hex, so nothing is escaped.
// The claim carries no transaction id or nonce: the receipt's commit_evidence
// ("ce:<view>.<seqno>:...") already names the transaction it belongs to.
import { ccf } from "@microsoft/ccf-app/global.js";

export interface AccountRef {
  user_id: string;
  account_name: string;
}

export interface TransferClaim {
  amount: number;
  payee: AccountRef;
  payer: AccountRef;
  type: "transfer";
}

export function transferClaim(payer: AccountRef, payee: AccountRef, amount: number): TransferClaim {
  return { amount, payee, payer, type: "transfer" };
}

/** The exact string whose UTF-8 bytes are hashed. Keys are written in sorted order, independent of the inputs' order. */
export function canonicalClaim(claim: TransferClaim): string {
  const ref = (a: AccountRef): string => `{"account_name":${JSON.stringify(a.account_name)},"user_id":${JSON.stringify(a.user_id)}}`;
  return `{"amount":${String(claim.amount)},"payee":${ref(claim.payee)},"payer":${ref(claim.payer)},"type":"transfer"}`;
}

export function claimDigest(canonical: string): ArrayBuffer {
  return ccf.crypto.digest("SHA-256", ccf.strToBuf(canonical));
}

export function toHex(buf: ArrayBuffer): string {
  let out = "";
  for (const byte of new Uint8Array(buf)) out += byte.toString(16).padStart(2, "0");
  return out;
}
