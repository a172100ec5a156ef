// A governance signer whose key never leaves a key service: the example
// adapter for keys held elsewhere. It speaks the sign operation of Azure Key
// Vault's REST API (POST <key URL>/sign?api-version=7.4, {"alg", "value":
// base64url digest} -> {"kid", "value": base64url raw r‖s}, an OAuth bearer
// token), which managed HSMs and local stand-ins share. The digest is computed
// here (digestSigner), so only 48 bytes go to the service per signature.
import { CoseAlg, JOSE_NAME_OF_ALG, digestSigner, type CoseAlgId, type CoseSigner } from "@confide/sdk";
import { httpsJson } from "./https-json.ts";

export const KEY_VAULT_API_VERSION = "7.4";
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
    const reply = await httpsJson(url, { method: "POST", body, headers: { authorization: `Bearer ${await options.token()}` }, ...(options.caCertPem === undefined ? {} : { ca: options.caCertPem }) }).catch((error: Error) => {
      throw new KeyServiceError(undefined, `key service at ${error.message}`);
    });
    const answer = (reply.json ?? {}) as { value?: unknown; error?: { code?: unknown; message?: unknown } };
    if (reply.status !== 200) {
      const why = answer.error === undefined ? reply.text.slice(0, 200) : `${String(answer.error.code)}: ${String(answer.error.message)}`;
      throw new KeyServiceError(reply.status, `key service at ${url.origin} refused to sign (${reply.status}): ${why}`);
    }
    const signature = typeof answer.value === "string" ? Buffer.from(answer.value, "base64url") : undefined;
    if (signature?.length !== SIGNATURE_BYTES[alg]) throw new KeyServiceError(200, `key service at ${url.origin} answered no ${JOSE_NAME_OF_ALG[alg]} signature`);
    return new Uint8Array(signature);
  });
}
