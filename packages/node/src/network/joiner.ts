// The joining node's side of POST /node/join (join.ts): it asks again every
// retry interval, as CCF's join.retry_timeout, until members have trusted it
// and the service hands it its secrets, or until it is told it never will be.
import { request as httpsRequest } from "node:https";
import type { JoinRequest, JoinResponse, NetworkSecrets } from "./join.ts";

export interface JoinerOptions {
  /** "host:port" of a node of the service (CCF's join.target_rpc_address). */
  targetRpcAddress: string;
  /** The service certificate the target's TLS certificate must chain to (CCF's command.service_certificate_file). */
  serviceCertPem: string;
  /** This node's key, and a certificate for it (self-signed until the service endorses one). */
  nodePrivateKeyPem: string;
  nodeCertPem: string;
  request: JoinRequest;
  retryMs: number;
  /** Progress, e.g. "Pending: waiting for members to trust node ab12…". */
  log?: (message: string) => void;
  signal?: AbortSignal;
}

export class JoinRefusedError extends Error {}

/** Asks until trusted; resolves with the service's secrets. A 4xx answer is final; other failures are retried. */
export async function joinService(options: JoinerOptions): Promise<{ nodeId: string; secrets: NetworkSecrets }> {
  let pendingLogged = false;
  for (;;) {
    options.signal?.throwIfAborted();
    let reply: { status: number; body: string } | undefined;
    try {
      reply = await post(options);
    } catch (error) {
      options.log?.(`join: cannot reach ${options.targetRpcAddress} (${(error as Error).message}); retrying`);
    }
    if (reply !== undefined) {
      if (reply.status >= 400 && reply.status < 500) throw new JoinRefusedError(`${options.targetRpcAddress} refused the join (${reply.status}): ${reply.body}`);
      if (reply.status === 200) {
        const answer = JSON.parse(reply.body) as JoinResponse;
        if (answer.node_status === "Trusted") return { nodeId: answer.node_id, secrets: answer.network_info };
        if (!pendingLogged) options.log?.(`join: node ${answer.node_id} is Pending: members must propose and accept transition_node_to_trusted`);
        pendingLogged = true;
      } else {
        options.log?.(`join: ${options.targetRpcAddress} answered ${reply.status}: ${reply.body}; retrying`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, options.retryMs));
  }
}

function post(options: JoinerOptions): Promise<{ status: number; body: string }> {
  const body = Buffer.from(JSON.stringify(options.request));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://${options.targetRpcAddress}/node/join`,
      {
        method: "POST",
        ca: options.serviceCertPem,
        cert: options.nodeCertPem,
        key: options.nodePrivateKeyPem,
        headers: { "content-type": "application/json", "content-length": body.length },
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}
