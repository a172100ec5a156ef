// Joining a node to a service, CCF's way: the new node calls POST /node/join on
// a node of the service over TLS, presenting a certificate for its own key (its
// node id is that key's), and asking in a CSR for the certificate the service
// will endorse. It is recorded Pending in public:ccf.gov.nodes.info; the members
// decide (transition_node_to_trusted, by the constitution), and once that is
// in the service's state the same call answers with what the node needs to serve: the service
// identity, the ledger secrets and its endorsed certificate. Only the holder of
// the node's key can receive them (TLS proves it), and only once trusted.
import { X509Certificate } from "node:crypto";
import { CcfError, ErrorCode } from "../errors.ts";
import { certificateRequestPublicKeyPem, CertificateRequestError } from "../crypto/endorse-csr.ts";
import { nodeIdOf } from "../crypto/keys.ts";
import { nodeToNodeAddresses, trustedNodes } from "../consensus/membership.ts";
import { parseJson } from "../governance/operations.ts";
import type { History } from "../history/history.ts";
import type { Builtin } from "../http/builtins.ts";
import { jsonResponse, TX_ID_HEADER, type HttpRequest, type HttpResponse } from "../http/message.ts";
import { Router } from "../http/router.ts";
import { formatTxId } from "../ids.ts";
import { idKey, Tables } from "../tables.ts";

/** What a trusted node receives to serve the service (CCF's network_info). */
export interface NetworkSecrets {
  service_certificate: string;
  service_private_key: string;
  /** The ledger secrets by version (the first seqno each encrypts), base64, as CCF's network_info.ledger_secrets. */
  ledger_secrets: Record<string, { secret: string }>;
  /** Ours: the service's earlier identities (a recovered service's), whose nodes signed its older entries. */
  previous_service_identities?: string[];
  endorsed_certificate: string;
  /** Ours, not CCF's: the trusted nodes and where they take node-to-node channels, so the joiner can answer its primary before its ledger says. */
  nodes?: Array<{ node_id: string; node_to_node_address: string }>;
}

/** The body of POST /node/join, in CCF's field names. */
export interface JoinRequest {
  node_info_network: { rpc_interfaces: Record<string, unknown>; node_to_node_interface?: { bind_address: string; published_address?: string } };
  quote_info?: { format: string; quote: string; endorsements: string };
  public_encryption_key?: string;
  node_data?: unknown;
  certificate_signing_request: string;
  startup_seqno?: number;
}

export type JoinResponse = { node_status: "Pending"; node_id: string } | { node_status: "Trusted"; node_id: string; network_info: NetworkSecrets };

export interface JoinEndpointOptions {
  history: History;
  /** The service's secrets, handed to a node once it is trusted. */
  secrets: () => Omit<NetworkSecrets, "endorsed_certificate">;
}

interface NodeInfo {
  status: "Pending" | "Trusted" | "Retired";
  [field: string]: unknown;
}

export function joinRouter(options: JoinEndpointOptions): Router<Builtin> {
  const router = new Router<Builtin>();
  router.add("POST", "/node/join", { summary: "A node asks to join the service", handle: (request) => join(request, options) });
  return router;
}

function join(request: HttpRequest, { history, secrets }: JoinEndpointOptions): HttpResponse {
  if (request.clientCertDer === undefined) {
    throw new CcfError(401, ErrorCode.InvalidAuthenticationInfo, "POST /node/join needs the joining node's certificate as TLS client certificate");
  }
  const clientCert = new X509Certificate(request.clientCertDer);
  const certKeyPem = clientCert.publicKey.export({ type: "spki", format: "pem" }).toString();
  const nodeId = nodeIdOf(certKeyPem);
  const body = checkJoinRequest(parseJson<unknown>(request.body, "Join request"));
  let csrKeyPem: string;
  try {
    csrKeyPem = certificateRequestPublicKeyPem(body.certificate_signing_request);
  } catch (error) {
    if (error instanceof CertificateRequestError) throw new CcfError(400, ErrorCode.InvalidInput, `certificate_signing_request: ${error.message}`);
    throw error;
  }
  if (csrKeyPem !== certKeyPem) throw new CcfError(400, ErrorCode.InvalidInput, "certificate_signing_request is for another key than the TLS client certificate's");

  const tx = history.begin();
  const nodes = tx.map(Tables.nodesInfo);
  const stored = nodes.get(idKey(nodeId));
  if (stored !== undefined) {
    const info = JSON.parse(stored.toString("utf8")) as NodeInfo;
    if (info.status === "Retired") throw new CcfError(403, ErrorCode.AuthorizationFailed, `Node ${nodeId} is retired: it cannot join again (start a new node)`);
    // Trusted, not yet committed, is enough (as CCF): trusting a service's second node commits only
    // once that node acknowledges it, which it can only do with the secrets. A trust rolled back
    // leaves the node with secrets but outside every configuration: it can take no part.
    if (info.status === "Trusted") {
      const endorsed = tx.map(Tables.nodesEndorsedCerts).get(idKey(nodeId));
      if (endorsed === undefined) throw new CcfError(500, ErrorCode.InternalError, `Node ${nodeId} is trusted but has no endorsed certificate`);
      const addresses = nodeToNodeAddresses(history.store);
      const nodes = trustedNodes(history.store).flatMap((id) => (addresses.has(id) ? [{ node_id: id, node_to_node_address: addresses.get(id)! }] : []));
      const response: JoinResponse = { node_status: "Trusted", node_id: nodeId, network_info: { ...secrets(), endorsed_certificate: endorsed.toString("utf8"), nodes } };
      return jsonResponse(200, response);
    }
    return jsonResponse(200, { node_status: "Pending", node_id: nodeId } satisfies JoinResponse);
  }
  const info: NodeInfo = {
    status: "Pending",
    cert: clientCert.toString(),
    quote_info: body.quote_info ?? { format: "Insecure_Virtual", quote: "", endorsements: "" },
    encryption_pub_key: body.public_encryption_key ?? "",
    rpc_interfaces: body.node_info_network.rpc_interfaces,
    node_to_node_interface: body.node_info_network.node_to_node_interface ?? null,
    node_data: body.node_data ?? null,
    certificate_signing_request: body.certificate_signing_request,
    public_key: certKeyPem,
    ledger_secret_seqno: 0,
  };
  nodes.set(idKey(nodeId), Buffer.from(JSON.stringify(info)));
  const id = history.commit(tx)!;
  return jsonResponse(200, { node_status: "Pending", node_id: nodeId } satisfies JoinResponse, { [TX_ID_HEADER]: formatTxId(id) });
}

function checkJoinRequest(value: unknown): JoinRequest {
  const invalid = (detail: string) => new CcfError(400, ErrorCode.InvalidInput, `Join request: ${detail}`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("expected a JSON object");
  const body = value as Partial<JoinRequest>;
  if (typeof body.certificate_signing_request !== "string") throw invalid("certificate_signing_request must be a PEM string");
  const network = body.node_info_network;
  if (typeof network !== "object" || network === null || typeof network.rpc_interfaces !== "object" || network.rpc_interfaces === null) {
    throw invalid("node_info_network.rpc_interfaces must be an object");
  }
  const n2n = network.node_to_node_interface;
  if (n2n !== undefined && (typeof n2n !== "object" || n2n === null || typeof n2n.bind_address !== "string")) {
    throw invalid("node_info_network.node_to_node_interface.bind_address must be a host:port string");
  }
  if (body.public_encryption_key !== undefined && typeof body.public_encryption_key !== "string") throw invalid("public_encryption_key must be a PEM string");
  return body as JoinRequest;
}
