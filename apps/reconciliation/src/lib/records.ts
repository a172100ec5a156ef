// Validates a whole batch against the schema before anything is stored: the
// batch is accepted only if every record is good, and a rejection lists the
// first errors by row (1-based record number; for CSV, the header is row 0)
// and field, so the sender can fix them all in one go.
import type { Schema } from "./config.ts";
import { isAbsent, parseKey, parseValue, type Value } from "./values.ts";

export interface FieldError {
  row: number;
  field: string;
  reason: string;
}

export interface SubmittedRecord {
  row: number;
  key: string;
  /** Attribute name → canonical value; optional attributes left out are absent. */
  values: Record<string, Value>;
}

/** Enough errors to show a pattern without echoing a whole bad file back. */
export const ERRORS_LISTED_MAX = 20;

export class BatchErrors {
  readonly list: FieldError[] = [];
  count = 0;

  add(row: number, field: string, reason: string): void {
    this.count++;
    if (this.list.length < ERRORS_LISTED_MAX) this.list.push({ row, field, reason });
  }
}

/** Checks one record (`fields` by name) and, if it is good, returns it in canonical form. */
export function checkRecord(
  schema: Schema,
  row: number,
  fields: Record<string, unknown>,
  fromText: boolean,
  errors: BatchErrors,
): SubmittedRecord | undefined {
  const before = errors.count;
  for (const name of Object.keys(fields)) {
    if (name !== schema.key && !schema.attributes.some((a) => a.name === name)) {
      errors.add(row, name, `is not a field of the schema (${fieldNames(schema).join(", ")})`);
    }
  }
  const key = parseKey(fields[schema.key]);
  if (!key.ok) errors.add(row, schema.key, key.reason);
  const values: Record<string, Value> = {};
  for (const attribute of schema.attributes) {
    const raw = fields[attribute.name];
    if (isAbsent(raw)) {
      if (attribute.required) errors.add(row, attribute.name, "is required");
      continue;
    }
    const parsed = parseValue(attribute, raw, fromText);
    if (parsed.ok) values[attribute.name] = parsed.value;
    else errors.add(row, attribute.name, parsed.reason);
  }
  return errors.count === before && key.ok ? { row, key: key.value as string, values } : undefined;
}

/** Rejects a key given twice in one batch: which value was meant would be a guess. */
export function checkDuplicateKeys(schema: Schema, records: SubmittedRecord[], errors: BatchErrors): void {
  const firstRow = new Map<string, number>();
  for (const record of records) {
    const first = firstRow.get(record.key);
    if (first === undefined) firstRow.set(record.key, record.row);
    else errors.add(record.row, schema.key, `duplicate key "${record.key}" in this batch (first at row ${first})`);
  }
}

export function fieldNames(schema: Schema): string[] {
  return [schema.key, ...schema.attributes.map((a) => a.name)];
}
