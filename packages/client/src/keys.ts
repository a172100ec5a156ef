// Member and user identities as CCF's keygenerator.sh makes them: a P-384 key
// and a self-signed certificate (CN=<name>, ECDSA-SHA384, valid 365 days) in
// <name>_privk.pem / <name>_cert.pem, and for recovery members an RSA-2048
// encryption key pair in <name>_enc_privk.pem / <name>_enc_pubk.pem.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, webcrypto } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { certId, writePrivateKeyFile, writePublicFile } from "@confide/node";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

/** openssl req -x509 -days 365, as keygenerator.sh runs it. */
export const CERT_VALIDITY_DAYS = 365;
const DAY_MS = 24 * 60 * 60 * 1000;
const EC_P384 = { name: "ECDSA", namedCurve: "P-384" } as const;
const ECDSA_SHA384 = { name: "ECDSA", hash: "SHA-384" } as const;
/** The name becomes file names and the certificate's CN: keep it to characters safe in both. */
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** A signing identity: a PEM certificate and its PEM private key. */
export interface Identity {
  certPem: string;
  keyPem: string;
}

export interface GeneratedIdentity extends Identity {
  name: string;
  /** Member/user id: hex SHA-256 of the certificate's DER. */
  id: string;
  encryption?: { publicKeyPem: string; privateKeyPem: string };
}

export interface IdentityFiles {
  cert: string;
  privateKey: string;
  encryptionPublicKey?: string;
  encryptionPrivateKey?: string;
}

/** Makes a new identity in memory; `encryption` adds an RSA-2048 key pair (CCF's recovery members). */
export async function generateIdentity(name: string, options: { encryption?: boolean } = {}): Promise<GeneratedIdentity> {
  if (!NAME.test(name)) throw new Error(`identity name must be 1-64 of A-Z a-z 0-9 _ . -, got ${JSON.stringify(name)}`);
  const { privateKey: keyPem } = generateKeyPairSync("ec", { namedCurve: "P-384", privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  const certPem = await selfSignedCertificate(name, keyPem);
  const identity: GeneratedIdentity = { name, id: certId(certPem), certPem, keyPem };
  if (options.encryption === true) {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", {
      modulusLength: 2048,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    identity.encryption = { publicKeyPem: publicKey, privateKeyPem: privateKey };
  }
  return identity;
}

/** keygenerator.sh: makes an identity and writes its files into `dir` (private keys mode 0600). */
export async function keygen(name: string, options: { dir?: string; encryption?: boolean } = {}): Promise<GeneratedIdentity & { files: IdentityFiles }> {
  const dir = options.dir ?? ".";
  const identity = await generateIdentity(name, options.encryption === undefined ? {} : { encryption: options.encryption });
  mkdirSync(dir, { recursive: true });
  const files: IdentityFiles = { cert: join(dir, `${name}_cert.pem`), privateKey: join(dir, `${name}_privk.pem`) };
  writePrivateKeyFile(files.privateKey, identity.keyPem);
  writePublicFile(files.cert, identity.certPem);
  if (identity.encryption) {
    files.encryptionPrivateKey = join(dir, `${name}_enc_privk.pem`);
    files.encryptionPublicKey = join(dir, `${name}_enc_pubk.pem`);
    writePrivateKeyFile(files.encryptionPrivateKey, identity.encryption.privateKeyPem);
    writePublicFile(files.encryptionPublicKey, identity.encryption.publicKeyPem);
  }
  return { ...identity, files };
}

/** Reads an identity from its certificate and private key files. */
export function readIdentity(certFile: string, keyFile: string): Identity {
  return { certPem: readFileSync(certFile, "utf8"), keyPem: readFileSync(keyFile, "utf8") };
}

async function selfSignedCertificate(name: string, keyPem: string): Promise<string> {
  const key = createPrivateKey(keyPem);
  const pkcs8 = key.export({ type: "pkcs8", format: "der" });
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const signingKey = (await webcrypto.subtle.importKey("pkcs8", pkcs8, EC_P384, false, ["sign"])) as unknown as CryptoKey;
  const subjectKeyId = await x509.SubjectKeyIdentifierExtension.create(spki);
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000);
  const serial = randomBytes(16);
  // Positive DER INTEGER of full length: top bit clear, first byte non-zero.
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString("hex"),
    subject: `CN=${name}`,
    issuer: `CN=${name}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + CERT_VALIDITY_DAYS * DAY_MS),
    publicKey: spki,
    signingKey,
    signingAlgorithm: ECDSA_SHA384,
    // What openssl req -x509 adds by default (its v3_ca section).
    extensions: [subjectKeyId, new x509.AuthorityKeyIdentifierExtension(subjectKeyId.keyId), new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  const pem = cert.toString("pem");
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
