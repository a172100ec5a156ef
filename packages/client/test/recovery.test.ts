// `confide recovery share` as a recovery member runs it: a service with two recovery members
// (threshold 2) is lost; a node recovers it from its ledger; the members open it by proposal and
// each runs the CLI, which fetches its encrypted share, decrypts it locally with its RSA key and
// submits it signed; the service opens with its private state. A wrong key or a service that is
// not waiting for shares gives a clear error and exit 1.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { startNode } from "@confide/node";
import { ConfideClient, Member, proposeAndAccept } from "../src/index.ts";
import { keygen } from "../src/keys.ts";
import { confide } from "./helpers/run-confide.ts";

const root = mkdtempSync(join(tmpdir(), "confide-client-recovery-"));
after(() => rmSync(root, { recursive: true, force: true }));

async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("confide recovery share", () => {
  it("two members' shares, fetched, decrypted and submitted by the CLI, reopen a recovered service", async () => {
    const members = [await keygen("alice", { dir: join(root, "keys"), encryption: true }), await keygen("bob", { dir: join(root, "keys"), encryption: true })];
    const stranger = await keygen("mallory", { dir: join(root, "keys"), encryption: true });
    const lost = await startNode({
      dir: join(root, "lost"),
      port: 0,
      signatureIntervalMs: 20,
      members: members.map((m) => ({ certPem: m.certPem, encryptionPublicKeyPem: readFileSync(m.files.encryptionPublicKey!, "utf8") })),
    });
    const oldCert = lost.core.identity.serviceCertPem;
    const oldClient = new ConfideClient({ url: lost.url, serviceCertPem: oldCert });
    const asMembers = (client: ConfideClient) => members.map((m) => new Member(client, m));
    try {
      for (const member of asMembers(oldClient)) await member.ackStateDigest();
      await proposeAndAccept([{ name: "set_recovery_threshold", args: { recovery_threshold: 2 } }], asMembers(oldClient));
      const tx = lost.core.history.begin();
      tx.map("balances").set(Buffer.from("alice"), Buffer.from("100"));
      lost.core.history.commit(tx);
      await lost.core.history.waitForCommit(lost.core.history.emitSignature());
      await eventually("two shares at threshold 2", async () => {
        const record = lost.core.history.store.beginReadOnly().map("public:ccf.internal.recovery_shares").get(Buffer.alloc(8));
        return record !== undefined && (JSON.parse(record.toString()) as { threshold: number }).threshold === 2 ? true : undefined;
      });
      cpSync(lost.core.ledgerDir, join(root, "copy", "ledger"), { recursive: true });
    } finally {
      oldClient.close();
      await lost.close();
    }

    const node = await startNode({ dir: join(root, "recovered"), port: 0, signatureIntervalMs: 20, ledgerDir: join(root, "copy", "ledger"), recover: true });
    const client = new ConfideClient({ url: node.url, serviceCertPem: node.core.identity.serviceCertPem });
    const cacert = join(root, "recovered", "service_cert.pem");
    const share = (who: { files: { cert: string; privateKey: string } }, encKey: string) =>
      confide(["recovery", "share", "--url", node.url, "--cacert", cacert, "--cert", who.files.cert, "--key", who.files.privateKey, "--enc-key", encKey]);
    try {
      const early = await share(members[0]!, members[0]!.files.encryptionPrivateKey!);
      assert.equal(early.code, 1, early.stderr);
      assert.match(early.stderr, /403 ServiceNotWaitingForRecoveryShares: Service is not waiting for recovery shares/);

      await proposeAndAccept([{ name: "transition_service_to_open", args: { previous_service_identity: oldCert, next_service_identity: node.core.identity.serviceCertPem } }], asMembers(client));
      const wrongKey = await share(members[0]!, stranger.files.encryptionPrivateKey!);
      assert.equal(wrongKey.code, 1);
      assert.match(wrongKey.stderr, /cannot decrypt the recovery share with this encryption key/);
      const notAMember = await share(stranger, stranger.files.encryptionPrivateKey!);
      assert.equal(notAMember.code, 1);
      assert.equal(node.core.history.store.beginReadOnly().map("public:ccf.internal.encrypted_submitted_shares").size, 0, "refused shares record nothing");

      const first = await share(members[0]!, members[0]!.files.encryptionPrivateKey!);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /1\/2 recovery shares successfully submitted/);
      const second = await confide(["recovery", "share", "--url", node.url, "--cacert", cacert, "--cert", members[1]!.files.cert, "--key", members[1]!.files.privateKey, "--enc-key", members[1]!.files.encryptionPrivateKey!, "--json"]);
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual((JSON.parse(second.stdout) as { submittedCount: number }).submittedCount, 2);
      await eventually("the service to open", async () => ((await client.call("GET", "/node/network")).json as { service_status: string }).service_status === "Open" || undefined);
      assert.equal(node.core.history.store.beginReadOnly().map("balances").get(Buffer.from("alice"))?.toString(), "100");
    } finally {
      client.close();
      await node.close();
    }
  });
});
