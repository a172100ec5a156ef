// COSE receipts, as CCF makes them (the IETF "CCF Profile for COSE Receipts",
// draft-ietf-scitt-receipts-ccf-profile, on COSE Receipts, RFC 9942):
//
// - every signature transaction also holds a COSE_Sign1 by the SERVICE key over
//   the Merkle root, with the root detached (nil payload). Protected header:
//   alg, kid (hex SHA-256 of the service public key's DER, as a bstr), vds 2
//   (CCF_LEDGER_SHA256), CWT claims {iat}, and {"ccf.v1": {"txid": "<view>.<seqno>"}}
//   naming the signature transaction;
// - a COSE receipt for a transaction is that envelope with an unprotected header
//   vdp (396) = {-1: [bstr .cbor {1: leaf, 2: path}]}, leaf = [write set digest,
//   commit evidence, claims digest], path = [[left, hash], ...] from the leaf up.
//
// A verifier recomputes the root from the proof and checks the signature over it
// with the service certificate: no node certificate is involved.
import { createPublicKey, X509Certificate } from "node:crypto";
import { decodeDetachedCoseSign1, encodeCbor, signDetachedCoseSign1, verifyCoseSign1, withUnprotectedHeader, CoseError, HeaderLabel, type DetachedCoseSign1, type HeaderMap } from "../crypto/cose.ts";
import { DIGEST_BYTES, sha256, toHex } from "../crypto/hash.ts";
import { Decoder } from "cbor-x";
import { leafOfComponents, ReceiptError } from "./receipt.ts";
import { foldProof, type ProofStep } from "./tree.ts";

/** Header labels and values of RFC 9942, RFC 9597 (CWT claims) and the CCF profile. */
export const CoseReceiptLabel = {
  cwtClaims: 15,
  /** Verifiable data structure (protected). */
  vds: 395,
  /** Verifiable data proofs (unprotected). */
  vdp: 396,
  /** Inside vdp: the inclusion proofs. */
  inclusionProofs: -1,
  /** CWT claim: issued at, seconds since the epoch. */
  iat: 6,
  ccf: "ccf.v1",
  txid: "txid",
} as const;
/** The CCF profile's verifiable data structure: CCF_LEDGER_SHA256. */
export const CCF_LEDGER_SHA256 = 2;
const PROOF_LEAF = 1;
const PROOF_PATH = 2;
/** The draft bounds the commit evidence string to 1..1024 bytes. */
const EVIDENCE_BYTES_MAX = 1024;

const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });

/** CCF's kid: the hex SHA-256 of the service public key's DER (SubjectPublicKeyInfo), from its certificate or either key (PEM). */
export function serviceKeyId(keyOrCertPem: string): string {
  let id = keyIds.get(keyOrCertPem);
  if (id === undefined) {
    const key = keyOrCertPem.includes("CERTIFICATE") ? new X509Certificate(keyOrCertPem).publicKey : createPublicKey(keyOrCertPem);
    id = toHex(sha256(key.export({ type: "spki", format: "der" })));
    if (keyIds.size >= KEY_IDS_MAX) keyIds.delete(keyIds.keys().next().value!);
    keyIds.set(keyOrCertPem, id);
  }
  return id;
}

/** Key ids of the few service certificates a process checks against: computing one costs a third of a verification. */
const keyIds = new Map<string, string>();
const KEY_IDS_MAX = 16;

export interface RootSignatureInput {
  /** The service private key (PEM). */
  servicePrivateKeyPem: string;
  /** kid: serviceKeyId of the service key. */
  keyId: string;
  root: Buffer;
  /** The signature transaction's id, "<view>.<seqno>". */
  txId: string;
  issuedAtS: number;
}

/** The COSE_Sign1 a signature transaction stores in public:ccf.internal.cose_signatures. */
export function signMerkleRoot(input: RootSignatureInput): Buffer {
  const headers: HeaderMap = new Map<number | string, unknown>([
    [HeaderLabel.kid, Buffer.from(input.keyId, "utf8")],
    [CoseReceiptLabel.vds, CCF_LEDGER_SHA256],
    [CoseReceiptLabel.cwtClaims, new Map([[CoseReceiptLabel.iat, input.issuedAtS]])],
    [CoseReceiptLabel.ccf, new Map([[CoseReceiptLabel.txid, input.txId]])],
  ]);
  return signDetachedCoseSign1(input.servicePrivateKeyPem, headers, input.root);
}

/** What a CCF leaf is made of: the ledger entry's digest, its commit evidence, the app's claims digest. */
export interface CoseReceiptLeaf {
  writeSetDigest: Buffer;
  commitEvidence: string;
  claimsDigest: Buffer;
}

/** The COSE receipt: the root signature with the inclusion proof of one leaf in its unprotected header. */
export function coseReceipt(rootSignature: Uint8Array, leaf: CoseReceiptLeaf, proof: ProofStep[]): Buffer {
  const path = proof.map((step) => ("left" in step ? [true, step.left] : [false, step.right]));
  const inclusionProof = encodeCbor(
    new Map<number, unknown>([
      [PROOF_LEAF, [leaf.writeSetDigest, leaf.commitEvidence, leaf.claimsDigest]],
      [PROOF_PATH, path],
    ]),
  );
  const proofs = new Map([[CoseReceiptLabel.inclusionProofs, [inclusionProof]]]);
  return withUnprotectedHeader(decodeDetachedCoseSign1(rootSignature), new Map([[CoseReceiptLabel.vdp, proofs]]));
}

export interface RootSignatureClaims {
  /** The signature transaction named in the "ccf.v1" header. */
  txId: string;
  /** CWT iat, seconds since the epoch. */
  issuedAtS: number;
}

/**
 * Checks a root signature (or receipt envelope) over `root` with the service certificate's key:
 * alg of that key's curve, kid of that key, vds CCF_LEDGER_SHA256. Returns its claims; throws ReceiptError.
 */
export function verifyRootSignature(envelope: DetachedCoseSign1, root: Buffer, serviceCertPem: string): RootSignatureClaims {
  const headers = envelope.protectedHeaders;
  if (headers.get(CoseReceiptLabel.vds) !== CCF_LEDGER_SHA256) {
    throw new ReceiptError(`protected header vds (${CoseReceiptLabel.vds}) is not ${CCF_LEDGER_SHA256} (CCF_LEDGER_SHA256)`);
  }
  const kid = headers.get(HeaderLabel.kid);
  if (!(kid instanceof Uint8Array) || Buffer.from(kid).toString("utf8") !== serviceKeyId(serviceCertPem)) {
    throw new ReceiptError("protected header kid is not the hex SHA-256 of the service certificate's public key");
  }
  if (!verifyCoseSign1({ ...envelope, payload: root }, serviceCertPem)) {
    throw new ReceiptError("COSE signature over the Merkle root does not verify with the service certificate");
  }
  const ccf = headers.get(CoseReceiptLabel.ccf);
  const txId = ccf instanceof Map ? ccf.get(CoseReceiptLabel.txid) : undefined;
  const cwt = headers.get(CoseReceiptLabel.cwtClaims);
  const issuedAtS = cwt instanceof Map ? cwt.get(CoseReceiptLabel.iat) : undefined;
  if (typeof txId !== "string" || !/^\d+\.\d+$/.test(txId)) throw new ReceiptError(`protected header "${CoseReceiptLabel.ccf}" lacks a txid "<view>.<seqno>"`);
  if (!Number.isSafeInteger(issuedAtS)) throw new ReceiptError(`protected header CWT claims (${CoseReceiptLabel.cwtClaims}) lack an integer iat`);
  return { txId, issuedAtS: issuedAtS as number };
}

export interface VerifiedCoseReceipt extends RootSignatureClaims {
  /** The Merkle root the service signed. */
  root: Buffer;
  leaf: CoseReceiptLeaf;
}

/**
 * Verifies a COSE receipt against the service certificate: recomputes the root
 * from its one inclusion proof (the detached payload) and checks the service's
 * signature over it. Throws ReceiptError saying which check failed, for
 * malformed input too.
 */
export function verifyCoseReceipt(receipt: Uint8Array, serviceCertPem: string): VerifiedCoseReceipt {
  let envelope: DetachedCoseSign1;
  try {
    envelope = decodeDetachedCoseSign1(receipt);
  } catch (error) {
    if (error instanceof CoseError) throw new ReceiptError(`not a COSE receipt: ${error.message}`);
    throw error;
  }
  const { leaf, proof } = inclusionProof(envelope);
  const root = foldProof(leafOfComponents(leaf.writeSetDigest, leaf.commitEvidence, leaf.claimsDigest).leaf, proof).root;
  return { ...verifyRootSignature(envelope, root, serviceCertPem), root, leaf };
}

/** The one inclusion proof in the unprotected header, checked against the draft's CDDL. */
function inclusionProof(envelope: DetachedCoseSign1): { leaf: CoseReceiptLeaf; proof: ProofStep[] } {
  const proofs = envelope.unprotected.get(CoseReceiptLabel.vdp);
  if (!(proofs instanceof Map)) throw new ReceiptError(`unprotected header has no verifiable proofs map (${CoseReceiptLabel.vdp})`);
  const inclusion = proofs.get(CoseReceiptLabel.inclusionProofs);
  if (!Array.isArray(inclusion)) throw new ReceiptError(`verifiable proofs have no inclusion proofs array (${CoseReceiptLabel.inclusionProofs})`);
  // CCF emits one; a receipt proves one leaf.
  if (inclusion.length !== 1) throw new ReceiptError(`expected one inclusion proof, found ${inclusion.length}`);
  const encoded: unknown = inclusion[0];
  if (!(encoded instanceof Uint8Array)) throw new ReceiptError("inclusion proof is not a byte string");
  let map: unknown;
  try {
    map = decoder.decode(encoded);
  } catch (error) {
    throw new ReceiptError(`inclusion proof is not CBOR: ${(error as Error).message}`);
  }
  if (!(map instanceof Map)) throw new ReceiptError("inclusion proof is not a map");
  const leaf: unknown = map.get(PROOF_LEAF);
  const path: unknown = map.get(PROOF_PATH);
  if (!Array.isArray(leaf) || leaf.length !== 3) throw new ReceiptError("inclusion proof leaf (1) is not [internal-transaction-hash, internal-evidence, data-hash]");
  const [writeSetDigest, commitEvidence, claimsDigest] = leaf as [unknown, unknown, unknown];
  if (typeof commitEvidence !== "string" || commitEvidence.length === 0 || Buffer.byteLength(commitEvidence) > EVIDENCE_BYTES_MAX) {
    throw new ReceiptError(`inclusion proof internal-evidence is not a text string of 1..${EVIDENCE_BYTES_MAX} bytes`);
  }
  // CCF's CDDL says [+ element], but the first signature's tree has one leaf and an empty path.
  if (!Array.isArray(path)) throw new ReceiptError("inclusion proof path (2) is not an array");
  const proof = path.map((element: unknown, i): ProofStep => {
    if (!Array.isArray(element) || element.length !== 2 || typeof element[0] !== "boolean") {
      throw new ReceiptError(`inclusion proof path[${i}] is not [left: bool, hash: bstr]`);
    }
    const hash = digest(element[1], `inclusion proof path[${i}] hash`);
    return element[0] ? { left: hash } : { right: hash };
  });
  return {
    leaf: {
      writeSetDigest: digest(writeSetDigest, "inclusion proof internal-transaction-hash"),
      commitEvidence,
      claimsDigest: digest(claimsDigest, "inclusion proof data-hash"),
    },
    proof,
  };
}

function digest(value: unknown, what: string): Buffer {
  if (!(value instanceof Uint8Array) || value.length !== DIGEST_BYTES) throw new ReceiptError(`${what} is not a ${DIGEST_BYTES}-byte string`);
  return Buffer.from(value);
}
