// A small HTTPS client for tests: real TLS to a node, trusting only its
// service certificate, optionally presenting a client certificate.
import { Agent, request as httpsRequest } from "node:https";
import { parseJsonOrUndefined } from "@confide/sdk";

export interface ClientIdentity {
  certPem: string;
  keyPem: string;
}

export interface Reply {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  text: string;
  /** The body parsed as JSON (undefined if it is not JSON). Untyped on purpose: tests index into CCF's varied shapes. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export class HttpsClient {
  private readonly agent: Agent;

  constructor(
    readonly url: string,
    serviceCertPem: string,
    identity?: ClientIdentity,
  ) {
    this.agent = new Agent({ keepAlive: true, ca: serviceCertPem, ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}) });
  }

  request(method: string, path: string, options: { body?: string | Buffer | object; headers?: Record<string, string> } = {}): Promise<Reply> {
    const { body, headers = {} } = options;
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : typeof body === "string" ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
    const allHeaders = { ...(payload && typeof body === "object" && !Buffer.isBuffer(body) ? { "content-type": "application/json" } : {}), ...headers };
    return new Promise((resolve, reject) => {
      const req = httpsRequest(new URL(path, this.url), { method, agent: this.agent, headers: allHeaders }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const bytes = Buffer.concat(chunks);
          const text = bytes.toString("utf8");
          const json = parseJsonOrUndefined(text);
          resolve({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: bytes, text, json });
        });
      });
      req.on("error", reject);
      req.end(payload);
    });
  }

  get(path: string, headers?: Record<string, string>): Promise<Reply> {
    return this.request("GET", path, headers ? { headers } : {});
  }

  post(path: string, body?: string | Buffer | object, headers?: Record<string, string>): Promise<Reply> {
    return this.request("POST", path, { ...(body !== undefined ? { body } : {}), ...(headers ? { headers } : {}) });
  }

  /** Repeats a GET while the node answers 202 (historical state being fetched), as CCF clients do. */
  async getEventually(path: string, headers?: Record<string, string>, attempts = 100): Promise<Reply> {
    for (let i = 0; ; i++) {
      const reply = await this.get(path, headers);
      if (reply.status !== 202 || i >= attempts) return reply;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  close(): void {
    this.agent.destroy();
  }
}
