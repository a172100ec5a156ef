// The schema (what a record is, how attributes are compared) and the policy
// (k, mode, limits, how callers map to parties), as governance stored them in
// public tables; the defaults reproduce Microsoft's data-reconciliation sample.
// The constitution (governance/apps/reconciliation-actions.js) validates and
// normalises both, so the app reads them as given.
import * as ccfapp from "@microsoft/ccf-app";
import { ccf } from "@microsoft/ccf-app/global.js";

export type AttributeType = "string" | "number" | "decimal" | "date" | "enum";

export type MatchRule =
  | { rule: "exact" }
  | { rule: "normalised" }
  | { rule: "absolute"; tolerance: number }
  | { rule: "relative"; tolerance: number }
  | { rule: "days"; tolerance: number };

export interface Attribute {
  name: string;
  type: AttributeType;
  values?: string[];
  match: MatchRule;
  required: boolean;
}

export interface Schema {
  key: string;
  attributes: Attribute[];
}

/** Scheduled round closes: at `first_close`, then every `every_seconds` (host time, see rounds.ts). */
export interface RoundSchedule {
  first_close: string;
  every_seconds: number;
}

export interface Policy {
  k: number;
  mode: "continuous" | "rounds";
  round_schedule: RoundSchedule | null;
  batch_size: number;
  revision_limit: number | null;
  require_party_data: boolean;
  jwt_party_claim: string | null;
}

export const SCHEMA_TABLE = "public:recon.schema";
export const POLICY_TABLE = "public:recon.policy";
/** {closed}: rounds closed by `close_reconciliation_round` proposals. */
export const ROUND_TABLE = "public:recon.round";

export const DEFAULT_SCHEMA: Schema = {
  key: "lei",
  attributes: [{ name: "nace", type: "string", match: { rule: "exact" }, required: true }],
};

export const DEFAULT_POLICY: Policy = {
  k: 3,
  mode: "continuous",
  round_schedule: null,
  batch_size: 10_000,
  revision_limit: null,
  require_party_data: false,
  jwt_party_claim: null,
};

// Singleton tables keep their one value under a uint64 0 key, as CCF's own.
const SINGLETON = new ArrayBuffer(8);

export function readSingleton<T>(table: string): T | undefined {
  const raw = ccfapp.rawKv[table]!.get(SINGLETON);
  return raw === undefined ? undefined : (ccf.bufToJsonCompatible(raw) as T);
}

export interface Config {
  schema: Schema;
  policy: Policy;
  /**
   * Names the stored data's shape (key field, attribute names and storage
   * types). Data is kept per dataset, so a schema that changes the shape
   * starts afresh instead of misreading values stored under another type,
   * while match rules, enum values and the policy apply to stored data at once.
   */
  dataset: string;
}

export function readConfig(): Config {
  const schema = readSingleton<Schema>(SCHEMA_TABLE) ?? DEFAULT_SCHEMA;
  const policy = { ...DEFAULT_POLICY, ...readSingleton<Partial<Policy>>(POLICY_TABLE) };
  return { schema, policy, dataset: datasetOf(schema) };
}

function datasetOf(schema: Schema): string {
  const shape = [schema.key, ...schema.attributes.map((a) => `${a.name}:${storageType(a.type)}`)].join("\n");
  const digest = new Uint8Array(ccf.crypto.digest("SHA-256", ccf.strToBuf(shape)));
  let hex = "";
  for (let i = 0; i < 8; i++) hex += digest[i]!.toString(16).padStart(2, "0");
  return hex;
}

/** Enums are stored as strings (so their value list can change); the rest as themselves. */
function storageType(type: AttributeType): string {
  return type === "enum" ? "string" : type;
}
