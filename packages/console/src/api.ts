// The page's only way out: the console server in the sandbox process, which
// passes reads through to the services and signs or authenticates as the
// identity the person picked. No key ever reaches the page.
import { ccfError, parseJsonOrUndefined, type ProposalBody } from "@confide/sdk";

export interface Identities {
  services: { name: string }[];
  members: { name: string; party: string; id: string }[];
  users: { name: string; party: string; id: string; index: number }[];
}

export interface Reply {
  status: number;
  ok: boolean;
  text: string;
  json: unknown;
  bytes: Uint8Array;
  txId: string | undefined;
}

/** What went wrong, in the service's own words: CCF's {"error":{code,message}} or an app's errorMessage. */
export function errorText(reply: Reply): string {
  const ccf = ccfError(reply.json);
  if (ccf) return `${ccf.code}: ${ccf.message}`;
  const app = (reply.json as { error?: { errorType?: string; errorMessage?: string } } | undefined)?.error;
  if (app?.errorMessage) return `${app.errorType ?? "Error"}: ${app.errorMessage}`;
  return reply.text.trim() || `HTTP ${reply.status}`;
}

async function toReply(response: Response): Promise<Reply> {
  const bytes = new Uint8Array(await response.arrayBuffer());
  const text = new TextDecoder().decode(bytes);
  const json = /json/.test(response.headers.get("content-type") ?? "") ? parseJsonOrUndefined(text) : undefined;
  return { status: response.status, ok: response.ok, text, json, bytes, txId: response.headers.get("x-ms-ccf-transaction-id") ?? undefined };
}

export async function identities(): Promise<Identities> {
  return (await (await fetch("/api/identities")).json()) as Identities;
}

/** A /node or /gov read (or /app/receipt), with no identity. */
export async function read(service: string, path: string): Promise<Reply> {
  return toReply(await fetch(`/api/services/${service}${path}`));
}

/** A read that must succeed: its JSON. */
export async function readJson<T>(service: string, path: string): Promise<T> {
  const reply = await read(service, path);
  if (!reply.ok) throw new Error(errorText(reply));
  return reply.json as T;
}

export type GovCall = { as: string } & ({ proposal: ProposalBody } | { proposalId: string; ballot: boolean } | { proposalId: string });

/** A governance message, signed by the console server as member `as`. */
export async function gov(service: string, message: "proposal" | "ballot" | "withdrawal", call: GovCall): Promise<Reply> {
  return toReply(await fetch(`/api/services/${service}/gov/${message}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(call) }));
}

/** An app call as user `as` (path relative to /app). */
export async function app(service: string, as: string, method: string, path: string, body?: { data: string | Blob; contentType: string }): Promise<Reply> {
  return toReply(
    await fetch(`/api/services/${service}/as/${encodeURIComponent(as)}/app${path}`, {
      method,
      ...(body ? { body: body.data, headers: { "content-type": body.contentType } } : {}),
    }),
  );
}

/** An upload with progress (fetch reports none for request bodies). */
export function upload(service: string, as: string, path: string, file: Blob, contentType: string, onProgress: (fraction: number) => void): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/services/${service}/as/${encodeURIComponent(as)}/app${path}`);
    xhr.setRequestHeader("content-type", contentType);
    xhr.responseType = "arraybuffer";
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.onerror = () => reject(new Error("the upload failed (network)"));
    xhr.onload = () => {
      const headers = new Headers();
      const type = xhr.getResponseHeader("content-type");
      if (type) headers.set("content-type", type);
      const txId = xhr.getResponseHeader("x-ms-ccf-transaction-id");
      if (txId) headers.set("x-ms-ccf-transaction-id", txId);
      onProgress(1);
      resolve(toReply(new Response(xhr.status === 204 ? null : (xhr.response as ArrayBuffer), { status: xhr.status, headers })));
    };
    xhr.send(file);
  });
}
