// A ledger rekey on a service of several nodes, CCF's way: the transaction that
// starts the new ledger secret (and records the recovery shares covering it)
// also records that secret sealed to the encryption key of every trusted node,
// the primary's own included, in public:ccf.internal.encrypted_ledger_secrets
// (CCF's LedgerSecretsForNodes). Each backup, applying that entry, opens its
// part and seals every later entry with it, as the primary does; a rolled-back
// rekey takes the secret back with it (History.rollback).
import { LedgerSecret } from "../crypto/ledger-secret.ts";
import { NodeEncryptionKey, sealForNode } from "../crypto/node-encryption-key.ts";
import type { Tx } from "../kv/tx.ts";
import { keyString, type WriteSet } from "../kv/write-set.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";

/** One node's part of the record, as CCF's EncryptedLedgerSecret (the version is implied: the seqno after the record's). */
interface EncryptedLedgerSecret {
  version: null;
  /** base64 of the secret sealed to the node's encryption_pub_key. */
  encrypted_secret: string;
}

/** Node id → [its sealed secret], as CCF's LedgerSecretsForNodes. */
type LedgerSecretsForNodes = Record<string, EncryptedLedgerSecret[]>;

/** A rekey this service cannot do now (a trusted node the new secret cannot be handed to). */
export class RekeyRefusedError extends Error {}

/** The trusted nodes and their encryption keys; refuses if any has none (a node recorded before nodes had one). */
export function rekeyRecipients(tx: Tx): Array<{ nodeId: string; encryptionKeyPem: string }> {
  const recipients: Array<{ nodeId: string; encryptionKeyPem: string }> = [];
  const keyless: string[] = [];
  tx.map(Tables.nodesInfo).forEach((value, key) => {
    const info = JSON.parse(value.toString("utf8")) as { status?: string; encryption_pub_key?: string };
    if (info.status !== "Trusted") return;
    const nodeId = key.toString("utf8");
    if (info.encryption_pub_key) recipients.push({ nodeId, encryptionKeyPem: info.encryption_pub_key });
    else keyless.push(nodeId);
  });
  if (keyless.length > 0) {
    throw new RekeyRefusedError(
      `ledger rekey refused: trusted node${keyless.length > 1 ? "s" : ""} ${keyless.join(", ")} ha${keyless.length > 1 ? "ve" : "s"} no encryption_pub_key to hand the new ledger secret to (recorded before nodes had one); replace ${keyless.length > 1 ? "them" : "it"} with a new node (join one, remove_node the old) and rekey again`,
    );
  }
  return recipients;
}

/** Records `secret` sealed to every trusted node, in the rekey's transaction; throws RekeyRefusedError first if one has no key. */
export function writeLedgerSecretsForNodes(tx: Tx, secret: LedgerSecret): void {
  const record: LedgerSecretsForNodes = {};
  for (const { nodeId, encryptionKeyPem } of rekeyRecipients(tx)) {
    record[nodeId] = [{ version: null, encrypted_secret: sealForNode(encryptionKeyPem, secret.key).toString("base64") }];
  }
  tx.map(Tables.encryptedLedgerSecrets).set(SENTINEL_KEY, Buffer.from(JSON.stringify(record)));
}

const RECORD_KEY = keyString(SENTINEL_KEY);

/**
 * The new ledger secret an entry's writes hand node `nodeId`, opened with its key; undefined if the
 * entry is no rekey or names another node. Throws if this node's part does not open (altered, or
 * sealed to another key): the entries after it could not be read.
 */
export function ledgerSecretHandedTo(writes: WriteSet, nodeId: string, key: NodeEncryptionKey): LedgerSecret | undefined {
  const value = writes.get(Tables.encryptedLedgerSecrets)?.get(RECORD_KEY);
  if (value === undefined || value === null) return undefined;
  let mine: EncryptedLedgerSecret[] | undefined;
  try {
    mine = (JSON.parse(value.toString("utf8")) as LedgerSecretsForNodes)[nodeId];
  } catch (error) {
    throw new Error(`the rekey's ${Tables.encryptedLedgerSecrets} is not valid JSON: ${(error as Error).message}`);
  }
  if (mine === undefined) return undefined;
  const sealed = mine[0]?.encrypted_secret;
  if (mine.length !== 1 || typeof sealed !== "string") throw new Error(`the rekey's ${Tables.encryptedLedgerSecrets} holds no one sealed secret for this node`);
  try {
    return new LedgerSecret(key.open(Buffer.from(sealed, "base64")));
  } catch (error) {
    throw new Error(`the new ledger secret sealed to this node does not open with its encryption key (altered, or sealed to another key): ${(error as Error).message}`);
  }
}
