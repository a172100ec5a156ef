// Bodies that start like a COSE_Sign1 but are not one, for fuzzing whatever
// parses signed requests: truncations and byte flips of a good envelope, CBOR
// items of the wrong major type in each of the four slots, protected headers
// with values of the wrong type, and heads that claim huge lengths.
import fc from "fast-check";
import { Encoder, Tag } from "cbor-x";

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
const encode = (value: unknown): Buffer => Buffer.from(encoder.encode(value));

/** A CBOR value of any major type, kept small. */
const anyItem: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.bigInt({ min: -(1n << 64n) + 1n, max: (1n << 64n) - 1n }),
  fc.double(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => Buffer.from(bytes)),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.constant(new Map<unknown, unknown>([[1, -35]])),
  fc.constant(new Tag(Buffer.from("x"), 18)),
);

/** Labels the governance and user policies read, and a few they do not. */
const headerLabel = fc.constantFrom<number | string>(1, 4, 3, "ccf.gov.msg.type", "ccf.gov.msg.created_at", "ccf.gov.msg.proposal_id", "ccf.msg.type", "ccf.msg.created_at");

/** Heads (RFC 8949 §3) that announce far more content than follows: bstr, tstr, array, map of 2^32-1 or 2^64-1 items. */
const hugeLengthHeads = [0x5a, 0x7a, 0x9a, 0xba].flatMap((head) => [
  Buffer.from([head, 0xff, 0xff, 0xff, 0xff]),
  Buffer.from([head + 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
]);

/** Malformed bodies derived from `good`, a valid tagged envelope of the signer the parser knows. */
export function malformedCose(good: Buffer): fc.Arbitrary<Buffer> {
  const parts = [0, 1, 2, 3];
  return fc.oneof(
    fc.nat({ max: good.length - 1 }).map((length) => good.subarray(0, length)),
    fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })).map(([at, xor]) => {
      const flipped = Buffer.from(good);
      flipped[at] = flipped[at]! ^ xor;
      return flipped;
    }),
    // `d2 84` (tag 18, array of 4) followed by anything.
    fc.uint8Array({ maxLength: 64 }).map((garbage) => Buffer.concat([Buffer.from([0xd2, 0x84]), garbage])),
    fc.tuple(fc.constantFrom(...parts), anyItem).map(([slot, item]) => {
      const envelope: unknown[] = [encode(new Map([[1, -35]])), new Map(), Buffer.from("{}"), Buffer.alloc(96)];
      envelope[slot] = item;
      return encode(new Tag(envelope, 18));
    }),
    fc.array(fc.tuple(headerLabel, anyItem), { minLength: 1, maxLength: 4 }).map((headers) =>
      encode(new Tag([encode(new Map<unknown, unknown>(headers)), new Map(), Buffer.from("{}"), Buffer.alloc(96)], 18)),
    ),
    fc.tuple(fc.constantFrom(...hugeLengthHeads), fc.uint8Array({ maxLength: 16 })).map(([head, rest]) => Buffer.concat([Buffer.from([0xd2, 0x84]), head, rest])),
    fc.constantFrom(...hugeLengthHeads).map((head) => Buffer.concat([Buffer.from([0xd2]), head])),
  );
}
