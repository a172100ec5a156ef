// Installs the governance-only part of the `ccf` global, which CCF gives the
// constitution and nothing else: ids of certificates, the JWT signing keys of
// an issuer, and the node and service operations proposals may trigger.
import { createPublicKey, X509Certificate } from "node:crypto";
import { certId } from "../crypto/keys.ts";
import { endorseCertificateRequest } from "../crypto/endorse-csr.ts";
import type { History } from "../history/history.ts";
import { refreshBytecodeCache } from "../runtime/bytecode-cache.ts";
import type { CallState } from "../runtime/call-state.ts";
import type { HostFunction, Vm } from "../runtime/vm.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";

interface Jwk {
  kid?: string;
  x5c?: string[];
  kty?: string;
  [field: string]: unknown;
}

/** What a proposal may ask of the node, once its transaction commits (CCF's ccf.node.trigger*). */
export interface NodeOperations {
  refreshRecoveryShares(): void;
  rekeyLedger(): void;
}

/** The service identity, whose key endorses the certificates of nodes members trust. */
export interface ServiceKeys {
  certPem: string;
  privateKeyPem: string;
}

export function governanceHostFunctions(vm: Vm, call: () => CallState, history: History, service: ServiceKeys, node: NodeOperations): Record<string, HostFunction> {
  const serviceCertPem = service.certPem;
  const writable = () => {
    const state = call();
    if (state.access !== "read-write governance") throw new TypeError(`This operation is not available in current (${state.access}) execution context`);
    return state.tx;
  };
  return {
    pemToId: (pem) => certId(vm.string(pem, "PEM")),
    refreshAppBytecodeCache: () => refreshBytecodeCache(writable()),
    setJwtPublicSigningKeys: (issuer, metadata, jwks) => {
      setJwtKeys(writable(), vm.string(issuer, "issuer"), JSON.parse(vm.string(metadata)) as Record<string, unknown>, JSON.parse(vm.string(jwks)) as { keys?: Jwk[] });
    },
    removeJwtPublicSigningKeys: (issuer) => {
      removeJwtKeys(writable(), vm.string(issuer, "issuer"));
    },
    // The node changes only if the proposal's transaction commits, not when apply() runs.
    triggerLedgerChunk: () => {
      writable().onCommit(() => history.triggerLedgerChunk());
    },
    triggerSnapshot: () => {
      const tx = writable();
      if (!history.takesSnapshots) throw new Error("snapshots are not configured for this node");
      tx.onCommit(() => history.triggerSnapshot());
    },
    transitionServiceToOpen: (previous, next) => {
      const tx = writable();
      const nextIdentity = vm.bytes(next).toString("utf8");
      if (nextIdentity.trim() !== serviceCertPem.trim()) throw new Error("The next service identity is not this service's certificate");
      const info = tx.map(Tables.serviceInfo);
      const current = JSON.parse(info.get(SENTINEL_KEY)!.toString("utf8")) as Record<string, unknown>;
      if (current.status === "Open") throw new Error("The service is already open");
      if (current.status === "WaitingForRecoveryShares") throw new Error("The service is already waiting for recovery shares");
      let status = "Open";
      if (current.status === "Recovering") {
        // A recovered service opens once the members' shares restore its private state.
        const recorded = tx.map(Tables.previousServiceIdentity).get(SENTINEL_KEY)?.toString("utf8");
        const given = vm.isUndefined(previous) ? undefined : vm.bytes(previous).toString("utf8");
        if (recorded === undefined || given?.trim() !== recorded.trim()) throw new Error("The previous service identity is not the identity of the service this ledger recovers");
        status = "WaitingForRecoveryShares";
      }
      info.set(SENTINEL_KEY, Buffer.from(JSON.stringify({ ...current, status })));
    },
    getLatestLedgerSecretSeqno: () => history.ledgerSecrets.latest.version,
    triggerLedgerRekey: () => {
      writable().onCommit(() => node.rekeyLedger());
    },
    triggerRecoverySharesRefresh: () => {
      writable().onCommit(() => node.refreshRecoveryShares());
    },
    generateEndorsedCertificate: (csr, validFrom, validityPeriodDays) =>
      endorseCertificateRequest({
        csrPem: vm.string(csr, "csr"),
        serviceCertPem,
        servicePrivateKeyPem: service.privateKeyPem,
        ...(vm.isUndefined(validFrom) ? {} : { validFrom: parseValidFrom(vm.string(validFrom, "valid_from")) }),
        validityDays: vm.number(validityPeriodDays, "validity_period_days"),
      }),
    notSupported: (name) => {
      throw new Error(`${vm.string(name)} is not supported by this node (one node, no recovery yet)`);
    },
  };
}

/**
 * CCF's set_jwt_public_signing_keys effect: each key of the issuer's JWKS is
 * stored under its kid as `[{public_key: base64 SPKI DER, issuer, constraint?}]`
 * (CCF 6's metadata_v2 table), replacing what the issuer had before.
 */
function setJwtKeys(tx: CallState["tx"], issuer: string, metadata: Record<string, unknown>, jwks: { keys?: Jwk[] }): void {
  if (!Array.isArray(jwks.keys)) throw new TypeError("jwks must be an object with a keys array");
  removeJwtKeys(tx, issuer);
  const table = tx.map(Tables.jwtPublicSigningKeys);
  for (const jwk of jwks.keys) {
    if (typeof jwk.kid !== "string") throw new TypeError("every JWK needs a kid");
    // The issuer constraint a token's iss must meet: the issuer's own unless its metadata names one.
    const entry = { public_key: spkiBase64(jwk), issuer, constraint: metadata["constraint"] ?? issuer };
    const existing = table.get(Buffer.from(jwk.kid));
    const entries = existing === undefined ? [] : (JSON.parse(existing.toString("utf8")) as unknown[]);
    table.set(Buffer.from(jwk.kid), Buffer.from(JSON.stringify([...entries, entry])));
  }
}

function removeJwtKeys(tx: CallState["tx"], issuer: string): void {
  const table = tx.map(Tables.jwtPublicSigningKeys);
  const updates: Array<[Buffer, unknown[]]> = [];
  table.forEach((value, kid) => {
    const entries = JSON.parse(value.toString("utf8")) as Array<{ issuer?: string }>;
    const kept = entries.filter((entry) => entry.issuer !== issuer);
    if (kept.length !== entries.length) updates.push([Buffer.from(kid), kept]);
  });
  for (const [kid, kept] of updates) {
    if (kept.length === 0) table.delete(kid);
    else table.set(kid, Buffer.from(JSON.stringify(kept)));
  }
}

/** The key of a JWK as base64 SPKI DER: from its certificate (x5c) if it has one, else from its parameters. */
function spkiBase64(jwk: Jwk): string {
  if (Array.isArray(jwk.x5c) && typeof jwk.x5c[0] === "string") {
    const cert = new X509Certificate(Buffer.from(jwk.x5c[0], "base64"));
    return cert.publicKey.export({ type: "spki", format: "der" }).toString("base64");
  }
  return createPublicKey({ key: jwk as never, format: "jwk" }).export({ type: "spki", format: "der" }).toString("base64");
}


/** valid_from as CCF proposals give it: an ASN.1 time ("20241231235959Z", "241231235959Z") or an ISO 8601 date. */
function parseValidFrom(text: string): Date {
  const asn1 = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  const date = asn1
    ? new Date(Date.UTC(asn1[1]!.length === 2 ? 2000 + Number(asn1[1]) : Number(asn1[1]), Number(asn1[2]) - 1, Number(asn1[3]), Number(asn1[4]), Number(asn1[5]), Number(asn1[6])))
    : new Date(text);
  if (Number.isNaN(date.getTime())) throw new TypeError(`valid_from ${JSON.stringify(text)} is not a date (expected e.g. "20241231235959Z")`);
  return date;
}
