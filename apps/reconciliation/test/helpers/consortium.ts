// A consortium for app tests, over real TLS: identities (P-384 certificates,
// as CCF's keygenme.sh makes), an HTTPS client presenting one of them, and
// members that sign governance requests as COSE Sign1.
import "reflect-metadata";
import { generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { certId, signCoseSign1, startNode, type Bundle, type ServingNode } from "@confide/node";
import { parseJsonOrUndefined } from "@confide/sdk";

x509.cryptoProvider.set(webcrypto as Crypto);

export interface Identity {
  certPem: string;
  keyPem: string;
  id: string;
}

let serial = 1;

export async function createIdentity(name: string): Promise<Identity> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const alg = { name: "ECDSA", namedCurve: "P-384", hash: "SHA-384" } as const;
  const keys = {
    privateKey: await webcrypto.subtle.importKey("pkcs8", privateKey.export({ type: "pkcs8", format: "der" }), alg, true, ["sign"]),
    publicKey: await webcrypto.subtle.importKey("spki", publicKey.export({ type: "spki", format: "der" }), alg, true, ["verify"]),
  };
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, "0"),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    keys,
    signingAlgorithm: alg,
  });
  const certPem = cert.toString("pem") + "\n";
  return { certPem, keyPem, id: certId(certPem) };
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  text: string;
  // Untyped on purpose: tests index into the app's varied JSON shapes.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export class Client {
  private readonly agent: Agent;

  constructor(
    readonly url: string,
    serviceCertPem: string,
    identity?: Identity,
  ) {
    this.agent = new Agent({ keepAlive: true, ca: serviceCertPem, ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}) });
  }

  request(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, this.url), { method, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, text, json: parseJsonOrUndefined(text) });
        });
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  get(path: string): Promise<Reply> {
    return this.request("GET", path);
  }

  post(path: string, body: string | Buffer, contentType = "application/json"): Promise<Reply> {
    return this.request("POST", path, body, { "content-type": contentType });
  }

  close(): void {
    this.agent.destroy();
  }
}

const API = "api-version=2024-07-01";
export const ACCEPT = "export function vote (proposal, proposerId) { return true }";
export const REJECT = "export function vote (proposal, proposerId) { return false }";

export class Member {
  constructor(readonly identity: Identity) {}

  private send(client: Client, path: string, type: string, payload: unknown, headers: Record<string, unknown> = {}): Promise<Reply> {
    const envelope = signCoseSign1({
      privateKeyPem: this.identity.keyPem,
      kid: this.identity.id,
      headers: { "ccf.gov.msg.type": type, "ccf.gov.msg.created_at": Math.floor(Date.now() / 1000), ...headers },
      payload: Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload)),
    });
    return client.post(`${path}?${API}`, envelope, "application/cose");
  }

  async activate(client: Client): Promise<void> {
    const update = await this.send(client, `/gov/members/state-digests/${this.identity.id}:update`, "state_digest", "");
    const ack = await this.send(client, `/gov/members/state-digests/${this.identity.id}:ack`, "ack", update.json);
    if (ack.status !== 204) throw new Error(`ack failed: ${ack.text}`);
  }

  propose(client: Client, actions: unknown[]): Promise<Reply> {
    return this.send(client, "/gov/members/proposals:create", "proposal", { actions });
  }

  vote(client: Client, proposalId: string, ballot = ACCEPT): Promise<Reply> {
    return this.send(client, `/gov/members/proposals/${proposalId}/ballots/${this.identity.id}:submit`, "ballot", { ballot }, { "ccf.gov.msg.proposal_id": proposalId });
  }
}

/**
 * Proposes `actions` with the first member and votes yes with the second and
 * then the first (2 of 3 Active members accept); the proposal's final state,
 * with the failure reason if it failed.
 */
export async function proposeWithTwoVotes(gov: Client, members: Member[], actions: unknown[]): Promise<string> {
  const created = await members[0]!.propose(gov, actions);
  if (created.status !== 200) throw new Error(`proposal refused: ${created.status} ${created.text}`);
  await members[1]!.vote(gov, created.json.proposalId);
  await members[0]!.vote(gov, created.json.proposalId);
  const state = (await gov.get(`/gov/members/proposals/${created.json.proposalId}`)).json;
  return state.failure === undefined ? (state.proposalState as string) : `${state.proposalState}: ${state.failure.reason}`;
}

export interface ReconciliationService {
  node: ServingNode;
  gov: Client;
  members: Member[];
  /** A client per party, presenting that party's identity (members for the first three, users after). */
  as: Record<string, Client>;
  close(): Promise<void>;
}

/**
 * A node in a temp dir whose first three parties are Active members and the
 * rest users, with the reconciliation constitution, the app and `policy`
 * deployed by proposals and the service open.
 */
export async function startReconciliationService(parties: string[], bundle: Bundle, policy: Record<string, unknown>): Promise<ReconciliationService> {
  const dir = mkdtempSync(join(tmpdir(), "confide-recon-"));
  const ids = await Promise.all(parties.map((name) => createIdentity(name)));
  const members = ids.slice(0, 3).map((id) => new Member(id));
  const node = await startNode({ dir, port: 0, signatureIntervalMs: 50, members: members.map((m, i) => ({ certPem: m.identity.certPem, data: { party: parties[i] } })) });
  const serviceCert = node.core.identity.serviceCertPem;
  const gov = new Client(node.url, serviceCert);
  for (const m of members) await m.activate(gov);
  const pass = async (actions: unknown[]) => {
    const state = await proposeWithTwoVotes(gov, members, actions);
    if (state !== "Accepted") throw new Error(`set-up proposal ended ${state}`);
  };
  await pass([
    { name: "set_constitution", args: { constitution: constitutionWith(reconciliationActions()) } },
    ...ids.slice(3).map((id, i) => ({ name: "set_user", args: { cert: id.certPem, user_data: { party: parties[i + 3] } } })),
    { name: "transition_service_to_open", args: { next_service_identity: serviceCert } },
  ]);
  await pass([
    { name: "set_js_app", args: { bundle } },
    { name: "set_reconciliation_policy", args: { policy } },
  ]);
  const as: Record<string, Client> = {};
  parties.forEach((party, i) => (as[party] = new Client(node.url, serviceCert, ids[i])));
  return {
    node,
    gov,
    members,
    as,
    close: async () => {
      for (const client of [gov, ...Object.values(as)]) client.close();
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
