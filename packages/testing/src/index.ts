// @confide/testing: an app author's unit tests run their CCF bundle on a real Confide service in
// their own process, with no sockets: the real runtime, KV, ledger, authentication and
// governance. Create a service with members and users, call endpoints as any of them, pass
// proposals (COSE-signed as the members' own keys would), and read the KV.
//
//   const service = await TestService.create({ bundle, members: 2, users: 2 });
//   const reply = await service.as(service.users[0]).post("/app/transfer/checking", { value: 5, ... });
//   await service.passProposal([{ name: "set_user", args: { cert: pem } }]);
//   service.kv("public:records").get("k");
//   await service.close();
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { certId, createServiceIdentity, InProcessService, signCoseSign1, type Bundle } from "@confide/node";
import { parseJsonOrUndefined } from "@confide/sdk";

/** A member's or user's key pair and certificate, and their CCF id (hex SHA-256 of the certificate's DER). */
export interface TestIdentity {
  readonly id: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TestReply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON, or undefined if it is not JSON. */
  json: unknown;
}

export interface TestServiceOptions {
  /** The app to deploy (and open the service with), e.g. JSON.parse(readFileSync("dist/bundle.json")). */
  bundle?: Bundle;
  /** How many members (each active, with a certificate of their own); 1 by default. */
  members?: number;
  /** How many users recorded at genesis; 0 by default. */
  users?: number;
  /** The constitution's source; the default constitution (a majority of members) if absent. */
  constitution?: string;
  /** Data recorded for each user (user_data), by index. */
  userData?: (index: number) => unknown;
}

const API = "api-version=2024-07-01";
const ACCEPT = "export function vote (proposal, proposerId) { return true }";

async function newIdentity(): Promise<TestIdentity> {
  const { certPem, privateKeyPem } = await createServiceIdentity();
  return { id: certId(certPem), certPem, keyPem: privateKeyPem };
}

/** Calls as one identity (or as nobody). */
export class Caller {
  constructor(
    private readonly service: InProcessService,
    private readonly identity: TestIdentity | undefined,
  ) {}

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<TestReply> {
    const bytes = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
    const withType = bytes !== undefined && !Buffer.isBuffer(body) && typeof body !== "string" ? { "content-type": "application/json", ...headers } : headers;
    const response = await this.service.request({
      method,
      path,
      headers: withType,
      ...(bytes ? { body: bytes } : {}),
      ...(this.identity ? { clientCertDer: new X509Certificate(this.identity.certPem).raw } : {}),
    });
    const text = response.body.toString("utf8");
    const json = parseJsonOrUndefined(text);
    return { status: response.status, headers: response.headers, body: response.body, text, json };
  }

  get(path: string, headers?: Record<string, string>): Promise<TestReply> {
    return this.request("GET", path, undefined, headers);
  }

  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestReply> {
    return this.request("POST", path, body, headers);
  }

  put(path: string, body?: unknown, headers?: Record<string, string>): Promise<TestReply> {
    return this.request("PUT", path, body, headers);
  }

  delete(path: string, headers?: Record<string, string>): Promise<TestReply> {
    return this.request("DELETE", path, undefined, headers);
  }
}

/** A read of one KV map as it stands now (committed or not). */
export interface MapView {
  /** The value at `key` (a string key is UTF-8) as text, or undefined. */
  get(key: string | Uint8Array): string | undefined;
  /** The value parsed as JSON, or undefined. */
  getJson<T = unknown>(key: string | Uint8Array): T | undefined;
  size: number;
}

export class TestService {
  private constructor(
    private readonly service: InProcessService,
    private readonly dir: string,
    readonly members: readonly TestIdentity[],
    readonly users: readonly TestIdentity[],
  ) {}

  static async create(options: TestServiceOptions = {}): Promise<TestService> {
    const members = await Promise.all(Array.from({ length: options.members ?? 1 }, newIdentity));
    const users = await Promise.all(Array.from({ length: options.users ?? 0 }, newIdentity));
    const dir = mkdtempSync(join(tmpdir(), "confide-testing-"));
    const service = await InProcessService.start({
      dir,
      members: members.map((member) => ({ certPem: member.certPem })),
      users: users.map((user, i) => ({ certPem: user.certPem, ...(options.userData ? { data: options.userData(i) } : {}) })),
      ...(options.constitution ? { constitution: options.constitution } : {}),
      ...(options.bundle ? { bundle: options.bundle } : {}),
    });
    const test = new TestService(service, dir, members, users);
    for (const member of members) await test.activate(member);
    return test;
  }

  /** A new key pair and certificate, e.g. for a user a test adds by proposal. */
  static identity(): Promise<TestIdentity> {
    return newIdentity();
  }

  /** Calls as `identity` (its certificate as TLS client certificate), or unauthenticated. */
  as(identity?: TestIdentity): Caller {
    return new Caller(this.service, identity);
  }

  /** Proposes `actions` as `by` (the first member by default); returns the proposal as the node answers it. */
  async propose(actions: unknown[], by: TestIdentity = this.members[0]!): Promise<{ proposalId: string; proposalState: string }> {
    const reply = await this.signed(by, "/gov/members/proposals:create", "proposal", { actions });
    if (reply.status !== 200) throw new Error(`proposal refused (${reply.status}): ${reply.text}`);
    return reply.json as { proposalId: string; proposalState: string };
  }

  /** Votes for proposal `proposalId` as `by`; returns its state after the ballot. */
  async vote(proposalId: string, by: TestIdentity, ballot = ACCEPT): Promise<string> {
    const reply = await this.signed(by, `/gov/members/proposals/${proposalId}/ballots/${by.id}:submit`, "ballot", { ballot }, { "ccf.gov.msg.proposal_id": proposalId });
    if (reply.status !== 200) throw new Error(`ballot refused (${reply.status}): ${reply.text}`);
    return (reply.json as { proposalState: string }).proposalState;
  }

  /** Proposes and has every member vote for it until it is Accepted; throws if it ends otherwise. */
  async passProposal(actions: unknown[]): Promise<string> {
    const proposal = await this.propose(actions);
    let state = proposal.proposalState;
    for (const member of this.members) {
      if (state !== "Open") break;
      state = await this.vote(proposal.proposalId, member);
    }
    if (state !== "Accepted") throw new Error(`proposal ${proposal.proposalId} ended ${state}`);
    return proposal.proposalId;
  }

  /** The KV map `name` as it stands now. */
  kv(name: string): MapView {
    const map = this.service.core.history.store.beginReadOnly().map(name);
    const keyOf = (key: string | Uint8Array) => (typeof key === "string" ? Buffer.from(key) : key);
    return {
      get: (key) => map.get(keyOf(key))?.toString("utf8"),
      getJson: <T>(key: string | Uint8Array) => {
        const value = map.get(keyOf(key));
        return value === undefined ? undefined : (JSON.parse(value.toString("utf8")) as T);
      },
      size: map.size,
    };
  }

  /** Resolves once everything written so far is committed (a signature covers it). */
  async committed(): Promise<void> {
    const history = this.service.core.history;
    if (history.lastSeqno > history.lastCommitted.seqno) await history.waitForCommit(history.lastSeqno);
  }

  async close(): Promise<void> {
    await this.service.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** state-digests :update then :ack, as a new member does to become Active. */
  private async activate(member: TestIdentity): Promise<void> {
    const update = await this.signed(member, `/gov/members/state-digests/${member.id}:update`, "state_digest", "");
    if (update.status !== 200) throw new Error(`member ${member.id}: state digest update refused: ${update.text}`);
    const ack = await this.signed(member, `/gov/members/state-digests/${member.id}:ack`, "ack", update.json);
    if (ack.status !== 204) throw new Error(`member ${member.id}: ack refused: ${ack.text}`);
  }

  private signed(by: TestIdentity, path: string, type: string, payload: unknown, headers: Record<string, unknown> = {}): Promise<TestReply> {
    const bytes = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
    const envelope = signCoseSign1({
      privateKeyPem: by.keyPem,
      kid: by.id,
      headers: { "ccf.gov.msg.type": type, "ccf.gov.msg.created_at": Math.floor(Date.now() / 1000), ...headers },
      payload: bytes,
    });
    return this.as().post(`${path}?${API}`, envelope, { "content-type": "application/cose" });
  }
}
