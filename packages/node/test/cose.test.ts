// COSE_Sign1 as CCF verifies signed requests (RFC 9052; CCF cose_auth.cpp):
// the signature covers Sig_structure ["Signature1", protected, h'', payload],
// is raw r‖s ECDSA (ES256/ES384/ES512 only), and the kid travels as a bstr.
// Checked against the cose-wg reference vectors and against envelopes built
// independently with cbor-x and node:crypto; malformed input is a CoseError.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { before, describe, it } from "node:test";
import { Decoder, Encoder, Tag } from "cbor-x";
import fc from "fast-check";
import {
  CoseAlg,
  CoseError,
  coseSign1ToBeSigned,
  decodeCoseSign1,
  signCoseSign1,
  verifyCoseSign1,
} from "../src/crypto/cose.ts";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId, generateP384KeyPair } from "../src/crypto/keys.ts";
import { malformedCose } from "./helpers/malformed-cose.ts";

const encoder = new Encoder({ mapsAsObjects: false, useRecords: false, tagUint8Array: false, variableMapSize: true });
const decoder = new Decoder({ mapsAsObjects: false, useRecords: false });
const hex = (text: string) => Buffer.from(text, "hex");

/** cose-wg/Examples ecdsa-examples (public reference vectors): key as JWK, expected to-be-signed bytes and envelope. */
const VECTORS = [
  {
    title: "ecdsa-sig-01 (ES256, P-256, extra protected header 3: 0)",
    jwk: {
      kty: "EC",
      crv: "P-256",
      x: "usWxHK2PmfnHKwXPS54m0kTcGJ90UiglWiGahtagnv8",
      y: "IBOL-C3BttVivg-lSreASjpkttcsz-1rb7btKLv8EX4",
    },
    toBeSigned: "846A5369676E61747572653145A2012603004054546869732069732074686520636F6E74656E742E",
    cbor:
      "D28445A201260300A10442313154546869732069732074686520636F6E74656E742E5840EAE868ECC176883766C5DC5BA5B8DCA25DAB3C2E56A551CE5705B793914348E172727F48461FABBBA2E343492DDECAC3983686250BC68E9F1A7A07D41225B59F",
    alg: CoseAlg.ES256,
  },
  {
    title: "ecdsa-sig-02 (ES384, P-384)",
    jwk: {
      kty: "EC",
      crv: "P-384",
      x: "kTJyP2KSsBBhnb4kjWmMF7WHVsY55xUPgb7k64rDcjatChoZ1nvjKmYmPh5STRKc",
      y: "mM0weMVU2DKsYDxDJkEP9hZiRZtB8fPfXbzINZj_fF7YQRynNWedHEyzAJOX2e8s",
    },
    toBeSigned: "846A5369676E61747572653144A10138224054546869732069732074686520636F6E74656E742E",
    cbor:
      "D28444A1013822A104445033383454546869732069732074686520636F6E74656E742E5860B8F85EFF78C88F5351CED2F1887B79B296490795594B62E41E22529BB90208B7D8CDDD4A46D0E9C986464D83D0A5D1EDF39B3E2C5750364230D0E8D76460D8808E76C83830FBBD1978CC174066EB437F17887979ECF027DCC9D51BAF6C4FD8C0",
    alg: CoseAlg.ES384,
  },
];

const pemOf = (key: KeyObject) => key.export({ type: "spki", format: "pem" }).toString();

function ecKeyPair(namedCurve: string): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve });
  return { privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(), publicKeyPem: pemOf(publicKey) };
}

describe("COSE_Sign1 reference vectors (cose-wg/Examples)", () => {
  for (const vector of VECTORS) {
    it(`decodes and verifies ${vector.title}`, () => {
      const decoded = decodeCoseSign1(hex(vector.cbor));
      assert.equal(decoded.tagged, true);
      assert.equal(decoded.protectedHeaders.get(1), vector.alg);
      assert.equal(decoded.payload.toString(), "This is the content.");
      assert.ok(decoded.unprotected.get(4) instanceof Uint8Array);
      assert.deepEqual(coseSign1ToBeSigned(decoded.protectedBytes, decoded.payload), hex(vector.toBeSigned));
      const publicKeyPem = pemOf(createPublicKey({ key: vector.jwk, format: "jwk" }));
      assert.equal(verifyCoseSign1(decoded, publicKeyPem), true);

      const tampered = { ...decoded, payload: Buffer.from("This is the content!") };
      assert.equal(verifyCoseSign1(tampered, publicKeyPem), false);
      const flipped = Buffer.from(decoded.signature);
      flipped[5] = (flipped[5] ?? 0) ^ 1;
      assert.equal(verifyCoseSign1({ ...decoded, signature: flipped }, publicKeyPem), false);
    });
  }
});

describe("signCoseSign1", () => {
  let identity: { privateKeyPem: string; certPem: string };
  before(async () => {
    identity = await createServiceIdentity();
  });

  it("signs a tagged envelope that an independent cbor-x + node:crypto check accepts (P-384 certificate)", () => {
    const kid = certId(identity.certPem);
    const envelope = signCoseSign1({
      privateKeyPem: identity.privateKeyPem,
      kid,
      headers: { "ccf.gov.msg.type": "proposal", "ccf.gov.msg.created_at": 1_700_000_000 },
      payload: '{"actions":[]}',
    });

    const outer = decoder.decode(envelope) as Tag;
    assert.ok(outer instanceof Tag);
    assert.equal(outer.tag, 18);
    const [protectedBytes, unprotected, payload, signature] = outer.value as [Buffer, Map<unknown, unknown>, Buffer, Buffer];
    const headers = decoder.decode(protectedBytes) as Map<unknown, unknown>;
    assert.equal(headers.get(1), CoseAlg.ES384);
    assert.deepEqual(headers.get(4), Buffer.from(kid, "utf8"));
    assert.equal(headers.get("ccf.gov.msg.type"), "proposal");
    assert.equal(headers.get("ccf.gov.msg.created_at"), 1_700_000_000);
    assert.equal(unprotected.size, 0);
    assert.equal(signature.length, 96); // raw r‖s for P-384

    const sigStructure = encoder.encode(["Signature1", protectedBytes, Buffer.alloc(0), payload]);
    const publicKey = createPublicKey(identity.certPem);
    assert.equal(verify("sha384", sigStructure, { key: publicKey, dsaEncoding: "ieee-p1363" }, signature), true);

    const decoded = decodeCoseSign1(envelope);
    assert.equal(verifyCoseSign1(decoded, identity.certPem), true);
    assert.deepEqual(decoded.payload, Buffer.from('{"actions":[]}'));
  });

  it("verifies an envelope built independently with cbor-x and node:crypto (P-256, ES256)", () => {
    const keys = ecKeyPair("prime256v1");
    const protectedBytes = encoder.encode(new Map<unknown, unknown>([[1, -7], [4, Buffer.from("abc")]]));
    const payload = Buffer.from([0, 1, 2, 250]);
    const sigStructure = encoder.encode(["Signature1", protectedBytes, Buffer.alloc(0), payload]);
    const signature = sign("sha256", sigStructure, { key: keys.privateKeyPem, dsaEncoding: "ieee-p1363" });
    const envelope = encoder.encode(new Tag([protectedBytes, new Map(), payload, signature], 18));
    assert.equal(verifyCoseSign1(decodeCoseSign1(envelope), keys.publicKeyPem), true);
    assert.equal(verifyCoseSign1(decodeCoseSign1(envelope), ecKeyPair("prime256v1").publicKeyPem), false);
  });

  it("picks the algorithm from the curve: ES256 for P-256, ES384 for P-384, ES512 for P-521", () => {
    for (const [curve, alg] of [["prime256v1", -7], ["secp384r1", -35], ["secp521r1", -36]] as const) {
      const keys = ecKeyPair(curve);
      const decoded = decodeCoseSign1(signCoseSign1({ privateKeyPem: keys.privateKeyPem, headers: {}, payload: "x" }));
      assert.equal(decoded.protectedHeaders.get(1), alg);
      assert.equal(decoded.protectedHeaders.has(4), false);
      assert.equal(verifyCoseSign1(decoded, keys.publicKeyPem), true);
    }
  });

  it("refuses to sign with a non-EC key or a non-ECDSA algorithm", () => {
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    assert.throws(() => signCoseSign1({ privateKeyPem: rsa, headers: {}, payload: "x" }), CoseError);
    const p384 = generateP384KeyPair();
    assert.throws(() => signCoseSign1({ privateKeyPem: p384.privateKeyPem, alg: -37, headers: {}, payload: "x" }), CoseError);
  });
});

describe("verifyCoseSign1 rejects", () => {
  const keys = generateP384KeyPair();

  it("non-ECDSA algorithms and non-EC keys", () => {
    const decoded = decodeCoseSign1(signCoseSign1({ privateKeyPem: keys.privateKeyPem, headers: {}, payload: "x" }));
    const ps256 = encoder.encode(new Map([[1, -37]]));
    assert.equal(verifyCoseSign1({ ...decoded, protectedBytes: ps256, protectedHeaders: new Map([[1, -37]]) }, keys.publicKeyPem), false);
    const noAlg = { ...decoded, protectedHeaders: new Map() };
    assert.equal(verifyCoseSign1(noAlg, keys.publicKeyPem), false);
    const rsaPublic = pemOf(generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey);
    assert.equal(verifyCoseSign1(decoded, rsaPublic), false);
  });

  it("an algorithm that is not the one of the key's curve, though the signature is valid for it", () => {
    const es256OverP384 = decodeCoseSign1(signCoseSign1({ privateKeyPem: keys.privateKeyPem, alg: CoseAlg.ES256, headers: {}, payload: "x" }));
    assert.equal(verifyCoseSign1(es256OverP384, keys.publicKeyPem), false);
    const p256 = ecKeyPair("prime256v1");
    const es512OverP256 = decodeCoseSign1(signCoseSign1({ privateKeyPem: p256.privateKeyPem, alg: CoseAlg.ES512, headers: {}, payload: "x" }));
    assert.equal(verifyCoseSign1(es512OverP256, p256.publicKeyPem), false);
  });

  it("a signature of the wrong length, and a DER-encoded signature", () => {
    const decoded = decodeCoseSign1(signCoseSign1({ privateKeyPem: keys.privateKeyPem, headers: {}, payload: "x" }));
    assert.equal(verifyCoseSign1({ ...decoded, signature: decoded.signature.subarray(1) }, keys.publicKeyPem), false);
    const der = sign("sha384", coseSign1ToBeSigned(decoded.protectedBytes, decoded.payload), keys.privateKeyPem);
    assert.equal(verifyCoseSign1({ ...decoded, signature: der }, keys.publicKeyPem), false);
  });
});

describe("decodeCoseSign1", () => {
  const keys = generateP384KeyPair();
  const good = signCoseSign1({ privateKeyPem: keys.privateKeyPem, kid: "k", headers: {}, payload: "hello" });
  const parts = (decoder.decode(good) as Tag).value as unknown[];

  it("accepts an untagged envelope and a zero-length protected header", () => {
    const untagged = decodeCoseSign1(encoder.encode(parts));
    assert.equal(untagged.tagged, false);
    assert.equal(verifyCoseSign1(untagged, keys.publicKeyPem), true);
    const empty = decodeCoseSign1(encoder.encode([Buffer.alloc(0), new Map(), Buffer.from("p"), Buffer.alloc(2)]));
    assert.equal(empty.protectedHeaders.size, 0);
  });

  const malformed: Array<[string, RegExp, Buffer]> = [
    ["empty input", /not a single CBOR item/, Buffer.alloc(0)],
    ["not CBOR (JSON text)", /not a single CBOR item/, Buffer.from('{"a":1}')],
    ["truncated", /not a single CBOR item/, good.subarray(0, good.length - 10)],
    ["trailing bytes", /end of buffer not reached/, Buffer.concat([good, Buffer.from([0x00])])],
    ["a different tag (98, COSE_Sign)", /tag 98, expected 18/, encoder.encode(new Tag(parts, 98))],
    ["not an array", /is not an array/, encoder.encode(new Tag(new Map([[1, 2]]), 18))],
    ["three elements", /has 3 elements/, encoder.encode(new Tag(parts.slice(0, 3), 18))],
    ["five elements", /has 5 elements/, encoder.encode(new Tag([...parts, Buffer.alloc(0)], 18))],
    ["protected header as a map, not a bstr", /protected header is not a byte string/, encoder.encode(new Tag([new Map([[1, -35]]), ...parts.slice(1)], 18))],
    ["protected header bstr that is not CBOR", /protected header is not CBOR/, encoder.encode(new Tag([Buffer.from([0xff, 0xff]), ...parts.slice(1)], 18))],
    ["protected header that is not a map", /protected header is not a map/, encoder.encode(new Tag([encoder.encode([1, -35]), ...parts.slice(1)], 18))],
    ["unprotected header that is not a map", /unprotected header is not a map/, encoder.encode(new Tag([parts[0], [], parts[2], parts[3]], 18))],
    ["payload as a text string", /payload is not a byte string/, encoder.encode(new Tag([parts[0], parts[1], "hello", parts[3]], 18))],
    ["detached (nil) payload", /payload is not a byte string/, encoder.encode(new Tag([parts[0], parts[1], null, parts[3]], 18))],
    ["signature as an integer", /signature is not a byte string/, encoder.encode(new Tag([parts[0], parts[1], parts[2], 7], 18))],
    ["a header label that is a byte string", /neither an integer nor a text string/, encoder.encode(new Tag([encoder.encode(new Map([[Buffer.from("x"), 1]])), ...parts.slice(1)], 18))],
  ];
  it("throws nothing but CoseError on malformed input (fuzzed: truncations, flips, wrong types, huge lengths)", () => {
    fc.assert(
      fc.property(malformedCose(good), (bytes) => {
        try {
          decodeCoseSign1(bytes);
        } catch (error) {
          assert.ok(error instanceof CoseError, `${String(error)} for ${bytes.toString("hex")}`);
        }
      }),
      { numRuns: 5000 },
    );
  });

  for (const [what, message, bytes] of malformed) {
    it(`throws CoseError for ${what}`, () => {
      assert.throws(() => decodeCoseSign1(bytes), (error) => error instanceof CoseError && message.test(error.message));
    });
  }
});
