// A node started from a snapshot replays only what follows it, so the chunks
// before it would otherwise never be read again until someone asks for an old
// receipt. This pass checks them in the background right after the start, with
// the offline audit's checks (framing, digests, seqno order, every signature
// against the rebuilt Merkle tree and the service certificate, every commit
// evidence, every private write set decrypted), and then that the tree it built
// is the snapshot's: so the snapshot and the entries before it tell one story.
// It reads in short slices between which the event loop serves requests.
import { setImmediate as nextTurn } from "node:timers/promises";
import type { LedgerSecrets } from "../crypto/ledger-secrets.ts";
import { LedgerCorruptionError, readLedger } from "../ledger/reader.ts";
import type { LedgerStorage } from "../ledger/storage.ts";
import { PRE_SNAPSHOT_CHECK_SLICE_MS } from "../limits.ts";
import { auditEntry } from "./audit.ts";
import { LedgerVerifier } from "./verifier.ts";

export interface PreSnapshotCheckOptions {
  secrets: LedgerSecrets;
  serviceCertPem?: string;
  /** Seqno of the snapshot the node started from: entries 1..seqno are checked. */
  snapshotSeqno: number;
  /** The snapshot's Merkle tree (its frontier), which the entries must rebuild exactly. */
  snapshotFrontier: Buffer;
  /** Checked between slices: true once the node stops, which ends the pass. */
  stopped: () => boolean;
}

/** What the node knows about the entries behind its snapshot. */
export type PreSnapshotCheck =
  | { state: "checking" }
  | { state: "verified"; throughSeqno: number }
  /** The ledger holds nothing up to the snapshot (a node that joined from it, as CCF): there is nothing to check. */
  | { state: "notHeld"; snapshotSeqno: number }
  | { state: "stopped" }
  | { state: "damaged"; error: LedgerCorruptionError };

/** Checks entries 1..snapshotSeqno of the ledger in `dir`; resolves to the outcome, never rejects. */
export async function checkBeforeSnapshot(storage: LedgerStorage, options: PreSnapshotCheckOptions): Promise<PreSnapshotCheck> {
  const { secrets, serviceCertPem, snapshotSeqno } = options;
  const verifier = new LedgerVerifier(serviceCertPem);
  let sliceStart = performance.now();
  let last: { file: string; offset: number } | undefined;
  try {
    for (const record of readLedger(storage)) {
      auditEntry(verifier, record, secrets);
      last = { file: record.chunk.name, offset: record.offset };
      if (record.entry.seqno === snapshotSeqno) break;
      if (performance.now() - sliceStart >= PRE_SNAPSHOT_CHECK_SLICE_MS) {
        await nextTurn();
        if (options.stopped()) return { state: "stopped" };
        sliceStart = performance.now();
      }
    }
  } catch (error) {
    if (error instanceof LedgerCorruptionError) return { state: "damaged", error };
    const message = error instanceof Error ? error.message : String(error);
    return { state: "damaged", error: new LedgerCorruptionError(last?.file ?? storage.location, last?.offset ?? 0, undefined, `cannot read the ledger: ${message}`) };
  }
  if (verifier.tree.size !== snapshotSeqno) {
    const detail = `the ledger ends at seqno ${verifier.tree.size}, before the snapshot at seqno ${snapshotSeqno}`;
    return { state: "damaged", error: new LedgerCorruptionError(last?.file ?? storage.location, last?.offset ?? 0, verifier.tree.size, detail) };
  }
  if (!verifier.tree.frontier().equals(options.snapshotFrontier)) {
    const detail = `the Merkle tree of seqnos 1..${snapshotSeqno} is not the one the snapshot holds`;
    return { state: "damaged", error: new LedgerCorruptionError(last!.file, last!.offset, snapshotSeqno, detail) };
  }
  return { state: "verified", throughSeqno: snapshotSeqno };
}
