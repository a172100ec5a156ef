// A node serving a JS app (deployed at start, as `--js-app-bundle` does) over
// HTTPS from a temporary directory, with a client that trusts its service certificate.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode, type ServingNode } from "../../src/node.ts";
import type { Bundle } from "../../src/runtime/bundle.ts";
import { HttpsClient } from "./https-client.ts";

const OPTIONS = { port: 0, signatureIntervalMs: 50 };

export class AppNode {
  private constructor(
    readonly dir: string,
    public node: ServingNode,
    public client: HttpsClient,
  ) {}

  static async start(bundle: Bundle, prefix: string): Promise<AppNode> {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    const node = await startNode({ ...OPTIONS, dir, appBundle: bundle });
    return new AppNode(dir, node, new HttpsClient(node.url, node.core.identity.serviceCertPem));
  }

  /**
   * Stops the node and starts it again on the same directory, in this process: the ledger replays
   * (with the ledger secrets the node held in memory: no file holds them), the app is the one it holds.
   */
  async restart(): Promise<void> {
    this.client.close();
    await this.node.close();
    this.node = await startNode({ ...OPTIONS, dir: this.dir, ledgerSecrets: this.node.core.history.ledgerSecrets });
    this.client = new HttpsClient(this.node.url, this.node.core.identity.serviceCertPem);
  }

  async close(): Promise<void> {
    this.client.close();
    await this.node.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
