// Nodes of a multi-node service run inside the test process (network.test.ts,
// snapshot-join.test.ts): short consensus timeouts, polling, and a node that
// joins a running one and is let in once Pending.
import { startNode, type ServingNode, type ServingNodeOptions } from "../../src/node.ts";
import { Tables } from "../../src/tables.ts";
import { freePort } from "./free-port.ts";

/** Elections within a second: the tests fail over on purpose. */
export const TEST_CONSENSUS = { electionTimeoutMs: 600, messageTimeoutMs: 50 };

/** Polls `probe` every 20 ms until it gives a value (not undefined or false). */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A node Pending in `target`'s node table, if any. */
function pendingNodeId(target: ServingNode): string | undefined {
  let found: string | undefined;
  target.core.history.store.beginReadOnly().map(Tables.nodesInfo).forEach((value, key) => {
    if ((JSON.parse(value.toString()) as { status: string }).status === "Pending") found = key.toString();
  });
  return found;
}

/**
 * Starts a node that joins `target` (free ports, TEST_CONSENSUS); once it is Pending, `trust`
 * lets it in (a transition_node_to_trusted proposal); resolves once it serves.
 */
export async function joinTarget(target: ServingNode, options: Omit<ServingNodeOptions, "port" | "network">, trust: (nodeId: string) => Promise<void>): Promise<ServingNode> {
  const [rpc, n2n] = [await freePort(), await freePort()];
  const starting = startNode({
    ...options,
    port: rpc,
    network: {
      nodeToNodeAddress: `127.0.0.1:${n2n}`,
      join: { targetRpcAddress: target.server.address, serviceCertPem: target.core.identity.serviceCertPem, retryMs: 50 },
      consensus: TEST_CONSENSUS,
    },
  });
  // A failed start is reported by `starting`, awaited below, rather than as unhandled.
  starting.catch(() => undefined);
  await trust(await waitFor(`${options.dir} pending`, () => pendingNodeId(target)));
  return starting;
}
