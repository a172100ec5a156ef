// The ledger explorer's transaction list: the node's ledger files as the
// console server reads them, newest first and paged, each transaction with its
// public writes (cut to a preview; expanding fetches it in full), its private
// write set as a sealed size only, signatures marked with what they sign, and
// the chunk file holding it. The newest page follows the ledger live.
import { useId, useState } from "react";
import type { LedgerChunk, LedgerPage, LedgerTransaction, LedgerWrite, RenderedBytes } from "@confide/sdk";
import { readJson } from "../api.ts";
import { ErrorLine } from "../App.tsx";
import { useLive } from "../live.ts";

const PAGE_TX = 15;
/** Characters of a value shown in a row; the rest is one click away. */
const PREVIEW_CHARS = 80;

const ledgerPath = (before: number | undefined) => `/ledger?limit=${PAGE_TX}${before === undefined ? "" : `&before=${before}`}`;

function seqnoOf(txId: string): number {
  return Number(txId.split(".")[1] ?? 0);
}

export function LedgerTransactions({ service, committed, onReceipt }: { service: string; committed: string | undefined; onReceipt: (txId: string) => void }) {
  // Pages older than the newest are reached by `before`; the newest page (before undefined) follows the ledger.
  const [newer, setNewer] = useState<(number | undefined)[]>([]);
  const [before, setBefore] = useState<number>();
  const [from, setFrom] = useState("");
  const page = useLive(() => readJson<LedgerPage>(service, ledgerPath(before)), [service, before]);
  const committedSeqno = committed === undefined ? 0 : seqnoOf(committed);

  const go = (next: number | undefined, history: (number | undefined)[]) => {
    setNewer(history);
    setBefore(next);
  };
  const jump = (event: React.FormEvent) => {
    event.preventDefault();
    const seqno = Number(from);
    if (Number.isSafeInteger(seqno) && seqno >= 1) go(seqno + 1, [...newer, before]);
  };

  return (
    <section aria-labelledby="tx-title">
      <h3 id="tx-title">Transactions</h3>
      <ErrorLine error={page.error} />
      {page.value && <Chunks chunks={page.value.chunks} lastSeqno={page.value.lastSeqno} tornTail={page.value.tornTail} />}
      <div className="toolbar" role="group" aria-label="Ledger pages">
        <button type="button" disabled={before === undefined} onClick={() => go(undefined, [])}>
          Newest
        </button>{" "}
        <button type="button" disabled={newer.length === 0} onClick={() => go(newer.at(-1), newer.slice(0, -1))}>
          Newer
        </button>{" "}
        <button type="button" disabled={!page.value?.nextBefore} onClick={() => go(page.value!.nextBefore!, [...newer, before])}>
          Older
        </button>{" "}
        <form className="inline" onSubmit={jump} aria-label="Go to a seqno">
          <label>
            From seqno <input type="number" min={1} value={from} onChange={(e) => setFrom(e.target.value)} />
          </label>{" "}
          <button type="submit">Go</button>
        </form>
      </div>
      {page.value && (
        <table aria-label="Transactions" className="ledger">
          <thead>
            <tr>
              <th scope="col">Transaction</th>
              <th scope="col">Chunk</th>
              <th scope="col">Public writes</th>
              <th scope="col">Private writes</th>
            </tr>
          </thead>
          <tbody>
            {page.value.transactions.map((tx) => (
              <Row key={tx.seqno} service={service} tx={tx} committed={tx.seqno <= committedSeqno} onReceipt={onReceipt} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Chunks({ chunks, lastSeqno, tornTail }: Pick<LedgerPage, "chunks" | "lastSeqno" | "tornTail">) {
  const label = (c: LedgerChunk) => `${c.name}: seqnos ${c.start}–${c.end ?? lastSeqno}, ${c.state === "open" ? "open (being written)" : c.state}`;
  return (
    <>
      <p>
        {lastSeqno} transactions in {chunks.length} chunk files:
      </p>
      <ul aria-label="Chunk files" className="chunks">
        {chunks.map((c) => (
          <li key={c.name} className={`chunk-${c.state}`}>
            {label(c)}
          </li>
        ))}
      </ul>
      {tornTail && (
        <p className="hint" role="note">
          {tornTail.chunk} ends with {tornTail.tornBytes} bytes of an entry still being written: only the whole entries are shown.
        </p>
      )}
    </>
  );
}

function Row({ service, tx, committed, onReceipt }: { service: string; tx: LedgerTransaction; committed: boolean; onReceipt: (txId: string) => void }) {
  const [full, setFull] = useState<LedgerTransaction>();
  const [error, setError] = useState<string>();
  const detailId = useId();
  const shown = full ?? tx;
  const cut = tx.publicWriteCount > tx.publicWrites.length || tx.publicWrites.some((w) => isCut(w.key) || (w.value !== null && isCut(w.value)));
  const toggle = () => {
    if (full) return setFull(undefined);
    readJson<LedgerTransaction>(service, `/ledger/${tx.seqno}`).then(setFull, (e: Error) => setError(e.message));
  };
  return (
    <tr data-seqno={tx.seqno} className={tx.signature ? "signature" : undefined}>
      <td>
        {committed ? (
          <button type="button" className="link mono" aria-label={`Receipt for ${tx.txId}`} onClick={() => onReceipt(tx.txId)}>
            {tx.txId}
          </button>
        ) : (
          <span className="mono">{tx.txId}</span>
        )}
        {!committed && <div className="hint">pending</div>}
        {tx.signature && (
          <div className="sig-badge" data-testid={`signature-${tx.seqno}`}>
            Signature over seqnos 1–{tx.seqno - 1}: root <span className="mono">{tx.signature.root}</span>, node <span className="mono">{tx.signature.node.slice(0, 16)}…</span>
          </div>
        )}
      </td>
      <td className="mono">{tx.chunk}</td>
      <td id={detailId}>
        {shown.publicWrites.length === 0 ? <span className="hint">none</span> : <Writes writes={shown.publicWrites} full={full !== undefined} />}
        {shown.publicWriteCount > shown.publicWrites.length && (
          <div className="hint">
            and {shown.publicWriteCount - shown.publicWrites.length} more of {shown.publicWriteCount} writes
          </div>
        )}
        {(cut || full) && (
          <button type="button" aria-expanded={full !== undefined} aria-controls={detailId} aria-label={`${full ? "Collapse" : "Expand"} ${tx.txId}`} onClick={toggle}>
            {full ? "Collapse" : "Expand"}
          </button>
        )}
        <ErrorLine error={error} />
      </td>
      <td data-testid={`private-${tx.seqno}`}>{tx.privateBytes > 0 ? `${tx.privateBytes} bytes, encrypted` : <span className="hint">none</span>}</td>
    </tr>
  );
}

function isCut(bytes: RenderedBytes): boolean {
  return bytes.truncated || bytes.text.length > PREVIEW_CHARS;
}

function Writes({ writes, full }: { writes: LedgerWrite[]; full: boolean }) {
  return (
    <ul className="writes">
      {writes.map((w, i) => (
        <li key={i}>
          <span className="table-name">{w.table}</span> <Bytes bytes={w.key} full={full} /> ={" "}
          {w.value === null ? <em>deleted</em> : <Bytes bytes={w.value} full={full} />}
        </li>
      ))}
    </ul>
  );
}

/** Text as it is (pretty JSON when expanded), hex marked as hex; a preview ends in "…" and says the whole size. */
function Bytes({ bytes, full }: { bytes: RenderedBytes; full: boolean }) {
  let text = bytes.text;
  if (full && bytes.encoding === "text" && !bytes.truncated) text = prettyJson(text);
  const cut = !full && text.length > PREVIEW_CHARS;
  const shown = cut ? text.slice(0, PREVIEW_CHARS) : text;
  return (
    <span className="mono">
      {bytes.encoding === "hex" && <abbr title="not UTF-8 text: shown as hex">0x</abbr>}
      {full ? <span className="value-full">{shown}</span> : shown}
      {(cut || bytes.truncated) && <span className="hint"> … ({bytes.bytes} bytes)</span>}
    </span>
  );
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
