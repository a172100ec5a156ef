// The node's real consensus driver and History, three of them, under a seeded simulation: a
// simulated clock (ticks, signature timers, network delays), in-memory ledger storage and a
// simulated network that delays, drops, duplicates and reorders. Writes run on whichever node is
// primary; the primary crashes; the others go on. After every step: at most one primary per view;
// after the run: every node's committed prefix is the same (equal Merkle roots), nothing committed
// before the crash is lost, and the survivors committed new writes. A failure names its seed.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { SimulatedClock } from "../src/clock.ts";
import { ConsensusDriver } from "../src/consensus/driver.ts";
import { SimulatedNetwork } from "../src/consensus/simulated-network.ts";
import { LedgerSecret } from "../src/crypto/ledger-secret.ts";
import { LedgerSecrets } from "../src/crypto/ledger-secrets.ts";
import { History } from "../src/history/history.ts";
import type { TxId } from "../src/ids.ts";
import { MemoryLedgerStorage } from "../src/ledger/storage.ts";
import { idKey, Tables } from "../src/tables.ts";
import { createNodeIdentity, createServiceIdentity } from "./helpers/node-identities.ts";
import { seededRandom } from "./helpers/seeded-random.ts";

/** CONFIDE_DRIVER_SEEDS=n runs seeds 1..n; CONFIDE_DRIVER_SEED=k replays seed k alone. */
const SEEDS = process.env.CONFIDE_DRIVER_SEED ? [Number(process.env.CONFIDE_DRIVER_SEED)] : Array.from({ length: Number(process.env.CONFIDE_DRIVER_SEEDS ?? 4) }, (_, i) => i + 1);
const STEP_MS = 5;
const OPTIONS = { electionTimeoutMs: 300, messageTimeoutMs: 30 };
const dirs: string[] = [];
after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

interface SimNode {
  id: string;
  history: History;
  driver: ConsensusDriver;
  crashed: boolean;
}

async function cluster(seed: number) {
  const clock = new SimulatedClock(1_000_000);
  const network = new SimulatedNetwork({ clock, random: seededRandom(seed), faults: { delayMsMin: 1, delayMsMax: 25, dropRate: 0.05, duplicateRate: 0.02, reorder: true } });
  const service = await createServiceIdentity();
  const secret = LedgerSecret.generate();
  const identities = await Promise.all([0, 1, 2].map(() => createNodeIdentity(service)));
  const ids = identities.map((identity) => identity.nodeId);
  const dir = mkdtempSync(join(tmpdir(), "confide-driver-sim-"));
  dirs.push(dir);
  const nodes: SimNode[] = [];
  for (const [i, identity] of identities.entries()) {
    const driver = new ConsensusDriver({
      self: identity.nodeId,
      transport: network.transport(identity.nodeId),
      listenAddress: identity.nodeId,
      stateFile: join(dir, `consensus-${i}.json`),
      clock,
      seed: seed * 7 + i,
      options: OPTIONS,
      knownAddresses: new Map(ids.map((id) => [id, id])),
    });
    const history = await History.open({
      ledgerDir: join(dir, `ledger-${i}`),
      storage: new MemoryLedgerStorage(),
      secrets: LedgerSecrets.first(secret),
      signer: { nodeId: identity.nodeId, certPem: identity.nodeCertPem, privateKeyPem: identity.nodePrivateKeyPem },
      serviceCertPem: service.certPem,
      signatureIntervalMs: 20,
      clock,
      commitSource: driver,
      onAppended: driver.appended,
      startAs: "backup",
      log: () => undefined,
    });
    // As a joiner does: the configuration is given, the log starts empty.
    driver.start(history, { configuration: ids, fromHistory: false });
    nodes.push({ id: identity.nodeId, history, driver, crashed: false });
  }
  return { clock, network, nodes, ids };
}

/** Advances simulated time in small steps, letting the driver's promises (syncs, rollbacks) settle between them. */
async function advance(clock: SimulatedClock, ms: number, onStep: () => void): Promise<void> {
  for (let t = 0; t < ms; t += STEP_MS) {
    clock.advance(STEP_MS);
    await new Promise((resolve) => setImmediate(resolve));
    onStep();
  }
}

async function simulate(seed: number): Promise<void> {
  const { clock, network, nodes, ids } = await cluster(seed);
  const primariesByView = new Map<number, Set<string>>();
  const live = () => nodes.filter((node) => !node.crashed);
  const written: TxId[] = [];
  let writes = 0;
  const onStep = () => {
    for (const node of live()) {
      if (node.driver.role !== "primary") continue;
      const seen = primariesByView.get(node.driver.view) ?? new Set<string>();
      seen.add(node.id);
      primariesByView.set(node.driver.view, seen);
      assert.ok(seen.size === 1, `two primaries in view ${node.driver.view}`);
      if (++writes % 4 !== 0) continue;
      try {
        const tx = node.history.begin();
        // The genesis-like first write: every node Trusted, as the configuration says.
        if (node.history.lastSeqno === 0) for (const id of ids) tx.map(Tables.nodesInfo).set(idKey(id), Buffer.from(JSON.stringify({ status: "Trusted" })));
        tx.map("public:records").set(Buffer.from(`k${writes % 10}`), Buffer.from(String(writes)));
        const id = node.history.commit(tx);
        if (id) written.push(id);
      } catch {
        // deposed, or rolling back: the write is refused, and retried later on whoever leads
      }
    }
  };

  await advance(clock, 3_000, onStep);
  const first = nodes.find((node) => node.driver.role === "primary");
  assert.ok(first, "a primary was elected");
  const committedBeforeCrash = written.filter((id) => first.history.txStatus(id) === "Committed");
  assert.ok(committedBeforeCrash.length > 0, "writes committed before the crash");
  first.crashed = true;
  network.crash(first.id);
  await first.driver.close();
  await first.history.abandon();
  const crashedAt = written.length;
  await advance(clock, 5_000, onStep);

  const survivors = live();
  network.setFaults({ dropRate: 0, duplicateRate: 0 });
  await advance(clock, 2_000, onStep);
  const committed = survivors.map((node) => node.history.lastCommitted.seqno);
  const common = Math.min(...committed);
  assert.ok(common > 0, `every survivor committed something: ${committed.join(", ")}`);
  const roots = survivors.map((node) => node.history.merkleRoot(common).toString("hex"));
  assert.ok(roots.every((root) => root === roots[0]), `the committed prefix through ${common} differs: ${roots.join(" ")}`);
  for (const node of survivors) {
    for (const id of committedBeforeCrash) assert.equal(node.history.txStatus(id), "Committed", `${id.view}.${id.seqno} lost on ${node.id.slice(0, 8)}`);
  }
  const after = written.slice(crashedAt).filter((id) => survivors.every((node) => node.history.txStatus(id) === "Committed"));
  assert.ok(after.length > 0, "the survivors committed new writes after the crash");
  for (const node of survivors) {
    await node.driver.close();
    await node.history.abandon();
  }
}

describe("the consensus driver and History under a seeded simulation", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: one primary per view, the same committed prefix, nothing committed lost across a primary crash`, async () => {
      try {
        await simulate(seed);
      } catch (error) {
        throw new Error(`seed ${seed} (replay: CONFIDE_DRIVER_SEED=${seed}): ${(error as Error).message}`, { cause: error });
      }
    });
  }
});
