// The TLS client-certificate policies (CCF src/endpoints/authentication/cert_auth.cpp):
//  - user_cert:   id = hex SHA-256 of the client cert DER, registered in users.certs;
//  - member_cert: the same against members.certs. Any member status passes (CCF
//                 checks Active only in the governance COSE policies), and since
//                 6.x the certificate's validity period is not checked;
//  - any_cert:    any certificate presented, within its validity period.
import { X509Certificate } from "node:crypto";
import { sha256, toHex } from "../../crypto/hash.ts";
import { idKey } from "../../tables.ts";
import { principalCaller, registeredCertPem, type PrincipalKind } from "./principals.ts";
import { refuse, type AuthContext, type Policy, type PolicyResult } from "./types.ts";

// A connection's certificate DER is read once (server.ts), so the same Buffer comes with every
// request on it: its id and validity period are worked out once per connection, not per request.
const certIds = new WeakMap<Buffer, string>();
const validityPeriods = new WeakMap<Buffer, { notBefore: number; notAfter: number }>();

/** The caller id: hex SHA-256 of the certificate DER. */
function certId(der: Buffer): string {
  let id = certIds.get(der);
  if (id === undefined) certIds.set(der, (id = toHex(sha256(der))));
  return id;
}

function validityPeriod(der: Buffer): { notBefore: number; notAfter: number } {
  let period = validityPeriods.get(der);
  if (period === undefined) {
    const cert = new X509Certificate(der);
    period = { notBefore: Date.parse(cert.validFrom) / 1000, notAfter: Date.parse(cert.validTo) / 1000 };
    // An unreadable date would make both comparisons false and let the certificate through.
    if (!Number.isFinite(period.notBefore) || !Number.isFinite(period.notAfter)) throw new Error("unreadable certificate validity period");
    validityPeriods.set(der, period);
  }
  return period;
}

/** CCF's reason when `der` is outside its validity period at `nowSeconds`, else undefined. */
function validityFailure(der: Buffer, nowSeconds: number): string | undefined {
  const { notBefore, notAfter } = validityPeriod(der);
  const now = Math.floor(nowSeconds);
  if (now < notBefore) return `Current time ${now} is before certificate's Not Before validity period ${notBefore}`;
  if (now > notAfter) return `Current time ${now} is after certificate's Not After validity period ${notAfter}`;
  return undefined;
}

function registeredCertPolicy(name: string, kind: PrincipalKind, checkValidity: boolean): Policy {
  return {
    name,
    authenticate({ request, read, nowSeconds }: AuthContext): PolicyResult {
      const der = request.clientCertDer;
      if (der === undefined || der.length === 0) return refuse(`No caller ${kind} certificate`);
      if (checkValidity) {
        const failure = validityFailure(der, nowSeconds);
        if (failure !== undefined) return refuse(failure);
      }
      const id = certId(der);
      const key = idKey(id);
      const certPem = registeredCertPem(kind, key, read);
      if (certPem === undefined) return refuse(`Could not find matching ${kind} certificate`);
      return { ok: true, caller: principalCaller(name, kind, id, key, certPem, read) };
    },
  };
}

export const userCertPolicy = registeredCertPolicy("user_cert", "user", true);
export const memberCertPolicy = registeredCertPolicy("member_cert", "member", false);

export const anyCertPolicy: Policy = {
  name: "any_cert",
  authenticate({ request, nowSeconds }: AuthContext): PolicyResult {
    const der = request.clientCertDer;
    if (der === undefined || der.length === 0) return refuse("No caller certificate");
    const failure = validityFailure(der, nowSeconds);
    if (failure !== undefined) return refuse(failure);
    // CCF hands the session's DER to JS as PEM (cert_der_to_pem).
    return { ok: true, caller: { policy: "any_cert", cert: new X509Certificate(der).toString() } };
  },
};
