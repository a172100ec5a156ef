// The web console's server side, in the sandbox process: serves the built
// console (packages/console/dist) over HTTPS on its own port, and acts for
// the browser as an identity of the workspace. The browser never holds a
// key: it says "as Bank A member" and this server signs the governance
// request with that member's key, or calls the app with that user's
// certificate. Reads of /node and /gov are passed through with no identity,
// as anyone may make them.
//
//   GET  /api/identities                               services, members, users (names and ids; no keys)
//   GET  /api/services/<service>/node/... | /gov/... | /app/receipt   passed through
//   GET  /api/services/<service>/ledger[?before=&limit=] | /ledger/<seqno>   the node's ledger files (ledger-explorer.ts)
//   POST /api/services/<service>/gov/<message>         {as, proposal | proposalId [, ballot]}: signed, sent
//   *    /api/services/<service>/as/<user>/app/...      sent with the user's certificate
// Answers from the node are passed back as they came (status, content type,
// body), so the page shows the service's own errors.
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { extname, join, normalize, sep } from "node:path";
import { LedgerCorruptionError, SignatureFormatError, WriteSetFormatError } from "@confide/node";
import { govMessages, type ProposalBody } from "@confide/sdk";
import { ConfideClient, type CcfResponse } from "../client.ts";
import { Member } from "../governance.ts";
import { LEDGER_PAGE_TX_MAX, LedgerTxNotFound, readLedgerPage, readLedgerTransaction } from "./ledger-explorer.ts";
import type { Consortium } from "./identities.ts";

/** A CSV upload is the largest request the console sends; the node refuses larger bodies anyway. */
export const CONSOLE_BODY_BYTES_MAX = 32 * 1024 * 1024;

export interface ConsoleService {
  name: string;
  url: string;
  serviceCertPem: string;
  /** The node's ledger directory, read by the ledger explorer (no secret: private writes stay sealed). */
  ledgerDir?: string;
}

export interface ConsoleServerOptions {
  port: number;
  /** The built console (index.html and assets); a missing directory serves a page saying how to build it. */
  staticDir: string;
  services: ConsoleService[];
  consortium: Consortium;
  /** TLS key and certificate the console serves with (the sandbox's node identity). */
  tls: { keyPem: string; certPem: string };
}

export interface ConsoleServer {
  url: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const clients = new Map<string, ConfideClient>();
  const service = (name: string): ConsoleService => {
    const found = options.services.find((s) => s.name === name);
    if (found === undefined) throw new HttpError(404, "ResourceNotFound", `no service named ${name}`);
    return found;
  };
  // One kept-alive client per (service, identity).
  const clientFor = (svc: ConsoleService, identityName?: string): ConfideClient => {
    const key = `${svc.name}/${identityName ?? ""}`;
    let client = clients.get(key);
    if (client === undefined) {
      const identity = identityName === undefined ? undefined : findIdentity(options.consortium, identityName);
      client = new ConfideClient({ url: svc.url, serviceCertPem: svc.serviceCertPem, ...(identity ? { identity } : {}) });
      clients.set(key, client);
    }
    return client;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://console");
    const parts = url.pathname.split("/").filter((p) => p !== "").map(decodeURIComponent);
    if (parts[0] !== "api") return serveStatic(options.staticDir, url.pathname, res);
    if (parts[1] === "identities" && parts.length === 2) return sendJson(res, 200, identities(options));
    if (parts[1] !== "services" || parts[2] === undefined) throw new HttpError(404, "ResourceNotFound", `no console endpoint ${url.pathname}`);
    const svc = service(parts[2]);
    const rest = parts.slice(3);
    const search = url.search;
    // /app/receipt is a built-in that needs no identity, as /node and /gov reads.
    if (req.method === "GET" && (rest[0] === "node" || rest[0] === "gov" || (rest[0] === "app" && rest[1] === "receipt"))) {
      return relay(res, await clientFor(svc).request("GET", `/${rest.map(encodeURIComponent).join("/")}${search}`));
    }
    if (req.method === "GET" && rest[0] === "ledger" && rest.length <= 2) return sendJson(res, 200, ledger(svc, rest[1], url.searchParams));
    if (req.method === "POST" && rest[0] === "gov" && rest.length === 2) {
      const body = JSON.parse((await readBody(req)).toString("utf8") || "{}") as GovCall;
      return relay(res, await governance(clientFor(svc), options.consortium, rest[1]!, body));
    }
    if (rest[0] === "as" && rest[1] !== undefined && rest[2] === "app") {
      const client = clientFor(svc, rest[1]);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
      const contentType = req.headers["content-type"];
      const path = `/${rest.slice(2).map(encodeURIComponent).join("/")}${search}`;
      return relay(res, await client.request(req.method ?? "GET", path, { ...(body === undefined ? {} : { body }), headers: contentType ? { "content-type": contentType } : {} }));
    }
    throw new HttpError(404, "ResourceNotFound", `no console endpoint ${req.method} ${url.pathname}`);
  };

  const server: Server = createServer({ key: options.tls.keyPem, cert: options.tls.certPem }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof SyntaxError ? 400 : 502;
      const code = error instanceof HttpError ? error.code : error instanceof SyntaxError ? "InvalidInput" : "ConsoleUpstreamError";
      if (!res.headersSent) sendJson(res, status, { error: { code, message: (error as Error).message } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}`,
    close: async () => {
      for (const client of clients.values()) client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A page of the service's ledger (newest first), or one transaction in full. */
function ledger(svc: ConsoleService, seqnoText: string | undefined, query: URLSearchParams) {
  if (svc.ledgerDir === undefined) throw new HttpError(404, "ResourceNotFound", `the console does not know where the ${svc.name} node keeps its ledger`);
  try {
    if (seqnoText !== undefined) return readLedgerTransaction(svc.ledgerDir, positiveInteger("seqno", seqnoText));
    const before = query.get("before");
    const limit = query.get("limit");
    return readLedgerPage(svc.ledgerDir, {
      ...(before === null ? {} : { before: positiveInteger("before", before) }),
      ...(limit === null ? {} : { limit: positiveInteger("limit", limit, LEDGER_PAGE_TX_MAX) }),
    });
  } catch (error) {
    if (error instanceof LedgerTxNotFound) throw new HttpError(404, "TransactionNotFound", error.message);
    // Files the node's reader refuses: said as they are, naming the file and seqno.
    if (error instanceof LedgerCorruptionError || error instanceof WriteSetFormatError || error instanceof SignatureFormatError) {
      throw new HttpError(500, "InternalError", `the ${svc.name} ledger cannot be read: ${error.message}`);
    }
    throw error;
  }
}

function positiveInteger(name: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= max)) throw new HttpError(400, "InvalidQueryParameterValue", `${name} must be an integer from 1 to ${max}, not ${JSON.stringify(text)}`);
  return value;
}

interface GovCall {
  as?: string;
  proposal?: ProposalBody;
  proposalId?: string;
  ballot?: boolean;
}

/** Signs and sends one governance message as the named member. */
async function governance(client: ConfideClient, consortium: Consortium, message: string, call: GovCall): Promise<CcfResponse> {
  const member = consortium.members.find((m) => m.name === call.as);
  if (member === undefined) throw new HttpError(400, "InvalidInput", `no member named ${String(call.as)} in this workspace`);
  const signer = new Member(client, member.identity);
  switch (message) {
    case "proposal":
      if (typeof call.proposal !== "object" || call.proposal === null) throw new HttpError(400, "InvalidInput", "proposal must be an object with actions");
      return signer.send(govMessages.proposal(call.proposal));
    case "ballot":
      if (typeof call.proposalId !== "string" || typeof call.ballot !== "boolean") throw new HttpError(400, "InvalidInput", "a ballot needs proposalId and ballot (true or false)");
      return signer.send(govMessages.ballot(signer.id, call.proposalId, call.ballot));
    case "withdrawal":
      if (typeof call.proposalId !== "string") throw new HttpError(400, "InvalidInput", "a withdrawal needs proposalId");
      return signer.send(govMessages.withdrawal(call.proposalId));
    default:
      throw new HttpError(404, "ResourceNotFound", `no governance message ${message}`);
  }
}

function findIdentity(consortium: Consortium, name: string) {
  const found = consortium.users.find((u) => u.name === name) ?? consortium.members.find((m) => m.name === name);
  if (found === undefined) throw new HttpError(400, "InvalidInput", `no identity named ${name} in this workspace`);
  return found.identity;
}

function identities(options: ConsoleServerOptions) {
  return {
    services: options.services.map(({ name }) => ({ name })),
    members: options.consortium.members.map(({ name, party, id }) => ({ name, party, id })),
    users: options.consortium.users.map(({ name, party, id, index }) => ({ name, party, id, index })),
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > CONSOLE_BODY_BYTES_MAX) throw new HttpError(413, "RequestBodyTooLarge", `request body exceeds ${CONSOLE_BODY_BYTES_MAX} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function relay(res: ServerResponse, response: CcfResponse): void {
  const headers: Record<string, string> = {};
  const type = response.headers["content-type"];
  if (typeof type === "string") headers["content-type"] = type;
  if (response.txId !== undefined) headers["x-ms-ccf-transaction-id"] = response.txId;
  res.writeHead(response.status, headers).end(response.body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

const NOT_BUILT = `<!doctype html><title>Confide console</title><p>The console is not built: run <code>npm run build -w @confide/console</code> (npm start builds it for you).</p>`;

function serveStatic(dir: string, pathname: string, res: ServerResponse): void {
  const index = join(dir, "index.html");
  if (!existsSync(index)) {
    res.writeHead(503, { "content-type": "text/html; charset=utf-8" }).end(NOT_BUILT);
    return;
  }
  const file = normalize(join(dir, pathname));
  // Anything outside dist/, or not a file (a page's own route), gets the app's index.html.
  const inside = file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
  const target = inside && existsSync(file) && statSync(file).isFile() ? file : index;
  res.writeHead(200, { "content-type": CONTENT_TYPES[extname(target)] ?? "application/octet-stream" }).end(readFileSync(target));
}
