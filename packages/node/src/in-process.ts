// A node's whole service in this process, without sockets: the real History, KV, app runtime,
// authentication and governance, called request by request. For app authors' unit tests
// (@confide/testing): faster than a node over HTTPS and more faithful than a polyfill.
import type { Bundle } from "./runtime/bundle.ts";
import type { InitialMember, InitialUser } from "./genesis.ts";
import type { HttpResponse } from "./http/message.ts";
import type { Frontend } from "./http/frontend.ts";
import { SILENT_LOG, type Log } from "./log.ts";
import { createOrOpenService, serviceFrontend, startNodeCore, type NodeCore } from "./node.ts";

export interface InProcessServiceOptions {
  /** The node's directory (identity files, ledger): real files, so the ledger is the one a node writes. */
  dir: string;
  members?: InitialMember[];
  users?: InitialUser[];
  constitution?: string;
  /** Deployed and the service opened at start, as the node's dev shortcut does. */
  bundle?: Bundle;
  /** How soon a write is committed (a signature); short by default, so tests wait little. */
  signatureIntervalMs?: number;
  log?: Log;
}

export interface InProcessRequest {
  method: string;
  /** With the query, if any ("/app/balance/checking?x=1"). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** The caller's TLS client certificate (DER), as a TLS connection would present it. */
  clientCertDer?: Buffer;
}

const ADDRESS = "in-process:0";

export class InProcessService {
  private constructor(
    readonly core: NodeCore,
    private readonly frontend: Frontend,
  ) {}

  static async start(options: InProcessServiceOptions): Promise<InProcessService> {
    const log = options.log ?? SILENT_LOG;
    const core = await startNodeCore({ dir: options.dir, signatureIntervalMs: options.signatureIntervalMs ?? 5, log: (message) => log.warn(message) });
    const frontend = serviceFrontend(core, log, () => ADDRESS);
    await createOrOpenService(
      core,
      { members: options.members ?? [], users: options.users ?? [], ...(options.constitution ? { constitution: options.constitution } : {}), ...(options.bundle ? { appBundle: options.bundle } : {}) },
      ADDRESS,
      log,
    );
    await frontend.prepare();
    return new InProcessService(core, frontend);
  }

  /** One request through the frontend, as the HTTPS server would pass it. */
  request(request: InProcessRequest): Promise<HttpResponse> {
    const queryAt = request.path.indexOf("?");
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    return this.frontend.handle({
      method: request.method,
      path: queryAt < 0 ? request.path : request.path.slice(0, queryAt),
      query: queryAt < 0 ? "" : request.path.slice(queryAt + 1),
      headers,
      body: request.body ?? Buffer.alloc(0),
      clientCertDer: request.clientCertDer,
    });
  }

  close(): Promise<void> {
    return this.core.close();
  }
}
