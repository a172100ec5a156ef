// The COSE Sign1 policies (CCF src/endpoints/authentication/cose_auth.cpp, 6.x):
// the request body is a tagged COSE_Sign1 sent with `content-type:
// application/cose`; the protected header's kid (bstr) names the signer in
// users.certs / members.certs and the signature must verify with that cert.
//  - user_cose_sign1: optional `ccf.msg.type` (tstr) and `ccf.msg.created_at` (int);
//  - member_cose_sign1: governance headers, `ccf.gov.msg.created_at` (int >= 0)
//    required, `ccf.gov.msg.type` and `ccf.gov.msg.proposal_id` (tstr) optional.
//    Governance checks the type and the member's status on the caller.
// An envelope that cannot be parsed (not CBOR, wrong shape or header types)
// is refused like a bad signature, naming the parse failure: CCF's policies
// catch their COSE decode errors and answer 401 InvalidAuthenticationInfo.
import { coseAlgOfKey, CoseError, decodeCoseSign1, HeaderLabel, isEcdsaAlg, verifyCoseSign1, type CoseSign1 } from "../../crypto/cose.ts";
import { principalCaller, registeredCertPem, type PrincipalKind } from "./principals.ts";
import { refuse, type AuthContext, type Policy, type PolicyResult } from "./types.ts";

const CHALLENGE = 'COSE-SIGN1 realm="Signed request access"';
const COSE_CONTENT_TYPE = "application/cose";

export const GovHeader = {
  msgType: "ccf.gov.msg.type",
  createdAt: "ccf.gov.msg.created_at",
  proposalId: "ccf.gov.msg.proposal_id",
} as const;
export const UserHeader = { msgType: "ccf.msg.type", createdAt: "ccf.msg.created_at" } as const;

/** The protected header values CCF parses, as plain data: alg, kid, and the CCF message headers present. */
export type CoseProtectedHeader = { alg: number; kid: string } & Record<string, string | number>;

function decodeEnvelope(body: Buffer): CoseSign1 {
  let envelope: CoseSign1;
  try {
    envelope = decodeCoseSign1(body);
  } catch (error) {
    throw new CoseError(`Failed to decode COSE_Sign1: ${(error as Error).message}`);
  }
  if (!envelope.tagged) throw new CoseError("COSE_Sign1 is not tagged");
  return envelope;
}

/** A protected header of the expected CBOR type, absent as undefined; the wrong type cannot be decoded. */
function typedHeader<T>(headers: CoseSign1["protectedHeaders"], label: number | string, is: (value: unknown) => value is T): T | undefined {
  const value = headers.get(label);
  if (value === undefined) return undefined;
  if (!is(value)) throw new CoseError(`Failed to decode protected header: ${String(label)} has the wrong type`);
  return value;
}

const isInt = (value: unknown): value is number => Number.isSafeInteger(value);
const isText = (value: unknown): value is string => typeof value === "string";
const isBytes = (value: unknown): value is Buffer => Buffer.isBuffer(value);

interface ParsedHeader {
  kid: Buffer;
  header: CoseProtectedHeader;
}

function parseHeader(kind: PrincipalKind, headers: CoseSign1["protectedHeaders"]): ParsedHeader {
  const alg = typedHeader(headers, HeaderLabel.alg, isInt);
  const kid = typedHeader(headers, HeaderLabel.kid, isBytes);
  if (alg === undefined) throw new CoseError("Missing algorithm in protected header");
  if (kid === undefined) throw new CoseError("Missing kid in protected header");
  const header: CoseProtectedHeader = { alg, kid: kid.toString("utf8") };
  const names = kind === "member" ? GovHeader : UserHeader;
  const msgType = typedHeader(headers, names.msgType, isText);
  const createdAt = typedHeader(headers, names.createdAt, isInt);
  if (msgType !== undefined) header[names.msgType] = msgType;
  if (kind === "member") {
    if (createdAt === undefined) throw new CoseError("Missing created_at in protected header");
    if (createdAt < 0) throw new CoseError("Header parameter created_at must be positive");
    header[GovHeader.createdAt] = createdAt;
    const proposalId = typedHeader(headers, GovHeader.proposalId, isText);
    if (proposalId !== undefined) header[GovHeader.proposalId] = proposalId;
  } else if (createdAt !== undefined && createdAt > 0) {
    // CCF keeps a user's created_at only when positive.
    header[UserHeader.createdAt] = createdAt;
  }
  return { kid, header };
}

function coseSign1Policy(name: string, kind: PrincipalKind): Policy {
  return {
    name,
    authenticate({ request, read }: AuthContext): PolicyResult {
      const contentType = request.headers["content-type"];
      if (contentType === undefined) return refuse("Missing content-type header", CHALLENGE);
      if (contentType !== COSE_CONTENT_TYPE) return refuse(`Content type is not set to ${COSE_CONTENT_TYPE}`, CHALLENGE);

      let envelope: CoseSign1, parsed: ParsedHeader;
      try {
        envelope = decodeEnvelope(request.body);
        parsed = parseHeader(kind, envelope.protectedHeaders);
      } catch (error) {
        if (error instanceof CoseError) return refuse(error.message, CHALLENGE);
        throw error;
      }
      const { kid, header } = parsed;
      if (!isEcdsaAlg(header.alg)) return refuse(`Unsupported algorithm: ${header.alg}`, CHALLENGE);
      // The kid's bytes are the key, as CCF looks up the string it read from the bstr.
      const certPem = registeredCertPem(kind, kid, read);
      if (certPem === undefined) return refuse(`Signer is not a known ${kind}`, CHALLENGE);
      const keyAlg = coseAlgOfKey(certPem);
      if (keyAlg !== header.alg) return refuse(`Algorithm ${header.alg} does not match the signer's key (expected ${String(keyAlg)})`, CHALLENGE);
      if (!verifyCoseSign1(envelope, certPem)) return refuse("Failed to validate COSE Sign1", CHALLENGE);

      const caller = principalCaller(name, kind, header.kid, kid, certPem, read);
      caller["cose"] = { content: envelope.payload, protectedHeader: header };
      return { ok: true, caller };
    },
  };
}

export const userCoseSign1Policy = coseSign1Policy("user_cose_sign1", "user");
export const memberCoseSign1Policy = coseSign1Policy("member_cose_sign1", "member");
