// Checks a ledger as it is read, entry by entry: rebuilds the Merkle tree from
// the entries and, at every signature transaction, checks that the signed root
// is the tree's root, that the signature verifies with a node certificate the
// service endorsed, and that the service's COSE signature (if any) signs it.
// Shared by replay (node start) and the offline audit.
import { isCertIssuedBy } from "../crypto/certs.ts";
import { CoseError, decodeDetachedCoseSign1 } from "../crypto/cose.ts";
import { verifyRootSignature } from "../merkle/cose-receipt.ts";
import { ReceiptError } from "../merkle/receipt.ts";
import { verifyDigestSignature } from "../crypto/digest-signature.ts";
import { leafInputOf, type DecodedEntry } from "../ledger/entry.ts";
import { MerkleTree } from "../merkle/tree.ts";
import { readSignature, SignatureFormatError, TREE_MAP, type SignatureEntry, type SignatureRecord } from "./signatures.ts";

export class VerificationError extends Error {
  constructor(
    readonly seqno: number,
    detail: string,
  ) {
    super(`seqno ${seqno}: ${detail}`);
  }
}

export class LedgerVerifier {
  readonly tree: MerkleTree;
  /** Seqnos of the signature transactions seen, in order. */
  readonly signatureSeqnos: number[] = [];
  lastSignature: SignatureRecord | undefined;
  private readonly endorsedCerts = new Set<string>();
  /** When given, every signing node certificate must be issued by one of these service certificates. */
  private serviceCertPems: string[] | undefined;

  constructor(serviceCertPem: string | readonly string[] | undefined, tree?: MerkleTree) {
    this.serviceCertPems = serviceCertPem === undefined ? undefined : typeof serviceCertPem === "string" ? [serviceCertPem] : [...serviceCertPem];
    this.tree = tree ?? new MerkleTree();
  }

  /**
   * Accepts signatures of nodes endorsed by `pem` too (and, if no identity was given, from now on
   * only those): a recovered service's ledger holds entries signed under each of its identities.
   */
  trustServiceIdentity(pem: string): void {
    this.serviceCertPems ??= [];
    if (!this.serviceCertPems.includes(pem)) this.serviceCertPems.push(pem);
  }

  /** Accepts the next entry (seqno tree.size + 1); returns its signature record if it is a signature. */
  add(entry: DecodedEntry): SignatureRecord | undefined {
    if (entry.seqno !== this.tree.size + 1) {
      throw new VerificationError(entry.seqno, `expected seqno ${this.tree.size + 1}`);
    }
    const record = entry.isSignature ? this.checkSignature(entry) : undefined;
    this.tree.appendLeafOf(leafInputOf(entry));
    if (record) {
      this.signatureSeqnos.push(entry.seqno);
      this.lastSignature = record;
    }
    return record;
  }

  private checkSignature(entry: DecodedEntry): SignatureRecord {
    let signature: SignatureEntry;
    try {
      signature = readSignature(entry.publicWriteSet);
    } catch (error) {
      if (error instanceof SignatureFormatError) throw new VerificationError(entry.seqno, error.message);
      throw error;
    }
    const { record, treeFrontier } = signature;
    if (record.seqno !== entry.seqno || record.view !== entry.view) {
      throw new VerificationError(entry.seqno, `signature record names tx ${record.view}.${record.seqno}, not its own`);
    }
    if (this.tree.size === 0) throw new VerificationError(entry.seqno, "signature with no transactions before it");
    const root = this.tree.root();
    if (record.root !== root.toString("hex")) {
      throw new VerificationError(entry.seqno, `signed root ${record.root.slice(0, 16)}… differs from the root of the entries before it ${root.toString("hex").slice(0, 16)}… (an earlier entry was altered)`);
    }
    // Receipts take their peaks from it (and check the result against the signed root): a bad one is reported here first.
    if (treeFrontier !== undefined && !treeFrontier.equals(this.tree.frontier())) {
      throw new VerificationError(entry.seqno, `the tree recorded in ${TREE_MAP} is not the tree of the entries before it`);
    }
    if (!verifyDigestSignature(record.cert, root, Buffer.from(record.sig, "base64"), this.tree.rootPreimage())) {
      throw new VerificationError(entry.seqno, "signature over the Merkle root does not verify with the signing node's certificate");
    }
    this.checkEndorsed(entry.seqno, record.cert);
    if (signature.coseSignature !== undefined) this.checkCoseSignature(entry, root, signature.coseSignature);
    return record;
  }

  /** The service's COSE signature, where there is one (CCF checks it too), must sign this root and name this transaction. */
  private checkCoseSignature(entry: DecodedEntry, root: Buffer, coseSignature: Buffer): void {
    if (this.serviceCertPems === undefined) return;
    let txId: string | undefined;
    let failure: Error | undefined;
    for (const pem of this.serviceCertPems) {
      try {
        txId = verifyRootSignature(decodeDetachedCoseSign1(coseSignature), root, pem).txId;
        break;
      } catch (error) {
        if (!(error instanceof CoseError || error instanceof ReceiptError)) throw error;
        failure ??= error;
      }
    }
    if (txId === undefined) throw new VerificationError(entry.seqno, `COSE signature: ${failure?.message ?? "no service identity"}`);
    if (txId !== `${entry.view}.${entry.seqno}`) throw new VerificationError(entry.seqno, `COSE signature names transaction ${txId}, not its own`);
  }

  private checkEndorsed(seqno: number, certPem: string): void {
    if (this.serviceCertPems === undefined || this.endorsedCerts.has(certPem)) return;
    const endorsed = this.serviceCertPems.some((pem) => {
      try {
        return isCertIssuedBy(certPem, pem);
      } catch {
        return false;
      }
    });
    if (!endorsed) throw new VerificationError(seqno, "signing node certificate is not issued by the service certificate");
    this.endorsedCerts.add(certPem);
  }
}
