// CCF's ccf.network.generateEndorsedCertificate: the service key issues a node
// certificate from the node's certificate signing request, when members trust
// the node (transition_node_to_trusted). The constitution's apply() is
// synchronous, and @peculiar/x509's generator is not (WebCrypto), so the
// certificate is assembled here from its ASN.1 parts and signed with node:crypto.
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign, verify, X509Certificate as NodeX509Certificate } from "node:crypto";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CertificationRequest } from "@peculiar/asn1-csr";
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  SubjectKeyIdentifier,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
} from "@peculiar/asn1-x509";

const ECDSA_WITH_SHA384 = "1.2.840.10045.4.3.3";
const ECDSA_HASHES = new Map([
  ["1.2.840.10045.4.3.2", "sha256"],
  [ECDSA_WITH_SHA384, "sha384"],
  ["1.2.840.10045.4.3.4", "sha512"],
]);
/** PKCS #9 extensionRequest: the extensions (here, subjectAltNames) a CSR asks for. */
const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const DAY_MS = 86_400_000;

export class CertificateRequestError extends Error {}

function derOf(pem: string, label: string): Buffer {
  const match = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`).exec(pem);
  if (!match) throw new CertificateRequestError(`expected a PEM ${label}`);
  return Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** 16 random bytes (as CCF uses), top bit cleared so the DER INTEGER stays positive. */
function serialNumber(): ArrayBuffer {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return new Uint8Array(bytes).buffer;
}

/** The SPKI PEM public key a CSR asks to be certified (unchecked: endorsement checks the request's signature). */
export function certificateRequestPublicKeyPem(csrPem: string): string {
  return createPublicKey({ key: requestPublicKeyDer(parseRequest(csrPem)), format: "der", type: "spki" }).export({ type: "spki", format: "pem" }).toString();
}

function parseRequest(csrPem: string): CertificationRequest {
  try {
    return AsnConvert.parse(derOf(csrPem, "CERTIFICATE REQUEST"), CertificationRequest);
  } catch (error) {
    if (error instanceof CertificateRequestError) throw error;
    throw new CertificateRequestError(`malformed certificate signing request: ${(error as Error).message}`);
  }
}

function requestPublicKeyDer(request: CertificationRequest): Buffer {
  return Buffer.from(AsnConvert.serialize(request.certificationRequestInfo.subjectPKInfo));
}

export interface EndorsementOptions {
  csrPem: string;
  serviceCertPem: string;
  servicePrivateKeyPem: string;
  /** notBefore; now when absent. */
  validFrom?: Date;
  validityDays: number;
}

/**
 * Issues the node certificate a CSR asks for, signed by the service key: subject and
 * subjectAltNames from the request, the request's key, ECDSA-SHA384. Refuses a request whose
 * signature does not verify with its own key (whoever asks must hold the key).
 */
export function endorseCertificateRequest(options: EndorsementOptions): string {
  const request = parseRequest(options.csrPem);
  const info = request.certificationRequestInfo;
  const publicKey = createPublicKey({ key: requestPublicKeyDer(request), format: "der", type: "spki" });
  const hash = ECDSA_HASHES.get(request.signatureAlgorithm.algorithm);
  if (hash === undefined) throw new CertificateRequestError(`the certificate signing request is signed with ${request.signatureAlgorithm.algorithm}, not ECDSA with SHA-256/384/512`);
  const signed = verify(hash, Buffer.from(AsnConvert.serialize(info)), { key: publicKey, dsaEncoding: "der" }, Buffer.from(request.signature));
  if (!signed) throw new CertificateRequestError("the certificate signing request's signature does not verify with its key");
  if (!(options.validityDays > 0)) throw new CertificateRequestError(`validity must be a positive number of days, got ${options.validityDays}`);

  const service = AsnConvert.parse(new NodeX509Certificate(options.serviceCertPem).raw, Certificate);
  const serviceKeyId = service.tbsCertificate.extensions
    ?.find((e) => e.extnID === id_ce_subjectKeyIdentifier)
    ?.extnValue.buffer;
  const keyBits = Buffer.from(info.subjectPKInfo.subjectPublicKey);
  const extensions = [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, false, new KeyUsage(KeyUsageFlags.digitalSignature)),
    extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(new Uint8Array(createHash("sha1").update(keyBits).digest()))),
  ];
  if (serviceKeyId !== undefined) {
    const keyId = AsnConvert.parse(serviceKeyId, SubjectKeyIdentifier);
    extensions.push(extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId.buffer) })));
  }
  // The subjectAltNames the request asks for (the node's addresses).
  for (const attribute of info.attributes) {
    if (attribute.type !== EXTENSION_REQUEST) continue;
    for (const value of attribute.values) {
      for (const requested of AsnConvert.parse(value, Extensions)) {
        if (requested.extnID === id_ce_subjectAltName) extensions.push(requested);
      }
    }
  }
  const from = options.validFrom ?? new Date();
  const notBefore = new Date(Math.floor(from.getTime() / 1000) * 1000);
  const notAfter = new Date(notBefore.getTime() + Math.round(options.validityDays * DAY_MS));
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_WITH_SHA384 });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(),
    signature: algorithm,
    issuer: service.tbsCertificate.subject,
    validity: new Validity({ notBefore, notAfter }),
    subject: AsnConvert.parse(AsnConvert.serialize(info.subject), Name),
    subjectPublicKeyInfo: info.subjectPKInfo,
    extensions: new Extensions(extensions),
  });
  const signature = sign("sha384", Buffer.from(AsnConvert.serialize(tbs)), { key: createPrivateKey(options.servicePrivateKeyPem), dsaEncoding: "der" });
  const der = Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm: algorithm, signatureValue: new Uint8Array(signature).buffer })));
  const body = der.toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}
