// ccf_cose_sign1, as the python `ccf` package ships it (python/src/ccf/cose.py
// sign_cli): signs a governance message into a COSE Sign1 envelope and writes
// the envelope's bytes to stdout, for `| curl --data-binary @-`. Same flags,
// same protected headers: alg from the key's curve, kid = hex SHA-256 of the
// signing certificate's DER, ccf.gov.msg.type, ccf.gov.msg.created_at (the ISO
// 8601 time given, as integer seconds) and ccf.gov.msg.proposal_id.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { certId, signCoseSign1 } from "@confide/node";

export const GOV_MSG_TYPES = ["proposal", "ack", "state_digest", "recovery_share", "encrypted_recovery_share", "ballot", "withdrawal"] as const;
const NEED_PROPOSAL_ID = new Set(["ballot", "withdrawal"]);

const USAGE = `usage: ccf_cose_sign1 --content CONTENT --signing-cert SIGNING_CERT --signing-key SIGNING_KEY
                      --ccf-gov-msg-type {${GOV_MSG_TYPES.join(",")}}
                      --ccf-gov-msg-created_at CREATED_AT [--ccf-gov-msg-proposal_id PROPOSAL_ID]

Create and sign a COSE Sign1 message for CCF governance; the binary envelope goes to stdout:
  ccf_cose_sign1 --content ... | curl https://... -H 'Content-Type: application/cose' --data-binary @-

  --content          path to the content file, or '-' for stdin
  --signing-cert     the signer's certificate (PEM)
  --signing-key      the signer's private key (PEM)
  --ccf-gov-msg-type           ccf.gov.msg.type protected header
  --ccf-gov-msg-created_at     ccf.gov.msg.created_at, an ISO 8601 time such as $(date -Is)
  --ccf-gov-msg-proposal_id    ccf.gov.msg.proposal_id (required for ballot and withdrawal)`;

class UsageError extends Error {}

// Python's datetime.fromisoformat: a date, or a date and time with an optional fraction and offset.
const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** Seconds since the epoch of an ISO 8601 time; without an offset it is local time, as in Python. */
export function createdAtSeconds(text: string): number {
  const match = ISO_TIME.exec(text);
  if (match === null) throw new UsageError(`Invalid isoformat string: '${text}'`);
  const [, date, time, offset] = match;
  const normalised = `${date}T${time ?? "00:00:00"}${offset === undefined ? "" : offset === "Z" ? "Z" : offset.length === 3 ? `${offset}:00` : offset}`.replace(",", ".");
  const ms = Date.parse(normalised);
  if (!Number.isFinite(ms)) throw new UsageError(`Invalid isoformat string: '${text}'`);
  return Math.floor(ms / 1000);
}

function readInput(path: string, what: string): Buffer {
  try {
    return path === "-" ? readFileSync(0) : readFileSync(path);
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/** The envelope ccf_cose_sign1 would write for these arguments. */
export function coseSign1FromArgs(argv: string[]): Buffer {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      content: { type: "string" },
      "signing-cert": { type: "string" },
      "signing-key": { type: "string" },
      "ccf-gov-msg-type": { type: "string" },
      "ccf-gov-msg-proposal-id": { type: "string" },
      "ccf-gov-msg-proposal_id": { type: "string" },
      "ccf-gov-msg-created-at": { type: "string" },
      "ccf-gov-msg-created_at": { type: "string" },
    },
  });
  const required = (value: string | undefined, flag: string): string => {
    if (value === undefined) throw new UsageError(`the following arguments are required: ${flag}`);
    return value;
  };
  const content = required(values.content, "--content");
  const certFile = required(values["signing-cert"], "--signing-cert");
  const keyFile = required(values["signing-key"], "--signing-key");
  const type = required(values["ccf-gov-msg-type"], "--ccf-gov-msg-type");
  if (!(GOV_MSG_TYPES as readonly string[]).includes(type)) {
    throw new UsageError(`argument --ccf-gov-msg-type: invalid choice: '${type}' (choose from ${GOV_MSG_TYPES.map((t) => `'${t}'`).join(", ")})`);
  }
  const createdAt = createdAtSeconds(required(values["ccf-gov-msg-created_at"] ?? values["ccf-gov-msg-created-at"], "--ccf-gov-msg-created-at/--ccf-gov-msg-created_at"));
  const proposalId = values["ccf-gov-msg-proposal_id"] ?? values["ccf-gov-msg-proposal-id"];
  if (NEED_PROPOSAL_ID.has(type) && proposalId === undefined) throw new UsageError(`Message type ${type} requires a proposal id`);
  const certPem = readInput(certFile, "signing certificate").toString("utf8");
  const keyPem = readInput(keyFile, "signing key").toString("utf8");
  const payload = readInput(content, "content");
  const headers: Record<string, unknown> = { "ccf.gov.msg.type": type };
  // As the python tool: an empty proposal id is left out.
  if (proposalId) headers["ccf.gov.msg.proposal_id"] = proposalId;
  headers["ccf.gov.msg.created_at"] = createdAt;
  return signCoseSign1({ privateKeyPem: keyPem, kid: certId(certPem), headers, payload });
}

/** The command: 0 on success, 2 for bad arguments, 1 when signing fails. */
export async function coseSign1Main(argv: string[]): Promise<number> {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let envelope: Buffer;
  try {
    envelope = coseSign1FromArgs(argv);
  } catch (error) {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") === true;
    process.stderr.write(usage ? `${USAGE}\nccf_cose_sign1: error: ${(error as Error).message}\n` : `ccf_cose_sign1: ${(error as Error).message}\n`);
    return usage ? 2 : 1;
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(envelope, (error) => (error ? reject(error) : resolve())));
  return 0;
}
