// A governance signer whose key never leaves a key service: the example
// adapter for keys held elsewhere. It speaks the sign operation of Azure Key
// Vault's REST API (POST <key URL>/sign?api-version=7.4, {"alg", "value":
// base64url digest} -> {"kid", "value": base64url raw r‖s}, an OAuth bearer
// token), which managed HSMs and local stand-ins share. The digest is computed
// here (digestSigner), so only 48 bytes go to the service per signature.
import { request } from "node:https";
import { CoseAlg, JOSE_NAME_OF_ALG, digestSigner, type CoseAlgId, type CoseSigner } from "@confide/sdk";

export const KEY_VAULT_API_VERSION = "7.4";
/** A sign response is a key id and a signature: far smaller than this, so a larger body is not a signing service. */
const RESPONSE_BYTES_MAX = 64 * 1024;
/** A signing service answers in milliseconds; a stalled one fails the command instead of hanging it. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bytes of a raw r‖s signature per algorithm (two scalars). */
const SIGNATURE_BYTES: Record<CoseAlgId, number> = { [CoseAlg.ES256]: 64, [CoseAlg.ES384]: 96, [CoseAlg.ES512]: 132 };

export interface KeyVaultSignerOptions {
  /** The key's URL: https://<vault>/keys/<name>[/<version>]. */
  keyUrl: string;
  /** The bearer token for the service, asked for at each signature (tokens expire). */
  token: () => string | Promise<string>;
  /** The key's algorithm: ES384 (P-384, as CCF's member keys) unless given. */
  alg?: CoseAlgId;
  /** CA certificates (PEM) to trust for the service's TLS; Node's default CAs otherwise. */
  caCertPem?: string;
}

/** The key service refused or failed: its status and its error, if it sent one. */
export class KeyServiceError extends Error {
  override name = "KeyServiceError";

  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

export function keyVaultSigner(options: KeyVaultSignerOptions): CoseSigner {
  const alg = options.alg ?? CoseAlg.ES384;
  const url = new URL(`${options.keyUrl.replace(/\/+$/, "")}/sign`);
  url.searchParams.set("api-version", KEY_VAULT_API_VERSION);
  return digestSigner(alg, async (digest) => {
    const body = JSON.stringify({ alg: JOSE_NAME_OF_ALG[alg], value: Buffer.from(digest).toString("base64url") });
    const answer = await post(url, body, await options.token(), options.caCertPem);
    const signature = typeof answer.value === "string" ? Buffer.from(answer.value, "base64url") : undefined;
    if (signature?.length !== SIGNATURE_BYTES[alg]) throw new KeyServiceError(200, `key service at ${url.origin} answered no ${JOSE_NAME_OF_ALG[alg]} signature`);
    return new Uint8Array(signature);
  });
}

function post(url: URL, body: string, token: string, ca: string | undefined): Promise<{ value?: unknown }> {
  return new Promise((resolve, reject) => {
    const headers = { "content-type": "application/json", authorization: `Bearer ${token}`, "content-length": Buffer.byteLength(body) };
    const req = request(url, { method: "POST", headers, timeout: REQUEST_TIMEOUT_MS, ...(ca === undefined ? {} : { ca }) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > RESPONSE_BYTES_MAX) req.destroy(new KeyServiceError(res.statusCode, `key service at ${url.origin} sent more than ${RESPONSE_BYTES_MAX} bytes`));
        else chunks.push(chunk);
      });
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let json: { value?: unknown; error?: { code?: unknown; message?: unknown } } | undefined;
        try {
          json = JSON.parse(text) as typeof json;
        } catch {
          json = undefined;
        }
        if (res.statusCode === 200 && json !== undefined) return resolve(json);
        const error = json?.error;
        const why = error === undefined ? text.slice(0, 200) : `${String(error.code)}: ${String(error.message)}`;
        reject(new KeyServiceError(res.statusCode, `key service at ${url.origin} refused to sign (${res.statusCode}): ${why}`));
      });
    });
    req.on("timeout", () => req.destroy(new KeyServiceError(undefined, `key service at ${url.origin} did not answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", (error) => reject(error instanceof KeyServiceError ? error : new KeyServiceError(undefined, `key service at ${url.origin}: ${error.message}`)));
    req.end(body);
  });
}
