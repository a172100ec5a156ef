// A local stand-in for a cloud key service (the sign operation of Azure Key
// Vault's REST API): an HTTPS server on a free port holding private keys by
// name, signing digests for callers with the right bearer token. The keys
// stay in this process, as they stay in the vault.
import { createPrivateKey } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { p384 } from "@noble/curves/nist.js";
import { loadOrCreateIdentity } from "@confide/node";

export interface KeyService {
  /** https://127.0.0.1:<port> */
  url: string;
  /** The CA certificate its TLS certificate chains to. */
  caCertPem: string;
  /** Digests signed so far. */
  signed: number;
  close(): Promise<void>;
}

const BODY_BYTES_MAX = 4096;

/** `keys`: key name → P-384 private key (PEM). */
export async function startKeyService(keys: Record<string, string>, token: string): Promise<KeyService> {
  const dir = mkdtempSync(join(tmpdir(), "confide-key-service-"));
  const tls = await loadOrCreateIdentity(dir);
  const scalars = new Map(Object.entries(keys).map(([name, pem]) => [name, Buffer.from(createPrivateKey(pem).export({ format: "jwk" }).d!, "base64url")]));
  const service: KeyService = { url: "", caCertPem: tls.serviceCertPem, signed: 0, close: async () => {} };
  const server = createServer({ key: tls.nodePrivateKeyPem, cert: tls.nodeCertPem }, (req, res) => {
    const answer = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    const fail = (status: number, code: string, message: string) => answer(status, { error: { code, message } });
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "https://localhost");
      const match = /^\/keys\/([^/]+)(?:\/[^/]+)?\/sign$/.exec(url.pathname);
      if (req.method !== "POST" || match === null) return fail(404, "NotFound", "no such operation");
      if (url.searchParams.get("api-version") !== "7.4") return fail(400, "BadParameter", "api-version must be 7.4");
      if (req.headers.authorization !== `Bearer ${token}`) return fail(401, "Unauthorized", "AKV10000: Request is missing a valid Bearer token");
      const scalar = scalars.get(match[1]!);
      if (scalar === undefined) return fail(404, "KeyNotFound", `A key with (name/id) ${match[1]} was not found in this key vault.`);
      const body = Buffer.concat(chunks);
      let params: { alg?: unknown; value?: unknown };
      try {
        params = body.length <= BODY_BYTES_MAX ? (JSON.parse(body.toString("utf8")) as typeof params) : {};
      } catch {
        params = {};
      }
      const digest = typeof params.value === "string" ? Buffer.from(params.value, "base64url") : undefined;
      if (params.alg !== "ES384" || digest?.length !== 48) return fail(400, "BadParameter", "expected alg ES384 and a 48-byte SHA-384 digest");
      service.signed++;
      // A key service signs the digest it is given: no hashing of its own.
      const signature = p384.sign(digest, scalar, { prehash: false });
      answer(200, { kid: `${service.url}/keys/${match[1]}/v1`, value: Buffer.from(signature).toString("base64url") });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  service.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  service.close = async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  return service;
}
