// The ledger secrets of a service, versioned by seqno as CCF's are: each
// secret encrypts the entries from its version (the first seqno it covers) up
// to the next secret's. A rekey adds a newer one; older entries stay readable
// with theirs. A recovering node knows only the secret of its new entries until
// the members' shares give back the older ones.
import { LedgerSecret } from "./ledger-secret.ts";

export interface LedgerSecretVersion {
  /** The first seqno this secret encrypts. */
  version: number;
  secret: LedgerSecret;
}

export class MissingLedgerSecretError extends Error {}

export class LedgerSecrets {
  private readonly versions: LedgerSecretVersion[] = [];

  constructor(versions: LedgerSecretVersion[]) {
    for (const version of versions) this.add(version.version, version.secret);
  }

  /** A new service's first secret, covering every seqno from 1. */
  static first(secret: LedgerSecret = LedgerSecret.generate()): LedgerSecrets {
    return new LedgerSecrets([{ version: 1, secret }]);
  }

  /** Adds the secret that encrypts entries from `version` on; versions are added in order. */
  add(version: number, secret: LedgerSecret): void {
    const last = this.versions.at(-1);
    if (!Number.isSafeInteger(version) || version < 1) throw new RangeError(`a ledger secret's version is a seqno, not ${version}`);
    if (last !== undefined && version <= last.version) throw new RangeError(`ledger secret version ${version} is not after the latest, ${last.version}`);
    this.versions.push({ version, secret });
  }

  /** Adds older secrets (those the recovery shares give back) below the known ones. */
  addOlder(older: LedgerSecretVersion[]): void {
    const first = this.versions[0]?.version ?? Infinity;
    const kept = older.filter((v) => v.version < first).sort((a, b) => a.version - b.version);
    this.versions.unshift(...kept);
  }

  /** The secret of the entry at `seqno`, or undefined if this node does not hold it (a recovering node). */
  find(seqno: number): LedgerSecret | undefined {
    for (let i = this.versions.length - 1; i >= 0; i--) {
      const version = this.versions[i]!;
      if (version.version <= seqno) return version.secret;
    }
    return undefined;
  }

  /** The secret of the entry at `seqno`. */
  at(seqno: number): LedgerSecret {
    const secret = this.find(seqno);
    if (secret === undefined) throw new MissingLedgerSecretError(`no ledger secret for seqno ${seqno}: the service is recovering (its older secrets come back with the members' recovery shares)`);
    return secret;
  }

  get latest(): LedgerSecretVersion {
    const latest = this.versions.at(-1);
    if (latest === undefined) throw new MissingLedgerSecretError("no ledger secret");
    return latest;
  }

  /** The seqno from which this node holds every secret (1 unless recovering). */
  get heldFrom(): number {
    return this.versions[0]?.version ?? Infinity;
  }

  all(): readonly LedgerSecretVersion[] {
    return this.versions;
  }
}
