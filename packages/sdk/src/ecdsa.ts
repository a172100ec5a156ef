// ECDSA verification through WebCrypto, for the curves CCF uses, plus the
// one operation WebCrypto lacks: verifying a signature over a digest that is
// already hashed when its preimage is unknown (@noble/curves, pure JS).
import { p256, p384, p521 } from "@noble/curves/nist.js";
import { equalBytes, exact } from "./bytes.ts";
import { derToRawSignature, parseCertificate, type CertificateParts } from "./der.ts";

interface Curve {
  name: "P-256" | "P-384" | "P-521";
  scalarBytes: number;
  noble: typeof p384 | typeof p256 | typeof p521;
}

// Curve OIDs (content bytes, hex): prime256v1, secp384r1, secp521r1.
const CURVES: ReadonlyMap<string, Curve> = new Map([
  ["2a8648ce3d030107", { name: "P-256", scalarBytes: 32, noble: p256 }],
  ["2b81040022", { name: "P-384", scalarBytes: 48, noble: p384 }],
  ["2b81040023", { name: "P-521", scalarBytes: 66, noble: p521 }],
]);

// ecdsa-with-SHA256/384/512 (RFC 5758).
const HASH_OF_SIGNATURE_OID: ReadonlyMap<string, string> = new Map([
  ["2a8648ce3d040302", "SHA-256"],
  ["2a8648ce3d040303", "SHA-384"],
  ["2a8648ce3d040304", "SHA-512"],
]);

export function curveOf(cert: CertificateParts): Curve {
  const curve = cert.curveOid === undefined ? undefined : CURVES.get(cert.curveOid);
  if (curve === undefined) throw new Error("certificate key is not on P-256, P-384 or P-521");
  return curve;
}

function importKey(cert: CertificateParts): Promise<CryptoKey> {
  return crypto.subtle.importKey("spki", exact(cert.spki), { name: "ECDSA", namedCurve: curveOf(cert).name }, false, ["verify"]);
}

/** Whether `derSignature` signs `data` (hashed with `hash`) under the certificate's key. False for malformed input. */
export async function verifyEcdsa(cert: CertificateParts, hash: string, data: Uint8Array, derSignature: Uint8Array): Promise<boolean> {
  try {
    const raw = derToRawSignature(derSignature, curveOf(cert).scalarBytes);
    return await crypto.subtle.verify({ name: "ECDSA", hash }, await importKey(cert), exact(raw), exact(data));
  } catch {
    return false;
  }
}

/** Whether `derSignature` signs the 32-byte `digest`, taken as already hashed (CCF's Merkle root signatures). */
export function verifyPrehashed(cert: CertificateParts, digest: Uint8Array, derSignature: Uint8Array): boolean {
  try {
    const curve = curveOf(cert);
    return curve.noble.verify(derSignature, digest, cert.publicKey, { prehash: false, lowS: false, format: "der" });
  } catch {
    return false;
  }
}

/** Whether `certDer` was issued by `issuerDer`: names chain, and the issuer's key signs the certificate. */
export async function isIssuedBy(certDer: Uint8Array, issuerDer: Uint8Array): Promise<boolean> {
  try {
    const cert = parseCertificate(certDer);
    const issuer = parseCertificate(issuerDer);
    const hash = HASH_OF_SIGNATURE_OID.get(cert.signatureAlgorithmOid);
    if (hash === undefined || !equalBytes(cert.issuer, issuer.subject)) return false;
    return await verifyEcdsa(issuer, hash, cert.tbs, cert.signature);
  } catch {
    return false;
  }
}
