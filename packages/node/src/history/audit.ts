// Offline audit of a ledger directory, as CCF's ledger verification tools do:
// every chunk file is read in order (framing, digests, seqno continuity, chunk
// names), the Merkle tree is rebuilt and every signature transaction checked
// against it (signed root, node signature and, with the service certificate,
// that the signing node was endorsed), every public write set is decoded and,
// with the ledger secret, every entry's commit evidence digest is checked
// against the secret and every private write set decrypted and decoded. Nothing is written: a torn tail
// and unsigned entries after the last signature are reported as warnings (a
// crash leaves them and a node start truncates them); anything else
// inconsistent throws LedgerCorruptionError naming the file, offset and seqno.
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import { decodeWriteSet } from "../kv/write-set.ts";
import { readLedger, type LedgerRecord, type TornTail } from "../ledger/reader.ts";
import { asCorruption, checkCommitEvidence, entryWrites } from "./replay.ts";
import { LedgerVerifier } from "./verifier.ts";

export interface AuditOptions {
  /** When given, every signing node certificate must be issued by this service certificate. */
  serviceCertPem?: string;
  /** When given, every private write set is decrypted (and decoded) with the secret of its seqno. */
  secrets?: LedgerSecrets;
}

export interface AuditChunk {
  name: string;
  firstSeqno: number;
  lastSeqno: number;
  entries: number;
  /** Bytes of whole entries (a torn tail is not counted). */
  bytes: number;
  committed: boolean;
}

export interface AuditReport {
  dir: string;
  chunks: AuditChunk[];
  /** Every entry, signature transactions included. */
  transactions: number;
  signatures: number;
  lastSeqno: number;
  /** Seqno of the last signature transaction (0 if none): what a node start keeps. */
  lastSignedSeqno: number;
  /** Hex Merkle root signed by the last signature (over seqnos 1..lastSignedSeqno - 1), or null. */
  lastSignedRoot: string | null;
  /** Views in order, each with the first seqno written in it. */
  views: Array<{ view: number; firstSeqno: number }>;
  /** Entries carrying a sealed private write set. */
  privateEntries: number;
  /** True if the ledger secrets were given: every commit evidence checked, every private write set decrypted and decoded (else they stay sealed: their digests are still covered by the signed Merkle roots). */
  privateChecked: boolean;
  /** True if signing node certificates were checked against the service certificate. */
  endorsementChecked: boolean;
  /** An incomplete last frame in the chunk being written (warning). */
  tornTail: TornTail | null;
  /** Entries after the last signature, never committed (warning). */
  unsignedAfterLastSignature: number;
  warnings: string[];
}

/**
 * The audit's checks of one entry (the next after those `verifier` has seen); throws
 * LedgerCorruptionError naming it. Only the tree's root is kept: its memory stays bounded.
 */
export function auditEntry(verifier: LedgerVerifier, record: LedgerRecord, secrets: LedgerSecrets | undefined): void {
  const { entry } = record;
  const secret = secrets?.at(entry.seqno);
  try {
    // Every entry's commit evidence: the audit finds exactly which entry disagrees with the secret.
    if (secret) checkCommitEvidence(entry, secret);
    verifier.add(entry);
    // Decoding checks the write sets; the values themselves are not kept.
    if (secret) entryWrites(entry, secret);
    else decodeWriteSet(entry.publicWriteSet, "public");
  } catch (error) {
    throw asCorruption(error, record, secret);
  }
  if (entry.isSignature) verifier.tree.evictBlocksBefore(verifier.tree.size);
}

/** Audits the ledger in `dir`; throws LedgerCorruptionError on the first inconsistency. */
export function auditLedger(dir: string, options: AuditOptions = {}): AuditReport {
  const { secrets, serviceCertPem } = options;
  const verifier = new LedgerVerifier(serviceCertPem);
  const chunks: AuditChunk[] = [];
  const views: AuditReport["views"] = [];
  let tornTail: TornTail | null = null;
  let transactions = 0;
  let privateEntries = 0;
  let lastSeqno = 0;

  const records = readLedger(dir, { onTornTail: (tail) => (tornTail = tail) });
  for (const record of records) {
    const { entry } = record;
    let chunk = chunks.at(-1);
    if (chunk?.name !== record.chunk.name) {
      chunk = { name: record.chunk.name, firstSeqno: entry.seqno, lastSeqno: entry.seqno, entries: 0, bytes: 0, committed: record.chunk.committed };
      chunks.push(chunk);
    }
    chunk.lastSeqno = entry.seqno;
    chunk.entries++;
    chunk.bytes = record.offset + entry.frameBytes;
    if (views.at(-1)?.view !== entry.view) views.push({ view: entry.view, firstSeqno: entry.seqno });
    if (entry.privateSealed.length > 0) privateEntries++;
    auditEntry(verifier, record, secrets);
    transactions++;
    lastSeqno = entry.seqno;
  }

  const lastSignedSeqno = verifier.signatureSeqnos.at(-1) ?? 0;
  const unsignedAfterLastSignature = lastSeqno - lastSignedSeqno;
  const warnings: string[] = [];
  const torn = tornTail as TornTail | null;
  if (torn) {
    warnings.push(`${torn.path} ends with a torn entry (${torn.tornBytes} bytes after offset ${torn.validBytes}); a node start truncates it`);
  }
  if (unsignedAfterLastSignature > 0) {
    warnings.push(
      `${unsignedAfterLastSignature} unsigned entries from seqno ${lastSignedSeqno + 1} (after the last signature, never committed); a node start discards them`,
    );
  }
  if (chunks.length === 0) warnings.push(`no ledger chunk files in ${dir}`);
  if (!serviceCertPem && verifier.signatureSeqnos.length > 0) {
    warnings.push("signing node certificates not checked against a service certificate (none given)");
  }

  return {
    dir,
    chunks,
    transactions,
    signatures: verifier.signatureSeqnos.length,
    lastSeqno,
    lastSignedSeqno,
    lastSignedRoot: verifier.lastSignature?.root ?? null,
    views,
    privateEntries,
    privateChecked: secrets !== undefined,
    endorsementChecked: serviceCertPem !== undefined,
    tornTail: torn,
    unsignedAfterLastSignature,
    warnings,
  };
}
