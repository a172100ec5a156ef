// CSV batches: a header row naming schema fields (in any order), then one
// record per line; quoted fields as RFC 4180. Parsed with papaparse's string
// parser, which needs no browser or Node API, so it runs inside the enclave.
import Papa from "papaparse";
import type { Schema } from "./config.ts";
import { BatchErrors, checkRecord, fieldNames, type SubmittedRecord } from "./records.ts";

export function parseCsvBatch(schema: Schema, text: string, errors: BatchErrors): SubmittedRecord[] {
  const body = text.replace(/^\uFEFF/, "");
  if (/^\s*[[{]/.test(body)) {
    errors.add(0, "*", "the body is JSON, not CSV: send JSON arrays to /app/ingest");
    return [];
  }
  const parsed = Papa.parse<string[]>(body, { delimiter: ",", skipEmptyLines: "greedy" });
  for (const e of parsed.errors) errors.add(typeof e.row === "number" ? e.row : 0, "*", `malformed CSV: ${e.message}`);
  const [header, ...rows] = parsed.data;
  if (header === undefined) {
    errors.add(0, "*", "the body has no header row");
    return [];
  }
  const columns = header.map((h) => h.trim());
  checkHeader(schema, columns, errors);
  if (errors.count > 0) return [];
  const records: SubmittedRecord[] = [];
  rows.forEach((cells, i) => {
    const row = i + 1;
    if (cells.length !== columns.length) {
      errors.add(row, "*", `has ${cells.length} columns; the header has ${columns.length}`);
      return;
    }
    const fields: Record<string, string> = {};
    columns.forEach((name, c) => (fields[name] = cells[c]!));
    const record = checkRecord(schema, row, fields, true, errors);
    if (record !== undefined) records.push(record);
  });
  return records;
}

function checkHeader(schema: Schema, columns: string[], errors: BatchErrors): void {
  const known = fieldNames(schema);
  const seen = new Set<string>();
  for (const name of columns) {
    if (!known.includes(name)) errors.add(0, name, `unknown column; the schema's fields are ${known.join(", ")}`);
    else if (seen.has(name)) errors.add(0, name, "column named twice");
    seen.add(name);
  }
  for (const name of [schema.key, ...schema.attributes.filter((a) => a.required).map((a) => a.name)]) {
    if (!seen.has(name)) errors.add(0, name, "required column missing from the header");
  }
}
