// A recovery member's part in a disaster recovery (docs/recovery.md): the
// service keeps each member's recovery share encrypted to that member's RSA
// key; the member fetches it, decrypts it here with its own private key (which
// never leaves this machine) and submits it, signed, to the recovering service.
// Once `recovery_threshold` members have, the service restores its private
// state and opens.
import { constants, privateDecrypt } from "node:crypto";
import { govMessages, govPath } from "@confide/sdk";
import { CcfClientError, type ConfideClient } from "./client.ts";
import type { Member } from "./governance.ts";

/** CCF's answer to a submitted share. */
export interface RecoveryShareResult {
  message: string;
  submittedCount: number;
  recoveryThreshold: number;
  fullKeySubmitted?: boolean;
}

/** The member's recovery share, as the service keeps it: encrypted to the member's RSA key. */
export async function encryptedRecoveryShare(client: ConfideClient, memberId: string): Promise<Buffer> {
  const reply = await client.call("GET", govPath(`/gov/recovery/encrypted-shares/${memberId}`));
  return Buffer.from((reply.json as { encryptedShare: string }).encryptedShare, "base64");
}

/** Decrypts a share with the member's RSA private key (its <name>_enc_privk.pem): RSA-OAEP with SHA-256, as CCF encrypts shares. */
export function decryptRecoveryShare(encrypted: Buffer, encryptionPrivateKeyPem: string): Buffer {
  try {
    return privateDecrypt({ key: encryptionPrivateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, encrypted);
  } catch (error) {
    throw new Error(`cannot decrypt the recovery share with this encryption key (is it the member's own?): ${(error as Error).message}`);
  }
}

/** Fetches the member's share, decrypts it locally and submits it; the service's refusal throws CcfClientError. */
export async function submitRecoveryShare(member: Member, encryptionPrivateKeyPem: string): Promise<RecoveryShareResult> {
  const share = decryptRecoveryShare(await encryptedRecoveryShare(member.client, member.id), encryptionPrivateKeyPem);
  const response = await member.send(govMessages.recoveryShare(member.id, share.toString("base64")));
  share.fill(0);
  if (response.status >= 400) throw CcfClientError.fromResponse(response);
  return response.json as RecoveryShareResult;
}
