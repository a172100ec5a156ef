// `confide sandbox`: a whole consortium on this machine, as CCF's sandbox.sh
// starts one, with two services because CCF runs one app per service:
// "reconciliation" and "banking". Every node is its own `confide-node`
// process (service-nodes.ts), as an operator runs it, so a large ingest on
// one service never delays a request to the other and one runaway handler
// stalls one node only. This process makes the identities, starts the nodes,
// sets the services up over HTTPS as members and users would, serves the web
// console, and stops every node (SIGTERM, then SIGKILL) on Ctrl-C; a node that
// dies is reported, and the sandbox stops once a service has lost the
// majority of its nodes. A stopped sandbox comes back only by disaster
// recovery (--recover): its ledger secrets were never on disk.
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { IDENTITY_FILES, readBundle, type Bundle } from "@confide/node";
import { ConfideClient, laterTxId } from "../client.ts";
import type { Action } from "../governance.ts";
import type { Jwks } from "../jwt-issuer.ts";
import { PARTIES, RECONCILIATION_POLICY, RECONCILIATION_SCHEMA } from "./demo.ts";
import { startConsoleServer, type ConsoleServer } from "./console-server.ts";
import { loadOrCreateConsortium, type Consortium } from "./identities.ts";
import type { NodeProcess } from "./node-process.ts";
import { READY_PREFIX, readyText } from "./output.ts";
import { startDemoIdp, type DemoIdp } from "./idp.ts";
import { nodeDir, nodesOnDisk, roles, SANDBOX_CONSENSUS, SANDBOX_SIGNATURE_DELAY, startFirstNode, startJoiners, trustJoiners, type NodeHooks, type ServiceNode } from "./service-nodes.ts";
import { recoverService, setUpService } from "./setup.ts";
import {
  IDP_DIR,
  KEYS_DIR,
  SERVICE_NAMES,
  clearWorkspace,
  hasLedger,
  lockWorkspace,
  serviceCertFile,
  serviceDir,
  writeDescription,
  type SandboxDescription,
  type ServiceName,
} from "./workspace.ts";

/** The repository this package lives in: the default workspace and app bundles are found from it. */
export const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export const DEFAULT_WORKSPACE = join(REPO_ROOT, "workspace");
export const DEFAULT_PORT = 8000;
/** --nodes: at most this many nodes per service, each a process of its own (about 100 MB each, on one machine). */
export const SANDBOX_NODES_MAX = 7;
export const DEFAULT_BUNDLES: Record<ServiceName, string> = {
  reconciliation: join(REPO_ROOT, "apps", "reconciliation", "dist", "bundle.json"),
  banking: join(REPO_ROOT, "apps", "banking", "dist", "bundle.json"),
};
/** The built web console (npm run build -w @confide/console). */
export const DEFAULT_CONSOLE_DIR = join(REPO_ROOT, "packages", "console", "dist");
const APP_PACKAGES: Record<ServiceName, string> = { reconciliation: "@confide/app-reconciliation", banking: "@confide/app-banking" };

export interface SandboxOptions {
  workspace: string;
  fresh: boolean;
  /** Nodes per service (default 1): the first starts the service, the others join it by proposal. */
  nodes?: number;
  /** The reconciliation service's port (its node 0); 0 picks a free one. */
  port: number;
  /** The banking service's port (its node 0); 0 picks a free one. */
  bankingPort: number;
  /** The web console's port; 0 picks a free one. */
  consolePort: number;
  /** The demo identity provider's port; 0 (the default) picks a free one. */
  idpPort?: number;
  /** The built console it serves (DEFAULT_CONSOLE_DIR unless a test says otherwise). */
  consoleDir?: string;
  usersPerBank: number;
  bundles: Record<ServiceName, string>;
  /** Where paths in the printed lines are relative to. */
  displayCwd: string;
  out: (line: string) => void;
  err: (line: string) => void;
  /** Ctrl-C during start-up: stop between steps and close what was started. */
  signal?: AbortSignal;
  /**
   * Disaster recovery of a stopped (or killed) sandbox: each service comes back from its node 0's
   * ledger, opened by the banks and two of them submitting their recovery shares; with --nodes N
   * the other nodes are new nodes joining the recovered service. Without it, a workspace that
   * holds ledgers is refused (their secrets were never on disk).
   */
  recover?: boolean;
}

/** Something the person running the sandbox must fix (a flag, a port, a file): exit code 2 for usage, 1 otherwise. */
export class SandboxError extends Error {
  override name = "SandboxError";

  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** A started sandbox: ready (services set up, everything committed on every node) until `stop`. */
export interface RunningSandbox {
  description: SandboxDescription;
  readyMs: number;
  /** Resolves, with why, once a service has lost the majority of its nodes: it can no longer commit. */
  failed: Promise<string>;
  /** Stops every node (SIGTERM: ledgers signed and flushed; SIGKILL past a grace time) and releases the workspace; false if a node had to be killed or failed to stop. */
  stop(): Promise<boolean>;
}

interface Service {
  name: ServiceName;
  nodes: ServiceNode[];
  /** The identity of the service its ledger held, for a recovered one. */
  previousServiceCertPem?: string;
}

export async function startSandbox(options: SandboxOptions): Promise<RunningSandbox> {
  const started = process.hrtime.bigint();
  const workspace = resolve(options.workspace);
  const nodeCount = options.nodes ?? 1;
  if (!Number.isSafeInteger(nodeCount) || nodeCount < 1 || nodeCount > SANDBOX_NODES_MAX) throw new SandboxError(`--nodes must be 1 to ${SANDBOX_NODES_MAX}, got ${nodeCount}`, 2);
  const bundles = loadBundles(options.bundles);
  mkdirSync(workspace, { recursive: true });
  const unlock = lockWorkspace(workspace);
  const processes = new Map<NodeProcess, ServiceName>();
  const services: Service[] = [];
  let consoleServer: ConsoleServer | undefined;
  let idp: DemoIdp | undefined;
  let fail: (why: string) => void = () => undefined;
  const failed = new Promise<string>((resolveFailed) => (fail = resolveFailed));
  const hooksFor = (name: ServiceName): NodeHooks => ({
    spawned: (node) => processes.set(node, name),
    show: (line) => options.err(`  ${line}`),
    onCrash: (why) => {
      options.err(`  error: ${why}`);
      const running = [...processes].filter(([node, service]) => service === name && node.running).length;
      if (running <= nodeCount / 2) fail(`the ${name} service has ${running} of its ${nodeCount} node${nodeCount === 1 ? "" : "s"} running: it cannot commit without a majority`);
    },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const stop = async (): Promise<boolean> => {
    await consoleServer?.close();
    consoleServer = undefined;
    await idp?.close();
    idp = undefined;
    // Every node at once: each signs and flushes its own ledger.
    const problems = (await Promise.all([...processes.keys()].map((node) => node.stop()))).filter((problem) => problem !== undefined);
    for (const problem of problems) options.err(`  error: ${problem}`);
    processes.clear();
    services.length = 0;
    unlock();
    return problems.length === 0;
  };
  try {
    if (options.fresh) clearWorkspace(workspace);
    checkRecovery(workspace, options.recover === true);
    const ports: Record<ServiceName, number> = { reconciliation: options.port, banking: options.bankingPort };
    for (const name of SERVICE_NAMES) await assertPortFree(ports[name], name);
    const isNew = !existsSync(join(workspace, KEYS_DIR));
    const consortium = await loadOrCreateConsortium(join(workspace, KEYS_DIR), options.usersPerBank);
    options.out(`Confide sandbox in ${workspace}${isNew ? " (new)" : options.recover ? " (recovering its services from their ledgers)" : ""}`);
    if (consortium.created > 0) {
      options.out(`  keys: made ${consortium.created} identities (${PARTIES.join(", ")} as members with signing and encryption keys; ${options.usersPerBank} users per bank)`);
    }
    options.out(`  nodes: ${nodeCount} per service, each its own confide-node process; ledger signature every ${SANDBOX_SIGNATURE_DELAY} (CCF's default: 1s)`);
    if (nodeCount > 1) {
      options.out(`  consensus: the sandbox's short timeouts, election_timeout ${SANDBOX_CONSENSUS.electionTimeout} and message_timeout ${SANDBOX_CONSENSUS.messageTimeout} (CCF's defaults: 5000ms and 100ms), so a failover takes a second or two`);
    }
    options.signal?.throwIfAborted();
    // Both services' first nodes start side by side: each is its own process.
    services.push(...(await Promise.all(SERVICE_NAMES.map((name) => startService(name, ports[name], workspace, consortium, nodeCount > 1, hooksFor(name), options)))));
    idp = await startIdp(workspace, options.idpPort ?? 0);
    const issuer = { issuer: idp.issuer, jwks: idp.jwks };
    // Each service is set up, joined by its other nodes and awaited side by side: its nodes are processes of their own.
    await Promise.all(services.map((service) => setUpAndJoin(service, workspace, nodeCount, consortium, bundles[service.name], issuer, hooksFor(service.name), options)));
    consoleServer = await startConsole(services, consortium, options);
    const description = {
      ...(await describe(workspace, services, consortium)),
      console: { url: consoleServer.url },
      identityProvider: { issuer: idp.issuer, jwksUrl: idp.jwksUrl, tokenUrl: idp.tokenUrl, caCertificate: idp.caCertFile },
    };
    writeDescription(workspace, description);
    const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    options.out(readyText(description, readyMs / 1000, options.displayCwd));
    return { description, readyMs, failed, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Brings one service to "open, app deployed, demo data loaded" through node 0 while its other nodes start and join; then lets them in. */
async function setUpAndJoin(
  service: Service,
  workspace: string,
  nodeCount: number,
  consortium: Consortium,
  bundle: Bundle,
  issuer: { issuer: string; jwks: Jwks },
  hooks: NodeHooks,
  options: SandboxOptions,
): Promise<void> {
  const first = service.nodes[0]!;
  if (service.previousServiceCertPem !== undefined) {
    await recoverService({ name: service.name, url: first.url, serviceCertPem: first.serviceCertPem, consortium, say: (line) => options.out(`  ${line}`) }, service.previousServiceCertPem);
  }
  const joining = await startJoiners(service.name, workspace, first, nodeCount - 1, hooks);
  const done = await setUpService({
    name: service.name,
    url: first.url,
    serviceCertPem: first.serviceCertPem,
    consortium,
    bundle,
    appActions: appActions(service.name),
    // The reconciliation app takes JWT callers as parties (jwt_party_claim); the banking app has no jwt endpoints.
    ...(service.name === "reconciliation" ? { jwtIssuer: issuer } : {}),
    say: (line) => options.out(`  ${line}`),
  });
  if (done.steps.length === 0) options.out(`  ${service.name}: members Active, users added, app deployed, service open, demo data loaded: nothing to propose`);
  options.signal?.throwIfAborted();
  const joined = await trustJoiners(first, joining, consortium, options.signal);
  service.nodes.push(...joined.nodes);
  if (joined.nodes.length > 0) options.out(`  ${service.name}: ${joined.nodes.length} nodes joined through node 0 and trusted by proposal ${joined.proposalId.slice(0, 10)}… (transition_node_to_trusted): ${service.nodes.length} nodes`);
  const last = joined.lastTxId === undefined ? done.lastTxId : laterTxId(done.lastTxId, joined.lastTxId);
  // Ready means committed: every set-up transaction is signed, on disk and replicated to every node.
  if (last !== undefined) await Promise.all(service.nodes.map((node) => waitForCommit(node, last)));
}

/**
 * A workspace's ledgers come back only by recovery (their secrets were never on disk), and
 * --recover needs ledgers to recover. Recovery starts from node 0's ledger; the other nodes of a
 * --nodes service are replaced by new ones (as in CCF: a node never restarts from its ledger
 * into a multi-node service), so their directories are cleared.
 */
function checkRecovery(workspace: string, recover: boolean): void {
  const withLedgers = SERVICE_NAMES.filter((name) => hasLedger(workspace, name));
  if (!recover && withLedgers.length > 0) {
    throw new SandboxError(
      `${workspace} holds the ledgers of a sandbox that stopped. Their ledger secrets were never written to disk, so bringing the services back is a disaster recovery by the members: \`npm start -- --recover\` (two of the three banks submit their recovery shares), or \`npm start -- --fresh\` for a new consortium`,
      2,
    );
  }
  if (!recover) return;
  if (withLedgers.length < SERVICE_NAMES.length) {
    throw new SandboxError(`--recover: ${workspace} holds no ledger of ${SERVICE_NAMES.filter((name) => !withLedgers.includes(name)).join(" and ")} to recover (start without --recover for a new consortium)`, 2);
  }
  for (const name of SERVICE_NAMES) {
    const onDisk = nodesOnDisk(workspace, name);
    for (let index = 1; index < onDisk; index++) rmSync(nodeDir(workspace, name, index), { recursive: true, force: true });
  }
}

async function waitForCommit(node: ServiceNode, txId: string): Promise<void> {
  const client = new ConfideClient({ url: node.url, serviceCertPem: node.serviceCertPem });
  try {
    await client.waitForCommit(txId);
  } finally {
    client.close();
  }
}

function loadBundles(paths: Record<ServiceName, string>): Record<ServiceName, Bundle> {
  const bundles = {} as Record<ServiceName, Bundle>;
  for (const name of SERVICE_NAMES) {
    if (!existsSync(paths[name])) {
      const hint = paths[name] === DEFAULT_BUNDLES[name] ? `: the app is not built; run \`npm run build -w ${APP_PACKAGES[name]}\` (npm start builds it for you)` : "";
      throw new SandboxError(`the ${name} bundle ${paths[name]} is missing${hint}`, 2);
    }
    bundles[name] = readBundle(paths[name]);
  }
  return bundles;
}

/** The reconciliation app's schema and policy are set by governance, in the proposal that deploys it. */
function appActions(name: ServiceName): Action[] {
  if (name !== "reconciliation") return [];
  return [
    { name: "set_reconciliation_schema", args: { schema: RECONCILIATION_SCHEMA } },
    { name: "set_reconciliation_policy", args: { policy: RECONCILIATION_POLICY } },
  ];
}

/** Fails before any file is written when a port is taken (another sandbox, a CCF node...). */
async function assertPortFree(port: number, service: ServiceName): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolvePort, reject) => {
    const probe = createServer();
    probe.once("error", (error: NodeJS.ErrnoException) => reject(portError(error, port, service)));
    probe.listen(port, "127.0.0.1", () => probe.close(() => resolvePort()));
  });
}

function portError(error: NodeJS.ErrnoException, port: number, service: ServiceName): Error {
  const flag = service === "reconciliation" ? "--port" : "--banking-port";
  if (error.code === "EADDRINUSE") return new SandboxError(`port ${port} (the ${service} service) is in use: is a sandbox already running? Stop it, or choose another with ${flag} <port>`);
  if (error.code === "EACCES") return new SandboxError(`port ${port} (the ${service} service) needs privileges; choose another with ${flag} <port>`);
  return error;
}

async function startService(name: ServiceName, port: number, workspace: string, consortium: Consortium, multiNode: boolean, hooks: NodeHooks, options: SandboxOptions): Promise<Service> {
  const recovering = options.recover === true;
  // The recovering node makes a new service identity: the old one is read first.
  const previousServiceCertPem = recovering ? readFileSync(serviceCertFile(workspace, name), "utf8") : undefined;
  const first = await startFirstNode(
    {
      service: name,
      workspace,
      port,
      multiNode,
      consortium,
      recover: recovering,
      // Used only for a new service (genesis); a recovered ledger already holds its members and constitution.
      ...(name === "reconciliation" ? { constitution: constitutionWith(reconciliationActions()) } : {}),
    },
    hooks,
  );
  let state = "new service";
  if (recovering) {
    const client = new ConfideClient({ url: first.url, serviceCertPem: first.serviceCertPem });
    const committed = await client.commit().finally(() => client.close());
    state = `recovering: public state replayed (committed ${committed}), new service identity, status Recovering`;
  }
  options.out(`  ${name}: node at ${first.url} (pid ${first.process.pid}), ${state}`);
  return { name, nodes: [first], ...(previousServiceCertPem !== undefined ? { previousServiceCertPem } : {}) };
}

/** The demo identity provider, on 127.0.0.1 only; its keys persist in the workspace's idp/. */
async function startIdp(workspace: string, port: number): Promise<DemoIdp> {
  try {
    return await startDemoIdp(join(workspace, IDP_DIR), port);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") throw new SandboxError(`port ${port} (the demo identity provider) is in use; choose another with --idp-port <port>`);
    throw error;
  }
}

/** The console, served with the reconciliation service's node 0 TLS identity (its certificate chains to that service's), read from its files. */
async function startConsole(services: Service[], consortium: Consortium, options: SandboxOptions): Promise<ConsoleServer> {
  const dir = services[0]!.nodes[0]!.dir;
  const tls = { keyPem: readFileSync(join(dir, IDENTITY_FILES.nodeKey), "utf8"), certPem: readFileSync(join(dir, IDENTITY_FILES.nodeCert), "utf8") };
  try {
    return await startConsoleServer({
      port: options.consolePort,
      staticDir: options.consoleDir ?? DEFAULT_CONSOLE_DIR,
      // The ledger explorer reads node 0's ledger files: every node holds the same committed ledger.
      services: services.map(({ name, nodes: [first] }) => ({ name, url: first!.url, serviceCertPem: first!.serviceCertPem, ledgerDir: join(first!.dir, "ledger") })),
      consortium,
      tls,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") throw new SandboxError(`port ${options.consolePort} (the web console) is in use; choose another with --console-port <port>`);
    throw error;
  }
}

async function describe(workspace: string, services: Service[], consortium: Consortium): Promise<SandboxDescription> {
  const described = await Promise.all(
    services.map(async ({ name, nodes }) => {
      const role = await roles(nodes[0]!);
      return {
        name,
        app: APP_PACKAGES[name],
        url: nodes[0]!.url,
        serviceCertificate: serviceCertFile(workspace, name),
        nodeDirectory: serviceDir(workspace, name),
        nodes: nodes.map((node) => ({ nodeId: node.nodeId, url: node.url, rpcAddress: node.rpcAddress, role: role.get(node.nodeId) ?? ("backup" as const), directory: node.dir, pid: node.process.pid })),
      };
    }),
  );
  return {
    workspace,
    services: described,
    members: consortium.members.map((m) => ({
      name: m.name,
      party: m.party,
      id: m.id,
      certificate: m.files.cert,
      signingKey: m.files.privateKey,
      encryptionPublicKey: m.files.encryptionPublicKey,
      encryptionKey: m.files.encryptionPrivateKey,
    })),
    users: consortium.users.map((u) => ({ name: u.name, party: u.party, id: u.id, certificate: u.files.cert, key: u.files.privateKey })),
  };
}

export { READY_PREFIX };
