// The SDK's CoseSigner over a PEM private key, for Node: the CLI, the sandbox
// and the console's server side hold members' keys as files.
import { createPrivateKey, sign } from "node:crypto";
import { CoseAlg, type CoseAlgId, type CoseSigner } from "@confide/sdk";

const ALG_OF_CURVE: Record<string, { alg: CoseAlgId; hash: string }> = {
  prime256v1: { alg: CoseAlg.ES256, hash: "sha256" },
  secp384r1: { alg: CoseAlg.ES384, hash: "sha384" },
  secp521r1: { alg: CoseAlg.ES512, hash: "sha512" },
};

/** Signs with an EC private key (PEM), the COSE algorithm of its curve, raw r‖s as COSE wants. */
export function pemSigner(privateKeyPem: string): CoseSigner {
  const key = createPrivateKey(privateKeyPem);
  const curve = key.asymmetricKeyType === "ec" ? key.asymmetricKeyDetails?.namedCurve : undefined;
  const entry = curve === undefined ? undefined : ALG_OF_CURVE[curve];
  if (entry === undefined) throw new Error(`signing key is not an EC P-256, P-384 or P-521 key`);
  return { alg: entry.alg, sign: async (data) => sign(entry.hash, data, { key, dsaEncoding: "ieee-p1363" }) };
}
