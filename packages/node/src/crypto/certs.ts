// X.509 identities as CCF issues them:
//  - service identity: P-384 key, self-signed certificate, subject CN "CCF Service",
//    ECDSA-SHA384, basicConstraints CA:TRUE (critical), keyUsage for certificate signing;
//  - node certificate: subject CN "CCF Node", the node's own P-384 public key,
//    issued (signed) by the service key, subjectAltNames for the node's addresses
//    (default IP 127.0.0.1 and DNS localhost).
import { X509Certificate as NodeX509Certificate, createPrivateKey, randomBytes, webcrypto } from "node:crypto";
// @peculiar/x509 (through tsyringe) needs the Reflect metadata API loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { generateP384KeyPair, spkiDerOf } from "./keys.ts";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export const SERVICE_SUBJECT = "CN=CCF Service";
export const NODE_SUBJECT = "CN=CCF Node";
export const DEFAULT_VALIDITY_DAYS = 365;
/** Default validFrom is this far in the past, to tolerate small clock skew between machines. */
export const DEFAULT_BACKDATE_MS = 60_000;

const DAY_MS = 24 * 60 * 60 * 1000;
const EC_P384 = { name: "ECDSA", namedCurve: "P-384" } as const;
const ECDSA_SHA384 = { name: "ECDSA", hash: "SHA-384" } as const;

export interface SubjectAltName {
  type: "ip" | "dns";
  value: string;
}

export const DEFAULT_NODE_SANS: readonly SubjectAltName[] = [
  { type: "ip", value: "127.0.0.1" },
  { type: "dns", value: "localhost" },
];

export interface ValidityOptions {
  validFrom?: Date;
  validityDays?: number;
}

export interface ServiceIdentity {
  privateKeyPem: string;
  certPem: string;
}

export interface NodeCertificateOptions extends ValidityOptions {
  nodePublicKeyPem: string;
  servicePrivateKeyPem: string;
  serviceCertPem: string;
  subjectAltNames?: SubjectAltName[];
}

function validity(opts: ValidityOptions | undefined): { notBefore: Date; notAfter: Date } {
  const days = opts?.validityDays ?? DEFAULT_VALIDITY_DAYS;
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validityDays must be positive, got ${days}`);
  const from = opts?.validFrom ?? new Date(Date.now() - DEFAULT_BACKDATE_MS);
  if (Number.isNaN(from.getTime())) throw new Error("validFrom is not a valid date");
  // X.509 times have one-second resolution.
  const notBefore = new Date(Math.floor(from.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + Math.round(days * DAY_MS));
  return { notBefore, notAfter };
}

/** 16 random bytes (as CCF uses), top bit cleared so the DER INTEGER stays positive. */
function randomSerialHex(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  if (bytes[0] === 0) bytes[0] = 0x01; // keep the full length (no leading zero byte)
  return bytes.toString("hex");
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

function assertP384(keyPem: string, what: string): void {
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "secp384r1") {
    throw new Error(`${what} must be an EC P-384 (secp384r1) key`);
  }
}

async function importP384SigningKey(privateKeyPem: string): Promise<CryptoKey> {
  assertP384(privateKeyPem, "signing key");
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "der" });
  return asX509Key(await webcrypto.subtle.importKey("pkcs8", toArrayBuffer(pkcs8), EC_P384, false, ["sign"]));
}

/**
 * node:crypto's webcrypto.CryptoKey and the DOM CryptoKey @peculiar/x509's types name are the same
 * object at run time (x509 is handed node's webcrypto as its provider above) but two TypeScript
 * types: the one place that says so.
 */
function asX509Key(key: webcrypto.CryptoKey): CryptoKey {
  return key as unknown as CryptoKey;
}

/** Creates a new service identity: a P-384 key and its self-signed CA certificate. */
export async function createServiceIdentity(opts?: ValidityOptions): Promise<ServiceIdentity> {
  const { privateKeyPem } = generateP384KeyPair();
  const signingKey = await importP384SigningKey(privateKeyPem);
  const spki = toArrayBuffer(spkiDerOf(privateKeyPem));
  const { notBefore, notAfter } = validity(opts);
  const ski = await x509.SubjectKeyIdentifierExtension.create(spki);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: SERVICE_SUBJECT,
    issuer: SERVICE_SUBJECT,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey,
    signingAlgorithm: ECDSA_SHA384,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      ski,
      new x509.AuthorityKeyIdentifierExtension(ski.keyId),
    ],
  });
  return { privateKeyPem, certPem: withTrailingNewline(cert.toString("pem")) };
}

/** Creates the node certificate (CN "CCF Node") for a node public key, issued by the service identity. */
export async function createNodeCertificate(opts: NodeCertificateOptions): Promise<string> {
  const serviceCert = new x509.X509Certificate(opts.serviceCertPem);
  const signingKey = await importP384SigningKey(opts.servicePrivateKeyPem);
  if (!new NodeX509Certificate(opts.serviceCertPem).checkPrivateKey(createPrivateKey(opts.servicePrivateKeyPem))) {
    throw new Error("service private key does not match the service certificate");
  }
  const nodeSpki = toArrayBuffer(spkiDerOf(opts.nodePublicKeyPem));
  const sans = opts.subjectAltNames ?? DEFAULT_NODE_SANS;
  const { notBefore, notAfter } = validity(opts);

  const serviceSki = serviceCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const authorityKeyId = serviceSki
    ? new x509.AuthorityKeyIdentifierExtension(serviceSki.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(serviceCert.publicKey);

  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, false),
    await x509.SubjectKeyIdentifierExtension.create(nodeSpki),
    authorityKeyId,
  ];
  if (sans.length > 0) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        sans.map((san) => ({ type: san.type, value: san.value })),
        false,
      ),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: NODE_SUBJECT,
    // The issuer is the service certificate's subject, byte for byte.
    issuer: serviceCert.subjectName,
    notBefore,
    notAfter,
    publicKey: nodeSpki,
    signingKey,
    signingAlgorithm: ECDSA_SHA384,
    extensions,
  });
  return withTrailingNewline(cert.toString("pem"));
}

/**
 * A recovered service's endorsement of its previous identity: a CA certificate for the previous
 * service key, with that identity's subject, key identifier and validity, issued by the current
 * service key. Placed between a node certificate the previous identity issued and the current
 * service certificate, it chains receipts signed before the recovery to the recovered service
 * (CCF's service_endorsements).
 */
export async function createServiceEndorsement(opts: { previousServiceCertPem: string; servicePrivateKeyPem: string; serviceCertPem: string }): Promise<string> {
  const previous = new x509.X509Certificate(opts.previousServiceCertPem);
  const current = new x509.X509Certificate(opts.serviceCertPem);
  const signingKey = await importP384SigningKey(opts.servicePrivateKeyPem);
  if (!new NodeX509Certificate(opts.serviceCertPem).checkPrivateKey(createPrivateKey(opts.servicePrivateKeyPem))) {
    throw new Error("service private key does not match the service certificate");
  }
  const previousSki = previous.getExtension(x509.SubjectKeyIdentifierExtension);
  const currentSki = current.getExtension(x509.SubjectKeyIdentifierExtension);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: previous.subjectName,
    issuer: current.subjectName,
    notBefore: previous.notBefore,
    notAfter: previous.notAfter,
    publicKey: previous.publicKey,
    signingKey,
    signingAlgorithm: ECDSA_SHA384,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      previousSki ?? (await x509.SubjectKeyIdentifierExtension.create(previous.publicKey)),
      currentSki ? new x509.AuthorityKeyIdentifierExtension(currentSki.keyId) : await x509.AuthorityKeyIdentifierExtension.create(current.publicKey),
    ],
  });
  return withTrailingNewline(cert.toString("pem"));
}

/**
 * A node's self-signed certificate for its own key: what a joining node presents as TLS client
 * certificate before the service endorses it (its node id is its key's, whoever signed the cert).
 */
export async function createSelfSignedNodeCertificate(nodePrivateKeyPem: string, opts?: ValidityOptions): Promise<string> {
  const signingKey = await importP384SigningKey(nodePrivateKeyPem);
  const spki = toArrayBuffer(spkiDerOf(nodePrivateKeyPem));
  const { notBefore, notAfter } = validity(opts);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: NODE_SUBJECT,
    issuer: NODE_SUBJECT,
    notBefore,
    notAfter,
    publicKey: spki,
    signingKey,
    signingAlgorithm: ECDSA_SHA384,
    extensions: [new x509.BasicConstraintsExtension(false, undefined, true)],
  });
  return withTrailingNewline(cert.toString("pem"));
}

/**
 * A node's certificate signing request (CN "CCF Node", its addresses as subjectAltNames), signed
 * with its own key: what a joining node sends, and what the service endorses once members trust it.
 */
export async function createNodeCertificateRequest(opts: { nodePrivateKeyPem: string; subjectAltNames?: SubjectAltName[] }): Promise<string> {
  const privateKey = await importP384SigningKey(opts.nodePrivateKeyPem);
  const publicKey = await webcrypto.subtle.importKey("spki", toArrayBuffer(spkiDerOf(opts.nodePrivateKeyPem)), EC_P384, true, ["verify"]);
  const sans = opts.subjectAltNames ?? DEFAULT_NODE_SANS;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: NODE_SUBJECT,
    keys: { privateKey, publicKey: asX509Key(publicKey) },
    signingAlgorithm: ECDSA_SHA384,
    extensions: sans.length > 0 ? [new x509.SubjectAlternativeNameExtension(sans.map((san) => ({ type: san.type, value: san.value })), false)] : [],
  });
  return withTrailingNewline(csr.toString("pem"));
}

/**
 * Whether `certPem` was issued by the certificate `issuerCertPem`: the issuer's
 * subject matches the certificate's issuer (and key identifiers agree) and the
 * certificate's signature verifies with the issuer's public key. Never throws.
 */
export function isCertIssuedBy(certPem: string, issuerCertPem: string): boolean {
  try {
    const cert = new NodeX509Certificate(certPem);
    const issuer = new NodeX509Certificate(issuerCertPem);
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** The SPKI PEM public key of a PEM certificate. */
export function certPublicKeyPem(certPem: string): string {
  return new NodeX509Certificate(certPem).publicKey.export({ type: "spki", format: "pem" }).toString();
}

function withTrailingNewline(pem: string): string {
  const normalized = pem.replace(/\r\n/g, "\n");
  return normalized.endsWith("\n") ? normalized : `${normalized}\n`;
}
