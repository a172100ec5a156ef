// Recovery shares, CCF's way: every ledger secret of the service is sealed under
// one random wrapping key, and that key is split (Shamir, over GF(2^8)) among the
// active recovery members, each share encrypted to its member's RSA key
// (RSA-OAEP, SHA-256). All of it is public ledger state, so that a service whose
// nodes are all lost can be recovered from any one ledger copy, but only when
// `recovery_threshold` members bring their shares: no node or operator holds the
// secrets anywhere else. A member whose recovery_role is "Owner" gets the whole
// wrapping key (CCF's full share).
import { constants, createHash, publicEncrypt, randomBytes } from "node:crypto";
// The library checks for plain Uint8Arrays, not Buffers: keys and shares are copied into them.
import { combine, split } from "shamir-secret-sharing";
import { LedgerSecret, openWithKey, randomIv, sealWithKey, DecryptionError } from "../crypto/ledger-secret.ts";
import type { LedgerSecretVersion } from "../crypto/ledger-secrets.ts";
import { readJson } from "../governance/operations.ts";
import type { Tx } from "../kv/tx.ts";
import { idKey, SENTINEL_KEY, Tables } from "../tables.ts";

const WRAPPING_KEY_BYTES = 32;
const WRAP_AAD = Buffer.from("confide recovery: ledger secrets");

/** The shares of the current wrapping key and the ledger secrets it seals (public:ccf.internal.recovery_shares). */
export interface RecoverySharesRecord {
  /** The recovery members, their roles, the threshold and the number of ledger secrets these shares were issued for. */
  issued_for: string;
  threshold: number;
  /** Member id → base64 RSA-OAEP(SHA-256) encryption of its share. */
  encrypted_shares: Record<string, string>;
  /** Member id → hex SHA-256 of its share: a wrong or another member's share is refused when submitted. */
  share_digests: Record<string, string>;
  /**
   * base64 AES-256-GCM under the wrapping key of every ledger secret so far, as JSON [{version, key}];
   * the version of a rekey's new secret is null: it is the seqno after the transaction recording it.
   */
  wrapped_ledger_secrets: string;
}

export interface RecoveryMember {
  id: string;
  encryptionKeyPem: string;
  role: "Participant" | "Owner";
}

export class RecoveryShareError extends Error {}

/** Active members with an encryption key, other than NonParticipants: those CCF gives shares. */
export function recoveryMembers(tx: Tx): RecoveryMember[] {
  const members: RecoveryMember[] = [];
  tx.map(Tables.membersEncryptionKeys).forEach((key, id) => {
    const memberId = id.toString("utf8");
    const info = readJson<{ status?: string; recovery_role?: string }>(tx, Tables.membersInfo, idKey(memberId));
    if (info?.status !== "Active" || info.recovery_role === "NonParticipant") return;
    members.push({ id: memberId, encryptionKeyPem: key.toString("utf8"), role: info.recovery_role === "Owner" ? "Owner" : "Participant" });
  });
  return members.sort((a, b) => a.id.localeCompare(b.id));
}

export function recoveryThreshold(tx: Tx): number {
  return readJson<{ recovery_threshold?: number }>(tx, Tables.serviceConfig, SENTINEL_KEY)?.recovery_threshold ?? 1;
}

export function readRecoveryShares(tx: Tx): RecoverySharesRecord | undefined {
  return readJson<RecoverySharesRecord>(tx, Tables.recoveryShares, SENTINEL_KEY);
}

/** What the shares must be issued for now: they are re-issued when this changes. */
export function sharesIssuedFor(members: RecoveryMember[], threshold: number, secretCount: number): string {
  const text = JSON.stringify({ members: members.map((m) => [m.id, m.role, m.encryptionKeyPem]), threshold, secretCount });
  return createHash("sha256").update(text).digest("hex");
}

/** True when the recorded shares match the members and threshold in `tx` and wrap all `secretCount` secrets. */
export function sharesAreCurrent(tx: Tx, secretCount: number): boolean {
  return readRecoveryShares(tx)?.issued_for === sharesIssuedFor(recoveryMembers(tx), recoveryThreshold(tx), secretCount);
}

/** A secret to wrap: its version, or null for a rekey's new secret (the seqno after the record's). */
export interface SecretToWrap {
  version: number | null;
  secret: LedgerSecret;
}

/**
 * New shares of a new wrapping key sealing `secrets`, for the recovery members and threshold of
 * `tx` (with no recovery members, a record no one can open: the service cannot be recovered).
 * Asynchronous (the Shamir split is), so it is prepared before the transaction that records it.
 */
export async function prepareRecoveryShares(tx: Tx, secrets: readonly SecretToWrap[]): Promise<RecoverySharesRecord> {
  const members = recoveryMembers(tx);
  const threshold = recoveryThreshold(tx);
  const wrappingKey = randomBytes(WRAPPING_KEY_BYTES);
  const participants = members.filter((m) => m.role === "Participant");
  // A threshold of 1 needs no splitting: each participant's share is the whole key, as an owner's is.
  const splitShares = threshold >= 2 && participants.length > 0 ? await split(new Uint8Array(wrappingKey), Math.max(participants.length, threshold), threshold) : [];
  const encrypted: Record<string, string> = {};
  const digests: Record<string, string> = {};
  let next = 0;
  for (const member of members) {
    const share = member.role === "Owner" || threshold < 2 ? wrappingKey : Buffer.from(splitShares[next++]!);
    encrypted[member.id] = publicEncrypt({ key: member.encryptionKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, share).toString("base64");
    digests[member.id] = shareDigest(share);
  }
  const plaintext = Buffer.from(JSON.stringify(secrets.map((s) => ({ version: s.version, key: s.secret.key.toString("hex") }))));
  return {
    issued_for: sharesIssuedFor(members, threshold, secrets.length),
    threshold,
    encrypted_shares: encrypted,
    share_digests: digests,
    wrapped_ledger_secrets: sealWithKey(wrappingKey, randomIv(), plaintext, WRAP_AAD).toString("base64"),
  };
}

export function writeRecoveryShares(tx: Tx, record: RecoverySharesRecord): void {
  tx.map(Tables.recoveryShares).set(SENTINEL_KEY, Buffer.from(JSON.stringify(record)));
}

export function shareDigest(share: Uint8Array): string {
  return createHash("sha256").update(share).digest("hex");
}

/**
 * The ledger secrets the shares open: `shares` are the members' decrypted shares (each already
 * checked against its digest); `recordSeqno` is the seqno that wrote the record. A full share alone
 * is the wrapping key; otherwise the threshold's worth of split shares are combined.
 */
export async function restoreLedgerSecrets(record: RecoverySharesRecord, recordSeqno: number, shares: Buffer[]): Promise<LedgerSecretVersion[]> {
  const full = shares.find((share) => share.length === WRAPPING_KEY_BYTES);
  let wrappingKey: Buffer;
  if (full !== undefined) wrappingKey = full;
  else if (shares.length >= Math.max(2, record.threshold)) wrappingKey = Buffer.from(await combine(shares.map((share) => new Uint8Array(share))));
  else throw new RecoveryShareError(`${shares.length} shares submitted, ${record.threshold} needed`);
  let plaintext: Buffer;
  try {
    plaintext = openWithKey(wrappingKey, Buffer.from(record.wrapped_ledger_secrets, "base64"), WRAP_AAD);
  } catch (error) {
    if (error instanceof DecryptionError) throw new RecoveryShareError("the submitted shares do not open the wrapped ledger secrets");
    throw error;
  }
  const listed = JSON.parse(plaintext.toString("utf8")) as Array<{ version: number | null; key: string }>;
  return listed.map((entry) => ({ version: entry.version ?? recordSeqno + 1, secret: new LedgerSecret(Buffer.from(entry.key, "hex")) }));
}
