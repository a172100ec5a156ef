// Reads a CSV file record by record without loading it whole: a record ends
// at a line break outside quotes (RFC 4180: a quoted field may hold line
// breaks; "" inside quotes is an escaped quote, which keeps the quote count
// even, so parity tells whether a line break is inside quotes).
import { createReadStream } from "node:fs";

/** The file's records as text (no line terminator), header first; blank lines skipped. */
export async function* csvRecords(file: string): AsyncGenerator<string> {
  let pending = "";
  let scan = 0;
  let quotes = 0;
  const stream = createReadStream(file, { encoding: "utf8", highWaterMark: 1 << 20 });
  for await (const chunk of stream as AsyncIterable<string>) {
    pending += chunk;
    let start = 0;
    for (;;) {
      const nl = pending.indexOf("\n", scan);
      if (nl < 0) break;
      quotes += countQuotes(pending, scan, nl);
      scan = nl + 1;
      if (quotes % 2 !== 0) continue;
      const record = pending.slice(start, pending.charCodeAt(nl - 1) === 13 ? nl - 1 : nl);
      start = scan;
      quotes = 0;
      if (record.trim() !== "") yield record;
    }
    pending = pending.slice(start);
    scan -= start;
  }
  quotes += countQuotes(pending, scan, pending.length);
  if (pending.trim() !== "") yield pending.replace(/\r$/, "");
}

function countQuotes(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf('"', from); i >= 0 && i < to; i = text.indexOf('"', i + 1)) n++;
  return n;
}
