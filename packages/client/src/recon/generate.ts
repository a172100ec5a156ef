// Demo data for the reconciliation app: one CSV per party over a shared set
// of entities. Each key has a true record; each party holds each key with
// probability `overlap` (every key is held by at least one party), and a
// held value differs from the truth with probability `disagree` per field.
// Keys are LEI-like: 4-character LOU prefix, "00", 12 entity characters and
// two ISO 17442 check digits (ISO 7064 MOD 97-10). Randomness comes from
// node:crypto: a seed gives the same files every time.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync, createWriteStream } from "node:fs";
import { join } from "node:path";
import { once } from "node:events";

export const GENERATED_FIELDS = ["nace", "price", "settles"] as const;
export type GeneratedField = (typeof GENERATED_FIELDS)[number];

export interface GenerateOptions {
  parties: number;
  keys: number;
  overlap: number;
  disagree: number;
  fields: GeneratedField[];
  out: string;
  seed?: string;
}

export interface GenerateResult {
  files: string[];
  /** Records written per file. */
  records: number[];
  schemaFile: string;
}

// Common NACE Rev. 2 classes (section letter + class), as banks store them.
const NACE = ["A.01.1", "B.06.1", "C.10.1", "C.18.13", "C.20.1", "C.29.1", "D.35.1", "F.41.2", "G.46.9", "G.47.1", "H.49.4", "H.52.2", "I.55.1", "J.62.0", "K.64.1", "K.64.2", "K.64.3", "K.65.1", "K.66.1", "L.68.2", "M.69.1", "M.70.1", "N.77.1", "O.84.1", "Q.86.1"];
const LOUS = ["5493", "2138", "5299", "9695", "8156", "7245", "3912", "6354"];
const ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** A deterministic stream of random numbers: SHA-256 of seed and counter. */
class Random {
  private buffer = Buffer.alloc(0);
  private offset = 0;
  private counter = 0;

  constructor(private readonly seed: string) {}

  /** Uniform in [0, 1), 48 bits. */
  next(): number {
    if (this.offset + 6 > this.buffer.length) {
      this.buffer = createHash("sha256").update(`${this.seed}:${this.counter++}`).digest();
      this.offset = 0;
    }
    const value = this.buffer.readUIntBE(this.offset, 6) / 2 ** 48;
    this.offset += 6;
    return value;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** ISO 7064 MOD 97-10 check digits for the first 18 characters of an LEI (letters as 10..35). */
export function leiCheckDigits(base18: string): string {
  const digits = [...`${base18}00`].map((c) => String(parseInt(c, 36))).join("");
  return String(98 - mod97(digits)).padStart(2, "0");
}

/** Whether an LEI's check digits are valid: the whole code, read as a number, is 1 mod 97. */
export function isValidLei(lei: string): boolean {
  return /^[0-9A-Z]{18}[0-9]{2}$/.test(lei) && mod97([...lei].map((c) => String(parseInt(c, 36))).join("")) === 1;
}

function mod97(digits: string): number {
  let r = 0;
  for (let i = 0; i < digits.length; i += 7) r = Number(`${r}${digits.slice(i, i + 7)}`) % 97;
  return r;
}

interface Truth {
  lei: string;
  nace: string;
  price: number;
  settles: number;
}

function makeTruth(random: Random, used: Set<string>): Truth {
  let lei: string;
  do {
    let entity = "";
    for (let i = 0; i < 12; i++) entity += ALNUM[random.int(ALNUM.length)];
    const base = `${random.pick(LOUS)}00${entity}`;
    lei = base + leiCheckDigits(base);
  } while (used.has(lei));
  used.add(lei);
  return { lei, nace: random.pick(NACE), price: 1 + random.int(1_000_000) / 100, settles: Date.UTC(2025, 0, 2) / 86_400_000 + random.int(365) };
}

function fieldValue(field: GeneratedField, truth: Truth, random: Random, differ: boolean): string {
  switch (field) {
    case "nace": {
      if (!differ) return truth.nace;
      let other: string;
      do other = random.pick(NACE);
      while (other === truth.nace);
      return other;
    }
    case "price": {
      // A disagreeing price is off by 1-5%, far outside a cent's tolerance.
      const factor = differ ? 1 + (random.next() < 0.5 ? -1 : 1) * (0.01 + random.next() * 0.04) : 1;
      return (Math.round(truth.price * factor * 100) / 100).toFixed(2);
    }
    case "settles": {
      const day = truth.settles + (differ ? 2 + random.int(5) : 0);
      return new Date(day * 86_400_000).toISOString().slice(0, 10);
    }
  }
}

/** The schema the generated files fit, as a set_reconciliation_schema proposal. */
export function schemaProposal(fields: GeneratedField[]): unknown {
  const attributes = fields.map((field) =>
    field === "nace"
      ? { name: "nace", type: "string" }
      : field === "price"
        ? { name: "price", type: "decimal", match: { rule: "absolute", tolerance: 0.01 } }
        : { name: "settles", type: "date", match: { rule: "days", tolerance: 1 } },
  );
  return { actions: [{ name: "set_reconciliation_schema", args: { schema: { key: "lei", attributes } } }] };
}

export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const random = new Random(options.seed ?? randomBytes(16).toString("hex"));
  mkdirSync(options.out, { recursive: true });
  const files = Array.from({ length: options.parties }, (_, i) => join(options.out, `party-${i + 1}.csv`));
  const streams = files.map((file) => createWriteStream(file));
  const records = files.map(() => 0);
  const header = `lei,${options.fields.join(",")}\n`;
  streams.forEach((s) => s.write(header));
  const used = new Set<string>();
  for (let k = 0; k < options.keys; k++) {
    const truth = makeTruth(random, used);
    const holders: number[] = [];
    for (let p = 0; p < options.parties; p++) if (random.next() < options.overlap) holders.push(p);
    if (holders.length === 0) holders.push(random.int(options.parties));
    for (const p of holders) {
      const values = options.fields.map((f) => fieldValue(f, truth, random, random.next() < options.disagree));
      // Write with backpressure, so millions of records need little memory.
      if (!streams[p]!.write(`${truth.lei},${values.join(",")}\n`)) await once(streams[p]!, "drain");
      records[p]!++;
    }
  }
  await Promise.all(streams.map((s) => new Promise<void>((resolve, reject) => s.end((error?: Error | null) => (error ? reject(error) : resolve())))));
  const schemaFile = join(options.out, "schema-proposal.json");
  writeFileSync(schemaFile, `${JSON.stringify(schemaProposal(options.fields), null, 2)}\n`);
  return { files, records, schemaFile };
}
