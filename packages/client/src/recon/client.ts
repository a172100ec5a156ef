// SDK for the reconciliation app (apps/reconciliation): ingest batches, read
// reports page by page, and prove a report came from the service: the app
// sets each report transaction's claims digest to SHA-256 of the exact
// response body bytes, so a verified receipt whose claims digest matches
// those bytes proves the service said exactly this at that transaction.
import { ReceiptError, reportPath, toHex, verifyClaimsDigest, verifyReceipt, type IngestCounts, type ReconErrorBody, type Receipt, type ReportQuery } from "@confide/sdk";
import type { CcfResponse, ConfideClient } from "../client.ts";

/** The app refused a request: its envelope's error, with the first rejected rows when it lists them. */
export class ReconError extends Error {
  override name = "ReconError";

  constructor(
    readonly status: number,
    readonly errorType: string | undefined,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export type { IngestCounts, ReportQuery } from "@confide/sdk";

export interface ReportPage {
  rows: Record<string, unknown>[];
  nextCursor: string | null;
  summary?: Record<string, unknown>;
  round?: Record<string, unknown>;
  response: CcfResponse;
}

export interface VerifiedReport {
  txId: string;
  receipt: Receipt;
  /** The Merkle root the receipt's signature covers (hex). */
  root: string;
  /** SHA-256 of the body (hex), equal to the receipt's claims digest. */
  claimsDigest: string;
}

export class ReconClient {
  constructor(readonly client: ConfideClient) {}

  async ingestCsv(csv: string | Buffer): Promise<IngestCounts> {
    return (await this.send("POST", "/app/csv/ingest", { body: csv, headers: { "content-type": "text/csv" } })).ingest as IngestCounts;
  }

  async ingestJson(records: Record<string, unknown>[]): Promise<IngestCounts> {
    return (await this.send("POST", "/app/ingest", { body: records })).ingest as IngestCounts;
  }

  async reportPage(query: ReportQuery = {}): Promise<ReportPage> {
    const { envelope, response } = await this.sendWithResponse("GET", reportPath(query));
    return {
      rows: envelope.content as Record<string, unknown>[],
      nextCursor: (envelope.next_cursor as string | null | undefined) ?? null,
      ...(envelope.summary === undefined ? {} : { summary: envelope.summary as Record<string, unknown> }),
      ...(envelope.round === undefined ? {} : { round: envelope.round as Record<string, unknown> }),
      response,
    };
  }

  /** Every page of the report, following cursors. */
  async *reportPages(query: Omit<ReportQuery, "cursor"> = {}): AsyncGenerator<ReportPage> {
    let cursor: string | undefined;
    do {
      const page = await this.reportPage({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      yield page;
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
  }

  async reportKey(key: string, view?: "sample" | "detailed"): Promise<{ row: Record<string, unknown>; response: CcfResponse }> {
    const { envelope, response } = await this.sendWithResponse("GET", `/app/report/${encodeURIComponent(key)}${view === undefined ? "" : `?view=${view}`}`);
    return { row: envelope.content as Record<string, unknown>, response };
  }

  /** See verifyReportReceipt. */
  verifyReport(response: CcfResponse, options: { timeoutMs?: number } = {}): Promise<VerifiedReport> {
    return verifyReportReceipt(this.client, response, options);
  }

  private async send(method: string, path: string, options: { body?: string | Buffer | unknown[]; headers?: Record<string, string> } = {}): Promise<Record<string, unknown>> {
    return (await this.sendWithResponse(method, path, options)).envelope;
  }

  private async sendWithResponse(method: string, path: string, options: { body?: string | Buffer | unknown[]; headers?: Record<string, string> } = {}) {
    const response = await this.client.request(method, path, options);
    const envelope = response.json as Record<string, unknown> | undefined;
    if (response.status >= 400 || envelope === undefined) {
      const error = envelope?.error as ReconErrorBody | undefined;
      const message = error?.errorMessage ?? error?.message ?? (response.text.trim() || `HTTP ${response.status}`);
      throw new ReconError(response.status, error?.errorType ?? error?.code, message, error?.details);
    }
    return { envelope, response };
  }
}

/**
 * Proves a report response came from the service: waits for its transaction
 * (x-ms-ccf-transaction-id) to commit, fetches its receipt, verifies the
 * receipt against the service certificate, and checks the receipt's claims
 * digest equals SHA-256 of the response body bytes. Throws ReceiptError if
 * any check fails.
 */
export async function verifyReportReceipt(client: ConfideClient, response: CcfResponse, options: { timeoutMs?: number } = {}): Promise<VerifiedReport> {
  const txId = response.txId;
  if (txId === undefined) throw new ReceiptError("the response carries no x-ms-ccf-transaction-id");
  await client.waitForCommit(txId, options);
  const receipt = await client.receipt(txId);
  const root = toHex((await verifyReceipt(receipt, client.serviceCertPem)).root);
  const claimsDigest = await verifyClaimsDigest(receipt, response.body);
  return { txId, receipt, root, claimsDigest };
}
