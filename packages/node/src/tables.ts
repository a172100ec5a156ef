// Names of the CCF tables (KV maps) the node itself reads and writes, and how
// their keys are encoded, as CCF's builtin_maps define them.

/** Key of single-value tables ("Value" maps such as service.info): a uint64 0, 8 zero bytes. */
export const SENTINEL_KEY: Buffer = Buffer.alloc(8);

export const Tables = {
  membersCerts: "public:ccf.gov.members.certs",
  membersInfo: "public:ccf.gov.members.info",
  membersEncryptionKeys: "public:ccf.gov.members.encryption_public_keys",
  /** Member id → {state_digest, cose_sign1?}: the digest the member is to acknowledge, and its signed ack. */
  membersAcks: "public:ccf.gov.members.acks",
  usersCerts: "public:ccf.gov.users.certs",
  usersInfo: "public:ccf.gov.users.info",
  nodesInfo: "public:ccf.gov.nodes.info",
  nodesEndorsedCerts: "public:ccf.gov.nodes.endorsed_certificates",
  serviceInfo: "public:ccf.gov.service.info",
  serviceConfig: "public:ccf.gov.service.config",
  modules: "public:ccf.gov.modules",
  /** Module name → QuickJS bytecode of that module, compiled when the app was deployed. */
  modulesQuickjsBytecode: "public:ccf.gov.modules_quickjs_bytecode",
  /** Sentinel → the engine build that compiled the bytecode (bytecode loads only into that build). */
  modulesQuickjsVersion: "public:ccf.gov.modules_quickjs_version",
  endpoints: "public:ccf.gov.endpoints",
  interpreterFlush: "public:ccf.gov.interpreter.flush",
  jsRuntimeOptions: "public:ccf.gov.js_runtime_options",
  jwtIssuers: "public:ccf.gov.jwt.issuers",
  /** CCF 6.x: kid → [{public_key: base64 SPKI DER, issuer, constraint?}]. */
  jwtPublicSigningKeys: "public:ccf.gov.jwt.public_signing_keys_metadata_v2",
  constitution: "public:ccf.gov.constitution",
  /** The previous service identity's certificate (PEM), written when a recovered service starts. */
  previousServiceIdentity: "public:ccf.gov.service.previous_service_identity",
  /** Sentinel → node id → [a rekey's new ledger secret sealed to that node's encryption key] (CCF's LedgerSecretsForNodes; recovery/rekey.ts). */
  encryptedLedgerSecrets: "public:ccf.internal.encrypted_ledger_secrets",
  /** Sentinel → the recovery shares and the wrapped ledger secrets (recovery/shares.ts). */
  recoveryShares: "public:ccf.internal.recovery_shares",
  /** Member id → its submitted share, sealed with the recovering service's ledger secret. */
  encryptedSubmittedShares: "public:ccf.internal.encrypted_submitted_shares",
  /** Sentinel → every earlier service identity of this ledger (PEMs, oldest first): their nodes signed its older entries. */
  previousServiceIdentities: "public:ccf.internal.previous_service_identities",
  /** Sentinel → for each earlier identity (same order), its endorsement by the identity after it (history/service-endorsements.ts). */
  previousServiceIdentityEndorsements: "public:ccf.internal.previous_service_identity_endorsements",
} as const;

/** Keys of id-keyed tables (members, users, nodes, issuers) are the id string's UTF-8 bytes. */
export function idKey(id: string): Buffer {
  return Buffer.from(id, "utf8");
}
