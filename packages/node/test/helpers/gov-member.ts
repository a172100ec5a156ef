// A consortium member for tests: its identity, COSE Sign1 envelopes with CCF's
// governance headers, and the signed /gov requests, sent over real TLS.
import { createServiceIdentity } from "../../src/crypto/certs.ts";
import { signCoseSign1 } from "../../src/crypto/cose.ts";
import { certId } from "../../src/crypto/keys.ts";
import type { HttpsClient, Reply } from "./https-client.ts";

export const API = "api-version=2024-07-01";
export const ACCEPT = "export function vote (proposal, proposerId) { return true }";
export const REJECT = "export function vote (proposal, proposerId) { return false }";

export class GovMember {
  private constructor(
    readonly certPem: string,
    readonly keyPem: string,
    readonly id: string,
  ) {}

  static async create(): Promise<GovMember> {
    const { certPem, privateKeyPem } = await createServiceIdentity();
    return new GovMember(certPem, privateKeyPem, certId(certPem));
  }

  /** A COSE Sign1 envelope of `payload`; `headers` override or add protected headers. */
  sign(type: string, payload: unknown, headers: Record<string, unknown> = {}, keyPem = this.keyPem): Buffer {
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload));
    return signCoseSign1({
      privateKeyPem: keyPem,
      kid: this.id,
      headers: { "ccf.gov.msg.type": type, "ccf.gov.msg.created_at": Math.floor(Date.now() / 1000), ...headers },
      payload: bytes,
    });
  }

  static post(client: HttpsClient, path: string, envelope: Buffer): Promise<Reply> {
    return client.post(`${path}${path.includes("?") ? "&" : "?"}${API}`, envelope, { "content-type": "application/cose" });
  }

  /** state-digests :update then :ack: the member becomes Active. */
  async activate(client: HttpsClient): Promise<void> {
    const update = await GovMember.post(client, `/gov/members/state-digests/${this.id}:update`, this.sign("state_digest", ""));
    if (update.status !== 200) throw new Error(`update failed: ${update.text}`);
    const ack = await GovMember.post(client, `/gov/members/state-digests/${this.id}:ack`, this.sign("ack", update.json));
    if (ack.status !== 204) throw new Error(`ack failed: ${ack.text}`);
  }

  propose(client: HttpsClient, actions: unknown[], headers: Record<string, unknown> = {}): Promise<Reply> {
    return GovMember.post(client, "/gov/members/proposals:create", this.sign("proposal", { actions }, headers));
  }

  vote(client: HttpsClient, proposalId: string, ballot: string = ACCEPT): Promise<Reply> {
    return GovMember.post(
      client,
      `/gov/members/proposals/${proposalId}/ballots/${this.id}:submit`,
      this.sign("ballot", { ballot }, { "ccf.gov.msg.proposal_id": proposalId }),
    );
  }
}
