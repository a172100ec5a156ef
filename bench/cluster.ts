// A service of confide-node processes for the network benchmark, as operators run them: the
// first node starts the service (one member, activated), others join it (command.type "Join")
// and are trusted by the member's transition_node_to_trusted proposal. Each node is its own OS
// process with its own workspace, ledger and ports; its CPU time is read from /proc.
// The process, port, member and HTTPS helpers are the real-process tests' own.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../packages/node/test/helpers/free-port.ts";
import { GovMember } from "../packages/node/test/helpers/gov-member.ts";
import { HttpsClient } from "../packages/node/test/helpers/https-client.ts";
import { NodeProcess, withTimeout } from "../packages/node/test/helpers/node-process.ts";

export interface ServiceOptions {
  /** A fresh directory: configs, workspaces and the member's certificate go there. */
  root: string;
  /** The app bundle JSON file every node is started with (the first one deploys it). */
  bundleFile: string;
  /** CCF's consensus section; undefined: a node alone, without node-to-node channels (local fsync commits). */
  consensus?: { message_timeout: string; election_timeout: string };
  /** CCF's ledger_signatures section; undefined: the node's defaults (CCF's 5000 tx / 1 s). */
  signatures?: { tx_count: number; delay: string };
  /** CCF's snapshots.tx_count; undefined: the node's default (CCF's 10,000). */
  snapshotTxCount?: number;
}

const WAIT_MS = 120_000;
/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS_PER_S = 100;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every `everyMs` until it returns a value (errors count as not yet). */
export function eventually<T>(what: string, probe: () => Promise<T | undefined>, everyMs = 20, timeoutMs = WAIT_MS): Promise<T> {
  return withTimeout(
    (async () => {
      for (;;) {
        const value = await probe().catch(() => undefined);
        if (value !== undefined) return value;
        await sleep(everyMs);
      }
    })(),
    timeoutMs,
    what,
  );
}

/** User + system CPU seconds a live process has used, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces), from field 3: utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

export const seqnoOf = (txId: string): number => Number(txId.split(".")[1]);

export class BenchNode {
  constructor(
    readonly name: string,
    readonly process: NodeProcess,
    readonly url: string,
    readonly client: HttpsClient,
    readonly rpcAddress: string,
    readonly nodeId: string,
  ) {}

  get alive(): boolean {
    return this.process.child.exitCode === null && this.process.child.signalCode === null;
  }

  cpuSeconds(): number {
    return processCpuSeconds(this.process.child.pid!);
  }

  async txStatus(txId: string): Promise<string | undefined> {
    return (await this.client.get(`/node/tx?transaction_id=${txId}`)).json?.status as string | undefined;
  }

  /** The node's commit point (/node/commit): its seqno. */
  async commitSeqno(): Promise<number> {
    return seqnoOf((await this.client.get("/node/commit")).json.transaction_id as string);
  }

  /** The primary this node knows of, if any. */
  async knownPrimary(): Promise<string | undefined> {
    const reply = await this.client.get("/node/network/nodes/primary");
    return reply.status === 200 ? (reply.json?.node_id as string | undefined) : undefined;
  }

  async kill(): Promise<void> {
    this.process.child.kill("SIGKILL");
    await this.process.exitCode();
  }

  /** SIGTERM: the node closes cleanly; SIGKILL if it takes longer than the helper's stop timeout. */
  async stop(): Promise<void> {
    this.client.close();
    if (!this.alive) return;
    this.process.child.kill("SIGTERM");
    await this.process.exitCode().catch(() => this.process.child.kill("SIGKILL"));
  }
}

export class Service {
  readonly nodes: BenchNode[] = [];
  private serviceCertPem: string | undefined;

  private constructor(
    private readonly options: ServiceOptions,
    readonly member: GovMember,
  ) {}

  /** Starts the first node (the service) and activates the member. */
  static async start(options: ServiceOptions): Promise<Service> {
    const member = await GovMember.create();
    writeFileSync(join(options.root, "member0_cert.pem"), member.certPem);
    const service = new Service(options, member);
    const first = await service.launch("n0", { type: "Start", start: { members: [{ certificate_file: join(options.root, "member0_cert.pem") }] } }, []);
    await member.activate(first.client);
    return service;
  }

  /** A service of `count` nodes: the first, then the others joining one after the other. */
  static async startNodes(options: ServiceOptions, count: number): Promise<Service> {
    const service = await Service.start(options);
    for (let i = 1; i < count; i++) await service.join(`n${i}`);
    return service;
  }

  get serviceCertFile(): string {
    return join(this.options.root, "n0", "service_cert.pem");
  }

  get live(): BenchNode[] {
    return this.nodes.filter((node) => node.alive);
  }

  /**
   * Joins a node through the current primary and trusts it by proposal. `onAccepted` runs right
   * after the ballot that accepted the proposal was answered (the catch-up clock starts there).
   */
  async join(name: string, onAccepted?: () => Promise<void>, options: { fetchRecentSnapshot?: boolean; profileDir?: string } = {}): Promise<BenchNode> {
    const via = await this.primary();
    const join = { target_rpc_address: via.rpcAddress, retry_timeout: "100ms", ...(options.fetchRecentSnapshot === undefined ? {} : { fetch_recent_snapshot: options.fetchRecentSnapshot }) };
    const nodeArgs = options.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.profileDir}`] : [];
    return this.launch(name, { type: "Join", service_certificate_file: this.serviceCertFile, join }, nodeArgs, async () => {
      const pendingId = await eventually(`${name} Pending`, async () => {
        const nodes = (await via.client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
        return nodes.find((node) => node.status === "Pending")?.node_id;
      });
      await this.passProposal(via.client, [{ name: "transition_node_to_trusted", args: { node_id: pendingId, valid_from: "20260101000000Z" } }]);
      await onAccepted?.();
    });
  }

  async passProposal(via: HttpsClient, actions: unknown[]): Promise<void> {
    const created = await this.member.propose(via, actions);
    if (created.status !== 200) throw new Error(`proposal refused: ${created.status} ${created.text}`);
    if (created.json.proposalState === "Accepted") return;
    const voted = await this.member.vote(via, created.json.proposalId);
    if (voted.json?.proposalState !== "Accepted") throw new Error(`ballot did not accept: ${voted.status} ${voted.text}`);
  }

  /** The node every live node agrees is primary. */
  async primary(among: BenchNode[] = this.live, everyMs = 20): Promise<BenchNode> {
    return eventually(
      "one primary known to every live node",
      async () => {
        const ids = await Promise.all(among.map((node) => node.knownPrimary()));
        const agreed = ids[0];
        if (agreed === undefined || ids.some((id) => id !== agreed)) return undefined;
        return among.find((node) => node.nodeId === agreed);
      },
      everyMs,
    );
  }

  /** Sum of the live nodes' process CPU seconds. */
  cpuSeconds(): number {
    return this.live.reduce((sum, node) => sum + node.cpuSeconds(), 0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

  private async launch(name: string, command: unknown, nodeArgs: string[], beforeReady?: () => Promise<void>): Promise<BenchNode> {
    const [rpcPort, n2nPort] = [await freePort(), await freePort()];
    const file = join(this.options.root, `${name}.json`);
    const network = {
      rpc_interfaces: { primary_rpc_interface: { bind_address: `127.0.0.1:${rpcPort}` } },
      ...(this.options.consensus ? { node_to_node_interface: { bind_address: `127.0.0.1:${n2nPort}` } } : {}),
    };
    writeFileSync(
      file,
      JSON.stringify({
        network,
        ...(this.options.consensus ? { consensus: this.options.consensus } : {}),
        ...(this.options.signatures ? { ledger_signatures: this.options.signatures } : {}),
        ...(this.options.snapshotTxCount ? { snapshots: { tx_count: this.options.snapshotTxCount } } : {}),
        workspace: join(this.options.root, name),
        logging: { host_level: "Info" },
        command,
        // The first node deploys the app; joiners receive it with the ledger.
        ...(name === "n0" ? { js_app_bundle: this.options.bundleFile } : {}),
      }),
    );
    const node = new NodeProcess(["start", "--config", file], nodeArgs);
    try {
      await beforeReady?.();
      const [, url] = await node.waitForOutput(/Node \[0\] = (https:\/\/127\.0\.0\.1:\d+)\n[\s\S]*Ctrl-C stops the node cleanly/);
      this.serviceCertPem ??= readFileSync(this.serviceCertFile, "utf8");
      const client = new HttpsClient(url!, this.serviceCertPem);
      const nodeId = (await client.get("/node/state")).json.node_id as string;
      const started = new BenchNode(name, node, url!, client, `127.0.0.1:${rpcPort}`, nodeId);
      this.nodes.push(started);
      return started;
    } catch (error) {
      node.child.kill("SIGKILL");
      throw new Error(`${name} did not start: ${(error as Error).message}\n${node.stdout.slice(-2000)}\n${node.stderr.slice(-2000)}`);
    }
  }

  get certPem(): string {
    return this.serviceCertPem ?? readFileSync(this.serviceCertFile, "utf8");
  }
}
