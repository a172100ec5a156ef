// An independent verifier of CCF COSE receipts, written from the drafts and
// not from our encoder: RFC 9052 (COSE_Sign1, Sig_structure), RFC 9942 (COSE
// Receipts: vds 395, vdp 396, inclusion proofs -1) and
// draft-ietf-scitt-receipts-ccf-profile ("Inclusion Proof Verification
// Algorithm"). It uses only cbor-x and node:crypto, so a bug shared with
// src/crypto/cose.ts or src/merkle/cose-receipt.ts cannot hide here.
import { createHash, verify, X509Certificate } from "node:crypto";
import { Decoder, Encoder, Tag } from "cbor-x";

const cbor = new Decoder({ mapsAsObjects: false, useRecords: false });
const cborOut = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false });
const H = (...parts: Uint8Array[]) => createHash("sha256").update(Buffer.concat(parts)).digest();

export interface IndependentResult {
  root: Buffer;
  protectedHeader: Map<unknown, unknown>;
  commitEvidence: string;
}

/** Throws an Error naming the first check that fails. */
export function independentlyVerifyCoseReceipt(receipt: Uint8Array, serviceCertPem: string): IndependentResult {
  const tagged: unknown = cbor.decode(receipt);
  if (!(tagged instanceof Tag) || tagged.tag !== 18) throw new Error("not a tagged COSE_Sign1 (tag 18)");
  const [phdr, uhdr, payload, signature] = tagged.value as [Uint8Array, Map<unknown, unknown>, unknown, Uint8Array];
  const protectedHeader = cbor.decode(phdr) as Map<unknown, unknown>;
  if (protectedHeader.get(1) !== -35) throw new Error("alg is not ES384");
  if (protectedHeader.get(395) !== 2) throw new Error("vds is not CCF_LEDGER_SHA256 (2)");
  // The draft: the payload MUST be detached, so the verifier recomputes the root.
  if (payload !== null) throw new Error("payload is not detached");

  const proofs = (uhdr.get(396) as Map<unknown, unknown>).get(-1) as Uint8Array[];
  const proof = cbor.decode(proofs[0]!) as Map<unknown, unknown>;
  const [internalTransactionHash, internalEvidence, dataHash] = proof.get(1) as [Uint8Array, string, Uint8Array];
  // compute_root(proof): the leaf, then each [left, hash] from the leaf up.
  let h = H(internalTransactionHash, H(Buffer.from(internalEvidence, "utf8")), dataHash);
  for (const [left, hash] of proof.get(2) as Array<[boolean, Uint8Array]>) h = left ? H(hash, h) : H(h, hash);

  // RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload], the root as payload.
  const toBeSigned = cborOut.encode(["Signature1", Buffer.from(phdr), Buffer.alloc(0), h]);
  const key = new X509Certificate(serviceCertPem).publicKey;
  if (!verify("sha384", toBeSigned, { key, dsaEncoding: "ieee-p1363" }, signature)) throw new Error("signature does not verify over the recomputed root");
  return { root: h, protectedHeader, commitEvidence: internalEvidence };
}
