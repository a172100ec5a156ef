// Turns submitted field values into the canonical form that is stored and
// compared: a record is accepted only if every field parses for its type.
// JSON bodies must carry numbers as JSON numbers; CSV cells are all text, so
// numbers are read from text there.
import type { Attribute } from "./config.ts";

/** A stored attribute value: numbers as numbers; decimals, dates, strings and enums as strings. */
export type Value = string | number;

export type Parsed = { ok: true; value: Value } | { ok: false; reason: string };

/** Longest key and text value accepted: LEIs are 20 characters; this leaves room for trade ids and names. */
export const KEY_CHARS_MAX = 256;
export const TEXT_CHARS_MAX = 1024;

const NUMBER_TEXT = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const DECIMAL_TEXT = /^([+-]?)(\d+)(?:\.(\d+))?$/;
const DATE_TEXT = /^(\d{4})-(\d{2})-(\d{2})$/;

const fail = (reason: string): Parsed => ({ ok: false, reason });
const ok = (value: Value): Parsed => ({ ok: true, value });

/** Whether a field counts as not given (so optional attributes may be left out). */
export function isAbsent(raw: unknown): boolean {
  return raw === undefined || raw === null || raw === "";
}

/** A key parseKey would return unchanged: checked without building a result (ingest checks one per record). */
export function keyAcceptedAsIs(raw: unknown): raw is string {
  return typeof raw === "string" && raw.length > 0 && raw.length <= KEY_CHARS_MAX;
}

/**
 * A present value parseValue would return unchanged (text and enum values
 * that pass, numbers given as numbers): checked without building a result.
 * False means "parse it", not "refuse it".
 */
export function acceptedAsIs(attribute: Attribute, raw: unknown): raw is Value {
  switch (attribute.type) {
    case "string":
      return typeof raw === "string" && raw.length > 0 && raw.length <= TEXT_CHARS_MAX;
    case "number":
      return typeof raw === "number" && Number.isFinite(raw);
    default:
      return false;
  }
}

export function parseKey(raw: unknown): Parsed {
  if (typeof raw !== "string") return fail(`must be a string, not ${describe(raw)}`);
  if (raw.length === 0) return fail("must not be empty");
  if (raw.length > KEY_CHARS_MAX) return fail(`must be at most ${KEY_CHARS_MAX} characters`);
  return ok(raw);
}

export function parseValue(attribute: Attribute, raw: unknown, fromText: boolean): Parsed {
  switch (attribute.type) {
    case "string":
      if (typeof raw !== "string") return fail(`must be a string, not ${describe(raw)}`);
      return raw.length > TEXT_CHARS_MAX ? fail(`must be at most ${TEXT_CHARS_MAX} characters`) : ok(raw);
    case "enum":
      if (typeof raw !== "string" || !attribute.values!.includes(raw)) return fail(`must be one of ${attribute.values!.join(", ")}`);
      return ok(raw);
    case "number":
      return parseNumber(raw, fromText);
    case "decimal":
      return parseDecimal(raw);
    case "date":
      return parseDate(raw);
  }
}

function parseNumber(raw: unknown, fromText: boolean): Parsed {
  if (typeof raw === "number") return Number.isFinite(raw) ? ok(raw) : fail("must be a finite number");
  if (fromText && typeof raw === "string" && NUMBER_TEXT.test(raw)) {
    const n = Number(raw);
    return Number.isFinite(n) ? ok(n) : fail("must be a finite number");
  }
  return fail(`must be a number, not ${describe(raw)}`);
}

/** Decimals keep every digit: "0012.50" is stored as "12.5", compared exactly as text. */
function parseDecimal(raw: unknown): Parsed {
  const text = typeof raw === "number" && Number.isFinite(raw) ? String(raw) : raw;
  const m = typeof text === "string" ? DECIMAL_TEXT.exec(text) : null;
  if (m === null) return fail(`must be a decimal such as 12.50, not ${describe(raw)}`);
  const whole = m[2]!.replace(/^0+(?=\d)/, "");
  const fraction = (m[3] ?? "").replace(/0+$/, "");
  const digits = fraction === "" ? whole : `${whole}.${fraction}`;
  return ok(m[1] === "-" && digits !== "0" ? `-${digits}` : digits);
}

function parseDate(raw: unknown): Parsed {
  const m = typeof raw === "string" ? DATE_TEXT.exec(raw) : null;
  if (m === null) return fail(`must be a date YYYY-MM-DD, not ${describe(raw)}`);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
    return fail(`is not a calendar date: ${raw as string}`);
  }
  return ok(raw as string);
}

/** Days since 1970-01-01 of a stored date, for day tolerances. */
export function dayNumber(date: string): number {
  return Date.UTC(Number(date.slice(0, 4)), Number(date.slice(5, 7)) - 1, Number(date.slice(8, 10))) / 86_400_000;
}

function describe(raw: unknown): string {
  if (raw === null) return "null";
  if (Array.isArray(raw)) return "an array";
  if (typeof raw === "string") return raw.length > 40 ? `"${raw.slice(0, 40)}..."` : `"${raw}"`;
  return typeof raw === "object" ? "an object" : `${typeof raw} ${String(raw)}`;
}
