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
 * Checks a batch of parsed JSON records (`items`, parsed from `text`) and
 * returns the good ones in canonical form; errors are added to `errors`.
 */
export function checkJsonRecords(schema: Schema, items: unknown[], text: string, errors: BatchErrors): SubmittedRecord[] {
  const usual = usualJsonRecords(schema, items, text);
  if (usual !== undefined) return usual;
  const records: SubmittedRecord[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (typeof item !== "object" || item === null || Array.isArray(item)) {
      errors.add(i + 1, "*", "a record must be a JSON object");
      continue;
    }
    const record = checkRecord(schema, i + 1, item as Record<string, unknown>, false, errors);
    if (record !== undefined) records.push(record);
  }
  return records;
}

/**
 * The batch's records if every one is usual: an object whose key and values
 * are accepted as they are (values.ts acceptedAsIs) and that has no field
 * outside the schema; undefined otherwise (checkRecord then says what is wrong).
 * Unknown fields are ruled out for the whole batch at once rather than by
 * walking every record's fields (for-in costs ~0.5 µs a record in QuickJS):
 * in JSON text every member of an object has exactly one colon before its
 * value, and a string may hold more. So if the text has no more colons than
 * the records' schema fields, it has no other member, anywhere.
 */
function usualJsonRecords(schema: Schema, items: unknown[], text: string): SubmittedRecord[] | undefined {
  const attributes = schema.attributes;
  const colons = colonCount(text);
  // Each usual record has at most its key and every attribute.
  if (colons > items.length * (1 + attributes.length)) return undefined;
  const records: SubmittedRecord[] = [];
  let members = 0;
  for (let i = 0; i < items.length; i++) {
    const fields = items[i] as Record<string, unknown>;
    if (typeof fields !== "object" || fields === null || Array.isArray(fields)) return undefined;
    const key = fields[schema.key];
    if (!keyAcceptedAsIs(key)) return undefined;
    const values: Record<string, Value> = {};
    for (let a = 0; a < attributes.length; a++) {
      const attribute = attributes[a]!;
      const raw = fields[attribute.name];
      if (raw === undefined && !attribute.required) continue;
      if (!acceptedAsIs(attribute, raw)) return undefined;
      values[attribute.name] = raw;
      members++;
    }
    members++;
    records.push({ row: i + 1, key, values });
  }
  return colons === members ? records : undefined;
}

function colonCount(text: string): number {
  let n = 0;
  for (let at = text.indexOf(":"); at >= 0; at = text.indexOf(":", at + 1)) n++;
  return n;
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
