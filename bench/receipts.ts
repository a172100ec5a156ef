// Receipts: after N committed transactions, the cost of History.receipt(seqno)
// for random committed seqnos while their Merkle path is in memory, then for
// old seqnos after a restart with merkleLeavesInMemory = 4096 (their block of
// the tree is rebuilt from the ledger files), and the cost of verifyReceipt.
//
// Verification checks the node's ECDSA P-384 signature over the Merkle root.
// CCF signs the root as a pre-hashed SHA-256 digest. node:crypto always hashes
// its input, so verifyReceipt hands it the root's preimage (the last proof
// step's two hashes); the pure-JS @noble/curves path, for a receipt with no
// preimage, is timed too, and one node:crypto P-384 verify is the baseline.
//
//   node --expose-gc --import tsx bench/receipts.ts      (BENCH_TXS=200000)
import { generateKeyPairSync, randomBytes, sign, verify } from "node:crypto";
import { isCertIssuedBy } from "../packages/node/src/crypto/certs.ts";
import { lowerBound } from "../packages/node/src/sorted.ts";
import { PRECOMPUTE_AFTER_USES, signDigest, verifyDigestSignature } from "../packages/node/src/crypto/digest-signature.ts";
import { sha256 } from "../packages/node/src/crypto/hash.ts";
import { verifyReceipt, type Receipt } from "../packages/node/src/merkle/receipt.ts";
import { startNodeCore, type NodeCore } from "../packages/node/src/node.ts";
import {
  commitNow,
  envInt,
  fmtInt,
  fmtMs,
  header,
  msSince,
  now,
  nsPerOp,
  printTable,
  removeDir,
  sha256Baseline,
  sig,
  summarize,
  tempDir,
  writeResult,
  yieldToEventLoop,
  type Summary,
} from "./lib.ts";

const TXS = envInt("BENCH_TXS", 200_000);
const SAMPLES = envInt("BENCH_RECEIPTS", 500);
const VERIFY_SAMPLES = Math.min(SAMPLES, 200);
const VALUE_BYTES = 256;
const SIGNATURE_INTERVAL_TX = 5000;
/** One Merkle block (2^12 leaves): everything older is evicted and rebuilt from the ledger on demand. */
const SMALL_LEAVES_IN_MEMORY = 4096;
const MAP = "bench";

/** Deterministic PRNG so runs pick comparable seqnos. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** `count` random seqnos of the benchmark's own transactions (not signatures) in [from, to]. */
function pickSeqnos(txSeqnos: Int32Array, count: number, from: number, to: number, seed: number): number[] {
  const random = prng(seed);
  const lo = lowerBound(txSeqnos, from, (s) => s);
  const hi = lowerBound(txSeqnos, to + 1, (s) => s);
  if (hi <= lo) throw new Error(`no benchmark transaction in seqnos ${from}..${to}`);
  const out: number[] = [];
  while (out.length < count) out.push(txSeqnos[lo + Math.floor(random() * (hi - lo))]!);
  return out;
}


function timeReceipts(core: NodeCore, seqnos: number[]): { summary: Summary; receipts: Receipt[] } {
  const samples: number[] = [];
  const receipts: Receipt[] = [];
  for (const seqno of seqnos) {
    const start = now();
    const receipt = core.history.receipt(seqno);
    samples.push(msSince(start));
    receipts.push(receipt);
  }
  return { summary: summarize(samples), receipts };
}

function timeVerify(receipts: Receipt[], serviceCertPem: string): Summary {
  const samples: number[] = [];
  for (const receipt of receipts) {
    const start = now();
    verifyReceipt(receipt, serviceCertPem);
    samples.push(msSince(start));
  }
  return summarize(samples);
}

async function main(): Promise<void> {
  header(`receipts: ${fmtInt(TXS)} committed txs (private map, ${VALUE_BYTES}-byte values), ${SAMPLES} receipts per case`);
  const dir = tempDir("receipts");
  try {
    // No periodic snapshots: they do not change how receipts are built and would slow the setup.
    const options = { dir, signatureIntervalTx: SIGNATURE_INTERVAL_TX, signatureIntervalMs: 1000, snapshotIntervalTx: Number.MAX_SAFE_INTEGER, log: () => {} };
    let core = await startNodeCore(options);
    const value = randomBytes(VALUE_BYTES);
    const key = Buffer.alloc(16);
    const txSeqnos = new Int32Array(TXS);
    for (let i = 0; i < TXS; i++) {
      key.write("k" + i.toString(16).padStart(15, "0"), "latin1");
      const tx = core.history.begin();
      tx.map(MAP).set(key, value);
      txSeqnos[i] = core.history.commit(tx)!.seqno;
      if (i % 1000 === 999) await yieldToEventLoop();
    }
    await commitNow(core.history, txSeqnos[TXS - 1]!);
    const committed = core.history.lastCommitted.seqno;
    const serviceCertPem = core.identity.serviceCertPem;

    // Warm-up: parse the node certificate key once, JIT the paths.
    for (const seqno of pickSeqnos(txSeqnos, 20, 1, committed, 99)) verifyReceipt(core.history.receipt(seqno), serviceCertPem);

    const inMemory = timeReceipts(core, pickSeqnos(txSeqnos, SAMPLES, 1, committed, 1));
    const proofSteps = summarize(inMemory.receipts.map((r) => r.proof.length));
    const verifyInMemory = timeVerify(inMemory.receipts.slice(0, VERIFY_SAMPLES), serviceCertPem);
    const receiptBytes = summarize(inMemory.receipts.map((r) => JSON.stringify(r).length));
    await core.close();

    // Restart with only one Merkle block in memory: receipts for old seqnos rebuild their block from the ledger files.
    const reopenStart = now();
    core = await startNodeCore({ ...options, merkleLeavesInMemory: SMALL_LEAVES_IN_MEMORY });
    const reopenMs = msSince(reopenStart);
    const oldest = Math.max(1, committed - 2 * SMALL_LEAVES_IN_MEMORY);
    const old = timeReceipts(core, pickSeqnos(txSeqnos, Math.min(SAMPLES, 200), 1, oldest, 2));
    const recent = timeReceipts(core, pickSeqnos(txSeqnos, SAMPLES, committed - 1000, committed, 3));
    const verifyOld = timeVerify(old.receipts.slice(0, VERIFY_SAMPLES), serviceCertPem);
    await core.close();

    // Parts of verifyReceipt, and the node:crypto baseline for one P-384 verify.
    const sample = inMemory.receipts[0]!;
    const nodeCert = sample.cert;
    // A root as the tree gives it: the SHA-256 of its two children, which signing and verifying pass along.
    const preimage = Buffer.concat([sha256("left"), sha256("right")]);
    const digest = sha256(preimage);
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();
    const signature = signDigest(privatePem, digest, preimage);
    // Without a preimage (@noble/curves), the first verification with a key: a fresh key each time.
    const freshKeys = Array.from({ length: 20 }, () => generateKeyPairSync("ec", { namedCurve: "P-384" }));
    const freshSignatures = freshKeys.map((k) => signDigest(k.privateKey.export({ type: "pkcs8", format: "pem" }).toString(), digest, preimage));
    const freshPems = freshKeys.map((k) => k.publicKey.export({ type: "spki", format: "pem" }).toString());
    const firstUseStart = process.hrtime.bigint();
    freshPems.forEach((pem, i) => verifyDigestSignature(pem, digest, freshSignatures[i]!));
    const firstUseMs = Number(process.hrtime.bigint() - firstUseStart) / 1e6 / freshPems.length;
    // And a key seen before: past the uses after which it gets window tables.
    for (let i = 0; i < PRECOMPUTE_AFTER_USES; i++) verifyDigestSignature(publicPem, digest, signature);
    const parts = {
      verifyWithPreimageMs: sig(nsPerOp(() => verifyDigestSignature(publicPem, digest, signature, preimage), 1, 500) / 1e6),
      nobleP384VerifyMs: sig(nsPerOp(() => verifyDigestSignature(publicPem, digest, signature), 1, 500) / 1e6),
      nobleP384VerifyFirstUseMs: sig(firstUseMs),
      signWithPreimageMs: sig(nsPerOp(() => signDigest(privatePem, digest, preimage), 1, 500) / 1e6),
      nobleP384SignMs: sig(nsPerOp(() => signDigest(privatePem, digest), 1, 100) / 1e6),
      nodeCryptoP384VerifyMs: sig(nsPerOp(() => verify("sha256", preimage, publicKey, signature), 1, 500) / 1e6),
      nodeCryptoP384SignMs: sig(nsPerOp(() => sign("sha256", preimage, privateKey), 1, 500) / 1e6),
      certIssuedByMs: sig(nsPerOp(() => isCertIssuedBy(nodeCert, serviceCertPem), 1, 500) / 1e6),
      proofFoldMs: sig((nsPerOp(() => sha256(digest), 1, 200) * proofSteps.median) / 1e6),
    };
    const sha = sha256Baseline();

    console.log();
    printTable([
      ["case", "median", "p99", "max", "samples"],
      ["receipt(), live node, proof from memory", fmtMs(inMemory.summary.median), fmtMs(inMemory.summary.p99), fmtMs(inMemory.summary.max), inMemory.summary.count],
      ["receipt(), recent, after restart", fmtMs(recent.summary.median), fmtMs(recent.summary.p99), fmtMs(recent.summary.max), recent.summary.count],
      [`receipt(), old, rebuilt from ledger (${SMALL_LEAVES_IN_MEMORY} leaves in memory)`, fmtMs(old.summary.median), fmtMs(old.summary.p99), fmtMs(old.summary.max), old.summary.count],
      ["verifyReceipt()", fmtMs(verifyInMemory.median), fmtMs(verifyInMemory.p99), fmtMs(verifyInMemory.max), verifyInMemory.count],
      ["verifyReceipt(), old receipts", fmtMs(verifyOld.median), fmtMs(verifyOld.p99), fmtMs(verifyOld.max), verifyOld.count],
    ]);
    console.log(`  proof length: median ${proofSteps.median} steps; receipt JSON: median ${fmtInt(receiptBytes.median)} B; restart with ${SMALL_LEAVES_IN_MEMORY} leaves in memory: ${fmtMs(reopenMs)}`);
    console.log();
    console.log("  parts of verifyReceipt and baselines (same run):");
    printTable([
      ["P-384 verify of the root through its preimage (OpenSSL), as verifyReceipt does", fmtMs(parts.verifyWithPreimageMs)],
      ["P-384 verify of the root alone (@noble/curves, pre-hashed): a signature tx's receipt, key seen before (window tables)", fmtMs(parts.nobleP384VerifyMs)],
      ["the same, first use of a key", fmtMs(parts.nobleP384VerifyFirstUseMs)],
      ["P-384 verify, node:crypto (OpenSSL), baseline", fmtMs(parts.nodeCryptoP384VerifyMs)],
      ["node cert issued by service cert (node:crypto X509)", fmtMs(parts.certIssuedByMs)],
      ["proof fold (median steps × one SHA-256 call)", fmtMs(parts.proofFoldMs)],
      ["P-384 sign of the root through its preimage (OpenSSL), per signature tx", fmtMs(parts.signWithPreimageMs)],
      ["P-384 sign of the root alone (@noble/curves, pre-hashed)", fmtMs(parts.nobleP384SignMs)],
      ["P-384 sign, node:crypto, baseline", fmtMs(parts.nodeCryptoP384SignMs)],
      ["SHA-256 one call, 64 B", `${fmtInt(sha.ns64)} ns`],
    ], "    ");
    console.log(`  verify through the preimage ÷ node:crypto verify: ${sig(parts.verifyWithPreimageMs / parts.nodeCryptoP384VerifyMs)}×; @noble/curves ÷ node:crypto: ${sig(parts.nobleP384VerifyMs / parts.nodeCryptoP384VerifyMs)}×`);

    const path = writeResult("receipts", {
      config: { txs: TXS, samples: SAMPLES, verifySamples: VERIFY_SAMPLES, valueBytes: VALUE_BYTES, map: MAP, signatureIntervalTx: SIGNATURE_INTERVAL_TX, smallLeavesInMemory: SMALL_LEAVES_IN_MEMORY },
      receiptMs: { inMemory: inMemory.summary, recentAfterRestart: recent.summary, oldRebuiltFromLedger: old.summary },
      verifyMs: { inMemory: verifyInMemory, old: verifyOld },
      proofSteps,
      receiptJsonBytes: receiptBytes,
      restartWithSmallTreeMs: sig(reopenMs),
      parts,
      baselines: { sha256: sha, nodeCryptoP384VerifyMs: parts.nodeCryptoP384VerifyMs },
      ratios: {
        verifyWithPreimageOverNodeCrypto: sig(parts.verifyWithPreimageMs / parts.nodeCryptoP384VerifyMs),
        nobleVerifyOverNodeCrypto: sig(parts.nobleP384VerifyMs / parts.nodeCryptoP384VerifyMs),
      },
    });
    console.log(`\n  wrote ${path}`);
  } finally {
    removeDir(dir);
  }
}

await main();
