// `confide sandbox`: a whole consortium on this machine, as CCF's sandbox.sh
// starts one, with two services because CCF runs one app per service:
// "reconciliation" and "banking". Both nodes run in this process: one Node
// start-up instead of three, one Ctrl-C that closes both ledgers in order, and
// a failure in either is reported here rather than by a child left running.
// A node is single-threaded either way, and the demo's load is a few hundred
// requests.
import { createWriteStream, existsSync, mkdirSync, readFileSync, type WriteStream } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { readBundle, startNode, type Bundle, type ServingNode } from "@confide/node";
import type { Action } from "../governance.ts";
import { PARTIES, RECONCILIATION_POLICY, RECONCILIATION_SCHEMA } from "./demo.ts";
import { startConsoleServer, type ConsoleServer } from "./console-server.ts";
import { loadOrCreateConsortium, type Consortium } from "./identities.ts";
import { READY_PREFIX, readyText } from "./output.ts";
import { startDemoIdp, type DemoIdp } from "./idp.ts";
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
  /** The reconciliation service's port; 0 picks a free one. */
  port: number;
  /** The banking service's port; 0 picks a free one. */
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
   * Disaster recovery of a stopped (or killed) sandbox: each service comes back from its
   * workspace ledger, opened by the banks and two of them submitting their recovery shares.
   * Without it, a workspace that holds ledgers is refused (their secrets were never on disk).
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

/** A started sandbox: ready (services set up, everything committed) until `stop`. */
export interface RunningSandbox {
  description: SandboxDescription;
  readyMs: number;
  /** Closes both nodes (ledgers signed and flushed) and releases the workspace. */
  stop(): Promise<void>;
}

interface Service {
  name: ServiceName;
  node: ServingNode;
  log: FileLog;
  /** The identity of the service its ledger held, for a recovered one. */
  previousServiceCertPem?: string;
}

export async function startSandbox(options: SandboxOptions): Promise<RunningSandbox> {
  const started = process.hrtime.bigint();
  const workspace = resolve(options.workspace);
  const bundles = loadBundles(options.bundles);
  mkdirSync(workspace, { recursive: true });
  const unlock = lockWorkspace(workspace);
  const services: Service[] = [];
  let consoleServer: ConsoleServer | undefined;
  let idp: DemoIdp | undefined;
  const stop = async () => {
    await consoleServer?.close();
    consoleServer = undefined;
    await idp?.close();
    idp = undefined;
    // Reverse order of start; each close signs and flushes that node's ledger.
    for (const service of services.reverse()) {
      await service.node.close();
      await service.log.close();
    }
    services.length = 0;
    unlock();
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
    for (const name of SERVICE_NAMES) {
      options.signal?.throwIfAborted();
      services.push(await startService(name, ports[name], workspace, consortium, options));
    }
    idp = await startIdp(workspace, options.idpPort ?? 0);
    const issuer = { issuer: idp.issuer, jwks: idp.jwks };
    for (const service of services) {
      options.signal?.throwIfAborted();
      if (service.previousServiceCertPem !== undefined) {
        await recoverService(
          { name: service.name, url: service.node.url, serviceCertPem: service.node.core.identity.serviceCertPem, consortium, say: (line) => options.out(`  ${line}`) },
          service.previousServiceCertPem,
        );
      }
      const done = await setUpService({
        name: service.name,
        url: service.node.url,
        serviceCertPem: service.node.core.identity.serviceCertPem,
        consortium,
        bundle: bundles[service.name],
        appActions: appActions(service.name),
        // The reconciliation app takes JWT callers as parties (jwt_party_claim); the banking app has no jwt endpoints.
        ...(service.name === "reconciliation" ? { jwtIssuer: issuer } : {}),
        say: (line) => options.out(`  ${line}`),
      });
      if (done.length === 0) options.out(`  ${service.name}: members Active, users added, app deployed, service open, demo data loaded: nothing to propose`);
    }
    options.signal?.throwIfAborted();
    // Ready means committed: every set-up transaction is signed and on disk.
    for (const { node } of services) {
      const history = node.core.history;
      if (history.lastSeqno > history.lastCommitted.seqno) await history.waitForCommit(history.emitSignature());
    }
    consoleServer = await startConsole(services, consortium, options);
    const description = {
      ...describe(workspace, services, consortium),
      console: { url: consoleServer.url },
      identityProvider: { issuer: idp.issuer, jwksUrl: idp.jwksUrl, tokenUrl: idp.tokenUrl, caCertificate: idp.caCertFile },
    };
    writeDescription(workspace, description);
    const readyMs = Number(process.hrtime.bigint() - started) / 1e6;
    options.out(readyText(description, readyMs / 1000, options.displayCwd));
    return { description, readyMs, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
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

/** A workspace's ledgers come back only by recovery (their secrets were never on disk); --recover needs ledgers to recover. */
function checkRecovery(workspace: string, recover: boolean): void {
  const withLedgers = SERVICE_NAMES.filter((name) => hasLedger(workspace, name));
  if (!recover && withLedgers.length > 0) {
    throw new SandboxError(
      `${workspace} holds the ledgers of a sandbox that stopped. Their ledger secrets were never written to disk, so bringing the services back is a disaster recovery by the members: \`npm start -- --recover\` (two of the three banks submit their recovery shares), or \`npm start -- --fresh\` for a new consortium`,
      2,
    );
  }
  if (recover && withLedgers.length < SERVICE_NAMES.length) {
    throw new SandboxError(`--recover: ${workspace} holds no ledger of ${SERVICE_NAMES.filter((name) => !withLedgers.includes(name)).join(" and ")} to recover (start without --recover for a new consortium)`, 2);
  }
}

async function startService(name: ServiceName, port: number, workspace: string, consortium: Consortium, options: SandboxOptions): Promise<Service> {
  const dir = serviceDir(workspace, name);
  const recovering = options.recover === true;
  // The node makes a new service identity to recover with: the old one is read first.
  const previousServiceCertPem = recovering ? readFileSync(serviceCertFile(workspace, name), "utf8") : undefined;
  mkdirSync(dir, { recursive: true });
  const log = new FileLog(join(dir, "node.log"), (line) => options.err(`  [${name}] ${line}`));
  let node: ServingNode;
  try {
    node = await startNode({
      dir,
      port,
      log,
      ...(recovering ? { recover: true } : {}),
      // Used only when the ledger is new (genesis); a replayed ledger already holds its members and constitution.
      members: consortium.members.map((m) => ({ certPem: m.identity.certPem, encryptionPublicKeyPem: m.encryptionPublicKeyPem, data: { party: m.party } })),
      ...(name === "reconciliation" ? { constitution: constitutionWith(reconciliationActions()) } : {}),
    });
  } catch (error) {
    await log.close();
    throw portError(error as NodeJS.ErrnoException, port, name);
  }
  const replayedTo = node.core.history.ledgerSecrets.latest.version - 1;
  options.out(`  ${name}: node at ${node.url}, ${recovering ? `recovering: public state replayed to seqno ${replayedTo}, new service identity, status Recovering` : "new service"}`);
  return { name, node, log, ...(previousServiceCertPem !== undefined ? { previousServiceCertPem } : {}) };
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

/** The console, served with the reconciliation node's TLS identity (its certificate chains to that service's). */
async function startConsole(services: Service[], consortium: Consortium, options: SandboxOptions): Promise<ConsoleServer> {
  const identity = services[0]!.node.core.identity;
  try {
    return await startConsoleServer({
      port: options.consolePort,
      staticDir: options.consoleDir ?? DEFAULT_CONSOLE_DIR,
      services: services.map(({ name, node }) => ({ name, url: node.url, serviceCertPem: node.core.identity.serviceCertPem, ledgerDir: node.core.ledgerDir })),
      consortium,
      tls: { keyPem: identity.nodePrivateKeyPem, certPem: identity.nodeCertPem },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EADDRINUSE") throw new SandboxError(`port ${options.consolePort} (the web console) is in use; choose another with --console-port <port>`);
    throw error;
  }
}

function describe(workspace: string, services: Service[], consortium: Consortium): SandboxDescription {
  return {
    workspace,
    services: services.map(({ name, node }) => ({ name, app: APP_PACKAGES[name], url: node.url, serviceCertificate: serviceCertFile(workspace, name), nodeDirectory: serviceDir(workspace, name) })),
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

/** A node's log in <service>/node.log (CCF's sandbox keeps each node's `out`); warnings and errors are also shown. */
class FileLog {
  private readonly stream: WriteStream;

  constructor(
    path: string,
    private readonly show: (line: string) => void,
  ) {
    this.stream = createWriteStream(path, { flags: "a" });
    // Losing the log file must not stop the node.
    this.stream.on("error", () => undefined);
  }

  private write(level: string, message: string): void {
    if (!this.stream.writableEnded) this.stream.write(`${new Date().toISOString()} [${level}] node | ${message}\n`);
  }

  debug = (message: string): void => this.write("debug", message);
  info = (message: string): void => this.write("info ", message);
  warn = (message: string): void => {
    this.write("warn ", message);
    this.show(`warning: ${message}`);
  };
  error = (message: string): void => {
    this.write("fail ", message);
    this.show(`error: ${message}`);
  };

  close(): Promise<void> {
    if (this.stream.writableEnded) return Promise.resolve();
    return new Promise((resolveClose) => this.stream.end(() => resolveClose()));
  }
}

export { READY_PREFIX };
