// COSE_Sign1 (RFC 9052 §4.2) envelopes for CCF's signed governance requests.
// The signing itself is behind CoseSigner, so the key can live wherever the
// caller keeps it: a WebCrypto CryptoKey, or a server holding a PEM file (the
// console's server side; @confide/client's pemSigner).
import { CborTag, encodeCbor, type CborValue } from "./cbor.ts";
import { utf8 } from "./bytes.ts";
import { govPath, ballotSource, type ProposalBody } from "./types.ts";

export const COSE_SIGN1_TAG = 18;
/** Header labels of RFC 9052 §3.1. */
export const HeaderLabel = { alg: 1, kid: 4 } as const;
/** COSE algorithm ids of the ECDSA algorithms (RFC 9053 §2.1). */
export const CoseAlg = { ES256: -7, ES384: -35, ES512: -36 } as const;
export type CoseAlgId = (typeof CoseAlg)[keyof typeof CoseAlg];

/** Signs a COSE Sig_structure; returns the raw r‖s signature of `alg`. */
export interface CoseSigner {
  alg: CoseAlgId;
  sign(toBeSigned: Uint8Array): Promise<Uint8Array>;
}

const WEBCRYPTO_OF_ALG: Record<CoseAlgId, { hash: string; curve: string }> = {
  [CoseAlg.ES256]: { hash: "SHA-256", curve: "P-256" },
  [CoseAlg.ES384]: { hash: "SHA-384", curve: "P-384" },
  [CoseAlg.ES512]: { hash: "SHA-512", curve: "P-521" },
};

/** A signer over a WebCrypto ECDSA private key (WebCrypto's ECDSA signatures are already raw r‖s). */
export function webCryptoSigner(key: CryptoKey): CoseSigner {
  const curve = (key.algorithm as EcKeyAlgorithm).namedCurve;
  const entry = Object.entries(WEBCRYPTO_OF_ALG).find(([, value]) => value.curve === curve);
  if (entry === undefined) throw new Error(`key curve ${curve} is not P-256, P-384 or P-521`);
  const alg = Number(entry[0]) as CoseAlgId;
  return { alg, sign: async (data) => new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: entry[1].hash }, key, new Uint8Array(data))) };
}

/** The JOSE name of each COSE algorithm (what key services such as Azure Key Vault take as `alg`). */
export const JOSE_NAME_OF_ALG: Record<CoseAlgId, "ES256" | "ES384" | "ES512"> = { [CoseAlg.ES256]: "ES256", [CoseAlg.ES384]: "ES384", [CoseAlg.ES512]: "ES512" };

/**
 * A signer for a key that signs digests (a KMS, an HSM through PKCS#11's
 * CKM_ECDSA): the Sig_structure is hashed here with `alg`'s hash, and
 * `signDigest` returns the raw r‖s signature of that digest.
 */
export function digestSigner(alg: CoseAlgId, signDigest: (digest: Uint8Array) => Promise<Uint8Array>): CoseSigner {
  const hash = WEBCRYPTO_OF_ALG[alg].hash;
  return { alg, sign: async (toBeSigned) => signDigest(new Uint8Array(await crypto.subtle.digest(hash, new Uint8Array(toBeSigned)))) };
}

/** The bytes a COSE_Sign1 signature covers: Sig_structure ["Signature1", protected, h'', payload]. */
export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array): Uint8Array {
  return encodeCbor(["Signature1", protectedBytes, new Uint8Array(0), payload]);
}

/** A tagged COSE_Sign1 with `alg`, `kid` (UTF-8 bstr) and `headers` protected, and an empty unprotected header. */
export async function buildCoseSign1(signer: CoseSigner, kid: string | undefined, headers: Record<string, string | number>, payload: Uint8Array): Promise<Uint8Array> {
  const protectedMap = new Map<number | string, CborValue>([[HeaderLabel.alg, signer.alg]]);
  if (kid !== undefined) protectedMap.set(HeaderLabel.kid, utf8(kid));
  for (const [label, value] of Object.entries(headers)) protectedMap.set(label, value);
  const protectedBytes = encodeCbor(protectedMap);
  const signature = await signer.sign(sigStructure(protectedBytes, payload));
  return encodeCbor(new CborTag(COSE_SIGN1_TAG, [protectedBytes, new Map(), payload, signature]));
}

/** ccf.gov.msg.type values (CCF's governance message types). */
export type GovMessageType = "proposal" | "ballot" | "withdrawal" | "ack" | "state_digest" | "recovery_share" | "encrypted_recovery_share";

/** A signed /gov request ready to POST. */
export interface SignedGovRequest {
  path: string;
  body: Uint8Array;
  contentType: "application/cose";
}

export interface GovMessage {
  /** The /gov path (api-version is added). */
  path: string;
  type: GovMessageType;
  payload: string;
  proposalId?: string;
  /** Seconds since the epoch; now by default. */
  createdAt?: number;
}

/** Signs one governance message as the member `memberId` (kid), with CCF's ccf.gov.msg.* headers. */
export async function signGovRequest(signer: CoseSigner, memberId: string, message: GovMessage): Promise<SignedGovRequest> {
  const headers: Record<string, string | number> = { "ccf.gov.msg.type": message.type };
  if (message.proposalId !== undefined) headers["ccf.gov.msg.proposal_id"] = message.proposalId;
  headers["ccf.gov.msg.created_at"] = message.createdAt ?? Math.floor(Date.now() / 1000);
  const body = await buildCoseSign1(signer, memberId, headers, utf8(message.payload));
  return { path: govPath(message.path), body, contentType: "application/cose" };
}

/** The governance messages a member sends: their paths, types and payloads, as CCF's REST API defines them. */
export const govMessages = {
  proposal: (proposal: ProposalBody): GovMessage => ({ path: "/gov/members/proposals:create", type: "proposal", payload: JSON.stringify(proposal) }),
  /** Confide's extension: the same signed proposal, run and discarded by the node (answers a DryRun). */
  dryRun: (proposal: ProposalBody): GovMessage => ({ path: "/gov/members/proposals:dry-run", type: "proposal", payload: JSON.stringify(proposal) }),
  ballot: (memberId: string, proposalId: string, ballot: boolean | string): GovMessage => ({
    path: `/gov/members/proposals/${encodeURIComponent(proposalId)}/ballots/${memberId}:submit`,
    type: "ballot",
    payload: JSON.stringify({ ballot: typeof ballot === "boolean" ? ballotSource(ballot) : ballot }),
    proposalId,
  }),
  withdrawal: (proposalId: string): GovMessage => ({ path: `/gov/members/proposals/${encodeURIComponent(proposalId)}:withdraw`, type: "withdrawal", payload: "", proposalId }),
  stateDigest: (memberId: string): GovMessage => ({ path: `/gov/members/state-digests/${memberId}:update`, type: "state_digest", payload: "" }),
  ack: (memberId: string, digest: string): GovMessage => ({ path: `/gov/members/state-digests/${memberId}:ack`, type: "ack", payload: digest }),
  /** A recovery member's decrypted share (base64), submitted to a service waiting for recovery shares. */
  recoveryShare: (memberId: string, shareBase64: string): GovMessage => ({ path: `/gov/recovery/members/${memberId}:recover`, type: "recovery_share", payload: JSON.stringify({ share: shareBase64 }) }),
};

