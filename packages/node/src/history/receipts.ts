// Builds CCF receipts (JSON and COSE) for committed transactions. Leaf
// components come from the ledger entry (re-read from its chunk file), the proof from the Merkle tree:
// from memory for recent transactions; for those whose part of the tree was
// evicted, their own block is rebuilt from the ledger files and the other peaks
// come from the tree their signature recorded.
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import { lowerBound } from "../sorted.ts";
import { fromHex } from "../crypto/hash.ts";
import { leafOf, leafOfFrame, ZERO_DIGEST } from "../ledger/entry.ts";
import type { Ledger } from "../ledger/ledger.ts";
import { coseReceipt } from "../merkle/cose-receipt.ts";
import type { Receipt } from "../merkle/receipt.ts";
import { verifyProof, type BlockLoader, type MerkleTree } from "../merkle/tree.ts";
import { readSignature } from "./signatures.ts";

export interface ReceiptSources {
  ledger: Ledger;
  tree: MerkleTree;
  secrets: LedgerSecrets;
  /** Seqnos of signature transactions, ascending: all of those from signaturesCompleteFrom on. */
  signatureSeqnos: readonly number[];
  signaturesCompleteFrom: number;
}

const SCAN_BATCH = 256;

/** First signature at or after `seqno` (the one that committed it). */
function signatureCovering(sources: ReceiptSources, seqno: number): number | undefined {
  const known = firstAtOrAfter(sources.signatureSeqnos, seqno);
  if (seqno >= sources.signaturesCompleteFrom || known === undefined) return known;
  // Behind a snapshot the list is incomplete: look for an earlier signature in the ledger.
  for (let from = seqno; from < known; from += SCAN_BATCH) {
    const entries = sources.ledger.readEntries(from, Math.min(from + SCAN_BATCH - 1, known - 1));
    const signature = entries.find((entry) => entry.isSignature);
    if (signature) return signature.seqno;
  }
  return known;
}

function firstAtOrAfter(signatureSeqnos: readonly number[], seqno: number): number | undefined {
  return signatureSeqnos[lowerBound(signatureSeqnos, seqno, (s) => s)];
}

/**
 * Rebuilds an evicted Merkle block's leaves from the ledger entries they hash. The
 * frames' own digests are not checked: the tree checks the rebuilt block.
 */
export function ledgerBlockLoader(ledger: Ledger, tree: MerkleTree): BlockLoader {
  const blockLeaves = 2 ** tree.blockLeavesLog2;
  return (block) => {
    const first = block * blockLeaves + 1;
    return ledger.readFrames(first, first + blockLeaves - 1).map(leafOfFrame);
  };
}

/** A transaction's JSON receipt and, where its signature carries the service's COSE signature, its COSE receipt. */
export interface Receipts {
  receipt: Receipt;
  /** Undefined for a signature transaction (CCF has none for it) and where the signature predates COSE signatures. */
  coseReceipt: Buffer | undefined;
}

export function buildReceipts(seqno: number, sources: ReceiptSources): Receipts {
  const { ledger, tree, secrets } = sources;
  const signatureSeqno = signatureCovering(sources, seqno);
  if (signatureSeqno === undefined) throw new Error(`no signature covers seqno ${seqno}`);
  const { record: signature, treeFrontier, coseSignature } = readSignature(ledger.readEntry(signatureSeqno).publicWriteSet);
  const signed = { cert: signature.cert, node_id: signature.node, signature: signature.sig };
  if (signatureSeqno === seqno) return { receipt: { ...signed, leaf: signature.root, proof: [] }, coseReceipt: undefined };

  const entry = ledger.readEntry(seqno);
  // The signature at S signs the root of the tree over seqnos 1..S-1 (leaves 0..S-2). Its recorded
  // frontier gives the peaks, so only the entry's own block may need rebuilding from the ledger.
  const proof = tree.proof(seqno - 1, signatureSeqno - 1, ledgerBlockLoader(ledger, tree), treeFrontier);
  if (!verifyProof(leafOf(entry), proof).equals(fromHex(signature.root))) {
    throw new Error(`the receipt built for seqno ${seqno} does not lead to the root signed at seqno ${signatureSeqno}: the ledger files were altered`);
  }
  const leaf = {
    writeSetDigest: entry.writeSetDigest,
    commitEvidence: secrets.at(entry.seqno).commitEvidence(entry.view, entry.seqno),
    claimsDigest: entry.claimsDigest ?? ZERO_DIGEST,
  };
  const receipt: Receipt = {
    ...signed,
    proof: proof.map((step) => ("left" in step ? { left: step.left.toString("hex") } : { right: step.right.toString("hex") })),
    leaf_components: {
      write_set_digest: leaf.writeSetDigest.toString("hex"),
      commit_evidence: leaf.commitEvidence,
      claims_digest: leaf.claimsDigest.toString("hex"),
    },
  };
  return { receipt, coseReceipt: coseSignature === undefined ? undefined : coseReceipt(coseSignature, leaf, proof) };
}
