// The reconciliation app's report models (apps/reconciliation): what a party
// ingests and reads back, shared by the CLI, the SDK's client and the console.

export interface IngestCounts {
  records: number;
  added: number;
  changed: number;
  unchanged: number;
}

export interface ReportQuery {
  status?: string;
  attribute?: string;
  view?: "sample" | "detailed";
  limit?: number;
  cursor?: string;
  summary?: boolean;
}

/** The app's error envelope: its type, message and, for rejected rows, details. */
export interface ReconErrorBody {
  errorType?: string;
  errorMessage?: string;
  details?: unknown;
  message?: string;
  code?: string;
}

/** /app/report with the query's parameters. */
export function reportPath(query: ReportQuery = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
  const search = params.toString();
  return `/app/report${search === "" ? "" : `?${search}`}`;
}
