// CCF receipts checked with WebCrypto: anyone holding only a receipt and the
// service certificate can check that a transaction is in the ledger. The same
// checks, in the same order, as CCF's verifier: the leaf, the proof path to
// the root, the node's signature over the root, and the node certificate's
// endorsement by the service. Each check is reported as a step, so a page can
// show them one by one and say which one failed.
import { concat, fromBase64, fromHex, pemToDer, sha256, toHex, utf8 } from "./bytes.ts";
import { parseCertificate } from "./der.ts";
import { isIssuedBy, verifyEcdsa, verifyPrehashed } from "./ecdsa.ts";
import type { Receipt } from "./types.ts";

export type ReceiptStepName = "leaf" | "proof" | "signature" | "certificate";

export interface ReceiptStep {
  name: ReceiptStepName;
  ok: boolean;
  /** What was computed or checked, in words (hex digests, counts). */
  detail: string;
}

export interface VerifiedReceipt {
  leaf: Uint8Array;
  /** The Merkle root the node's signature covers. */
  root: Uint8Array;
  steps: ReceiptStep[];
}

/** A receipt that does not verify: which step failed, and the steps up to it. */
export class ReceiptError extends Error {
  override name = "ReceiptError";

  constructor(
    message: string,
    readonly step: ReceiptStepName = "leaf",
    readonly steps: ReceiptStep[] = [],
  ) {
    super(message);
  }
}

const DIGEST_BYTES = 32;
const COMMIT_EVIDENCE = /^ce:\d+\.\d+:[0-9a-f]{64}$/;

function digest(text: unknown, what: string, step: ReceiptStepName): Uint8Array {
  const bytes = typeof text === "string" ? fromHex(text) : undefined;
  if (bytes?.length !== DIGEST_BYTES) throw new ReceiptError(`${what} is not a ${DIGEST_BYTES}-byte hex digest`, step);
  return bytes;
}

/** The leaf a receipt claims, and what it hashes (undefined for a signature transaction's receipt, which carries its leaf). */
async function claimedLeaf(receipt: Receipt): Promise<{ leaf: Uint8Array; input: Uint8Array | undefined }> {
  const components = receipt.leaf_components;
  if (!components) {
    if (typeof receipt.leaf !== "string") throw new ReceiptError("receipt has neither leaf_components nor leaf", "leaf");
    return { leaf: digest(receipt.leaf, "leaf", "leaf"), input: undefined };
  }
  if (typeof components.commit_evidence !== "string" || !COMMIT_EVIDENCE.test(components.commit_evidence)) {
    throw new ReceiptError("commit_evidence is not of the form ce:<view>.<seqno>:<64 hex>", "leaf");
  }
  const writeSet = digest(components.write_set_digest, "write_set_digest", "leaf");
  const claims = digest(components.claims_digest, "claims_digest", "leaf");
  // leaf = SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest)
  const input = concat(writeSet, await sha256(utf8(components.commit_evidence)), claims);
  return { leaf: await sha256(input), input };
}

function proofSteps(receipt: Receipt): ({ left: Uint8Array } | { right: Uint8Array })[] {
  if (!Array.isArray(receipt.proof)) throw new ReceiptError("receipt proof is not an array", "proof");
  return receipt.proof.map((step, i) => {
    if (typeof step !== "object" || step === null) throw new ReceiptError(`proof step ${i} is not an object`, "proof");
    if ("left" in step && !("right" in step)) return { left: digest(step.left, `proof[${i}].left`, "proof") };
    if ("right" in step && !("left" in step)) return { right: digest(step.right, `proof[${i}].right`, "proof") };
    throw new ReceiptError(`proof step ${i} must have exactly one of left/right`, "proof");
  });
}

function certificateDer(pem: unknown, what: string, step: ReceiptStepName): Uint8Array {
  const der = typeof pem === "string" ? pemToDer(pem) : undefined;
  if (der === undefined) throw new ReceiptError(`${what} is not a PEM certificate`, step);
  return der;
}

/**
 * Verifies a receipt against the service certificate (PEM). Returns the leaf,
 * the signed root and the steps; throws ReceiptError naming the failed step.
 */
export async function verifyReceipt(receipt: Receipt, serviceCertPem: string): Promise<VerifiedReceipt> {
  const steps: ReceiptStep[] = [];
  let current: ReceiptStepName = "leaf";
  const pass = (detail: string) => steps.push({ name: current, ok: true, detail });
  try {
    if (typeof receipt !== "object" || receipt === null) throw new ReceiptError("receipt is not an object", "leaf");
    const { leaf, input } = await claimedLeaf(receipt);
    pass(receipt.leaf_components ? `SHA-256(write_set_digest ‖ SHA-256(commit_evidence) ‖ claims_digest) = ${toHex(leaf)}` : `signature transaction leaf ${toHex(leaf)}`);

    current = "proof";
    let root = leaf;
    let lastInput = input;
    for (const step of proofSteps(receipt)) {
      lastInput = "left" in step ? concat(step.left, root) : concat(root, step.right);
      root = await sha256(lastInput);
    }
    pass(`${receipt.proof.length} proof step(s) from the leaf give the root ${toHex(root)}`);

    current = "signature";
    const nodeCertDer = certificateDer(receipt.cert, "the receipt's node certificate", "signature");
    const signature = typeof receipt.signature === "string" ? fromBase64(receipt.signature) : undefined;
    if (signature === undefined) throw new ReceiptError("the receipt's signature is not base64", "signature");
    const nodeCert = parseCertificate(nodeCertDer);
    // The root is a SHA-256 output: with its preimage WebCrypto checks the very same ECDSA operation; without one (a one-leaf tree), the digest is verified as is.
    const signed = lastInput !== undefined ? await verifyEcdsa(nodeCert, "SHA-256", lastInput, signature) : verifyPrehashed(nodeCert, root, signature);
    if (!signed) throw new ReceiptError("signature over the Merkle root does not verify with the receipt's node certificate", "signature");
    pass(`node ${typeof receipt.node_id === "string" ? receipt.node_id.slice(0, 16) : "?"}… signed the root (ECDSA over SHA-256)`);

    current = "certificate";
    const chain = [nodeCertDer, ...(receipt.service_endorsements ?? []).map((pem, i) => certificateDer(pem, `service_endorsements[${i}]`, "certificate")), certificateDer(serviceCertPem, "the service certificate", "certificate")];
    for (let i = 0; i + 1 < chain.length; i++) {
      if (!(await isIssuedBy(chain[i]!, chain[i + 1]!))) throw new ReceiptError("node certificate is not endorsed by the service certificate", "certificate");
    }
    pass(chain.length === 2 ? "the service certificate issued the node certificate" : `the service certificate endorses the node certificate through ${chain.length - 2} endorsement(s)`);
    return { leaf, root, steps };
  } catch (error) {
    const failed = error instanceof ReceiptError ? error : new ReceiptError((error as Error).message, current);
    throw new ReceiptError(failed.message, failed.step, [...steps, { name: failed.step, ok: false, detail: failed.message }]);
  }
}

/**
 * Checks a verified receipt's claims digest is SHA-256 of `body`: how an app
 * (the reconciliation app's reports) binds a response's exact bytes to its
 * transaction. Returns the digest (hex); throws ReceiptError when it differs.
 */
export async function verifyClaimsDigest(receipt: Receipt, body: Uint8Array): Promise<string> {
  const claimsDigest = toHex(await sha256(body));
  const claimed = receipt.leaf_components?.claims_digest;
  if (claimed !== claimsDigest) throw new ReceiptError(`the receipt's claims digest ${claimed ?? "(none)"} is not SHA-256 of the body (${claimsDigest})`, "leaf");
  return claimsDigest;
}
