// Validates a whole batch against the schema before anything is stored: the
// batch is accepted only if every record is good, and a rejection lists the
// first errors by row (1-based record number; for CSV, the header is row 0)
// and field, so the sender can fix them all in one go.
import type { Schema } from "./config.ts";
import { acceptedAsIs, isAbsent, keyAcceptedAsIs, parseKey, parseValue, type Value } from "./values.ts";

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
  const attributes = schema.attributes;
  for (const name in fields) {
    if (name === schema.key) continue;
    let known = false;
    for (let a = 0; a < attributes.length && !known; a++) known = attributes[a]!.name === name;
    if (!known) errors.add(row, name, `is not a field of the schema (${fieldNames(schema).join(", ")})`);
  }
  const record = checkValues(schema, row, fields[schema.key], (attribute) => fields[attributes[attribute]!.name], fromText, errors);
  return errors.count === before ? record : undefined;
}

/**
 * checkRecord for JSON records, made once per batch: a record with exactly the
 * schema's fields, each value accepted as it is (values.ts acceptedAsIs), is
 * taken at once; any other goes to checkRecord, which says what is wrong.
 */
export function jsonRecordChecker(schema: Schema): (row: number, fields: Record<string, unknown>, errors: BatchErrors) => SubmittedRecord | undefined {
  const attributes = schema.attributes;
  return (row, fields, errors) => {
    const key = fields[schema.key];
    let usual = keyAcceptedAsIs(key);
    let known = 1;
    const values: Record<string, Value> = {};
    for (let a = 0; a < attributes.length && usual; a++) {
      const attribute = attributes[a]!;
      const raw = fields[attribute.name];
      if (raw === undefined && !attribute.required) continue;
      usual = acceptedAsIs(attribute, raw);
      values[attribute.name] = raw as Value;
      known++;
    }
    // Every field is one of the schema's (JSON.parse gives each name once): no unknown field.
    if (usual) for (const _ in fields) if (--known < 0) break;
    if (usual && known === 0) return { row, key: key as string, values };
    return checkRecord(schema, row, fields, false, errors);
  };
}

/**
 * Checks a record's key and attribute values (`rawOf(i)`: the raw value of
 * schema.attributes[i], whatever the batch's format) and, if they are good,
 * returns the record in canonical form. Errors are added to `errors`.
 */
export function checkValues(
  schema: Schema,
  row: number,
  rawKey: unknown,
  rawOf: (attribute: number) => unknown,
  fromText: boolean,
  errors: BatchErrors,
): SubmittedRecord | undefined {
  const before = errors.count;
  // Usual values are taken as they are (values.ts acceptedAsIs); the rest are parsed, and explained if bad.
  let key: string | undefined;
  if (keyAcceptedAsIs(rawKey)) key = rawKey;
  else {
    const parsed = parseKey(rawKey);
    if (parsed.ok) key = parsed.value as string;
    else errors.add(row, schema.key, parsed.reason);
  }
  const values: Record<string, Value> = {};
  for (let a = 0; a < schema.attributes.length; a++) {
    const attribute = schema.attributes[a]!;
    const raw = rawOf(a);
    if (acceptedAsIs(attribute, raw)) {
      values[attribute.name] = raw;
      continue;
    }
    if (isAbsent(raw)) {
      if (attribute.required) errors.add(row, attribute.name, "is required");
      continue;
    }
    const parsed = parseValue(attribute, raw, fromText);
    if (parsed.ok) values[attribute.name] = parsed.value;
    else errors.add(row, attribute.name, parsed.reason);
  }
  return errors.count === before && key !== undefined ? { row, key, values } : undefined;
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
