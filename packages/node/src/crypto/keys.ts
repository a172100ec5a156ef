// Identity keys as CCF uses them: EC P-384 (secp384r1) key pairs, PEM PKCS#8
// private keys, and the ids CCF derives from keys and certificates:
//   node_id        = hex SHA-256 of the node public key's DER SubjectPublicKeyInfo
//   member/user id = hex SHA-256 of the certificate's DER (ccf.pemToId)
import {
  X509Certificate,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
} from "node:crypto";
import { closeSync, constants, fchmodSync, fsyncSync, openSync, writeSync } from "node:fs";
import { sha256, toHex } from "./hash.ts";

export const PRIVATE_KEY_FILE_MODE = 0o600;
export const PUBLIC_FILE_MODE = 0o644;

export interface P384KeyPair {
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). */
  privateKeyPem: string;
  /** SubjectPublicKeyInfo PEM ("-----BEGIN PUBLIC KEY-----"). */
  publicKeyPem: string;
}

/** A fresh P-384 key pair from Node's CSPRNG-backed key generation. */
export function generateP384KeyPair(): P384KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ec", {
    namedCurve: "P-384",
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

/** The SPKI PEM public key belonging to a PEM private key. */
export function publicKeyPemOf(privateKeyPem: string): string {
  const publicKey = createPublicKey(createPrivateKey(privateKeyPem));
  return publicKey.export({ type: "spki", format: "pem" }).toString();
}

/** SubjectPublicKeyInfo DER of a PEM public key (or of the key inside a PEM certificate). */
export function spkiDerOf(publicKeyPem: string): Buffer {
  return createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
}

/** CCF node id: hex SHA-256 of the node public key's DER SubjectPublicKeyInfo. */
export function nodeIdOf(publicKeyPem: string): string {
  return toHex(sha256(spkiDerOf(publicKeyPem)));
}

/** CCF member/user id (ccf.pemToId): hex SHA-256 of the certificate's DER. */
export function certId(certPem: string): string {
  return toHex(sha256(new X509Certificate(certPem).raw));
}

function writeFileWithMode(path: string, text: string, mode: number): void {
  // O_NOFOLLOW: never write key material through a planted symlink.
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  const fd = openSync(path, flags, mode);
  try {
    // The mode given to open only applies to a newly created file (and is
    // masked by the umask); set it explicitly before any byte is written.
    fchmodSync(fd, mode);
    const data = Buffer.from(text, "utf8");
    let offset = 0;
    while (offset < data.length) {
      offset += writeSync(fd, data, offset, data.length - offset);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a PEM private key with mode 0600 (also tightening an existing file), fsynced. */
export function writePrivateKeyFile(path: string, pem: string): void {
  writeFileWithMode(path, pem, PRIVATE_KEY_FILE_MODE);
}

/** Writes a public file (certificate, public key) with mode 0644, fsynced. */
export function writePublicFile(path: string, text: string): void {
  writeFileWithMode(path, text, PUBLIC_FILE_MODE);
}
