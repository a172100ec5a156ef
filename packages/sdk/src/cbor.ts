// The few CBOR items (RFC 8949) a COSE_Sign1 request is made of, encoded in
// the shortest form: unsigned and negative integers, byte and text strings,
// arrays, maps (insertion order, as the signer wrote them), tags and null.

export class CborTag {
  constructor(
    readonly tag: number,
    readonly value: CborValue,
  ) {}
}

export type CborValue = number | string | Uint8Array | null | CborValue[] | Map<number | string, CborValue> | CborTag;

const MAJOR = { uint: 0, negint: 1, bstr: 2, tstr: 3, array: 4, map: 5, tag: 6 } as const;

function head(major: number, argument: number): number[] {
  const type = major << 5;
  if (!Number.isSafeInteger(argument) || argument < 0) throw new RangeError(`CBOR argument ${argument} is not a non-negative safe integer`);
  if (argument < 24) return [type | argument];
  if (argument < 0x100) return [type | 24, argument];
  if (argument < 0x10000) return [type | 25, argument >> 8, argument & 0xff];
  if (argument < 0x1_0000_0000) return [type | 26, (argument >>> 24) & 0xff, (argument >>> 16) & 0xff, (argument >>> 8) & 0xff, argument & 0xff];
  const high = Math.floor(argument / 0x1_0000_0000);
  return [type | 27, ...u32(high), ...u32(argument >>> 0)];
}

function u32(value: number): number[] {
  return [(value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff];
}

function encodeInto(value: CborValue, out: number[]): void {
  if (value === null) out.push(0xf6);
  else if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new RangeError("CBOR floats are not used in COSE requests");
    out.push(...(value >= 0 ? head(MAJOR.uint, value) : head(MAJOR.negint, -1 - value)));
  } else if (typeof value === "string") {
    const bytes = new TextEncoder().encode(value);
    out.push(...head(MAJOR.tstr, bytes.length));
    for (const byte of bytes) out.push(byte);
  } else if (value instanceof Uint8Array) {
    out.push(...head(MAJOR.bstr, value.length));
    for (const byte of value) out.push(byte);
  } else if (Array.isArray(value)) {
    out.push(...head(MAJOR.array, value.length));
    for (const item of value) encodeInto(item, out);
  } else if (value instanceof Map) {
    out.push(...head(MAJOR.map, value.size));
    for (const [key, item] of value) {
      encodeInto(key, out);
      encodeInto(item, out);
    }
  } else {
    out.push(...head(MAJOR.tag, value.tag));
    encodeInto(value.value, out);
  }
}

export function encodeCbor(value: CborValue): Uint8Array {
  const out: number[] = [];
  encodeInto(value, out);
  return Uint8Array.from(out);
}
