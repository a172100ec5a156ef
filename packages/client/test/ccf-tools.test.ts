// CCF's command-line tools as @confide/client ships them, run as child
// processes: ccf_cose_sign1 writes a COSE Sign1 envelope with CCF's
// governance headers (python/src/ccf/cose.py: kid = the signing
// certificate's SHA-256, created_at = the ISO time as seconds, proposal_id for
// ballots and withdrawals) that verifies with the signer's key; bad flags exit
// 2 as argparse does. keygenerator.sh writes <name>_cert.pem / _privk.pem
// (and with --gen-enc-key the RSA pair) in the current directory.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { certId, decodeCoseSign1, verifyCoseSign1 } from "@confide/node";
import { createdAtSeconds } from "../src/ccf-tools/cose-sign1.ts";

const BIN = fileURLToPath(new URL("../bin/", import.meta.url));
const CHILD_TIMEOUT_MS = 30_000;

interface Run {
  code: number;
  stdout: Buffer;
  stderr: string;
}

function run(bin: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [join(BIN, bin), ...args], { cwd, encoding: "buffer", timeout: CHILD_TIMEOUT_MS }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr: stderr.toString("utf8") });
    });
  });
}

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "confide-ccf-tools-"));
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe("keygenerator.sh", () => {
  it("makes <name>_privk.pem and <name>_cert.pem, and with --gen-enc-key the encryption key pair", async () => {
    const made = await run("keygenerator.js", ["--name", "member7", "--gen-enc-key"], dir);
    assert.equal(made.code, 0, made.stderr);
    for (const file of ["member7_cert.pem", "member7_privk.pem", "member7_enc_pubk.pem", "member7_enc_privk.pem"]) assert.ok(existsSync(join(dir, file)), file);
    assert.match(readFileSync(join(dir, "member7_enc_pubk.pem"), "utf8"), /BEGIN PUBLIC KEY/);
    const plain = await run("keygenerator.js", ["--name", "user7"], dir);
    assert.equal(plain.code, 0, plain.stderr);
    assert.ok(!existsSync(join(dir, "user7_enc_pubk.pem")));
    assert.equal((await run("keygenerator.js", [], dir)).code, 1);
    assert.equal((await run("keygenerator.js", ["--name", "x", "--curve", "secp256k1"], dir)).code, 1);
  });
});

describe("ccf_cose_sign1", () => {
  const sign = (args: string[]) =>
    run("ccf_cose_sign1.js", ["--signing-cert", "member7_cert.pem", "--signing-key", "member7_privk.pem", ...args], dir);

  it("signs a proposal with CCF's protected headers; the envelope verifies with the signer's certificate", async () => {
    writeFileSync(join(dir, "proposal.json"), '{"actions": []}');
    const signed = await sign(["--content", "proposal.json", "--ccf-gov-msg-type", "proposal", "--ccf-gov-msg-created_at", "2024-05-01T12:00:00+00:00"]);
    assert.equal(signed.code, 0, signed.stderr);
    const envelope = decodeCoseSign1(signed.stdout);
    assert.ok(envelope.tagged);
    const certPem = readFileSync(join(dir, "member7_cert.pem"), "utf8");
    assert.ok(verifyCoseSign1(envelope, certPem));
    assert.equal(envelope.payload.toString("utf8"), '{"actions": []}');
    const headers = envelope.protectedHeaders;
    assert.equal(headers.get(1), -35, "ES384 for a P-384 key");
    assert.equal(Buffer.from(headers.get(4) as Uint8Array).toString("utf8"), certId(certPem));
    assert.equal(headers.get("ccf.gov.msg.type"), "proposal");
    assert.equal(headers.get("ccf.gov.msg.created_at"), Date.UTC(2024, 4, 1, 12) / 1000);
    assert.equal(headers.has("ccf.gov.msg.proposal_id"), false);
  });

  it("a ballot carries the proposal id (either spelling of the flags); the content may come from stdin", async () => {
    const signed = await sign(["--content", "proposal.json", "--ccf-gov-msg-type", "ballot", "--ccf-gov-msg-proposal-id", "abc", "--ccf-gov-msg-created-at", "2024-05-01T12:00:00Z"]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(decodeCoseSign1(signed.stdout).protectedHeaders.get("ccf.gov.msg.proposal_id"), "abc");
    const fromStdin = await new Promise<Run>((resolve) => {
      const child = execFile(
        process.execPath,
        [join(BIN, "ccf_cose_sign1.js"), "--signing-cert", "member7_cert.pem", "--signing-key", "member7_privk.pem", "--content", "-", "--ccf-gov-msg-type", "ack", "--ccf-gov-msg-created_at", "2024-05-01T12:00:00+02:00"],
        { cwd: dir, encoding: "buffer", timeout: CHILD_TIMEOUT_MS },
        (error, stdout, stderr) => resolve({ code: error === null ? 0 : -1, stdout, stderr: stderr.toString("utf8") }),
      );
      child.stdin!.end('{"state_digest": "00"}');
    });
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
    const ack = decodeCoseSign1(fromStdin.stdout);
    assert.equal(ack.payload.toString("utf8"), '{"state_digest": "00"}');
    assert.equal(ack.protectedHeaders.get("ccf.gov.msg.created_at"), Date.UTC(2024, 4, 1, 10) / 1000);
  });

  it("bad arguments exit 2 and write nothing to stdout", async () => {
    const cases = [
      ["--content", "proposal.json", "--ccf-gov-msg-type", "ballot", "--ccf-gov-msg-created_at", "2024-05-01"], // no proposal id
      ["--content", "proposal.json", "--ccf-gov-msg-type", "vote", "--ccf-gov-msg-created_at", "2024-05-01"], // not a message type
      ["--content", "proposal.json", "--ccf-gov-msg-type", "proposal", "--ccf-gov-msg-created_at", "1714564800"], // not ISO 8601
      ["--content", "proposal.json", "--ccf-gov-msg-type", "proposal"], // no created_at
      ["--content", "missing.json", "--ccf-gov-msg-type", "proposal", "--ccf-gov-msg-created_at", "2024-05-01"],
      ["--content", "proposal.json", "--ccf-gov-msg-type", "proposal", "--ccf-gov-msg-created_at", "2024-05-01", "--unknown"],
    ];
    for (const args of cases) {
      const refused = await sign(args);
      assert.equal(refused.code, 2, `${args.join(" ")}: ${refused.stderr}`);
      assert.equal(refused.stdout.length, 0);
      assert.match(refused.stderr, /ccf_cose_sign1: error: /);
    }
  });

  it("created_at: ISO 8601 as Python's fromisoformat reads it; without an offset, local time", () => {
    assert.equal(createdAtSeconds("2024-05-01T12:00:00+00:00"), Date.UTC(2024, 4, 1, 12) / 1000);
    assert.equal(createdAtSeconds("2024-05-01T12:00:00.75-0130"), Date.UTC(2024, 4, 1, 13, 30) / 1000);
    assert.equal(createdAtSeconds("2024-05-01T12:00:00"), new Date(2024, 4, 1, 12).getTime() / 1000);
    assert.equal(createdAtSeconds("2024-05-01"), new Date(2024, 4, 1).getTime() / 1000);
    assert.throws(() => createdAtSeconds("yesterday"), /Invalid isoformat string/);
  });
});
