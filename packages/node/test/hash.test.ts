// SHA-256 as the commit path takes it (digest as a binary string, copied into a
// Buffer): every byte value must survive the copy, checked against Node's
// streaming createHash and a published test vector.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DIGEST_BYTES, sha256, sha256Binary, sha256Into, sha256Pair } from "../src/crypto/hash.ts";

const reference = (...parts: Uint8Array[]) => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
};

describe("sha256", () => {
  it("matches the FIPS 180-2 vector for \"abc\"", () => {
    assert.equal(sha256("abc").toString("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("sha256, sha256Binary, sha256Pair and sha256Into agree with createHash on any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 100 }), fc.nat(64), (a, b, offset) => {
        assert.deepEqual(sha256(a), reference(a));
        assert.equal(sha256Binary(a), reference(a).toString("latin1"));
        assert.deepEqual(sha256Pair(a, b), reference(a, b));
        const target = Buffer.alloc(offset + DIGEST_BYTES + 8, 0xee);
        sha256Into(a, target, offset);
        assert.deepEqual(target.subarray(offset, offset + DIGEST_BYTES), reference(a));
        // Nothing around the digest is touched.
        assert.ok(target.subarray(0, offset).every((byte) => byte === 0xee));
        assert.ok(target.subarray(offset + DIGEST_BYTES).every((byte) => byte === 0xee));
      }),
      { numRuns: 300 },
    );
  });

  it("every byte value of a digest survives (digests with bytes 0x00-0xff)", () => {
    const seen = new Set<number>();
    for (let i = 0; seen.size < 256 && i < 10_000; i++) {
      const input = Buffer.from(`input ${i}`);
      const digest = sha256(input);
      assert.deepEqual(digest, reference(input));
      for (const byte of digest) seen.add(byte);
    }
    assert.equal(seen.size, 256);
  });
});
