// CCF's private ledger domain: AES-256-GCM with a unique IV per entry and the tx id
// as authenticated data; commit evidence "ce:<view>.<seqno>:<nonce>" derived from the secret.
import assert from "node:assert/strict";
import { it } from "node:test";
import fc from "fast-check";
import { sha256 } from "../src/crypto/hash.ts";
import { DecryptionError, LedgerSecret } from "../src/crypto/ledger-secret.ts";

const secret = LedgerSecret.generate();
const aad = Buffer.from("1.42");

it("seal/open round-trips and every seal uses a fresh IV", () => {
  const plain = Buffer.from("private value");
  const a = secret.seal(plain, aad);
  const b = secret.seal(plain, aad);
  assert.notDeepEqual(a.subarray(0, 12), b.subarray(0, 12));
  assert.deepEqual(secret.open(a, aad), plain);
  assert.ok(!a.includes(plain), "ciphertext does not contain the plaintext");
});

it("open refuses another secret, another tx id, a flipped bit, or short input", () => {
  const sealed = secret.seal(Buffer.from("x".repeat(50)), aad);
  assert.throws(() => LedgerSecret.generate().open(sealed, aad), DecryptionError);
  assert.throws(() => secret.open(sealed, Buffer.from("1.43")), DecryptionError);
  for (const at of [0, 12, 28, sealed.length - 1]) {
    const altered = Buffer.from(sealed);
    altered[at]! ^= 1;
    assert.throws(() => secret.open(altered, aad), DecryptionError, `bit flipped at ${at}`);
  }
  assert.throws(() => secret.open(sealed.subarray(0, 20), aad), DecryptionError);
});

it("commit evidence names the tx id, depends on the secret, and its digest is SHA-256 of the string", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2 ** 40 }), fc.integer({ min: 1, max: 2 ** 40 }), (view, seqno) => {
      const evidence = secret.commitEvidence(view, seqno);
      assert.match(evidence, new RegExp(`^ce:${view}\\.${seqno}:[0-9a-f]{64}$`));
      assert.deepEqual(secret.commitEvidenceDigest(view, seqno), sha256(evidence));
      assert.notEqual(evidence, secret.commitEvidence(view, seqno + 1));
      assert.notEqual(evidence, secret.commitEvidence(view + 1, seqno));
    }),
  );
  assert.notEqual(secret.commitEvidence(1, 1), LedgerSecret.generate().commitEvidence(1, 1));
});

it("commit evidence does not depend on the order it is asked in (commits in order, receipts for older transactions)", () => {
  const key = LedgerSecret.generate().key;
  // In order, as commits ask, across batch boundaries and a new view.
  const inOrder = new LedgerSecret(key);
  const ids: [number, number][] = [];
  for (let seqno = 1; seqno <= 2500; seqno++) ids.push([2, seqno]);
  for (let seqno = 2501; seqno <= 4000; seqno++) ids.push([3, seqno]);
  const expected = new Map(ids.map(([view, seqno]) => [`${view}.${seqno}`, inOrder.commitEvidence(view, seqno)]));
  // Another instance of the same secret, asked in shuffled order, with commits going on in between.
  fc.assert(
    fc.property(fc.shuffledSubarray(ids, { minLength: 1, maxLength: 200 }), (asked) => {
      const other = new LedgerSecret(key);
      let committed = 3000;
      for (const [view, seqno] of asked) {
        assert.equal(other.commitEvidence(view, seqno), expected.get(`${view}.${seqno}`));
        committed++;
        if (committed <= 4000) assert.equal(other.commitEvidence(3, committed), expected.get(`3.${committed}`));
      }
    }),
    { numRuns: 50 },
  );
});
