// A node's encryption key: an X25519 key pair made in memory at each start and
// never written to disk; its public part is the node's encryption_pub_key in
// public:ccf.gov.nodes.info. A rekey hands the new ledger secret to every
// trusted node sealed to this key (ECIES: an ephemeral X25519 agreement, HKDF,
// AES-256-GCM), so the secret crosses the public ledger and only the nodes
// can read it.
import { createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from "node:crypto";
import { openWithKey, randomIv, sealWithKey } from "./ledger-secret.ts";

const INFO = Buffer.from("confide node encryption");
const EPHEMERAL_SPKI_BYTES = 44; // X25519 SubjectPublicKeyInfo, DER

export class NodeEncryptionKey {
  private constructor(
    readonly publicKeyPem: string,
    private readonly privateKey: KeyObject,
  ) {}

  static generate(): NodeEncryptionKey {
    const { publicKey, privateKey } = generateKeyPairSync("x25519");
    return new NodeEncryptionKey(publicKey.export({ type: "spki", format: "pem" }).toString(), privateKey);
  }

  /** Opens what sealForNode sealed to this key; throws if it was sealed to another or altered. */
  open(sealed: Buffer): Buffer {
    const ephemeral = sealed.subarray(0, EPHEMERAL_SPKI_BYTES);
    const publicKey = createPublicKey({ key: ephemeral, format: "der", type: "spki" });
    return openWithKey(agreedKey(this.privateKey, publicKey, ephemeral), sealed.subarray(EPHEMERAL_SPKI_BYTES), INFO);
  }
}

export class NodeEncryptionKeyError extends Error {}

/** Checks that `pem` is a node encryption key (an X25519 public key in PEM), as a join request must give. */
export function checkNodeEncryptionKey(pem: string): void {
  let type: string | undefined;
  try {
    type = createPublicKey(pem).asymmetricKeyType;
  } catch {
    throw new NodeEncryptionKeyError("not a PEM public key");
  }
  if (type !== "x25519") throw new NodeEncryptionKeyError(`a ${type ?? "unknown"} key, not an X25519 key`);
}

/** Seals `plaintext` to the node whose encryption_pub_key is `publicKeyPem`. */
export function sealForNode(publicKeyPem: string, plaintext: Uint8Array): Buffer {
  const ephemeral = generateKeyPairSync("x25519");
  const ephemeralSpki = ephemeral.publicKey.export({ type: "spki", format: "der" });
  const key = agreedKey(ephemeral.privateKey, createPublicKey(publicKeyPem), ephemeralSpki);
  return Buffer.concat([ephemeralSpki, sealWithKey(key, randomIv(), plaintext, INFO)]);
}

function agreedKey(privateKey: KeyObject, publicKey: KeyObject, ephemeralSpki: Buffer): Buffer {
  const shared = diffieHellman({ privateKey, publicKey });
  return Buffer.from(hkdfSync("sha256", shared, ephemeralSpki, INFO, 32));
}
