// Disaster recovery of a service from the ledger of a lost one, CCF's way. A
// node started with command.type "Recover" replays the old ledger's public
// domain (its private domain is sealed with ledger secrets no node holds any
// more), makes a new service identity and records the start of recovery:
// status "Recovering", the previous identity, its own node as the only trusted
// one. Members then accept transition_service_to_open with both identities
// (status "WaitingForRecoveryShares") and each submits its recovery share. At
// the threshold, the shares open the wrapped ledger secrets, every old entry is
// checked and its private writes restored, and the service opens with new
// shares covering every secret.
import { CcfError, ErrorCode } from "../errors.ts";
import { writeNodeInfo } from "../genesis.ts";
import { memberRequest } from "../governance/member-requests.ts";
import { readJson } from "../governance/operations.ts";
import { govRoutes, type GovEndpointsOptions } from "../governance/endpoints.ts";
import type { History } from "../history/history.ts";
import type { Builtin } from "../http/builtins.ts";
import { jsonResponse } from "../http/message.ts";
import { Router } from "../http/router.ts";
import type { Tx } from "../kv/tx.ts";
import type { Log } from "../log.ts";
import { idKey, SENTINEL_KEY, Tables } from "../tables.ts";
import { issueRecoveryShares, serviceStatus } from "./refresh.ts";
import { readRecoveryShares, restoreLedgerSecrets, shareDigest } from "./shares.ts";
import { appendServiceEndorsement } from "../history/service-endorsements.ts";
import { certPublicKeyPem, createServiceEndorsement } from "../crypto/certs.ts";

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

interface ServiceInfo {
  cert: string;
  status: string;
  recovery_count?: number;
  [field: string]: unknown;
}

/** The new service identity and node a recovery starts with. */
export interface RecoveringNode {
  serviceCertPem: string;
  nodeId: string;
  nodeCertPem: string;
  rpcAddress: string;
  nodeToNodeAddress?: string;
  /** The new identity's endorsement of the previous one (endorsePreviousIdentity). */
  previousIdentityEndorsementPem: string;
  /** The node's encryption key (PEM), to which a rekey seals the new ledger secret. */
  nodeEncryptionPublicKeyPem: string;
}

function serviceToRecover(tx: Tx): ServiceInfo {
  const info = readJson<ServiceInfo>(tx, Tables.serviceInfo, SENTINEL_KEY);
  if (info === undefined) throw new Error("the ledger holds no service (no public:ccf.gov.service.info): there is nothing to recover");
  return info;
}

/** The recovering identity's endorsement of the identity of the service whose ledger `tx` reads. */
export function endorsePreviousIdentity(tx: Tx, identity: { serviceCertPem: string; servicePrivateKeyPem: string }): Promise<string> {
  return createServiceEndorsement({ previousServiceCertPem: serviceToRecover(tx).cert, ...identity });
}

/**
 * The first transaction of a recovered service: its new identity, status "Recovering", the
 * previous identity, the old nodes retired and this one trusted. Returns the previous identity.
 */
export function writeRecoveryStart(tx: Tx, node: RecoveringNode): string {
  const info = serviceToRecover(tx);
  const previous = info.cert;
  if (certPublicKeyPem(node.previousIdentityEndorsementPem) !== certPublicKeyPem(previous)) throw new Error("the endorsement given is not of the previous service identity");
  tx.map(Tables.serviceInfo).set(SENTINEL_KEY, json({ ...info, cert: node.serviceCertPem, status: "Recovering" }));
  tx.map(Tables.previousServiceIdentity).set(SENTINEL_KEY, Buffer.from(previous));
  const earlier = readJson<string[]>(tx, Tables.previousServiceIdentities, SENTINEL_KEY) ?? [];
  tx.map(Tables.previousServiceIdentities).set(SENTINEL_KEY, json([...earlier, previous]));
  appendServiceEndorsement(tx, node.previousIdentityEndorsementPem);
  const nodes = tx.map(Tables.nodesInfo);
  const retired: Array<[Buffer, Record<string, unknown>]> = [];
  nodes.forEach((value, id) => {
    const record = JSON.parse(value.toString("utf8")) as Record<string, unknown>;
    if (record.status !== "Retired") retired.push([Buffer.from(id), { ...record, status: "Retired" }]);
  });
  for (const [id, record] of retired) nodes.set(id, json(record));
  writeNodeInfo(tx, node);
  clearSubmittedShares(tx);
  return previous;
}

/** Every earlier identity of the service whose ledger this is (oldest first). */
export function previousServiceIdentities(tx: Tx): string[] {
  return readJson<string[]>(tx, Tables.previousServiceIdentities, SENTINEL_KEY) ?? [];
}

function clearSubmittedShares(tx: Tx): void {
  const submitted = tx.map(Tables.encryptedSubmittedShares);
  const ids: Buffer[] = [];
  submitted.forEach((_, id) => ids.push(Buffer.from(id)));
  for (const id of ids) submitted.delete(id);
}

/** The share submissions of a recovering node, and the end of its recovery. */
export class ServiceRecovery {
  private restoring: Promise<void> | undefined;
  private opened = false;

  constructor(
    private readonly history: History,
    /** The last seqno of the old ledger: entries 1..it are restored with the members' shares. */
    private readonly oldLastSeqno: number,
    private readonly log: Log,
  ) {}

  /** True once the private state is restored and the service open: until then the app is not served. */
  get isOpen(): boolean {
    return this.opened;
  }

  /** True while the private state is being restored (CCF's is_reading_private_ledger). */
  get isRestoring(): boolean {
    return this.restoring !== undefined;
  }

  /** Records `share` from `memberId` in `tx`; returns CCF's response body. Refuses (CcfError) what it must. */
  submit(tx: Tx, memberId: string, share: Buffer): { message: string; submittedCount: number; recoveryThreshold: number; fullKeySubmitted: boolean } {
    const record = readRecoveryShares(tx);
    const digest = record?.share_digests[memberId];
    if (record === undefined || digest === undefined) {
      throw new CcfError(403, ErrorCode.AuthorizationFailed, `Member ${memberId} holds no recovery share of this ledger's secrets.`);
    }
    if (shareDigest(share) !== digest) throw new CcfError(400, ErrorCode.InvalidInput, `The submitted share is not the recovery share issued to member ${memberId}.`);
    const submitted = tx.map(Tables.encryptedSubmittedShares);
    if (submitted.has(idKey(memberId))) throw new CcfError(400, ErrorCode.InvalidInput, `Member ${memberId} has already submitted its recovery share.`);
    submitted.set(idKey(memberId), this.sealShare(share, memberId));
    const count = submitted.size;
    const fullKeySubmitted = share.length === 32;
    let message = fullKeySubmitted ? "Full recovery key successfully submitted" : `${count}/${record.threshold} recovery shares successfully submitted`;
    if (count >= record.threshold || fullKeySubmitted) {
      message += "\nEnd of recovery procedure initiated";
      tx.onCommit(() => this.finish());
    }
    return { message, submittedCount: count, recoveryThreshold: record.threshold, fullKeySubmitted };
  }

  /** Resolves once a restore that was started has ended (opened, or failed and reset). */
  async settled(): Promise<void> {
    while (this.restoring) await this.restoring;
  }

  // Submitted shares are public state: sealed with the new service's ledger secret, which only this node holds.
  private sealShare(share: Buffer, memberId: string): Buffer {
    return this.history.ledgerSecrets.at(this.oldLastSeqno + 1).seal(share, idKey(memberId));
  }

  private openShare(sealed: Buffer, memberId: string): Buffer {
    return this.history.ledgerSecrets.at(this.oldLastSeqno + 1).open(sealed, idKey(memberId));
  }

  private finish(): void {
    if (this.restoring) return;
    this.restoring = this.restore()
      .catch(async (error: Error) => {
        // As CCF: the submitted shares are cleared, so that members can start over.
        this.log.error(`recovery: cannot restore the private ledger: ${error.message}; submitted shares cleared`);
        const tx = this.history.begin();
        clearSubmittedShares(tx);
        this.history.commit(tx);
      })
      .finally(() => {
        this.restoring = undefined;
      });
  }

  private async restore(): Promise<void> {
    const readTx = this.history.store.beginReadOnly();
    const record = readRecoveryShares(readTx)!;
    const shares: Buffer[] = [];
    readTx.map(Tables.encryptedSubmittedShares).forEach((sealed, id) => shares.push(this.openShare(Buffer.from(sealed), id.toString("utf8"))));
    const secrets = this.history.ledgerSecrets;
    const recordSeqno = readTx.map(Tables.recoveryShares).getVersionOfPreviousWrite(SENTINEL_KEY)!;
    secrets.addOlder(await restoreLedgerSecrets(record, recordSeqno, shares));
    const restored = this.history.restorePrivateState(this.oldLastSeqno);
    this.log.info(`recovery: ${restored.entries} entries checked with the restored ledger secrets, ${restored.privateValues} private values restored`);
    // The new shares cover every secret, the new one too, before anything private is written with it.
    await issueRecoveryShares(this.history, (tx) => {
      const info = readJson<ServiceInfo>(tx, Tables.serviceInfo, SENTINEL_KEY)!;
      tx.map(Tables.serviceInfo).set(SENTINEL_KEY, json({ ...info, status: "Open", recovery_count: (info.recovery_count ?? 0) + 1 }));
      clearSubmittedShares(tx);
    });
    this.opened = true;
    this.log.info("recovery: the service is open");
  }
}

/** /gov/recovery: a member's encrypted share (any service), and share submission (a recovering one). */
export function recoveryRouter(options: GovEndpointsOptions & { recovery?: ServiceRecovery }): Router<Builtin> {
  const router = new Router<Builtin>();
  const routes = govRoutes(router, options, true);
  routes.read("/gov/recovery/encrypted-shares/{memberId}", "A recovery member's share, encrypted to its key", (tx, params) => {
    const memberId = params["memberId"]!;
    const encrypted = readRecoveryShares(tx)?.encrypted_shares[memberId];
    if (encrypted === undefined) throw new CcfError(404, ErrorCode.ResourceNotFound, `Recovery share not found for member ${memberId}.`);
    return jsonResponse(200, { memberId, encryptedShare: encrypted });
  });
  routes.write("/gov/recovery/members/{memberId}:recover", "Submit a recovery share (COSE Sign1, ccf.gov.msg.type recovery_share)", false, (tx, _runner, request, params) => {
    if (serviceStatus(tx) !== "WaitingForRecoveryShares" || options.recovery === undefined) {
      throw new CcfError(403, ErrorCode.ServiceNotWaitingForRecoveryShares, "Service is not waiting for recovery shares.");
    }
    if (options.recovery.isRestoring) throw new CcfError(403, ErrorCode.NodeAlreadyRecovering, "Node is already recovering private ledger.");
    const memberId = params["memberId"]!;
    const signed = memberRequest(tx, request, { type: "recovery_share", active: true });
    if (signed.memberId !== memberId) {
      throw new CcfError(400, ErrorCode.InvalidAuthenticationInfo, `Member ID from path parameter (${memberId}) does not match member ID from body signature (${signed.memberId}).`);
    }
    return jsonResponse(200, options.recovery.submit(tx, memberId, parseShare(signed.payload)));
  });
  return router;
}

function parseShare(payload: Buffer): Buffer {
  let body: unknown;
  try {
    body = JSON.parse(payload.toString("utf8"));
  } catch {
    throw new CcfError(400, ErrorCode.InvalidInput, "The recovery share payload is not JSON: expected {\"share\": <base64>}.");
  }
  const share = (body as { share?: unknown } | null)?.share;
  if (typeof share !== "string" || !/^[A-Za-z0-9+/]+={0,2}$/.test(share)) {
    throw new CcfError(400, ErrorCode.InvalidInput, "The recovery share payload needs \"share\": the decrypted share in base64.");
  }
  return Buffer.from(share, "base64");
}
