// POST /app/ingest (JSON array of records) and POST /app/csv/ingest (CSV with
// a header row, whatever content-type the client sends): all-or-nothing
// batches, as in Microsoft's data-reconciliation sample, with every record
// checked against the governed schema first.
import type * as ccfapp from "@microsoft/ccf-app";
import { readConfig, type Config } from "../lib/config.ts";
import { parseCsvBatch } from "../lib/csv.ts";
import { storeBatch } from "../lib/ingest.ts";
import { partyOf } from "../lib/party.ts";
import { roundsClosed } from "../lib/rounds.ts";
import { BatchErrors, checkDuplicateKeys, checkJsonRecords, type SubmittedRecord } from "../lib/records.ts";
import { failed, reply, succeeded } from "../lib/response.ts";

export function ingestJson(request: ccfapp.Request): ccfapp.Response<string> {
  return ingest(request, (config, text, errors) => {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (e) {
      errors.add(0, "*", `the body is not JSON: ${(e as Error).message}`);
      return [];
    }
    if (!Array.isArray(data)) {
      errors.add(0, "*", "the body must be a JSON array of records");
      return [];
    }
    return checkJsonRecords(config.schema, data, text, errors);
  });
}

export function ingestCsv(request: ccfapp.Request): ccfapp.Response<string> {
  return ingest(request, (config, text, errors) => parseCsvBatch(config.schema, text, errors));
}

type Parse = (config: Config, text: string, errors: BatchErrors) => SubmittedRecord[];

function ingest(request: ccfapp.Request, parse: Parse): ccfapp.Response<string> {
  const config = readConfig();
  const party = partyOf(request.caller, config.policy);
  if (!party.ok) return failed(403, "Forbidden", party.reason);
  const text = request.body.text();
  if (text.trim().length === 0) return failed(400, "EmptyBody", "the request body is empty: send a batch of records");
  const errors = new BatchErrors();
  const records = parse(config, text, errors);
  if (errors.count === 0 && records.length === 0) errors.add(0, "*", "the batch has no records");
  if (records.length > config.policy.batch_size) {
    return failed(400, "BatchTooLarge", `the batch has ${records.length} records; the policy allows at most ${config.policy.batch_size}`);
  }
  checkDuplicateKeys(config.schema, records, errors);
  if (errors.count > 0) return rejected(errors);
  const counts = storeBatch(config, party.party, records, errors);
  if (errors.count > 0) return rejected(errors);
  // In rounds mode, say which round the batch is sealed in (the caller's own information only).
  const round = config.policy.mode === "rounds" ? { round: { sealed_in: roundsClosed(config) } } : {};
  return reply(succeeded("data has ingested successfully", { ingest: counts, ...round }));
}

function rejected(errors: BatchErrors): ccfapp.Response<string> {
  const shown = errors.list.length < errors.count ? ` (first ${errors.list.length} listed)` : "";
  return failed(400, "ValidationError", `the batch was rejected, nothing was stored: ${errors.count} error(s)${shown}`, errors.list);
}
