// Forwarding, CCF's way for a request that must run on the primary: a backup that finds a
// request writes (or whose endpoint says forwarding_required "always") sends it on to the
// primary and answers with the primary's response. The caller's identity goes along: the
// backup calls the primary over TLS with its own node certificate, and names the caller's TLS
// client certificate in a header that the primary believes only from a trusted node of the
// service. Signed governance bodies and JWTs travel unchanged in the request itself.
import { X509Certificate } from "node:crypto";
import { Agent, request as httpsRequest } from "node:https";
import { nodeIdOf } from "../crypto/keys.ts";
import { CcfError, ErrorCode } from "../errors.ts";
import type { Store } from "../kv/store.ts";
import { FORWARD_TIMEOUT_MS } from "../limits.ts";
import { idKey, Tables } from "../tables.ts";
import type { HttpRequest, HttpResponse } from "./message.ts";

/** The caller's TLS client certificate (base64 DER), or "none": set by the forwarding backup only. */
export const FORWARDED_CLIENT_CERT_HEADER = "x-confide-forwarded-client-cert";
const NO_CERTIFICATE = "none";
/** Hop-by-hop headers, and those the receiving server sets itself. */
const NOT_FORWARDED = new Set(["host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", FORWARDED_CLIENT_CERT_HEADER]);

export interface ForwarderOptions {
  /** The primary's RPC address ("host:port"), or undefined while none is known. */
  primaryRpcAddress: () => string | undefined;
  serviceCertPem: string;
  nodeCertPem: string;
  nodePrivateKeyPem: string;
}

export class Forwarder {
  private readonly agent: Agent;

  constructor(private readonly options: ForwarderOptions) {
    // Trusts only the service (every node's certificate is endorsed by it) and proves this node with its own.
    this.agent = new Agent({ keepAlive: true, ca: options.serviceCertPem, cert: options.nodeCertPem, key: options.nodePrivateKeyPem });
  }

  forward(request: HttpRequest): Promise<HttpResponse> {
    const target = this.options.primaryRpcAddress();
    if (target === undefined) throw new CcfError(503, ErrorCode.PrimaryNotFound, "This node is a backup and knows no primary to forward the request to (an election may be under way); try again.");
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) if (!NOT_FORWARDED.has(name)) headers[name] = value;
    headers[FORWARDED_CLIENT_CERT_HEADER] = request.clientCertDer?.toString("base64") ?? NO_CERTIFICATE;
    headers["content-length"] = String(request.body.length);
    const path = request.query === "" ? request.path : `${request.path}?${request.query}`;
    return new Promise((resolve, reject) => {
      const outgoing = httpsRequest(`https://${target}${path}`, { method: request.method, headers, agent: this.agent, timeout: FORWARD_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const responseHeaders: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (typeof value === "string" && !NOT_FORWARDED.has(name)) responseHeaders[name] = value;
          }
          resolve({ status: res.statusCode ?? 502, headers: responseHeaders, body: Buffer.concat(chunks) });
        });
      });
      outgoing.on("timeout", () => outgoing.destroy(new Error(`no answer within ${FORWARD_TIMEOUT_MS} ms`)));
      outgoing.on("error", (error) => reject(new CcfError(503, ErrorCode.InternalError, `Could not forward the request to the primary at ${target}: ${error.message}; try again.`)));
      outgoing.end(request.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * A request forwarded by another node: if its TLS client is a trusted node of the service, the
 * request as the original caller made it (their certificate in place of the node's); otherwise 403.
 */
export function acceptForwarded(request: HttpRequest, store: Store): HttpRequest {
  const forwarded = request.headers[FORWARDED_CLIENT_CERT_HEADER]!;
  const refuse = () => new CcfError(403, ErrorCode.AuthorizationFailed, `Only a trusted node of the service may send ${FORWARDED_CLIENT_CERT_HEADER}.`);
  if (request.clientCertDer === undefined) throw refuse();
  const nodeId = nodeIdOf(new X509Certificate(request.clientCertDer).publicKey.export({ type: "spki", format: "pem" }).toString());
  const tx = store.beginReadOnly();
  const info = tx.map(Tables.nodesInfo).get(idKey(nodeId));
  const endorsed = tx.map(Tables.nodesEndorsedCerts).get(idKey(nodeId));
  const trusted = info !== undefined && (JSON.parse(info.toString("utf8")) as { status?: string }).status === "Trusted";
  // The very certificate the service endorsed for it, not merely one for its key.
  if (!trusted || endorsed === undefined || !new X509Certificate(endorsed).raw.equals(request.clientCertDer)) throw refuse();
  const headers = { ...request.headers };
  delete headers[FORWARDED_CLIENT_CERT_HEADER];
  return { ...request, headers, clientCertDer: forwarded === NO_CERTIFICATE ? undefined : Buffer.from(forwarded, "base64") };
}
