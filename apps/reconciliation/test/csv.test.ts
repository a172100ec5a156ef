// The CSV reader's quote-free fast path must split exactly as papaparse does
// (the general parser it stands in for): same rows, same cells, same blank
// lines skipped, for any text it accepts. Text with quotes or carriage
// returns goes to papaparse itself, errors included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import Papa from "papaparse";
import { parseCsvRows } from "../src/lib/csv.ts";
import { BatchErrors } from "../src/lib/records.ts";

const papaRows = (text: string) => Papa.parse<string[]>(text, { delimiter: ",", skipEmptyLines: "greedy" }).data;

// Cells without the characters that CSV escapes; spaces and tabs included, so blank-looking lines occur.
const cell = fc.stringMatching(/^[a-zA-Z0-9 \t.\-_]{0,6}$/);
const line = fc.array(cell, { minLength: 1, maxLength: 4 }).map((cells) => cells.join(","));

describe("CSV rows", () => {
  it("the quote-free fast path matches papaparse on any text without quotes or CR", () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 12 }), fc.boolean(), (lines, trailingNewline) => {
        const text = lines.join("\n") + (trailingNewline ? "\n" : "");
        const errors = new BatchErrors();
        assert.deepEqual(parseCsvRows(text, errors), papaRows(text));
        assert.equal(errors.count, 0);
      }),
      { numRuns: 500 },
    );
  });

  it("quoted fields and CRLF line breaks are read by papaparse", () => {
    const errors = new BatchErrors();
    assert.deepEqual(parseCsvRows('lei,nace\r\n"A,1","x ""y"""\r\n\r\nB,2\r\n', errors), [
      ["lei", "nace"],
      ["A,1", 'x "y"'],
      ["B", "2"],
    ]);
    assert.equal(errors.count, 0);
  });

  it("an unclosed quote is a malformed-CSV error", () => {
    const errors = new BatchErrors();
    parseCsvRows('lei,nace\nA,"open\n', errors);
    assert.ok(errors.count > 0);
    assert.match(errors.list[0]!.reason, /^malformed CSV: /);
  });
});
