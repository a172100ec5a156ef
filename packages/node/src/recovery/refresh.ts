// Keeps the recovery shares issued for the service as it is now: after any
// governance change (a member activated or removed, an encryption key or
// recovery role changed, the threshold set) and after a rekey, the primary
// issues new shares of a new wrapping key in a transaction of their own. The
// Shamir split is asynchronous, so the shares are prepared first and written
// only if what they were prepared for is still current.
import type { History } from "../history/history.ts";
import type { Tx } from "../kv/tx.ts";
import type { Log } from "../log.ts";
import { readJson } from "../governance/operations.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { LedgerSecret } from "../crypto/ledger-secret.ts";
import { trustedNodes } from "../consensus/membership.ts";
import { prepareRecoveryShares, type SecretToWrap, readRecoveryShares, recoveryMembers, recoveryThreshold, sharesAreCurrent, sharesIssuedFor, writeRecoveryShares } from "./shares.ts";

/** Statuses in which the shares on record are those the members are recovering with: they stay. */
const RECOVERY_STATUSES = new Set(["Recovering", "WaitingForRecoveryShares"]);

export function serviceStatus(tx: Tx): string | undefined {
  return readJson<{ status?: string }>(tx, Tables.serviceInfo, SENTINEL_KEY)?.status;
}

/**
 * Prepares shares for the service's current recovery members and every ledger secret, then
 * commits them with `alsoWrite`'s writes; prepares again if the members changed meanwhile.
 */
export async function issueRecoveryShares(history: History, alsoWrite: (tx: Tx) => void = () => {}, rekeyTo?: LedgerSecret): Promise<void> {
  for (;;) {
    const secrets: SecretToWrap[] = [...history.ledgerSecrets.all(), ...(rekeyTo ? [{ version: null, secret: rekeyTo }] : [])];
    const prepared = await prepareRecoveryShares(history.store.beginReadOnly(), secrets);
    const tx = history.begin();
    try {
      const issuedFor = sharesIssuedFor(recoveryMembers(tx), recoveryThreshold(tx), secrets.length);
      if (prepared.issued_for !== issuedFor) continue;
      alsoWrite(tx);
      writeRecoveryShares(tx, prepared);
      history.commit(tx, rekeyTo ? { rekeyTo } : {});
      return;
    } finally {
      if (tx.isOpen) tx.abort();
    }
  }
}

type Job = "check" | "refresh" | "rekey";

/**
 * Keeps the shares current on the primary, one issuance at a time: `check` issues new shares if
 * they no longer match the service; `refresh` always does (trigger_recovery_shares_refresh);
 * `rekey` starts a new ledger secret, recorded with shares covering it (trigger_ledger_rekey).
 */
export class RecoverySharesKeeper {
  private running: Promise<void> | undefined;
  private readonly queued = new Set<Job>();

  constructor(
    private readonly history: History,
    private readonly log: Log,
  ) {}

  /** Call after a governance transaction commits. */
  check(): void {
    this.schedule("check");
  }

  refresh(): void {
    this.schedule("refresh");
  }

  rekey(): void {
    this.schedule("rekey");
  }

  /** Settles once nothing is queued or running (tests, and a clean close). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private schedule(job: Job): void {
    this.queued.add(job);
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      // A rekey's shares are new shares; fresh shares make a check moot.
      const job: Job | undefined = this.queued.has("rekey") ? "rekey" : this.queued.has("refresh") ? "refresh" : this.queued.has("check") ? "check" : undefined;
      if (job === undefined) return;
      if (job === "rekey") this.queued.delete("rekey");
      if (job !== "check") this.queued.delete("refresh");
      this.queued.delete("check");
      try {
        await this.run(job);
      } catch (error) {
        this.log.error(`cannot issue recovery shares: ${(error as Error).message}`);
      }
    }
  }

  private async run(job: Job): Promise<void> {
    if (this.history.currentRole !== "primary") return;
    const tx = this.history.store.beginReadOnly();
    if (RECOVERY_STATUSES.has(serviceStatus(tx) ?? "")) return;
    if (job === "check" && sharesAreCurrent(tx, this.history.ledgerSecrets.all().length)) return;
    if (job === "rekey") {
      const trusted = trustedNodes(this.history.store).length;
      if (trusted > 1) {
        this.log.warn(`ledger rekey skipped: handing a new ledger secret to the other ${trusted - 1} nodes is not built yet`);
        return;
      }
      await issueRecoveryShares(this.history, () => {}, LedgerSecret.generate());
      this.log.info(`ledger rekeyed: a new ledger secret from seqno ${this.history.ledgerSecrets.latest.version}`);
    } else {
      await issueRecoveryShares(this.history);
    }
    const members = Object.keys(readRecoveryShares(this.history.store.beginReadOnly())?.encrypted_shares ?? {}).length;
    this.log.info(members === 0 ? "no active recovery members: this service cannot be recovered if all its nodes are lost" : `recovery shares issued to ${members} members`);
  }
}
