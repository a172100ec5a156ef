// A service of real confide-node processes on loopback, as operators run them: each node its own
// process, workspace, ledger and ports; the first starts the service (command.type "Start"),
// others join (command.type "Join") and a member trusts them by proposal. Time-bounded waits only.
import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./free-port.ts";
import { GovMember } from "./gov-member.ts";
import { HttpsClient, type ClientIdentity } from "./https-client.ts";
import { killAll, NodeProcess } from "./node-process.ts";

/** The sandbox's short timeouts: an election within 1-2 s of losing the primary. */
const CONSENSUS = { message_timeout: "50ms", election_timeout: "1000ms" };
const WAIT_MS = 60_000;

export interface ClusterNode {
  name: string;
  process: NodeProcess;
  client: HttpsClient;
  rpcAddress: string;
  nodeId: string;
}

/** Probes every 50 ms until it answers, for at most WAIT_MS; the polling stops with the wait (a failed wait leaves nothing running). */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
}

export class ProcessCluster {
  readonly nodes: ClusterNode[] = [];
  private serviceCertPem: string | undefined;
  private readonly extraClients: HttpsClient[] = [];

  /**
   * `root` holds each node's config and workspace; `startConfig` is merged into the first node's
   * config (app, users); `otherMembers` join `member` in the consortium (each votes in `pass`; those
   * with an encryption key are recovery members).
   */
  constructor(
    readonly root: string,
    readonly member: GovMember,
    private readonly startConfig: Record<string, unknown> = {},
    readonly otherMembers: GovMember[] = [],
  ) {}

  get members(): GovMember[] {
    return [this.member, ...this.otherMembers];
  }

  get serviceCert(): string {
    return this.serviceCertPem!;
  }

  /** The first node: a new service with the members (their certificates and encryption keys written beside the configs). */
  async start(name = "n0"): Promise<ClusterNode> {
    const members = this.members.map((member, i) => {
      writeFileSync(join(this.root, `member${i}_cert.pem`), member.certPem);
      if (member.encryption === undefined) return { certificate_file: `member${i}_cert.pem` };
      writeFileSync(join(this.root, `member${i}_enc_pubk.pem`), member.encryption.publicKeyPem);
      return { certificate_file: `member${i}_cert.pem`, encryption_public_key_file: `member${i}_enc_pubk.pem` };
    });
    const node = await this.launch(name, { type: "Start", start: { members } }, this.startConfig);
    for (const member of this.members) await member.activate(node.client);
    return node;
  }

  /**
   * Disaster recovery: a new node started (command.type "Recover") on a copy of `from`'s ledger
   * files; it serves a new service identity, which the cluster's clients trust from then on.
   */
  async recover(name: string, fromLedgerOf: string, extra: Record<string, unknown> = {}): Promise<ClusterNode> {
    mkdirSync(join(this.root, name), { recursive: true });
    cpSync(join(this.root, fromLedgerOf, "ledger"), join(this.root, name, "ledger"), { recursive: true });
    this.serviceCertPem = undefined;
    return this.launch(name, { type: "Recover" }, extra);
  }

  /** A joiner: started, Pending on `via`, trusted by the member's proposal, then serving (`extra`: more of its config). */
  async join(name: string, via: ClusterNode, extra: Record<string, unknown> = {}): Promise<ClusterNode> {
    // The service's current certificate, as `via` serves it (a recovered service's is not its first node's).
    const command = { type: "Join", service_certificate_file: join(this.root, via.name, "service_cert.pem"), join: { target_rpc_address: via.rpcAddress, retry_timeout: "100ms" } };
    return this.launch(name, command, extra, async () => {
      const pendingId = await eventually(`${name} Pending`, async () => {
        const nodes = (await via.client.get("/node/network/nodes")).json.nodes as Array<{ node_id: string; status: string }>;
        return nodes.find((node) => node.status === "Pending")?.node_id;
      });
      await this.pass(via.client, [{ name: "transition_node_to_trusted", args: { node_id: pendingId, valid_from: "20260101000000Z" } }]);
    });
  }

  /** Proposes `actions` as the member and votes them through (each member votes until they are accepted). */
  async pass(via: HttpsClient, actions: unknown[]): Promise<void> {
    const created = await this.member.propose(via, actions);
    assert.equal(created.status, 200, created.text);
    let state = created.json.proposalState as string;
    for (const member of this.members) {
      if (state !== "Open") break;
      const voted = await member.vote(via, created.json.proposalId);
      assert.equal(voted.status, 200, voted.text);
      state = voted.json.proposalState as string;
    }
    assert.equal(state, "Accepted", created.text);
  }

  /** The node every node of `among` agrees is primary. */
  primary(among: ClusterNode[] = this.nodes): Promise<ClusterNode> {
    return eventually("one primary known to every node", async () => {
      const ids = await Promise.all(among.map(async (node) => (await node.client.get("/node/network/nodes/primary")).json?.node_id as string | undefined));
      const agreed = ids[0];
      if (agreed === undefined || ids.some((id) => id !== agreed)) return undefined;
      return among.find((node) => node.nodeId === agreed);
    });
  }

  async status(node: ClusterNode, txId: string): Promise<string> {
    return (await node.client.get(`/node/tx?transaction_id=${txId}`)).json.status as string;
  }

  async committedOn(node: ClusterNode, txId: string): Promise<void> {
    await eventually(`${txId} Committed on ${node.name}`, async () => ((await this.status(node, txId)) === "Committed" ? true : undefined));
  }

  /** A client of `node` acting as `identity` (a user's or member's certificate). */
  clientAs(node: ClusterNode, identity: ClientIdentity): HttpsClient {
    const client = new HttpsClient(node.client.url, this.serviceCert, identity);
    this.extraClients.push(client);
    return client;
  }

  /** CONFIDE_TEST_LOG=1 prints what each node printed; then every process is killed and the files go. */
  dispose(): void {
    if (process.env.CONFIDE_TEST_LOG) for (const node of this.nodes) console.error(`---- ${node.name}\n${node.process.stdout}${node.process.stderr}`);
    for (const client of [...this.nodes.map((node) => node.client), ...this.extraClients]) client.close();
    killAll();
    rmSync(this.root, { recursive: true, force: true });
  }

  private configFor(name: string, rpcPort: number, n2nPort: number, command: unknown, extra: Record<string, unknown>): string {
    const file = join(this.root, `${name}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        network: { rpc_interfaces: { primary_rpc_interface: { bind_address: `127.0.0.1:${rpcPort}` } }, node_to_node_interface: { bind_address: `127.0.0.1:${n2nPort}` } },
        consensus: CONSENSUS,
        workspace: name,
        ledger_signatures: { tx_count: 50, delay: "20ms" },
        logging: { host_level: "Info" },
        command,
        ...extra,
      }),
    );
    return file;
  }

  private async launch(name: string, command: unknown, extra: Record<string, unknown>, beforeReady?: () => Promise<void>): Promise<ClusterNode> {
    const [rpcPort, n2nPort] = [await freePort(), await freePort()];
    const node = new NodeProcess(["start", "--config", this.configFor(name, rpcPort, n2nPort, command, extra)]);
    await beforeReady?.();
    const [, url] = await node.waitForOutput(/Node \[0\] = (https:\/\/127\.0\.0\.1:\d+)\n[\s\S]*Ctrl-C stops the node cleanly/);
    this.serviceCertPem ??= readFileSync(join(this.root, name, "service_cert.pem"), "utf8");
    const client = new HttpsClient(url!, this.serviceCertPem);
    const state = await client.get("/node/state");
    const started = { name, process: node, client, rpcAddress: `127.0.0.1:${rpcPort}`, nodeId: state.json.node_id as string };
    this.nodes.push(started);
    return started;
  }
}
