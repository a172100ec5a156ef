// CSV batches: a header row naming schema fields (in any order), then one
// record per line; quoted fields as RFC 4180. Parsed with papaparse's string
// parser, which needs no browser or Node API, so it runs inside the enclave.
import Papa from "papaparse";
import type { Schema } from "./config.ts";
import { BatchErrors, checkValues, fieldNames, type SubmittedRecord } from "./records.ts";

export function parseCsvBatch(schema: Schema, text: string, errors: BatchErrors): SubmittedRecord[] {
  const body = text.replace(/^\uFEFF/, "");
  if (/^\s*[[{]/.test(body)) {
    errors.add(0, "*", "the body is JSON, not CSV: send JSON arrays to /app/ingest");
    return [];
  }
  const rows = parseCsvRows(body, errors);
  const header = rows[0];
  if (header === undefined) {
    errors.add(0, "*", "the body has no header row");
    return [];
  }
  const columns = header.map((h) => h.trim());
  checkHeader(schema, columns, errors);
  if (errors.count > 0) return [];
  // Column of the key and of each attribute (-1: not in the header), found once per batch rather than per row.
  const keyColumn = columns.indexOf(schema.key);
  const attributeColumns = schema.attributes.map((a) => columns.indexOf(a.name));
  const records: SubmittedRecord[] = [];
  // Row numbers count records after the header (row 0), as in error reports.
  for (let row = 1; row < rows.length; row++) {
    const cells = rows[row]!;
    if (cells.length !== columns.length) {
      errors.add(row, "*", `has ${cells.length} columns; the header has ${columns.length}`);
      continue;
    }
    // The header check has already refused unknown fields.
    const record = checkValues(schema, row, cells[keyColumn], (a) => (attributeColumns[a]! < 0 ? undefined : cells[attributeColumns[a]!]), true, errors);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/**
 * The rows of non-blank lines, split into cells. Text without quotes has no
 * escaping, so splitting on line breaks and commas is exactly RFC 4180 and
 * several times cheaper in the enclave's interpreter than a general parser;
 * anything with quotes or carriage returns goes to papaparse.
 */
export function parseCsvRows(body: string, errors: BatchErrors): string[][] {
  if (body.includes('"') || body.includes("\r")) {
    const parsed = Papa.parse<string[]>(body, { delimiter: ",", skipEmptyLines: "greedy" });
    for (const e of parsed.errors) errors.add(typeof e.row === "number" ? e.row : 0, "*", `malformed CSV: ${e.message}`);
    return parsed.data;
  }
  const lines = body.split("\n");
  const rows: string[][] = [];
  for (let i = 0; i < lines.length; i++) {
    const cells = lines[i]!.split(",");
    // As papaparse's "greedy" skipEmptyLines: a line whose cells are all blank is no record.
    if (cells[0]!.trim() === "" && cells.join("").trim() === "") continue;
    rows.push(cells);
  }
  return rows;
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
