// The node:https adapter: TLS with the node certificate (issued by the service
// key, so clients trust service_cert.pem), client certificates requested but
// not verified here (the auth policies look them up in the KV, as CCF does),
// HTTP/1.1 keep-alive (HTTP/2 too when configured, as CCF's app_protocol), and
// CCF's body and header size limits.
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import { createServer } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { CcfError, ErrorCode } from "../errors.ts";
import { HTTP_MAX_BODY_BYTES, HTTP_MAX_HEADER_BYTES } from "../limits.ts";
import type { Log } from "../log.ts";
import { errorResponse, type HttpRequest, type HttpResponse } from "./message.ts";

export interface HttpsServerOptions {
  host: string;
  port: number;
  /** Node certificate (PEM) and its private key. */
  certPem: string;
  keyPem: string;
  maxBodyBytes?: number;
  maxHeaderBytes?: number;
  /** Offer HTTP/2 by ALPN, keeping HTTP/1.1 for clients that do not ask for it. */
  http2?: boolean;
  log: Log;
}

export interface RunningServer {
  /** "host:port" actually bound (port 0 picks a free one). */
  address: string;
  port: number;
  close(): Promise<void>;
}

type Handler = (request: HttpRequest) => Promise<HttpResponse>;

export async function startHttpsServer(handler: Handler, options: HttpsServerOptions): Promise<RunningServer> {
  const maxBodyBytes = options.maxBodyBytes ?? HTTP_MAX_BODY_BYTES;
  const tls = {
    key: options.keyPem,
    cert: options.certPem,
    requestCert: true,
    rejectUnauthorized: false,
  };
  const onRequest = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => {
    readRequest(req, maxBodyBytes)
      .then(handler, (error: unknown) => errorResponse(error as CcfError))
      .then((response) => writeResponse(res, response))
      .catch((error: unknown) => {
        options.log.error(`http: cannot answer ${req.method} ${req.url}: ${(error as Error).message}`);
        res.destroy();
      });
  };
  const maxHeaderSize = options.maxHeaderBytes ?? HTTP_MAX_HEADER_BYTES;
  const server = options.http2
    ? createSecureServer({ ...tls, allowHTTP1: true, settings: { maxHeaderListSize: maxHeaderSize } }, onRequest)
    : createServer({ ...tls, maxHeaderSize, keepAlive: true }, onRequest);
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const ccfError = tooLarge
      ? new CcfError(431, ErrorCode.RequestHeaderTooLarge, "Request header is too large.")
      : new CcfError(400, ErrorCode.InvalidInput, `Malformed HTTP request: ${error.message}`);
    const body = JSON.stringify(ccfError.body());
    socket.end(`HTTP/1.1 ${ccfError.status} ${tooLarge ? "Request Header Fields Too Large" : "Bad Request"}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  // Open connections, so that close() ends them instead of waiting for clients' keep-alive.
  const sockets = new Set<Socket>();
  server.on("secureConnection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `${options.host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function readRequest(req: IncomingMessage | Http2ServerRequest, maxBodyBytes: number): Promise<HttpRequest> {
  const tooLarge = () => new CcfError(413, ErrorCode.RequestBodyTooLarge, `Request body is too large (the limit is ${maxBodyBytes} bytes).`);
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBodyBytes) {
      req.resume();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.removeAllListeners("data");
        req.resume();
        reject(tooLarge());
      } else {
        chunks.push(chunk);
      }
    });
    req.on("error", reject);
    req.on("end", () => {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        // HTTP/2 pseudo-headers (:path, :method...) are not request headers to an app.
        if (value !== undefined && !name.startsWith(":")) headers[name] = Array.isArray(value) ? value.join(", ") : value;
      }
      // HTTP/2 has no Host header: its :authority plays that part.
      if (headers.host === undefined && typeof req.headers[":authority"] === "string") headers.host = req.headers[":authority"];
      resolve({
        method: req.method ?? "GET",
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? "" : url.slice(q + 1),
        headers,
        body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks),
        clientCertDer: clientCertificate(req.socket as TLSSocket),
      });
    });
  });
}

/** The TLS client certificate of a connection, read once: it cannot change on a TLS 1.3 session. */
const clientCertificates = new WeakMap<TLSSocket, Buffer | undefined>();

function clientCertificate(socket: TLSSocket): Buffer | undefined {
  if (clientCertificates.has(socket)) return clientCertificates.get(socket);
  const der: Buffer | undefined = socket.getPeerCertificate?.()?.raw;
  clientCertificates.set(socket, der);
  return der;
}

function writeResponse(res: ServerResponse | Http2ServerResponse, response: HttpResponse): void {
  const headers: Record<string, string | number> = response.headers;
  headers["content-length"] = response.body.length;
  res.writeHead(response.status, headers);
  res.end(response.body);
}
