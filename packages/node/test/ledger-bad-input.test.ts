// CCF ledger integrity on bad input: a node refuses to start on a corrupted, truncated, reordered or incomplete ledger, on a wrong ledger secret or a signature by an unendorsed node (naming file and seqno, serving nothing, changing no file), the offline ledger verifier (confide-ledger verify) fails the same way on all but the private domain (which it cannot open: no file holds the ledger secrets), a torn tail / unsigned tail is only a warning, and private write sets never reach the ledger files in clear. The node restarts here in one process, handed the ledger secrets it held before (they are never on disk).
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createNodeCertificate, createServiceIdentity } from "../src/crypto/certs.ts";
import { signDigest } from "../src/crypto/digest-signature.ts";
import { fromHex, sha256 } from "../src/crypto/hash.ts";
import { generateP384KeyPair, nodeIdOf } from "../src/crypto/keys.ts";
import { auditLedger } from "../src/history/audit.ts";
import { readSignature, signatureWrites, TREE_MAP } from "../src/history/signatures.ts";
import { IDENTITY_FILES } from "../src/identity.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { seqNo, view } from "../src/ids.ts";
import { encodeWriteSet, type WriteSet } from "../src/kv/write-set.ts";
import { listChunks } from "../src/ledger/chunk-files.ts";
import { decodeFrame, encodeFrame, frameLength, FRAME_PREFIX_BYTES, txIdBytes, type DecodedEntry } from "../src/ledger/entry.ts";
import { LedgerCorruptionError } from "../src/ledger/reader.ts";
import { LEDGER_ENTRY_BYTES_MAX } from "../src/limits.ts";
import { serviceKeyId, signMerkleRoot } from "../src/merkle/cose-receipt.ts";
import { verifyReceipt } from "../src/merkle/receipt.ts";
import { startNodeCore, type NodeCore } from "../src/node.ts";

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");
const CLI = "bin/confide-ledger.ts";
const PRIVATE_MAP = "confidential_records";
const PUBLIC_MAP = "public:records";
const publicValue = (i: number) => `PUBLIC-VALUE-${i}`;
const privateValue = (i: number) => `PRIVATE-SECRET-${i}`;

let root: string;
/** The pristine node's ledger secrets, held in memory as the node held them. */
let secrets: LedgerSecrets | undefined;
/** The intact node directory (identity files + ledger/), never modified after `before`. */
let pristine: string;
const written = {
  userTxs: 0,
  privateTxs: 0,
  publicValues: [] as string[],
  lastSeqno: 0,
  signatures: [] as number[],
  views: [] as number[],
};

const quiet = () => {};

async function writeSession(dir: string, from: number, count: number): Promise<void> {
  const core = await startNodeCore({ dir, signatureIntervalTx: 10, chunkBytes: 4096, log: quiet, ...(secrets ? { ledgerSecrets: secrets } : {}) });
  secrets = core.history.ledgerSecrets;
  for (let i = from; i < from + count; i++) {
    const tx = core.history.begin();
    tx.map(PUBLIC_MAP).set(Buffer.from(`pub-${i}`), Buffer.from(publicValue(i)));
    written.publicValues.push(publicValue(i));
    if (i % 3 !== 0) {
      tx.map(PRIVATE_MAP).set(Buffer.from(`priv-${i}`), Buffer.from(privateValue(i)));
      written.privateTxs++;
    }
    assert.ok(core.history.commit(tx));
    written.userTxs++;
  }
  written.views.push(core.history.view);
  await core.close();
  written.lastSeqno = core.history.lastSeqno;
  written.signatures = [...core.history.signatures];
}

interface Frame {
  file: string;
  /** Index of the frame in its chunk file. */
  index: number;
  offset: number;
  length: number;
  entry: DecodedEntry;
}

/** Every frame of every chunk file of a ledger dir, in order. */
function framesOf(ledgerDir: string): Frame[] {
  const out: Frame[] = [];
  for (const chunk of listChunks(ledgerDir)) {
    const bytes = readFileSync(join(ledgerDir, chunk.name));
    let at = 0;
    for (let index = 0; at < bytes.length; index++) {
      const length = frameLength(bytes, at, LEDGER_ENTRY_BYTES_MAX);
      assert.ok(length !== undefined && at + length <= bytes.length, `intact ledger has a torn frame in ${chunk.name}`);
      out.push({ file: chunk.name, index, offset: at, length, entry: decodeFrame(bytes.subarray(at, at + length)) });
      at += length;
    }
  }
  return out;
}

/** A fresh copy of the intact node directory. */
function copyNode(name: string): { dir: string; ledgerDir: string } {
  const dir = join(root, name);
  cpSync(pristine, dir, { recursive: true });
  return { dir, ledgerDir: join(dir, "ledger") };
}

function flipBit(path: string, offset: number, bit = 0): void {
  const bytes = readFileSync(path);
  bytes[offset] = bytes[offset]! ^ (1 << bit);
  writeFileSync(path, bytes);
}

/** Rewrites a frame's digest so the alteration survives the per-entry check (an attacker's edit). */
function rehashFrame(path: string, frame: Frame): void {
  const bytes = readFileSync(path);
  const entry = bytes.subarray(frame.offset + FRAME_PREFIX_BYTES, frame.offset + frame.length);
  sha256(entry).copy(bytes, frame.offset + 8);
  writeFileSync(path, bytes);
}

/** Replaces a frame with one of the same tx id and kind writing `publicWrites` and `privateSealed` (its digest computed afresh). */
function rewriteFrame(ledgerDir: string, original: Frame, publicWrites: WriteSet, privateSealed: Buffer): void {
  const { frame } = encodeFrame({
    view: view(original.entry.view),
    seqno: seqNo(original.entry.seqno),
    isSignature: original.entry.isSignature,
    commitEvidenceDigest: original.entry.commitEvidenceDigest,
    claimsDigest: original.entry.claimsDigest,
    publicWrites,
    privateSealed,
  });
  const path = join(ledgerDir, original.file);
  const bytes = readFileSync(path);
  writeFileSync(path, Buffer.concat([bytes.subarray(0, original.offset), frame, bytes.subarray(original.offset + original.length)]));
}

/** Replaces a signature entry with one of the same tx id writing `publicWrites`. */
function rewriteSignature(ledgerDir: string, signature: Frame, publicWrites: WriteSet): void {
  rewriteFrame(ledgerDir, signature, publicWrites, Buffer.alloc(0));
}

/** Name and SHA-256 of every file in a directory: to show a rejected start changed nothing. */
function fingerprint(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((name) => `${name} ${createHash("sha256").update(readFileSync(join(dir, name))).digest("hex")}`);
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], script = CLI): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", script, ...args], { cwd: PACKAGE_DIR }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Node start (with `ledgerSecrets`: the ledger's own unless given) refuses the corrupted node dir naming `file` and `seqno`, serves nothing and leaves the files as they were. */
async function assertStartRejected(dir: string, file: string, seqno: number, detail: RegExp, ledgerSecrets = secrets!): Promise<void> {
  const ledgerDir = join(dir, "ledger");
  const before = fingerprint(ledgerDir);
  let started: NodeCore | undefined;
  try {
    const start = startNodeCore({ dir, log: quiet, ledgerSecrets }).then((core) => (started = core));
    await assert.rejects(start, (error: unknown) => {
      assert.ok(error instanceof LedgerCorruptionError, `expected LedgerCorruptionError, got ${String(error)}`);
      assert.equal(error.file, file);
      assert.equal(error.seqno, seqno, error.message);
      assert.match(error.message, new RegExp(`^${file.replace(/\./g, "\\.")} seqno ${seqno} \\(offset \\d+\\): `));
      assert.match(error.message, detail);
      return true;
    });
  } finally {
    // Only if the start wrongly succeeded: do not leave it running.
    await started?.close();
  }
  assert.deepEqual(fingerprint(ledgerDir), before, "a rejected start must not truncate, rename or rewrite ledger files");
}

/** confide-ledger verify exits 1 naming `file` and `seqno`, and changes no file. */
async function assertCliRejected(dir: string, file: string, seqno: number, detail: RegExp): Promise<void> {
  const ledgerDir = join(dir, "ledger");
  const before = fingerprint(ledgerDir);
  const cli = await runCli(["verify", ledgerDir]);
  assert.equal(cli.code, 1, `CLI exit code\n${cli.stdout}\n${cli.stderr}`);
  const line = cli.stderr.split("\n").find((l) => l.startsWith("ledger verification FAILED:"));
  assert.ok(line, `CLI stderr lacks the failure line:\n${cli.stderr}`);
  assert.ok(line.startsWith(`ledger verification FAILED: ${file} seqno ${seqno} (offset `), line);
  assert.match(line, detail);
  assert.deepEqual(fingerprint(ledgerDir), before, "the verifier must not change ledger files");
}

async function assertRejected(dir: string, file: string, seqno: number, detail: RegExp): Promise<void> {
  await assertStartRejected(dir, file, seqno, detail);
  await assertCliRejected(dir, file, seqno, detail);
}

/**
 * Damage inside a sealed private write set: node start, which opens it, refuses it at that entry;
 * the offline verifier, which cannot open it (no file holds the ledger secrets), finds it at the
 * next signature, whose Merkle root covers the entry's digest.
 */
async function assertPrivateDamageRejected(dir: string, file: string, seqno: number, detail: RegExp): Promise<void> {
  await assertStartRejected(dir, file, seqno, detail);
  const cli = await runCli(["verify", join(dir, "ledger")]);
  assert.equal(cli.code, 1, cli.stdout);
  const signature = written.signatures.find((s) => s > seqno)!;
  assert.match(cli.stderr, new RegExp(`seqno ${signature} \\(offset \\d+\\): signed root .* differs from the root of the entries before it`));
}

before(async () => {
  root = mkdtempSync(join(tmpdir(), "confide-ledger-bad-input-"));
  pristine = join(root, "pristine");
  // Two sessions: two views, several chunk files, the last one unfinished.
  await writeSession(pristine, 0, 60);
  await writeSession(pristine, 60, 25);
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe("intact ledger", () => {
  test("has several chunk files, signatures and both views", () => {
    const chunks = listChunks(join(pristine, "ledger"));
    assert.ok(chunks.length >= 4, `expected several chunk files, got ${chunks.map((c) => c.name).join(", ")}`);
    assert.ok(chunks.slice(0, -1).every((c) => c.committed), "every chunk but the last is committed");
    assert.deepEqual(written.views, [1, 2]);
    // Every user tx, one signature per 10 txs or at close, and the new view's signature at restart.
    assert.equal(written.lastSeqno, written.userTxs + written.signatures.length);
  });

  test("confide-ledger verify exits 0 and its JSON counts match what was written", async () => {
    const cli = await runCli(["verify", join(pristine, "ledger"), "--json"]);
    assert.equal(cli.code, 0, cli.stderr);
    const report = JSON.parse(cli.stdout) as Record<string, unknown> & ReturnType<typeof auditLedger>;
    assert.equal(report.ok, true);
    assert.equal(report.transactions, written.lastSeqno);
    assert.equal(report.lastSeqno, written.lastSeqno);
    assert.equal(report.signatures, written.signatures.length);
    assert.equal(report.lastSignedSeqno, written.signatures.at(-1));
    assert.equal(report.lastSignedSeqno, written.lastSeqno);
    assert.deepEqual(report.views.map((v) => v.view), written.views);
    assert.equal(report.privateEntries, written.privateTxs);
    assert.equal(report.privateChecked, false);
    assert.equal(report.endorsementChecked, true);
    assert.equal(report.serviceCertFile, join(pristine, "service_cert.pem"));
    assert.equal(report.tornTail, null);
    assert.equal(report.unsignedAfterLastSignature, 0);
    assert.deepEqual(report.warnings, []);
    const chunks = listChunks(join(pristine, "ledger"));
    assert.deepEqual(report.chunks.map((c) => c.name), chunks.map((c) => c.name));
    assert.equal(report.chunks.reduce((n, c) => n + c.entries, 0), written.lastSeqno);
    for (const c of report.chunks) {
      assert.equal(c.bytes, readFileSync(join(pristine, "ledger", c.name)).length);
      assert.equal(c.entries, c.lastSeqno - c.firstSeqno + 1);
    }
  });

  test("the human summary names the counts and says private data stays sealed; without node files endorsement is unchecked", async () => {
    const cli = await runCli(["verify", join(pristine, "ledger")]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, new RegExp(`transactions: ${written.lastSeqno} \\(${written.signatures.length} signatures\\)`));
    assert.match(cli.stdout, new RegExp(`last signed seqno: ${written.lastSeqno}`));
    assert.match(cli.stdout, new RegExp(`private entries: ${written.privateTxs}, sealed`));

    const bare = await runCli(["verify", join(pristine, "ledger"), "--no-node-files", "--json"]);
    assert.equal(bare.code, 0, bare.stderr);
    const report = JSON.parse(bare.stdout) as ReturnType<typeof auditLedger>;
    assert.equal(report.privateChecked, false);
    assert.equal(report.endorsementChecked, false);
    assert.equal(report.transactions, written.lastSeqno);
    assert.ok(report.warnings.some((w) => w.includes("not checked")));
  });

  test("auditLedger agrees, with and without the secret", () => {
    const ledgerDir = join(pristine, "ledger");
    const full = auditLedger(ledgerDir, {
      serviceCertPem: readFileSync(join(pristine, "service_cert.pem"), "utf8"),
      secrets: secrets!,
    });
    assert.equal(full.transactions, written.lastSeqno);
    assert.equal(full.signatures, written.signatures.length);
    assert.equal(full.privateChecked, true);
    const publicOnly = auditLedger(ledgerDir, {});
    assert.equal(publicOnly.privateChecked, false);
    assert.equal(publicOnly.lastSignedRoot, full.lastSignedRoot);
  });

  test("private values never appear in clear in the ledger files; public values do", () => {
    const ledgerDir = join(pristine, "ledger");
    const files = readdirSync(ledgerDir);
    const all = Buffer.concat(files.map((f) => readFileSync(join(ledgerDir, f))));
    for (const f of files) {
      const bytes = readFileSync(join(ledgerDir, f));
      assert.equal(bytes.indexOf("PRIVATE-SECRET-"), -1, `private value in clear in ${f}`);
      assert.equal(bytes.indexOf(PRIVATE_MAP), -1, `private map name in clear in ${f}`);
      assert.equal(bytes.indexOf("priv-"), -1, `private key in clear in ${f}`);
    }
    for (const value of written.publicValues) assert.notEqual(all.indexOf(value), -1, `public value ${value} not in the ledger`);
  });
});

describe("corrupted ledger: node start and confide-ledger verify both refuse it", () => {
  /** A frame matching `pick` that is not the first of its chunk. */
  function frameWhere(ledgerDir: string, pick: (f: Frame) => boolean): Frame {
    const frame = framesOf(ledgerDir).find((f) => f.index > 0 && pick(f));
    assert.ok(frame, "no frame matches");
    return frame;
  }

  test("a committed chunk truncated mid-entry", async () => {
    const { dir, ledgerDir } = copyNode("truncated-mid-entry");
    const frame = frameWhere(ledgerDir, (f) => f.file.endsWith(".committed") && f.index === 5);
    truncateSync(join(ledgerDir, frame.file), frame.offset + Math.floor(frame.length / 2));
    await assertRejected(dir, frame.file, frame.entry.seqno, /truncated chunk/);
  });

  test("a committed chunk truncated at an entry boundary (entries missing at its end)", async () => {
    const { dir, ledgerDir } = copyNode("truncated-at-boundary");
    const frame = frameWhere(ledgerDir, (f) => f.file.endsWith(".committed") && f.index === 5);
    truncateSync(join(ledgerDir, frame.file), frame.offset);
    await assertRejected(dir, frame.file, frame.entry.seqno - 1, /file name says the chunk ends at seqno/);
  });

  test("a flipped bit in a public write set value", async () => {
    const { dir, ledgerDir } = copyNode("public-bit");
    const value = Buffer.from(publicValue(17));
    const frame = frameWhere(ledgerDir, (f) => f.entry.publicWriteSet.includes(value));
    const path = join(ledgerDir, frame.file);
    const at = readFileSync(path).indexOf(value, frame.offset);
    assert.ok(at > frame.offset && at < frame.offset + frame.length);
    flipBit(path, at + value.length - 1);
    await assertRejected(dir, frame.file, frame.entry.seqno, /entry digest mismatch/);
  });

  test("a public value altered with its entry digest recomputed: the next signature's root no longer matches", async () => {
    const { dir, ledgerDir } = copyNode("public-rehashed");
    const value = Buffer.from(publicValue(23));
    const frames = framesOf(ledgerDir);
    const frame = frames.find((f) => f.entry.publicWriteSet.includes(value));
    assert.ok(frame);
    const path = join(ledgerDir, frame.file);
    flipBit(path, readFileSync(path).indexOf(value, frame.offset) + value.length - 1);
    rehashFrame(path, frame);
    const signature = frames.find((f) => f.entry.isSignature && f.entry.seqno > frame.entry.seqno);
    assert.ok(signature);
    await assertRejected(dir, signature.file, signature.entry.seqno, /differs from the root of the entries before it/);
  });

  test("a signature's recorded tree (public:ccf.internal.tree) altered, its entry digest recomputed: reported at that signature", async () => {
    const { dir, ledgerDir } = copyNode("tree-rehashed");
    // Not the last signature: an earlier one, whose own leaf the next signature covers too.
    const frame = frameWhere(ledgerDir, (f) => f.entry.isSignature && f.entry.seqno > 20);
    const { treeFrontier } = readSignature(frame.entry.publicWriteSet);
    assert.ok(treeFrontier && treeFrontier.length > 8 + 32);
    const path = join(ledgerDir, frame.file);
    flipBit(path, readFileSync(path).indexOf(treeFrontier, frame.offset) + treeFrontier.length - 1);
    rehashFrame(path, frame);
    await assertRejected(dir, frame.file, frame.entry.seqno, /the tree recorded in public:ccf\.internal\.tree is not the tree of the entries before it/);
  });

  test("a public write set made malformed, its entry digest recomputed, in a committed chunk: reported at that entry", async () => {
    const { dir, ledgerDir } = copyNode("public-malformed");
    // Replay applies committed chunks' write sets straight to the store: the format error must name this entry,
    // before the next signature's root shows the alteration.
    const frame = frameWhere(ledgerDir, (f) => f.file.endsWith(".committed") && f.entry.publicWriteSet.length > 0 && !f.entry.isSignature);
    const path = join(ledgerDir, frame.file);
    const bytes = readFileSync(path);
    const publicAt = frame.offset + frame.length - frame.entry.privateSealed.length - frame.entry.publicWriteSet.length;
    bytes.writeUInt32LE(0xffffffff, publicAt); // map count far past the bytes that follow
    writeFileSync(path, bytes);
    rehashFrame(path, frame);
    await assertRejected(dir, frame.file, frame.entry.seqno, /malformed write set: write set truncated/);
  });

  // An attacker (or a bug) moving a map across domains: a private map in clear would be readable by anyone
  // holding the file, a public one sealed would vanish from public-only replays and audits.
  test("a public write set holding a private map, its entry digest recomputed: a format error at that entry", async () => {
    const { dir, ledgerDir } = copyNode("private-map-in-public");
    const frame = frameWhere(ledgerDir, (f) => f.file.endsWith(".committed") && !f.entry.isSignature && f.entry.seqno > 20);
    const leaked: WriteSet = new Map([[PRIVATE_MAP, new Map([["priv-x", Buffer.from(privateValue(999))]])]]);
    rewriteFrame(ledgerDir, frame, leaked, frame.entry.privateSealed);
    await assertRejected(dir, frame.file, frame.entry.seqno, /malformed write set: public write set holds private map "confidential_records"/);
  });

  test("a private write set holding a public map, sealed with the ledger's own secret: a format error at that entry", async () => {
    const { dir, ledgerDir } = copyNode("public-map-in-private");
    const frame = frameWhere(ledgerDir, (f) => f.entry.privateSealed.length > 0 && f.entry.seqno > 30);
    const secret = secrets!.at(frame.entry.seqno);
    const hidden = encodeWriteSet(new Map([[PUBLIC_MAP, new Map([["pub-x", Buffer.from(publicValue(999))]])]]));
    const sealed = secret.seal(hidden, txIdBytes(view(frame.entry.view), seqNo(frame.entry.seqno)));
    rewriteFrame(ledgerDir, frame, new Map(), sealed);
    await assertPrivateDamageRejected(dir, frame.file, frame.entry.seqno, /malformed write set: private write set holds public map "public:records"/);
  });

  test("a flipped bit inside a private (encrypted) write set", async () => {
    const { dir, ledgerDir } = copyNode("private-bit");
    const frame = frameWhere(ledgerDir, (f) => f.entry.privateSealed.length > 0 && f.entry.seqno > 30);
    const sealedAt = frame.offset + frame.length - frame.entry.privateSealed.length;
    flipBit(join(ledgerDir, frame.file), sealedAt + frame.entry.privateSealed.length - 3, 5);
    await assertRejected(dir, frame.file, frame.entry.seqno, /entry digest mismatch/);
  });

  test("a private write set altered with its entry digest recomputed: decryption fails at that entry", async () => {
    const { dir, ledgerDir } = copyNode("private-rehashed");
    const frame = frameWhere(ledgerDir, (f) => f.entry.privateSealed.length > 0 && f.entry.seqno > 30);
    const path = join(ledgerDir, frame.file);
    flipBit(path, frame.offset + frame.length - 1, 2);
    rehashFrame(path, frame);
    await assertPrivateDamageRejected(dir, frame.file, frame.entry.seqno, /cannot decrypt the private write set/);
  });

  test("a flipped bit in a frame's length field", async () => {
    const { dir, ledgerDir } = copyNode("length-bit");
    const frame = frameWhere(ledgerDir, (f) => f.index === 3 && f.entry.seqno > 20);
    flipBit(join(ledgerDir, frame.file), frame.offset + 1, 3);
    await assertRejected(dir, frame.file, frame.entry.seqno, /frame length check failed/);
  });

  test("two chunk files with their names swapped", async () => {
    const { dir, ledgerDir } = copyNode("swapped");
    const [first, second] = listChunks(ledgerDir);
    assert.ok(first && second);
    renameSync(join(ledgerDir, first.name), join(ledgerDir, "tmp"));
    renameSync(join(ledgerDir, second.name), join(ledgerDir, first.name));
    renameSync(join(ledgerDir, "tmp"), join(ledgerDir, second.name));
    // The file named for seqnos first.start.. now holds the second chunk's entries.
    await assertRejected(dir, first.name, second.start, /chunk renamed or reordered/);
  });

  test("a missing middle chunk", async () => {
    const { dir, ledgerDir } = copyNode("missing-middle");
    const chunks = listChunks(ledgerDir);
    const missing = chunks[1];
    const next = chunks[2];
    assert.ok(missing && next);
    rmSync(join(ledgerDir, missing.name));
    await assertRejected(dir, next.name, missing.start, /missing chunk/);
  });

  test("a wrong ledger secret: the error says the ledger secret is wrong", async () => {
    const { dir, ledgerDir } = copyNode("wrong-secret");
    const frames = framesOf(ledgerDir);
    // Commit evidence is checked against the secret, so it shows at the first entry.
    assert.equal(frames[0]!.entry.privateSealed.length, 0, "seqno 1 is public only");
    await assertStartRejected(dir, frames[0]!.file, 1, /commit evidence does not match .*: wrong ledger secret/, LedgerSecrets.first());
  });

  test(
    "a wrong ledger secret on a ledger with no private entry: node start refuses it",
    async () => {
      const dir = join(root, "public-only");
      const core = await startNodeCore({ dir, signatureIntervalTx: 10, log: quiet });
      assert.ok(core.history.ledgerSecrets.latest.secret !== secrets!.latest.secret);
      for (let i = 0; i < 5; i++) {
        const tx = core.history.begin();
        tx.map(PUBLIC_MAP).set(Buffer.from(`k${i}`), Buffer.from(publicValue(i)));
        core.history.commit(tx);
      }
      await core.close();
      await assertStartRejected(dir, "ledger_1", 1, /wrong ledger secret/, LedgerSecrets.first());
    },
  );

  test("a signature re-signed by a node the service did not endorse", async () => {
    const { dir, ledgerDir } = copyNode("unendorsed-signature");
    const signature = framesOf(ledgerDir).find((f) => f.entry.isSignature && f.entry.seqno > 20);
    assert.ok(signature);
    const { record, treeFrontier } = readSignature(signature.entry.publicWriteSet);
    assert.ok(treeFrontier);
    // A well-formed node certificate, from another service.
    const rogueService = await createServiceIdentity();
    const rogueKey = generateP384KeyPair();
    const rogueCert = await createNodeCertificate({
      nodePublicKeyPem: rogueKey.publicKeyPem,
      servicePrivateKeyPem: rogueService.privateKeyPem,
      serviceCertPem: rogueService.certPem,
    });
    const forged = {
      ...record,
      node: nodeIdOf(rogueKey.publicKeyPem),
      cert: rogueCert,
      sig: signDigest(rogueKey.privateKeyPem, fromHex(record.root)).toString("base64"),
    };
    rewriteSignature(ledgerDir, signature, signatureWrites(forged, treeFrontier));
    await assertRejected(dir, signature.file, signature.entry.seqno, /not issued by the service certificate/);
  });

  test("a signature whose COSE signature is by a key other than the service's, or names another transaction", async () => {
    const rogueService = await createServiceIdentity();
    const cases = [
      { name: "rogue-cose-key", key: rogueService.privateKeyPem, detail: /COSE signature: protected header kid/ },
      { name: "cose-other-txid", key: undefined, detail: /COSE signature names transaction/ },
    ];
    for (const { name, key, detail } of cases) {
      const { dir, ledgerDir } = copyNode(name);
      const signature = framesOf(ledgerDir).find((f) => f.entry.isSignature && f.entry.seqno > 20);
      assert.ok(signature);
      const { record, treeFrontier, coseSignature } = readSignature(signature.entry.publicWriteSet);
      assert.ok(treeFrontier && coseSignature, "signatures carry a COSE signature");
      const servicePrivateKeyPem = key ?? readFileSync(join(dir, IDENTITY_FILES.serviceKey), "utf8");
      const forged = signMerkleRoot({
        servicePrivateKeyPem,
        keyId: serviceKeyId(servicePrivateKeyPem),
        root: fromHex(record.root),
        txId: key === undefined ? `${record.view}.${record.seqno + 1}` : `${record.view}.${record.seqno}`,
        issuedAtS: 0,
      });
      rewriteSignature(ledgerDir, signature, signatureWrites(record, treeFrontier, forged));
      await assertRejected(dir, signature.file, signature.entry.seqno, detail);
    }
  });

  /** Flips a bit in the first entry of the second chunk file. */
  function corruptFirstEntryOfChunk(name: string): { dir: string; frame: Frame } {
    const { dir, ledgerDir } = copyNode(name);
    const frame = framesOf(ledgerDir).find((f) => f.index === 0 && f.entry.seqno > 1);
    assert.ok(frame);
    flipBit(join(ledgerDir, frame.file), frame.offset + FRAME_PREFIX_BYTES + 40);
    return { dir, frame };
  }

  test("a corrupted first entry of a chunk: refused; the verifier names its seqno", async () => {
    const { dir, frame } = corruptFirstEntryOfChunk("first-frame-bit");
    await assert.rejects(startNodeCore({ dir, log: quiet, ledgerSecrets: secrets! }), (error: unknown) => {
      assert.ok(error instanceof LedgerCorruptionError);
      assert.equal(error.file, frame.file);
      return true;
    });
    await assertCliRejected(dir, frame.file, frame.entry.seqno, /entry digest mismatch/);
  });

  test(
    "a corrupted first entry of a chunk: node start names its seqno",
    async () => {
      const { dir, frame } = corruptFirstEntryOfChunk("first-frame-bit-start");
      await assertStartRejected(dir, frame.file, frame.entry.seqno, /entry digest mismatch/);
    },
  );
});

describe("warnings, not failures", () => {
  test("a signature without public:ccf.internal.tree, as written before signatures recorded their tree: accepted, and its receipts take their peaks from the tree itself", async () => {
    const { dir, ledgerDir } = copyNode("no-tree");
    const frames = framesOf(ledgerDir);
    const signatures = frames.filter((f) => f.entry.isSignature);
    const last = signatures.at(-1)!;
    // The last one: no later signature covers its leaf, which the rewrite changes.
    const writes = signatureWrites(readSignature(last.entry.publicWriteSet).record, Buffer.alloc(0));
    writes.delete(TREE_MAP);
    rewriteSignature(ledgerDir, last, writes);
    assert.equal(readSignature(framesOf(ledgerDir).find((f) => f.entry.seqno === last.entry.seqno)!.entry.publicWriteSet).treeFrontier, undefined);
    const core = await startNodeCore({ dir, log: quiet, ledgerSecrets: secrets! });
    try {
      const covered = frames.filter((f) => !f.entry.isSignature && f.entry.seqno > signatures.at(-2)!.entry.seqno && f.entry.seqno < last.entry.seqno);
      assert.ok(covered.length > 0);
      for (const { entry } of covered) verifyReceipt(core.history.receipt(entry.seqno), core.identity.serviceCertPem);
    } finally {
      await core.close();
    }
  });

  test("an unsigned entry and a torn tail after the last signature: verify exits 0 and warns; node start truncates them", async () => {
    const { dir, ledgerDir } = copyNode("unsigned-torn-tail");
    const last = framesOf(ledgerDir).at(-1)!;
    const secret = secrets!.latest.secret;
    const frameFor = (s: number) =>
      encodeFrame({
        view: view(last.entry.view),
        seqno: seqNo(s),
        isSignature: false,
        commitEvidenceDigest: sha256(secret.commitEvidence(last.entry.view, s)),
        claimsDigest: undefined,
        publicWrites: new Map([[PUBLIC_MAP, new Map([["late", Buffer.from("UNSIGNED")]])]]),
        privateSealed: secret.seal(
          encodeWriteSet(new Map([[PRIVATE_MAP, new Map([["late", Buffer.from(privateValue(999))]])]])),
          txIdBytes(view(last.entry.view), seqNo(s)),
        ),
      }).frame;
    const unsigned = frameFor(written.lastSeqno + 1);
    const torn = frameFor(written.lastSeqno + 2).subarray(0, 50);
    // A crash after starting a new chunk: the chunk being written holds the unsigned entry and a torn one.
    const tailChunk = `ledger_${written.lastSeqno + 1}`;
    writeFileSync(join(ledgerDir, tailChunk), Buffer.concat([unsigned, torn]));

    const cli = await runCli(["verify", ledgerDir, "--json"]);
    assert.equal(cli.code, 0, cli.stderr);
    const report = JSON.parse(cli.stdout) as ReturnType<typeof auditLedger>;
    assert.equal(report.transactions, written.lastSeqno + 1);
    assert.equal(report.lastSignedSeqno, written.lastSeqno);
    assert.equal(report.unsignedAfterLastSignature, 1);
    assert.deepEqual(report.tornTail, { path: join(ledgerDir, tailChunk), validBytes: unsigned.length, tornBytes: torn.length });
    assert.equal(report.warnings.length, 2, report.warnings.join("\n"));
    const human = await runCli(["verify", ledgerDir]);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /warnings:\n {2}- .*torn entry/);

    const warnings: string[] = [];
    const core = await startNodeCore({ dir, log: (m) => warnings.push(m), ledgerSecrets: secrets! });
    try {
      assert.ok(warnings.some((w) => w.includes("torn entry")), warnings.join("\n"));
      assert.ok(warnings.some((w) => w.includes("discarding 1 unsigned entries")), warnings.join("\n"));
      assert.equal(core.history.store.lastSeqno, written.lastSeqno + 1, "the unsigned entry is replaced by the new view's signature");
      assert.equal(core.history.view, 3);
    } finally {
      await core.close();
    }
    const after = await runCli(["verify", ledgerDir, "--json"]);
    assert.equal(after.code, 0, after.stderr);
    const clean = JSON.parse(after.stdout) as ReturnType<typeof auditLedger>;
    assert.deepEqual(clean.warnings, []);
    assert.deepEqual(clean.views.map((v) => v.view), [1, 2, 3]);
    assert.equal(clean.lastSignedSeqno, written.lastSeqno + 1);
  });
});

describe("confide-ledger usage", () => {
  test("a missing ledger dir is a usage error (exit 2)", async () => {
    const cli = await runCli(["verify", join(root, "no-such-dir")]);
    assert.equal(cli.code, 2, cli.stderr);
    assert.match(cli.stderr, /does not exist/);
  });

  test("a missing argument or an unknown option is a usage error (exit 2)", async () => {
    assert.equal((await runCli(["verify"])).code, 2);
    assert.equal((await runCli(["verify", join(pristine, "ledger"), "--bogus"])).code, 2);
    assert.equal((await runCli([])).code, 2);
  });

  test("the npm bin launcher runs the CLI and forwards its exit code", async () => {
    const ok = await runCliViaLauncher(["verify", join(pristine, "ledger"), "--json"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { transactions: number }).transactions, written.lastSeqno);
    const { ledgerDir } = copyNode("launcher-missing-chunk");
    rmSync(join(ledgerDir, listChunks(ledgerDir)[1]!.name));
    const failed = await runCliViaLauncher(["verify", ledgerDir]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /ledger verification FAILED: ledger_\S+ seqno \d+ \(offset \d+\): missing chunk/);
    assert.equal((await runCliViaLauncher(["verify", join(root, "no-such-dir")])).code, 2);
  });
});

/** Runs bin/confide-ledger.js with plain node, from another working directory, as `npx confide-ledger` would. */
function runCliViaLauncher(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(PACKAGE_DIR, "bin/confide-ledger.js"), ...args], { cwd: tmpdir() }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
