// Wires a node: its identity and secrets, the history (store, ledger, Merkle
// tree, signatures) replayed from its ledger directory, and, for a serving
// node, the genesis of a new service, the frontend and the HTTPS server.
import { randomInt } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { NodeChannels } from "./consensus/channels.ts";
import { ConsensusDriver } from "./consensus/driver.ts";
import { rpcAddressOf, sameNodes, trustedNodes } from "./consensus/membership.ts";
import { Forwarder } from "./http/forwarding.ts";
import type { RaftOptions } from "./consensus/raft.ts";
import { hasIdentity, joinAndWriteIdentity, ledgerSecretsForJoiner, type JoinTarget, type JoinedService } from "./network/join-identity.ts";
import type { Clock } from "./clock.ts";
import type { CommitSource } from "./history/pipeline.ts";
import type { SubjectAltName } from "./crypto/certs.ts";
import { defaultConstitution } from "@confide/governance";
import { openService, writeGenesis, type InitialMember, type InitialUser } from "./genesis.ts";
import { Constitution } from "./governance/constitution.ts";
import { govRouter } from "./governance/endpoints.ts";
import { HistoricalStates } from "./runtime/historical.ts";
import { History, type HistoryOptions, type HistoryRole } from "./history/history.ts";
import { Frontend } from "./http/frontend.ts";
import { startHttpsServer, type RunningServer } from "./http/server.ts";
import { createRecoveryIdentity, loadOrCreateIdentity, type NodeIdentity } from "./identity.ts";
import { LedgerSecrets } from "./crypto/ledger-secrets.ts";
import { NodeEncryptionKey } from "./crypto/node-encryption-key.ts";
import { idKey, Tables } from "./tables.ts";
import { listChunks } from "./ledger/chunk-files.ts";
import { FileLedgerStorage } from "./ledger/storage.ts";
import { SILENT_LOG, type Log } from "./log.ts";
import { writeAppTables, type Bundle } from "./runtime/bundle.ts";
import { joinRouter } from "./network/join.ts";
import { fetchLatestSnapshot, snapshotRouter } from "./network/snapshot-transfer.ts";
import { certId } from "./crypto/keys.ts";
import { endorsePreviousIdentity, previousServiceIdentities, recoveryRouter, ServiceRecovery, writeRecoveryStart } from "./recovery/recovery.ts";
import { RecoverySharesKeeper } from "./recovery/refresh.ts";
import { ledgerSecretHandedTo, rekeyRecipients } from "./recovery/rekey.ts";
import { formatHostPort, parseHostPort } from "./address.ts";

export interface NodeOptions {
  /** Directory holding the node's identity files (and ledger/, snapshots/ unless placed elsewhere). */
  dir: string;
  ledgerDir?: string;
  snapshotsDir?: string;
  subjectAltNames?: SubjectAltName[];
  signatureIntervalTx?: number;
  signatureIntervalMs?: number;
  chunkBytes?: number;
  merkleLeavesInMemory?: number;
  snapshotIntervalTx?: number;
  log?: (message: string) => void;
  /** Time and timers: the system clock unless a simulation passes its own. */
  clock?: Clock;
  /** What commits a durable signature: the node's own fsync unless given (consensus). */
  commitSource?: CommitSource;
  /** A backup appends what its primary replicates until consensus makes it primary; a node starts as primary unless told. */
  startAs?: HistoryRole;
  /** Part of a multi-node service: node-to-node channels and consensus (none: a node alone, committing on its own fsync). */
  network?: NetworkOptions;
  /**
   * The service's ledger secrets, which no file holds: a joiner's come with its join; a node
   * restarted within one process may be handed its own. Absent: a new service makes its first
   * (an empty ledger), a recovering node its next; any other ledger cannot be read.
   */
  ledgerSecrets?: LedgerSecrets;
  /** A recovered service's earlier identities, which a joiner is handed with its secrets (their nodes signed older entries and snapshots). */
  previousServiceIdentities?: string[];
  /** Disaster recovery (CCF's command.type "Recover"): the ledger is of a lost service; members restore it with their shares. */
  recover?: boolean;
}

/** CCF's network.node_to_node_interface, command.join and consensus settings. */
export interface NetworkOptions {
  /** Where node-to-node channels listen ("host:port"; port 0 picks one, except for a joiner, whose address goes into its join request). */
  nodeToNodeAddress: string;
  /** Join the service this node reaches there (CCF's command.type "Join"); absent: start a new service (or restart a one-node one). */
  join?: JoinTarget;
  /** Election and heartbeat timeouts (CCF's consensus.election_timeout and message_timeout). */
  consensus?: Partial<Pick<RaftOptions, "electionTimeoutMs" | "messageTimeoutMs">>;
}

export interface NodeCore {
  identity: NodeIdentity;
  /** Made at this start, in memory only: a rekey seals the new ledger secret to it. */
  encryptionKey: NodeEncryptionKey;
  history: History;
  ledgerDir: string;
  close(): Promise<void>;
}

/** A ledger this node holds no secrets for, and was not told to recover. */
export class LedgerSecretsMissingError extends Error {}

export async function startNodeCore(
  options: NodeOptions,
  hooks: { identity?: NodeIdentity; encryptionKey?: NodeEncryptionKey; onAppended?: HistoryOptions["onAppended"] } = {},
): Promise<NodeCore> {
  mkdirSync(options.dir, { recursive: true });
  const ledgerDir = options.ledgerDir ?? join(options.dir, "ledger");
  const secrets = options.ledgerSecrets ?? (options.recover ? new LedgerSecrets([]) : newServiceSecrets(ledgerDir));
  const identity = hooks.identity ?? (options.recover ? await createRecoveryIdentity(options.dir, options.subjectAltNames) : await loadOrCreateIdentity(options.dir, options.subjectAltNames));
  const encryptionKey = hooks.encryptionKey ?? NodeEncryptionKey.generate();
  const historyOptions: HistoryOptions = {
    // A rekey's transaction seals the new secret to each trusted node: this node's part is ours to open.
    rekeyedBy: (writes) => ledgerSecretHandedTo(writes, identity.nodeId, encryptionKey),
    ledgerDir,
    secrets,
    ...(options.recover ? { recovering: true } : {}),
    serviceCertPem: identity.serviceCertPem,
    ...(options.previousServiceIdentities ? { previousServiceCertPems: options.previousServiceIdentities } : {}),
    serviceKey: { privateKeyPem: identity.servicePrivateKeyPem },
    snapshotsDir: snapshotsDirOf(options),
    viewFile: join(options.dir, "view"),
    signer: { nodeId: identity.nodeId, certPem: identity.nodeCertPem, privateKeyPem: identity.nodePrivateKeyPem },
    ...(hooks.onAppended ? { onAppended: hooks.onAppended } : {}),
  };
  for (const key of ["signatureIntervalTx", "signatureIntervalMs", "chunkBytes", "merkleLeavesInMemory", "snapshotIntervalTx", "log", "clock", "commitSource", "startAs"] as const) {
    if (options[key] !== undefined) Object.assign(historyOptions, { [key]: options[key] });
  }
  const history = await History.open(historyOptions);
  return { identity, encryptionKey, history, ledgerDir, close: () => history.close() };
}

function snapshotsDirOf(options: Pick<NodeOptions, "dir" | "snapshotsDir">): string {
  return options.snapshotsDir ?? join(options.dir, "snapshots");
}

/** CCF's join.fetch_recent_snapshot: the target's latest committed snapshot, checked, into this node's snapshots directory. */
async function fetchJoinSnapshot(target: JoinTarget, snapshotsDir: string, log: Log): Promise<void> {
  mkdirSync(snapshotsDir, { recursive: true });
  try {
    const fetched = await fetchLatestSnapshot({ targetRpcAddress: target.targetRpcAddress, serviceCertPem: target.serviceCertPem }, snapshotsDir);
    if (fetched) log.info(`join: fetched snapshot ${fetched.name} from ${target.targetRpcAddress}: replicating only the ledger after seqno ${fetched.seqno}`);
    else log.info(`join: ${target.targetRpcAddress} has no committed snapshot: replicating the whole ledger`);
  } catch (error) {
    // Refused, not kept: the node starts from what it verified itself (a local snapshot, or the ledger from seqno 1).
    log.error(`join: ${(error as Error).message}`);
  }
}

/** The first ledger secret of a new service; refuses a ledger that already has entries (its secrets are not on disk). */
function newServiceSecrets(ledgerDir: string): LedgerSecrets {
  if (existsSync(ledgerDir) && listChunks(new FileLedgerStorage(ledgerDir)).length > 0) {
    throw new LedgerSecretsMissingError(
      `${ledgerDir} holds the ledger of a service, but this node holds none of its ledger secrets (they are never written to disk), so it cannot restart from it. If the service still runs on other nodes, retire this one (remove_node) and join a new node with a fresh workspace; if every node of it is lost, recover it: start a node with command.type "Recover" on this ledger and have the members submit their recovery shares; for a new service, use an empty ledger directory`,
    );
  }
  return LedgerSecrets.first();
}

/** A network node's consensus, started over its history: a new service's node elects itself; a joiner waits for its primary. */
async function startNetworkCore(options: NodeOptions & { network: NetworkOptions }, rpcAddress: string, log: Log): Promise<{ core: NodeCore; consensus: ConsensusDriver; joined: boolean }> {
  const { network } = options;
  let joined: JoinedService | undefined;
  const encryptionKey = NodeEncryptionKey.generate();
  if (network.join !== undefined) {
    if (hasIdentity(options.dir)) {
      throw new Error(
        `${options.dir} holds a node that joined its service before: its ledger secrets were never written to disk, so it cannot restart; as in CCF, retire it (remove_node) and join a new node with a fresh workspace`,
      );
    }
    if (network.join.fetchRecentSnapshot !== false) await fetchJoinSnapshot(network.join, snapshotsDirOf(options), log);
    joined = await joinAndWriteIdentity(options.dir, network.join, {
      rpcAddress,
      nodeToNodeAddress: network.nodeToNodeAddress,
      encryptionPublicKeyPem: encryptionKey.publicKeyPem,
      log: (message) => log.info(message),
      ...(options.subjectAltNames ? { subjectAltNames: options.subjectAltNames } : {}),
    });
  }
  mkdirSync(options.dir, { recursive: true });
  const identity = options.recover ? await createRecoveryIdentity(options.dir, options.subjectAltNames) : await loadOrCreateIdentity(options.dir, options.subjectAltNames);
  const channels = await NodeChannels.listen({ identity, listenAddress: network.nodeToNodeAddress, log, ...(options.clock ? { clock: options.clock } : {}) });
  const consensus = new ConsensusDriver({
    self: identity.nodeId,
    transport: channels,
    listenAddress: channels.address,
    stateFile: join(options.dir, "consensus.json"),
    seed: randomInt(2 ** 31),
    log,
    ...(network.consensus ? { options: network.consensus } : {}),
    ...(joined ? { knownAddresses: joined.nodes } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  let core: NodeCore;
  try {
    core = await startNodeCore(
      { ...options, startAs: "backup", commitSource: consensus, ...(joined ? { ledgerSecrets: joined.secrets, previousServiceIdentities: joined.previousServiceIdentities } : {}) },
      { identity, encryptionKey, onAppended: consensus.appended },
    );
  } catch (error) {
    await consensus.close();
    throw error;
  }
  const { history } = core;
  // A recovering node is its service's only node: the old ones are retired by its first transaction.
  const trusted = options.recover ? [identity.nodeId] : trustedNodes(history.store);
  // A joiner that installed a snapshot holds no ledger entry yet: it is starting, not restarting.
  if (history.holdsLedgerEntries && !sameNodes(trusted, [identity.nodeId])) {
    // As CCF: a node of a multi-node service does not restart from its own ledger (its unsigned
    // suffix may have been acknowledged, or rolled back by the others); it is replaced.
    await consensus.close();
    await core.close();
    throw new Error(
      `node ${identity.nodeId.slice(0, 16)}… has a ledger of a service with ${trusted.length} trusted nodes: a node of a multi-node service cannot restart; retire it (remove_node) and join a new node with a fresh workspace`,
    );
  }
  if (joined) {
    const configuration = [...joined.nodes.keys()].filter((id) => id !== identity.nodeId);
    if (configuration.length === 0) throw new Error("the join response named no trusted node to replicate from");
    // From a snapshot, the log starts after it, in the configuration its state holds; else empty.
    if (history.lastSeqno > 0) consensus.start(history, { configuration: trusted, fromHistory: true });
    else consensus.start(history, { configuration, fromHistory: false });
  } else {
    consensus.start(history, { configuration: trusted.length > 0 ? trusted : [identity.nodeId], fromHistory: true });
    await consensus.campaign();
  }
  return { core: { ...core, close: async () => { await consensus.close(); await core.close(); } }, consensus, joined: joined !== undefined };
}

export interface ServingNodeOptions extends Omit<NodeOptions, "log"> {
  /** Address to listen on (CCF's rpc_interfaces bind_address); port 0 picks a free port. */
  host?: string;
  port?: number;
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  /** Serve HTTP/2 (and HTTP/1.1 for clients that do not offer h2), as CCF's app_protocol "HTTP2". */
  http2?: boolean;
  /** A new service's initial members and (until governance adds them) users. */
  members?: InitialMember[];
  users?: InitialUser[];
  serviceData?: unknown;
  /** The constitution's source for a new service; the default constitution (governance/) if absent. */
  constitution?: string;
  /** Dev shortcut: deploy this bundle directly and open the service, without proposals. */
  appBundle?: Bundle;
  log?: Log;
}

/**
 * A node's part in its service, as CCF's consensus names them: the primary orders and signs
 * transactions, backups replicate them, a candidate is asking to become primary. A node alone
 * in its service is its primary.
 */
export type NodeRole = "primary" | "backup" | "candidate";

/** A running node: its history, frontend and HTTPS server, and its role in the service. */
export class ServingNode {
  private constructor(
    readonly core: NodeCore,
    readonly frontend: Frontend,
    readonly server: RunningServer,
    /** Consensus, for a node of a multi-node service (none: a node alone, its own primary). */
    readonly consensus: ConsensusDriver | undefined,
    private readonly forwarder: Forwarder | undefined,
  ) {}

  /** The node's part in its service now. */
  get role(): NodeRole {
    const role = this.consensus?.role ?? "primary";
    return role === "retired" ? "backup" : role;
  }

  /** Starts a node from its directory (a new service if its ledger is empty, unless it joins one). */
  static async start(options: ServingNodeOptions): Promise<ServingNode> {
    const log = options.log ?? SILENT_LOG;
    const host = options.host ?? "127.0.0.1";
    const port = options.port ?? DEFAULT_RPC_PORT;
    let rpcAddress = formatHostPort({ host, port });
    const network = options.network;
    if (network?.join !== undefined && (port === 0 || parseHostPort(network.nodeToNodeAddress)?.port === 0)) {
      throw new Error("a joining node needs fixed ports: its RPC and node-to-node addresses go into its join request");
    }
    const coreOptions = { ...options, log: (message: string) => log.warn(message) };
    const started = network ? await startNetworkCore({ ...coreOptions, network }, rpcAddress, log) : { core: await startNodeCore(coreOptions), consensus: undefined, joined: false };
    const { core, consensus } = started;
    const { identity, history } = core;
    const forwarder = consensus ? forwarderOf(consensus, core) : undefined;
    // The old ledger ends just before the seqno of the recovering node's new secret.
    const recovery = options.recover ? new ServiceRecovery(history, history.ledgerSecrets.latest.version - 1, log) : undefined;
    const frontend = serviceFrontend(core, log, () => rpcAddress, { ...(consensus && forwarder ? { consensus, forwarder } : {}), ...(recovery ? { recovery } : {}) });
    let server: RunningServer;
    try {
      server = await startHttpsServer((request) => frontend.handle(request), {
        host,
        port,
        certPem: identity.nodeCertPem,
        keyPem: identity.nodePrivateKeyPem,
        log,
        ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
        ...(options.maxHeaderBytes !== undefined ? { maxHeaderBytes: options.maxHeaderBytes } : {}),
        ...(options.http2 ? { http2: true } : {}),
      });
    } catch (error) {
      forwarder?.close();
      await core.close();
      throw error;
    }
    rpcAddress = server.address;
    if (recovery) await startRecovery(core, rpcAddress, log, consensus?.listenAddress);
    else if (!started.joined) await createOrOpenService(core, options, rpcAddress, log, consensus?.listenAddress);
    await frontend.prepare();
    return new ServingNode(core, frontend, server, consensus, forwarder);
  }

  /** https://host:port */
  get url(): string {
    return `https://${this.server.address}`;
  }

  async close(): Promise<void> {
    await this.server.close();
    this.forwarder?.close();
    await this.core.close();
  }
}


/**
 * The frontend of a node's service: the app, the built-in endpoints, governance, recovery and
 * /node/join. After every governance transaction the recovery shares are brought up to date.
 */
export function serviceFrontend(
  core: NodeCore,
  log: Log,
  rpcAddress: () => string,
  network: { consensus?: ConsensusDriver; forwarder?: Forwarder; recovery?: ServiceRecovery } = {},
): Frontend {
  const { identity, history } = core;
  const historical = new HistoricalStates(history, (message) => log.warn(message));
  const shares = new RecoverySharesKeeper(history, log);
  const constitution = new Constitution({
    history,
    historical,
    serviceCertPem: identity.serviceCertPem,
    servicePrivateKeyPem: identity.servicePrivateKeyPem,
    log,
    node: { refreshRecoveryShares: () => shares.refresh(), checkLedgerRekey: (tx) => void rekeyRecipients(tx), rekeyLedger: () => shares.rekey() },
  });
  const onGovCommit = () => {
    shares.check();
    void frontend.prepare().catch((error: Error) => log.error(`cannot load the app: ${error.message}`));
  };
  const govOptions = { history, constitution, onCommit: onGovCommit };
  const frontend: Frontend = new Frontend({
    history,
    historical,
    log,
    nodeId: identity.nodeId,
    serviceCertPem: identity.serviceCertPem,
    nodeCertPem: identity.nodeCertPem,
    rpcAddress,
    ...(network.consensus ? { consensus: network.consensus } : {}),
    ...(network.forwarder ? { forwarder: network.forwarder } : {}),
    ...(network.recovery ? { appOpen: () => network.recovery!.isOpen } : {}),
    // A deployment by proposal loads the new app right after it commits, not on its first request.
    routers: [
      snapshotRouter(history),
      joinRouter({
        history,
        secrets: () => ({
          service_certificate: identity.serviceCertPem,
          service_private_key: identity.servicePrivateKeyPem,
          ledger_secrets: ledgerSecretsForJoiner(history.ledgerSecrets),
          previous_service_identities: previousServiceIdentities(history.store.beginReadOnly()),
        }),
      }),
      govRouter(govOptions),
      recoveryRouter({ ...govOptions, ...(network.recovery ? { recovery: network.recovery } : {}) }),
    ],
  });
  return frontend;
}

/**
 * A new service's genesis if the ledger is empty, and the dev shortcut's deployment: both
 * committed before the node serves, so clients who poll /commit see them.
 */
export async function createOrOpenService(
  core: NodeCore,
  options: Pick<ServingNodeOptions, "members" | "users" | "serviceData" | "constitution" | "appBundle">,
  rpcAddress: string,
  log: Log,
  nodeToNodeAddress?: string,
): Promise<void> {
  const { identity, history } = core;
  if (history.lastSeqno === 0) {
    const tx = history.begin();
    writeGenesis(tx, {
      ...ownNodeRecord(core, rpcAddress, nodeToNodeAddress),
      members: options.members ?? [],
      users: options.users ?? [],
      serviceData: options.serviceData,
      constitution: options.constitution ?? defaultConstitution(),
    });
    history.commit(tx);
    log.info(`Created a new service on node ${identity.nodeId.slice(0, 16)}…: genesis at ${history.view}.${history.lastSeqno}`);
  } else {
    recordOwnEncryptionKey(core);
  }
  if (options.appBundle !== undefined) {
    const tx = history.begin();
    writeAppTables(tx, options.appBundle);
    openService(tx);
    history.commit(tx);
    log.info("Deployed the app bundle given at start (dev mode) and opened the service");
  }
  // Make genesis and the dev deployment committed, and the app loaded, before clients who poll /commit are served.
  if (history.lastSeqno > history.lastCommitted.seqno) await history.waitForCommit(history.emitSignature());
}

/**
 * A restarted node's encryption key is new (it is never written to disk): its record in the node
 * table is brought up to date, so that a later rekey seals the new secret to a key it holds.
 */
function recordOwnEncryptionKey(core: NodeCore): void {
  const { identity, history, encryptionKey } = core;
  const tx = history.begin();
  const nodes = tx.map(Tables.nodesInfo);
  const stored = nodes.get(idKey(identity.nodeId));
  const info = stored === undefined ? undefined : (JSON.parse(stored.toString("utf8")) as { encryption_pub_key?: string });
  if (info === undefined || info.encryption_pub_key === encryptionKey.publicKeyPem) {
    tx.abort();
    return;
  }
  nodes.set(idKey(identity.nodeId), Buffer.from(JSON.stringify({ ...info, encryption_pub_key: encryptionKey.publicKeyPem })));
  history.commit(tx);
}

/** What a service's first transaction (genesis, or a recovery's start) records of this node. */
function ownNodeRecord(core: NodeCore, rpcAddress: string, nodeToNodeAddress: string | undefined) {
  const { identity } = core;
  return {
    serviceCertPem: identity.serviceCertPem,
    nodeId: identity.nodeId,
    nodeCertPem: identity.nodeCertPem,
    rpcAddress,
    ...(nodeToNodeAddress ? { nodeToNodeAddress } : {}),
    nodeEncryptionPublicKeyPem: core.encryptionKey.publicKeyPem,
  };
}

/**
 * A recovering node's first transaction (a new identity, status Recovering, the old nodes retired),
 * committed before it serves, so members can propose transition_service_to_open at once.
 */
async function startRecovery(core: NodeCore, rpcAddress: string, log: Log, nodeToNodeAddress?: string): Promise<void> {
  const { identity, history } = core;
  const previousIdentityEndorsementPem = await endorsePreviousIdentity(history.store.beginReadOnly(), identity);
  const tx = history.begin();
  const previous = writeRecoveryStart(tx, { previousIdentityEndorsementPem, ...ownNodeRecord(core, rpcAddress, nodeToNodeAddress) });
  history.commit(tx);
  await history.waitForCommit(history.emitSignature());
  log.info(
    `Recovering a service from its ledger (public state replayed to seqno ${history.ledgerSecrets.latest.version - 1}, previous identity ${certId(previous).slice(0, 16)}…): members open it with transition_service_to_open, then submit their recovery shares`,
  );
}

export const DEFAULT_RPC_PORT = 8000;

/** Sends writes reaching this backup to the primary consensus knows, at the address the node table gives it. */
function forwarderOf(consensus: ConsensusDriver, core: NodeCore): Forwarder {
  const { identity, history } = core;
  return new Forwarder({
    primaryRpcAddress: () => {
      const primary = consensus.primaryId;
      return primary === undefined ? undefined : rpcAddressOf(history.store, primary);
    },
    serviceCertPem: identity.serviceCertPem,
    nodeCertPem: identity.nodeCertPem,
    nodePrivateKeyPem: identity.nodePrivateKeyPem,
  });
}

/** Starts a node from its directory (a new service if its ledger is empty). */
export function startNode(options: ServingNodeOptions): Promise<ServingNode> {
  return ServingNode.start(options);
}
