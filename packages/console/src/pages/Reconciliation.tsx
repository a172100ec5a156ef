// Reconciliation: upload a party's CSV (with progress), then the party's
// report: status distribution, attributes that disagree most, where the
// party's values stand (majority or minority), a table of keys filtered by
// status and attribute and paged by the app's cursor, and the report as a CSV download.
import { useState } from "react";
import { reportPath, type IngestCounts, type ReportQuery } from "@confide/sdk";
import { app, errorText, upload } from "../api.ts";
import { ErrorLine, NeedsKind, type Acting } from "../App.tsx";

const STATUSES = ["IN_CONSENSUS", "LACK_OF_CONSENSUS", "NOT_ENOUGH_DATA"] as const;
type Counts = Record<(typeof STATUSES)[number], number>;
interface Summary {
  keys: number;
  status: Counts;
  attributes: Record<string, Counts>;
}
interface Envelope {
  content: Record<string, unknown>[];
  next_cursor?: string | null;
  summary?: Summary;
}
const PAGE_ROWS = 20;
/** The majority/minority chart reads the whole report a page at a time; past this many keys it says it counted the first ones. */
const MAJORITY_KEYS_MAX = 10_000;

/** Per attribute, how many of the party's values are with the majority or in a minority (null below k: not counted). */
interface Standing {
  keys: number;
  complete: boolean;
  attributes: Record<string, { Majority: number; Minority: number }>;
}
type DetailedRow = { attributes?: Record<string, { majority_minority?: string | null }> };

export function ReconciliationPage({ acting }: { acting: Acting }) {
  return (
    <section aria-labelledby="recon-title">
      <h2 id="recon-title">Reconciliation</h2>
      {/* The app's endpoints exist only on its own service: on the other, the page would call paths that are not there. */}
      {acting.service !== "reconciliation" ? (
        <p className="hint">Pick the reconciliation service to use this page.</p>
      ) : (
        <NeedsKind acting={acting} kind="user">
          <Upload acting={acting} />
          <Report acting={acting} />
        </NeedsKind>
      )}
    </section>
  );
}

function Upload({ acting }: { acting: Acting }) {
  const [file, setFile] = useState<File>();
  const [progress, setProgress] = useState<number>();
  const [counts, setCounts] = useState<IngestCounts>();
  const [error, setError] = useState<string>();

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    if (!file) return;
    setError(undefined);
    setCounts(undefined);
    setProgress(0);
    try {
      const reply = await upload(acting.service, acting.as, "/csv/ingest", file, "text/csv", setProgress);
      if (!reply.ok) setError(errorText(reply));
      else setCounts((reply.json as { ingest: IngestCounts }).ingest);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <form onSubmit={(e) => void submit(e)} aria-labelledby="upload-title">
      <h3 id="upload-title">Upload your data</h3>
      <label>
        CSV file <input type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.target.files?.[0])} />
      </label>{" "}
      <button type="submit" disabled={!file}>
        Upload
      </button>{" "}
      {progress !== undefined && (
        <progress max={1} value={progress} aria-label="Upload progress">
          {Math.round(progress * 100)}%
        </progress>
      )}
      <ErrorLine error={error} />
      {counts && (
        <p role="status" data-testid="ingest-counts">
          {counts.records} records: {counts.added} added, {counts.changed} changed, {counts.unchanged} unchanged
        </p>
      )}
    </form>
  );
}

function Report({ acting }: { acting: Acting }) {
  const [status, setStatus] = useState("");
  const [attribute, setAttribute] = useState("");
  const [page, setPage] = useState<Envelope>();
  const [summary, setSummary] = useState<Summary>();
  const [standing, setStanding] = useState<Standing>();
  const [cursors, setCursors] = useState<string[]>([]);
  const [error, setError] = useState<string>();

  const load = async (query: ReportQuery): Promise<Envelope | undefined> => {
    const reply = await app(acting.service, acting.as, "GET", reportPath(query).replace(/^\/app/, ""));
    if (!reply.ok) {
      setError(errorText(reply));
      return undefined;
    }
    setError(undefined);
    return reply.json as Envelope;
  };

  const filters = (): ReportQuery => ({ ...(status ? { status } : {}), ...(attribute ? { attribute } : {}) });

  /** Every row of the query, page by page (up to rowsMax); undefined if a page is refused. */
  const allRows = async (query: ReportQuery, rowsMax = Infinity): Promise<{ rows: Record<string, unknown>[]; complete: boolean } | undefined> => {
    const rows: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    do {
      const envelope = await load({ ...query, ...(cursor ? { cursor } : {}), summary: false });
      if (!envelope) return undefined;
      rows.push(...envelope.content);
      cursor = envelope.next_cursor ?? undefined;
    } while (cursor && rows.length < rowsMax);
    return { rows: rows.slice(0, rowsMax), complete: cursor === undefined && rows.length <= rowsMax };
  };

  const show = async (cursor?: string) => {
    const envelope = await load({ limit: PAGE_ROWS, ...filters(), ...(cursor ? { cursor } : {}) });
    if (!envelope) return;
    setPage(envelope);
    if (envelope.summary) setSummary(envelope.summary);
  };

  const showStanding = async () => {
    const all = await allRows({ view: "detailed" }, MAJORITY_KEYS_MAX);
    if (all) setStanding(standingOf(all.rows as DetailedRow[], all.complete));
  };

  const download = async () => {
    const all = await allRows(filters());
    if (!all) return;
    const rows = all.rows;
    const url = URL.createObjectURL(new Blob([toCsv(rows)], { type: "text/csv" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `report-${acting.as}.csv`;
    a.click();
    URL.revokeObjectURL(url);
  };

  const shownRows = page?.content.map(tableCells) ?? [];
  const columns = shownRows[0] ? Object.keys(shownRows[0]) : [];
  return (
    <div>
      <h3>Your report</h3>
      <div className="toolbar">
        <label>
          Status{" "}
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">all</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>{" "}
        <label>
          Attribute{" "}
          <select value={attribute} onChange={(e) => setAttribute(e.target.value)}>
            <option value="">all</option>
            {Object.keys(summary?.attributes ?? {}).map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>{" "}
        <button
          type="button"
          onClick={() => {
            setCursors([]);
            void show();
            void showStanding();
          }}
        >
          Show report
        </button>{" "}
        <button type="button" onClick={() => void download()}>
          Download CSV
        </button>
      </div>
      <ErrorLine error={error} />
      {summary && <SummaryCharts summary={summary} standing={standing} />}
      {page && (
        <>
          <table aria-label="Report rows">
            <thead>
              <tr>
                {columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {shownRows.map((row, i) => (
                <tr key={i}>
                  {columns.map((c) => (
                    <td key={c}>{row[c]}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
          <div className="toolbar">
            <button
              type="button"
              disabled={cursors.length === 0}
              onClick={() => {
                const previous = cursors.slice(0, -1);
                setCursors(previous);
                void show(previous.at(-1));
              }}
            >
              Previous page
            </button>{" "}
            <button
              type="button"
              disabled={!page.next_cursor}
              onClick={() => {
                setCursors([...cursors, page.next_cursor!]);
                void show(page.next_cursor!);
              }}
            >
              Next page
            </button>
          </div>
        </>
      )}
    </div>
  );
}

/** A row as table cells: a detailed row's attributes each get a column (the party's value, its status, majority or minority). */
function tableCells(row: Record<string, unknown>): Record<string, string> {
  const cells: Record<string, string> = {};
  for (const [name, value] of Object.entries(row)) {
    if (name === "attributes" && typeof value === "object" && value !== null) {
      for (const [attribute, verdict] of Object.entries(value as Record<string, { value?: unknown; status?: string; majority_minority?: string | null }>)) {
        cells[attribute] = [verdict.value ?? "–", verdict.status, verdict.majority_minority].filter((part) => part !== undefined && part !== null).join(" · ");
      }
    } else {
      cells[name] = typeof value === "object" && value !== null ? JSON.stringify(value) : String(value ?? "");
    }
  }
  return cells;
}

function standingOf(rows: DetailedRow[], complete: boolean): Standing {
  const attributes: Standing["attributes"] = {};
  for (const row of rows) {
    for (const [name, verdict] of Object.entries(row.attributes ?? {})) {
      const counts = (attributes[name] ??= { Majority: 0, Minority: 0 });
      if (verdict.majority_minority === "Majority" || verdict.majority_minority === "Minority") counts[verdict.majority_minority]++;
    }
  }
  return { keys: rows.length, complete, attributes };
}

function SummaryCharts({ summary, standing }: { summary: Summary; standing: Standing | undefined }) {
  const max = Math.max(1, ...STATUSES.map((s) => summary.status[s]));
  const worst = Object.entries(summary.attributes)
    .sort(([, a], [, b]) => b.LACK_OF_CONSENSUS - a.LACK_OF_CONSENSUS)
    .filter(([, c]) => c.LACK_OF_CONSENSUS > 0);
  return (
    <div className="columns">
      <figure aria-label="Status distribution">
        <figcaption>{summary.keys} keys by status</figcaption>
        {STATUSES.map((s) => (
          <div key={s} className="bar-row">
            <span className="bar-label">{s}</span>
            <span className={`bar bar-${s}`} style={{ width: `${(summary.status[s] / max) * 60}%` }} />
            <span data-testid={`count-${s}`}>{summary.status[s]}</span>
          </div>
        ))}
      </figure>
      <figure aria-label="Attributes that disagree most">
        <figcaption>Attributes out of consensus</figcaption>
        {worst.length === 0 ? <p>None</p> : worst.map(([name, c]) => (
          <div key={name} className="bar-row">
            <span className="bar-label">{name}</span>
            <span className="bar bar-LACK_OF_CONSENSUS" style={{ width: `${(c.LACK_OF_CONSENSUS / max) * 60}%` }} />
            <span>{c.LACK_OF_CONSENSUS}</span>
          </div>
        ))}
      </figure>
      {standing && <StandingChart standing={standing} />}
    </div>
  );
}

/** Two bars per attribute: the party's values with the majority, and in a minority. */
function StandingChart({ standing }: { standing: Standing }) {
  const entries = Object.entries(standing.attributes);
  const max = Math.max(1, ...entries.map(([, c]) => Math.max(c.Majority, c.Minority)));
  return (
    <figure aria-label="Majority and minority">
      <figcaption>
        Your values with the majority or in a minority{standing.complete ? "" : ` (your first ${standing.keys} keys)`}
      </figcaption>
      {entries.map(([name, c]) => (
        <div key={name} className="standing" role="group" aria-label={name}>
          {(["Majority", "Minority"] as const).map((side) => (
            <div key={side} className="bar-row">
              <span className="bar-label">
                {name}: {side.toLowerCase()}
              </span>
              <span className={`bar bar-${side}`} style={{ width: `${(c[side] / max) * 60}%` }} />
              <span data-testid={`${side.toLowerCase()}-${name}`}>{c[side]}</span>
            </div>
          ))}
        </div>
      ))}
    </figure>
  );
}

function toCsv(rows: Record<string, unknown>[]): string {
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) => {
    const text = v === undefined || v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return [columns.join(","), ...rows.map((r) => columns.map((c) => cell(r[c])).join(","))].join("\r\n") + "\r\n";
}
