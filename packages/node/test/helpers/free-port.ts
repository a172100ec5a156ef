// A TCP port free on loopback now: for nodes that must name their ports before listening
// (a joiner's addresses go into its join request). The OS could hand it out again before the
// node binds it; on a test machine that is rare, and the node then fails to start, loudly.
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}
