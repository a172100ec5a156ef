// Receipts across recoveries. A recovered service has a new identity, so a
// transaction committed before the recovery has a receipt whose node
// certificate the previous identity issued. At each recovery the new identity
// endorses the one before it (a certificate for the previous service key,
// issued by the new one), recorded in the ledger beside the previous
// identities; a receipt then carries, as CCF's service_endorsements, the
// endorsements from its node certificate's issuer up to the current identity,
// so that it verifies against the current service certificate alone.
import { isCertIssuedBy } from "../crypto/certs.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";

/** A sentinel-keyed JSON record (governance's readJson is a layer above history). */
function readRecord<T>(tx: Tx, table: string): T | undefined {
  const value = tx.map(table).get(SENTINEL_KEY);
  return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
}

/** The certificate of the service whose ledger this is, as its latest entries say. */
export function currentServiceCert(tx: Tx): string | undefined {
  return readRecord<{ cert: string }>(tx, Tables.serviceInfo)?.cert;
}

/** Records the recovering identity's endorsement of the one it replaces (just appended to previous_service_identities). */
export function appendServiceEndorsement(tx: Tx, endorsementPem: string): void {
  const earlier = readRecord<string[]>(tx, Tables.previousServiceIdentityEndorsements) ?? [];
  tx.map(Tables.previousServiceIdentityEndorsements).set(SENTINEL_KEY, Buffer.from(JSON.stringify([...earlier, endorsementPem])));
}

/**
 * The service_endorsements a receipt signed with `nodeCertPem` needs: none if the current identity
 * issued it; else the endorsements from the earlier identity that did, up to the current one. None
 * either if no identity of this ledger issued it (the receipt then fails verification, as it should).
 */
export function serviceEndorsementsFor(tx: Tx, nodeCertPem: string): string[] {
  // A service never recovered has one identity: no certificate check per receipt.
  const identities = readRecord<string[]>(tx, Tables.previousServiceIdentities) ?? [];
  if (identities.length === 0) return [];
  const current = currentServiceCert(tx);
  if (current === undefined || isCertIssuedBy(nodeCertPem, current)) return [];
  const endorsements = readRecord<string[]>(tx, Tables.previousServiceIdentityEndorsements) ?? [];
  // Ledgers recovered before endorsements were recorded have fewer: only a complete chain helps.
  if (endorsements.length !== identities.length) return [];
  const issuer = identities.findIndex((identity) => isCertIssuedBy(nodeCertPem, identity));
  return issuer === -1 ? [] : endorsements.slice(issuer);
}
