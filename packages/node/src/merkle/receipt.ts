// CCF receipts: a proof that a transaction is in the ledger, checkable by anyone
// holding only the receipt and the service certificate.
import { DIGEST_BYTES, fromHex, sha256 } from "../crypto/hash.ts";
import { isCertIssuedBy } from "../crypto/certs.ts";
import { verifyDigestSignature } from "../crypto/digest-signature.ts";
import { foldProof, type ProofStep } from "./tree.ts";

// One definition of CCF's receipt shape, shared with browsers: the SDK's (it imports nothing of Node).
import type { Receipt, ReceiptProofStep } from "@confide/sdk";
export type { Receipt, ReceiptProofStep };

export class ReceiptError extends Error {}

const COMMIT_EVIDENCE = /^ce:\d+\.\d+:[0-9a-f]{64}$/;

/** The leaf a receipt claims: SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest). */
export function receiptLeaf(receipt: Receipt): Buffer {
  return claimedLeaf(receipt).leaf;
}

/** The claimed leaf, and what it hashes (undefined for a receipt that carries its leaf: a signature's). */
function claimedLeaf(receipt: Receipt): { leaf: Buffer; input: Buffer | undefined } {
  const components = receipt.leaf_components;
  if (!components) {
    if (typeof receipt.leaf !== "string") throw new ReceiptError("receipt has neither leaf_components nor leaf");
    return { leaf: hexDigest(receipt.leaf, "leaf"), input: undefined };
  }
  if (typeof components.commit_evidence !== "string" || !COMMIT_EVIDENCE.test(components.commit_evidence)) {
    throw new ReceiptError("commit_evidence is not of the form ce:<view>.<seqno>:<64 hex>");
  }
  return leafOfComponents(hexDigest(components.write_set_digest, "write_set_digest"), components.commit_evidence, hexDigest(components.claims_digest, "claims_digest"));
}

/** A Merkle leaf from its components, and what it hashes: SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest). */
export function leafOfComponents(writeSetDigest: Uint8Array, commitEvidence: string, claimsDigest: Uint8Array): { leaf: Buffer; input: Buffer } {
  const input = Buffer.concat([writeSetDigest, sha256(commitEvidence), claimsDigest]);
  return { leaf: sha256(input), input };
}

/**
 * Verifies a receipt against the service certificate: folds the proof from the
 * leaf to the root, checks the node's signature over the root, and checks the
 * node certificate was issued by the service (directly or through
 * service_endorsements). Returns the signed root; throws ReceiptError saying
 * which check failed.
 */
export function verifyReceipt(receipt: Receipt, serviceCertPem: string): Buffer {
  if (typeof receipt !== "object" || receipt === null) throw new ReceiptError("receipt is not an object");
  if (!Array.isArray(receipt.proof)) throw new ReceiptError("receipt proof is not an array");
  const steps: ProofStep[] = receipt.proof.map((step, i) => {
    if (typeof step !== "object" || step === null) throw new ReceiptError(`proof step ${i} is not an object`);
    if ("left" in step && !("right" in step)) return { left: hexDigest(step.left, `proof[${i}].left`) };
    if ("right" in step && !("left" in step)) return { right: hexDigest(step.right, `proof[${i}].right`) };
    throw new ReceiptError(`proof step ${i} must have exactly one of left/right`);
  });
  const { leaf, input } = claimedLeaf(receipt);
  const { root, lastInput } = foldProof(leaf, steps);
  if (typeof receipt.signature !== "string" || typeof receipt.cert !== "string") {
    throw new ReceiptError("receipt lacks signature or cert");
  }
  const signature = Buffer.from(receipt.signature, "base64");
  // The root's own input (the last proof step, or the leaf's components) lets OpenSSL check the signature.
  if (!verifyDigestSignature(receipt.cert, root, signature, lastInput ?? input)) {
    throw new ReceiptError("signature over the Merkle root does not verify with the receipt's node certificate");
  }
  if (!isEndorsedByService(receipt.cert, receipt.service_endorsements ?? [], serviceCertPem)) {
    throw new ReceiptError("node certificate is not endorsed by the service certificate");
  }
  return root;
}

/** Chains already checked: a node signs many receipts with one certificate. Bounded, oldest dropped. */
const endorsedChains = new Set<string>();
const ENDORSED_CHAINS_MAX = 256;

function isEndorsedByService(nodeCertPem: string, endorsements: string[], serviceCertPem: string): boolean {
  // Chain: node cert ← endorsements[0] ← … ← service cert.
  const chain = [nodeCertPem, ...endorsements, serviceCertPem];
  const key = chain.join("\n");
  if (endorsedChains.has(key)) return true;
  let endorsed: boolean;
  try {
    endorsed = chain.every((cert, i) => i === chain.length - 1 || isCertIssuedBy(cert, chain[i + 1]!));
  } catch {
    endorsed = false;
  }
  if (endorsed) {
    if (endorsedChains.size >= ENDORSED_CHAINS_MAX) endorsedChains.delete(endorsedChains.values().next().value!);
    endorsedChains.add(key);
  }
  return endorsed;
}

function hexDigest(text: unknown, what: string): Buffer {
  if (typeof text !== "string") throw new ReceiptError(`${what} is not a string`);
  try {
    return fromHex(text, DIGEST_BYTES);
  } catch {
    throw new ReceiptError(`${what} is not a ${DIGEST_BYTES}-byte hex digest`);
  }
}
