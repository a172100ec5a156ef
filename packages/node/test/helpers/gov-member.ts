// A consortium member for tests: its identity, COSE Sign1 envelopes with CCF's
// governance headers, and the signed /gov requests, sent over real TLS.
import { constants, generateKeyPairSync, privateDecrypt } from "node:crypto";
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
    /** A recovery member's RSA key pair (CCF's member_enc_pubk.pem / member_enc_privk.pem). */
    readonly encryption?: { publicKeyPem: string; privateKeyPem: string },
  ) {}

  static async create(options: { encryption?: boolean } = {}): Promise<GovMember> {
    const { certPem, privateKeyPem } = await createServiceIdentity();
    const encryption = options.encryption
      ? generateKeyPairSync("rsa", { modulusLength: 2048, publicKeyEncoding: { type: "spki", format: "pem" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } })
      : undefined;
    return new GovMember(certPem, privateKeyPem, certId(certPem), encryption && { publicKeyPem: encryption.publicKey, privateKeyPem: encryption.privateKey });
  }

  /** Fetches this member's encrypted recovery share and decrypts it with its RSA key, as a member's own tooling does. */
  async recoveryShare(client: HttpsClient): Promise<Buffer> {
    const reply = await client.get(`/gov/recovery/encrypted-shares/${this.id}?${API}`);
    if (reply.status !== 200) throw new Error(`no recovery share for ${this.id}: ${reply.text}`);
    const encrypted = Buffer.from((reply.json as { encryptedShare: string }).encryptedShare, "base64");
    return privateDecrypt({ key: this.encryption!.privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" }, encrypted);
  }

  /** Submits a recovery share (its own unless told otherwise). */
  submitShare(client: HttpsClient, share: Buffer): Promise<Reply> {
    return GovMember.post(client, `/gov/recovery/members/${this.id}:recover`, this.sign("recovery_share", { share: share.toString("base64") }));
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
