// Committed snapshots moving between nodes, as CCF's joiners get them (command.join.fetch_recent_snapshot):
// a node serves GET /node/snapshot (a redirect to its latest committed snapshot, optionally only one
// newer than ?since=) and GET /node/snapshot/{name} (the file). A joiner fetches the latest from its
// target before it asks to join (as CCF 5 and 6 do at start-up), so that nothing stands between being
// trusted and answering its primary. At that point it holds the service certificate but none of the
// ledger secrets, so the check is split: here, before the join, the evidence receipt (a node endorsed
// by the service certificate signed it) and the digest it committed against the bytes; a snapshot that
// fails is not kept. Once trusted, History opens the kept file with the ledger secrets the join
// response handed over: the private maps are decrypted with the secret valid at the snapshot's seqno,
// and a snapshot whose secret is missing is refused (the node then replicates the whole ledger). After a
// recovery the service's snapshots are signed under its new identity, which is the certificate a joiner
// is given; one taken before the recovery is signed under an earlier identity, which the joiner learns
// only with its join, so such a snapshot is refused here and the joiner replicates the ledger instead.
import { readFileSync, statSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { join } from "node:path";
import { replaceFileDurably } from "../durable.ts";
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import { checkSnapshotEvidence, committedSnapshots, parseCommittedSnapshotName, type SnapshotFile } from "../history/snapshots.ts";
import type { Builtin } from "../http/builtins.ts";
import { queryParams, type HttpResponse } from "../http/message.ts";
import { Router } from "../http/router.ts";
import { SNAPSHOT_FETCH_BYTES_MAX } from "../limits.ts";

export function snapshotRouter(history: History): Router<Builtin> {
  const router = new Router<Builtin>();
  router.add("GET", "/node/snapshot", {
    summary: "Redirect to this node's latest committed snapshot (?since=<seqno>: only one after it)",
    handle: (request) => {
      const since = queryParams(request.query).get("since");
      const sinceSeqno = since === undefined ? 0 : Number(since);
      if (!Number.isSafeInteger(sinceSeqno) || sinceSeqno < 0) {
        throw new CcfError(400, ErrorCode.InvalidQueryParameterValue, `since must be a seqno, got '${since}'`);
      }
      const dir = history.snapshotsDir;
      const latest = dir === undefined ? undefined : committedSnapshots(dir).find((s) => s.seqno > sinceSeqno);
      if (latest === undefined) {
        throw new CcfError(404, ErrorCode.ResourceNotFound, `This node has no committed snapshot${since === undefined ? "" : ` after seqno ${sinceSeqno}`}.`);
      }
      return { status: 308, headers: { location: `/node/snapshot/${latest.name}` }, body: Buffer.alloc(0) };
    },
  });
  router.add("GET", "/node/snapshot/{snapshot_name}", {
    summary: "One committed snapshot file of this node",
    handle: (_, params) => serveSnapshot(history, params.snapshot_name ?? ""),
  });
  return router;
}

function serveSnapshot(history: History, name: string): HttpResponse {
  // Only a committed snapshot's own name: nothing else of the directory (or outside it) is served.
  const file = parseCommittedSnapshotName(name);
  const dir = history.snapshotsDir;
  const notFound = new CcfError(404, ErrorCode.ResourceNotFound, `This node has no committed snapshot named '${name}'.`);
  if (file === undefined || dir === undefined) throw notFound;
  const path = join(dir, file.name);
  let bytes: number;
  try {
    bytes = statSync(path).size;
  } catch {
    throw notFound;
  }
  if (bytes > SNAPSHOT_FETCH_BYTES_MAX) throw new CcfError(500, ErrorCode.InternalError, `Snapshot ${name} is ${bytes} bytes, more than the ${SNAPSHOT_FETCH_BYTES_MAX} this node serves.`);
  return { status: 200, headers: { "content-type": "application/octet-stream" }, body: readFileSync(path) };
}

export class SnapshotFetchError extends Error {}

export interface SnapshotSource {
  /** "host:port" of the node to fetch from (the join target). */
  targetRpcAddress: string;
  /** The service certificate: the target's TLS certificate and the snapshot's evidence receipt must chain to it. */
  serviceCertPem: string;
}

/**
 * Fetches the target's latest committed snapshot, checks it against the service certificate, and
 * writes it durably into `snapshotsDir`. Resolves with the file kept, or undefined if the target
 * has none; a snapshot that fails the check is not kept and is reported (throws SnapshotFetchError).
 */
export async function fetchLatestSnapshot(source: SnapshotSource, snapshotsDir: string): Promise<SnapshotFile | undefined> {
  const redirect = await get(source, "/node/snapshot");
  if (redirect.status === 404) return undefined;
  const location = redirect.headers.location;
  if (redirect.status !== 308 || typeof location !== "string") {
    throw new SnapshotFetchError(`GET /node/snapshot on ${source.targetRpcAddress} answered ${redirect.status}, not a redirect to a snapshot`);
  }
  const path = new URL(location, `https://${source.targetRpcAddress}`).pathname;
  const file = parseCommittedSnapshotName(decodeURIComponent(path.slice(path.lastIndexOf("/") + 1)));
  if (file === undefined) throw new SnapshotFetchError(`${source.targetRpcAddress} redirected to ${location}, which names no committed snapshot`);
  const reply = await get(source, path);
  if (reply.status !== 200) throw new SnapshotFetchError(`GET ${path} on ${source.targetRpcAddress} answered ${reply.status}`);
  try {
    checkSnapshotEvidence(reply.body, file, [source.serviceCertPem]);
  } catch (error) {
    throw new SnapshotFetchError(`snapshot ${file.name} from ${source.targetRpcAddress} fails verification, not used: ${(error as Error).message}`);
  }
  replaceFileDurably(join(snapshotsDir, file.name), reply.body, 0o600);
  return file;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(source: SnapshotSource, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      `https://${source.targetRpcAddress}${path}`,
      { method: "GET", ca: source.serviceCertPem },
      (res) => {
        const declared = Number(res.headers["content-length"] ?? 0);
        if (declared > SNAPSHOT_FETCH_BYTES_MAX) {
          res.destroy();
          reject(new SnapshotFetchError(`${path} is ${declared} bytes, more than the ${SNAPSHOT_FETCH_BYTES_MAX} a joiner fetches`));
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        res.on("data", (chunk: Buffer) => {
          received += chunk.length;
          if (received > SNAPSHOT_FETCH_BYTES_MAX) {
            res.destroy(new SnapshotFetchError(`${path} is more than the ${SNAPSHOT_FETCH_BYTES_MAX} bytes a joiner fetches`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", reject);
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}
