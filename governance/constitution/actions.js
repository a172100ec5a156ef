// Default constitution, part 1 of 4: the actions a proposal may name.
// The constitution is actions.js + validate.js + resolve.js + apply.js
// concatenated into one ES module and run by the node inside QuickJS, so this
// file uses only the `ccf` global (no Node APIs) and exports nothing itself:
// validate.js and apply.js reach `actions` by name.

// Each action checks its args (throwing an Error that names the bad arg) and,
// once its proposal is accepted, applies them to the governance tables.
class Action {
  constructor(validate, apply) {
    this.validate = validate;
    this.apply = apply;
  }
}

// Singleton ("Value") tables keep their one entry under a uint64 0 key.
function singletonKey() {
  return new ArrayBuffer(8);
}

function getJson(table, key) {
  const raw = ccf.kv[table].get(key);
  return raw === undefined ? undefined : ccf.bufToJsonCompatible(raw);
}

function setJson(table, key, value) {
  ccf.kv[table].set(key, ccf.jsonCompatibleToBuf(value));
}

function getRequiredSingleton(table, what) {
  const value = getJson(table, singletonKey());
  if (value === undefined) {
    throw new Error(`${what} could not be found`);
  }
  return value;
}

// --- argument checks ---------------------------------------------------------

// `type` is a typeof name, "array" or "integer"; a trailing "?" allows null/undefined.
function checkType(value, type, field) {
  if (type.endsWith("?")) {
    if (value === null || value === undefined) {
      return;
    }
    type = type.slice(0, -1);
  }
  if (type === "array") {
    if (!Array.isArray(value)) {
      throw new Error(`${field} must be an array`);
    }
  } else if (type === "integer") {
    if (!Number.isInteger(value)) {
      throw new Error(`${field} must be an integer`);
    }
  } else if (typeof value !== type || value === null) {
    const actual = value === null ? "null" : typeof value;
    throw new Error(`${field} must be of type ${type} but is ${actual}`);
  }
}

function checkArgs(args) {
  checkType(args, "object", "args");
}

function checkEnum(value, allowed, field) {
  if (!allowed.includes(value)) {
    throw new Error(`${field} must be one of ${allowed.join(", ")}`);
  }
}

// Undefined passes, so optional numeric args can be bounded unconditionally.
function checkBounds(value, low, high, field) {
  if (low !== null && value < low) {
    throw new Error(`${field} must be at least ${low}`);
  }
  if (high !== null && value > high) {
    throw new Error(`${field} must be at most ${high}`);
  }
}

function checkNone(args) {
  if (args !== null && args !== undefined) {
    throw new Error(`Proposal does not accept any argument, found ${JSON.stringify(args)}`);
  }
}

// Member, user and node ids are hex SHA-256 digests: 64 hex characters.
function checkEntityId(value, field) {
  checkType(value, "string", field);
  if (value.length !== 64) {
    throw new Error(`${field} must contain exactly 64 characters`);
  }
  if (!/^[a-fA-F0-9]*$/.test(value)) {
    throw new Error(`${field} contains non-hexadecimal character`);
  }
}

function checkX509CertBundle(value, field) {
  checkType(value, "string", field);
  if (!ccf.crypto.isValidX509CertBundle(value)) {
    throw new Error(`${field} must be a valid X509 certificate (bundle) in PEM format`);
  }
}

function checkValidityPeriod(args) {
  checkType(args.valid_from, "string", "valid_from");
  checkType(args.validity_period_days, "integer?", "validity_period_days");
  checkBounds(args.validity_period_days, 1, null, "validity_period_days");
}

// A JWK carries its key as a certificate chain (x5c), RSA n/e or EC x/y/crv.
function checkJwks(value, field) {
  checkType(value, "object", field);
  checkType(value.keys, "array", `${field}.keys`);
  value.keys.forEach((jwk, i) => {
    const at = `${field}.keys[${i}]`;
    checkType(jwk, "object", at);
    checkType(jwk.kid, "string", `${at}.kid`);
    checkType(jwk.kty, "string", `${at}.kty`);
    if (jwk.x5c) {
      checkType(jwk.x5c, "array", `${at}.x5c`);
      if (jwk.x5c.length < 1) {
        throw new Error(`${at}.x5c must be an array of minimum 1 elements`);
      }
      jwk.x5c.forEach((b64der, j) => {
        checkType(b64der, "string", `${at}.x5c[${j}]`);
        const pem = `-----BEGIN CERTIFICATE-----\n${b64der}\n-----END CERTIFICATE-----`;
        checkX509CertBundle(pem, `${at}.x5c[${j}]`);
      });
    } else if (jwk.n && jwk.e) {
      checkType(jwk.n, "string", `${at}.n`);
      checkType(jwk.e, "string", `${at}.e`);
    } else if (jwk.x && jwk.y) {
      checkType(jwk.x, "string", `${at}.x`);
      checkType(jwk.y, "string", `${at}.y`);
      checkType(jwk.crv, "string", `${at}.crv`);
    } else {
      throw new Error(`${at} must contain either x5c, or n/e for RSA key type, or x/y/crv for EC key type`);
    }
  });
}

// Scheme, query and fragment of a URL, split as in RFC 3986 appendix B
// (QuickJS has no URL class).
function parseUrl(url) {
  const groups = url.match(/^(([^:/?#]+):)?(\/\/([^/?#]*))?([^?#]*)(\?([^#]*))?(#(.*))?/);
  return { scheme: groups[2], query: groups[7], fragment: groups[9] };
}

function checkAutoRefreshIssuer(args) {
  if (!args.ca_cert_bundle_name) {
    throw new Error("ca_cert_bundle_name is missing but required if auto_refresh is true");
  }
  const url = parseUrl(args.issuer);
  if (url.scheme !== "https") {
    throw new Error("issuer must be a URL starting with https:// if auto_refresh is true");
  }
  if (url.query || url.fragment) {
    throw new Error("issuer must be a URL without query/fragment if auto_refresh is true");
  }
}

function checkEndpoint(info, at, moduleNames) {
  checkType(info, "object", at);
  checkType(info.js_module, "string", `${at}.js_module`);
  checkType(info.js_function, "string", `${at}.js_function`);
  checkEnum(info.mode, ["readwrite", "readonly", "historical"], `${at}.mode`);
  checkEnum(info.forwarding_required, ["sometimes", "always", "never"], `${at}.forwarding_required`);
  if (info.redirection_strategy !== undefined) {
    checkEnum(info.redirection_strategy, ["none", "to_primary", "to_backup"], `${at}.redirection_strategy`);
  }
  checkType(info.openapi, "object?", `${at}.openapi`);
  checkType(info.openapi_hidden, "boolean?", `${at}.openapi_hidden`);
  checkType(info.interpreter_reuse, "object?", `${at}.interpreter_reuse`);
  if (info.interpreter_reuse !== undefined && info.interpreter_reuse !== null) {
    checkType(info.interpreter_reuse.key, "string", `${at}.interpreter_reuse.key`);
  }
  checkType(info.authn_policies, "array", `${at}.authn_policies`);
  info.authn_policies.forEach((policy, i) => {
    // An unknown policy name is only reported when the endpoint is called, as in CCF.
    if (typeof policy === "string") {
      return;
    }
    if (typeof policy !== "object" || policy === null) {
      throw new Error(`${at}.authn_policies[${i}] must be of type string or object but is ${policy === null ? "null" : typeof policy}`);
    }
    checkType(policy.all_of, "array", `${at}.authn_policies[${i}].all_of`);
    policy.all_of.forEach((sub, j) => checkType(sub, "string", `${at}.authn_policies[${i}].all_of[${j}]`));
  });
  if (!moduleNames.includes(info.js_module)) {
    throw new Error(`module '${info.js_module}' not found in bundle`);
  }
}

function checkBundle(bundle) {
  checkType(bundle, "object", "bundle");
  checkType(bundle.modules, "array", "bundle.modules");
  bundle.modules.forEach((module, i) => {
    checkType(module, "object", `bundle.modules[${i}]`);
    checkType(module.name, "string", `bundle.modules[${i}].name`);
    checkType(module.module, "string", `bundle.modules[${i}].module`);
  });
  const moduleNames = bundle.modules.map((m) => m.name);
  checkType(bundle.metadata, "object", "bundle.metadata");
  checkType(bundle.metadata.endpoints, "object", "bundle.metadata.endpoints");
  for (const [url, methods] of Object.entries(bundle.metadata.endpoints)) {
    const at = `bundle.metadata.endpoints["${url}"]`;
    checkType(methods, "object", at);
    for (const [method, info] of Object.entries(methods)) {
      checkEndpoint(info, `${at}["${method}"]`, moduleNames);
    }
  }
}

// --- shared effects ----------------------------------------------------------

// Used by actions that change what other open proposals would mean (a new
// constitution): their votes were cast under other rules, so they are dropped.
function invalidateOtherOpenProposals(proposalIdToRetain) {
  const proposalsInfo = ccf.kv["public:ccf.gov.proposals_info"];
  proposalsInfo.forEach((value, key) => {
    if (ccf.bufToStr(key) === proposalIdToRetain) {
      return;
    }
    const info = ccf.bufToJsonCompatible(value);
    if (info.state === "Open") {
      info.state = "Dropped";
      proposalsInfo.set(key, ccf.jsonCompatibleToBuf(info));
    }
  });
}

function getActiveRecoveryMembersCount() {
  let count = 0;
  ccf.kv["public:ccf.gov.members.encryption_public_keys"].forEach((_, memberId) => {
    const info = getJson("public:ccf.gov.members.info", memberId);
    if (info === undefined) {
      throw new Error(`Recovery member ${ccf.bufToStr(memberId)} has no information`);
    }
    if (info.status === "Active") {
      count++;
    }
  });
  return count;
}

function checkRecoveryThreshold(config, next) {
  const to = next.recovery_threshold;
  if (to === undefined || to === config.recovery_threshold) {
    return;
  }
  const service = getRequiredSingleton("public:ccf.gov.service.info", "Service information");
  if (service.status === "WaitingForRecoveryShares") {
    throw new Error(`Cannot set recovery threshold if service is ${service.status}`);
  }
  // Before the service opens, recovery members may still be added.
  if (service.status === "Open") {
    const recoveryMembers = getActiveRecoveryMembersCount();
    if (to > recoveryMembers) {
      throw new Error(
        `Cannot set recovery threshold to ${to}: recovery threshold would be greater than the number of recovery members ${recoveryMembers}`,
      );
    }
  }
}

// Only a one-way upgrade to two-transaction reconfiguration is allowed.
function checkReconfigurationType(config, next) {
  const from = config.reconfiguration_type;
  const to = next.reconfiguration_type;
  if (to === undefined || to === from) {
    return;
  }
  if (!((from === undefined || from === "OneTransaction") && to === "TwoTransaction")) {
    throw new Error(`Cannot change reconfiguration type from ${from} to ${to}.`);
  }
}

function updateServiceConfig(next) {
  const table = "public:ccf.gov.service.config";
  const config = getRequiredSingleton(table, "Service configuration");
  checkReconfigurationType(config, next);
  checkRecoveryThreshold(config, next);

  if (next.reconfiguration_type !== undefined) {
    config.reconfiguration_type = next.reconfiguration_type;
  }
  const thresholdChanged = next.recovery_threshold !== undefined && next.recovery_threshold !== config.recovery_threshold;
  if (thresholdChanged) {
    config.recovery_threshold = next.recovery_threshold;
  }
  if (next.recent_cose_proposals_window_size !== undefined) {
    config.recent_cose_proposals_window_size = next.recent_cose_proposals_window_size;
  }
  setJson(table, singletonKey(), config);
  // Shares issued under the old threshold no longer match it.
  if (thresholdChanged) {
    ccf.node.triggerRecoverySharesRefresh();
  }
}

function maxNodeCertValidityDays() {
  const config = getRequiredSingleton("public:ccf.gov.service.config", "Service configuration");
  return config.maximum_node_certificate_validity_days ?? 365;
}

// Records a node certificate endorsed by the service key, from the node's CSR.
function endorseNodeCertificate(nodeId, nodeInfo, validFrom, validityPeriodDays) {
  if (nodeInfo.certificate_signing_request === undefined) {
    throw new Error(`Node ${nodeId} has no certificate signing request`);
  }
  const maxDays = maxNodeCertValidityDays();
  if (validityPeriodDays !== undefined && validityPeriodDays > maxDays) {
    throw new Error(`Validity period ${validityPeriodDays} (days) is not allowed: service max allowed is ${maxDays} (days)`);
  }
  const cert = ccf.network.generateEndorsedCertificate(
    nodeInfo.certificate_signing_request,
    validFrom,
    validityPeriodDays ?? maxDays,
  );
  ccf.kv["public:ccf.gov.nodes.endorsed_certificates"].set(ccf.strToBuf(nodeId), ccf.strToBuf(cert));
}

function getNode(nodeId) {
  const info = getJson("public:ccf.gov.nodes.info", ccf.strToBuf(nodeId));
  if (info === undefined) {
    throw new Error(`No such node: ${nodeId}`);
  }
  return info;
}

function clearJsApp() {
  ccf.kv["public:ccf.gov.modules"].clear();
  ccf.kv["public:ccf.gov.modules_quickjs_bytecode"].clear();
  ccf.kv["public:ccf.gov.modules_quickjs_version"].clear();
  ccf.kv["public:ccf.gov.interpreter.flush"].clear();
  ccf.kv["public:ccf.gov.endpoints"].clear();
}

function setJsApp(args) {
  const modules = ccf.kv["public:ccf.gov.modules"];
  const endpoints = ccf.kv["public:ccf.gov.endpoints"];
  modules.clear();
  endpoints.clear();

  for (const module of args.bundle.modules) {
    modules.set(ccf.strToBuf("/" + module.name), ccf.strToBuf(module.module));
  }

  // The bytecode cache is compiled from the modules just written.
  if (args.disable_bytecode_cache) {
    ccf.kv["public:ccf.gov.modules_quickjs_bytecode"].clear();
    ccf.kv["public:ccf.gov.modules_quickjs_version"].clear();
  } else {
    ccf.refreshAppBytecodeCache();
  }

  // Tells every node to drop interpreters that hold the previous app.
  setJson("public:ccf.gov.interpreter.flush", singletonKey(), true);

  for (const [url, methods] of Object.entries(args.bundle.metadata.endpoints)) {
    for (const [method, info] of Object.entries(methods)) {
      // Endpoints name modules by their KV key, which has the leading "/".
      const stored = Object.assign({}, info, { js_module: "/" + info.js_module });
      setJson("public:ccf.gov.endpoints", ccf.strToBuf(`${method.toUpperCase()} ${url}`), stored);
    }
  }
}

// --- members -----------------------------------------------------------------

function setMember(args) {
  const memberId = ccf.strToBuf(ccf.pemToId(args.cert));
  ccf.kv["public:ccf.gov.members.certs"].set(memberId, ccf.strToBuf(args.cert));

  const encryptionKeys = ccf.kv["public:ccf.gov.members.encryption_public_keys"];
  if (args.encryption_pub_key === null || args.encryption_pub_key === undefined) {
    encryptionKeys.delete(memberId);
  } else {
    encryptionKeys.set(memberId, ccf.strToBuf(args.encryption_pub_key));
  }

  // Field order as CCF writes it, so the ledger bytes match.
  setJson("public:ccf.gov.members.info", memberId, {
    member_data: args.member_data,
    recovery_role: args.recovery_role,
    status: "Accepted",
  });

  // The member becomes Active by acking the state digest: the Merkle root
  // of the last signature (all zeros before the first one, as CCF's genesis).
  const signature = getJson("public:ccf.internal.signatures", singletonKey());
  const stateDigest = signature === undefined ? "0".repeat(64) : signature.root;
  setJson("public:ccf.gov.members.acks", memberId, { state_digest: stateDigest });
}

function removeMember(args) {
  const memberId = ccf.strToBuf(args.member_id);
  const info = getJson("public:ccf.gov.members.info", memberId);
  if (info === undefined) {
    return; // already gone: removal is idempotent
  }

  // An active recovery member leaving must not take the service below the
  // number of shares recovery needs.
  const isActiveRecoveryMember =
    info.status === "Active" && ccf.kv["public:ccf.gov.members.encryption_public_keys"].has(memberId);
  if (isActiveRecoveryMember) {
    const config = getRequiredSingleton("public:ccf.gov.service.config", "Service configuration");
    const remaining = getActiveRecoveryMembersCount() - 1;
    if (remaining < config.recovery_threshold) {
      throw new Error(
        `Number of active recovery members (${remaining}) would be less than recovery threshold (${config.recovery_threshold})`,
      );
    }
  }

  for (const table of ["members.info", "members.encryption_public_keys", "members.certs", "members.acks", "history"]) {
    ccf.kv["public:ccf.gov." + table].delete(memberId);
  }

  // The removed member's share still opens the current ledger secret: rekey.
  if (isActiveRecoveryMember) {
    ccf.node.triggerLedgerRekey();
  }
}

function setMemberData(args) {
  const memberId = ccf.strToBuf(args.member_id);
  const info = getJson("public:ccf.gov.members.info", memberId);
  if (info === undefined) {
    throw new Error(`Member ${args.member_id} does not exist`);
  }
  info.member_data = args.member_data;
  setJson("public:ccf.gov.members.info", memberId, info);
}

// --- users -------------------------------------------------------------------

// users.info exists only for users with data.
function setUserInfo(userId, userData) {
  if (userData === null || userData === undefined) {
    ccf.kv["public:ccf.gov.users.info"].delete(userId);
  } else {
    setJson("public:ccf.gov.users.info", userId, { user_data: userData });
  }
}

function setUser(args) {
  const userId = ccf.strToBuf(ccf.pemToId(args.cert));
  ccf.kv["public:ccf.gov.users.certs"].set(userId, ccf.strToBuf(args.cert));
  setUserInfo(userId, args.user_data);
}

// --- nodes -------------------------------------------------------------------

function transitionNodeToTrusted(args) {
  const nodeInfo = getNode(args.node_id);
  if (nodeInfo.status !== "Pending") {
    return; // already trusted or retired: nothing to do
  }
  nodeInfo.status = "Trusted";
  nodeInfo.ledger_secret_seqno = ccf.network.getLatestLedgerSecretSeqno();
  setJson("public:ccf.gov.nodes.info", ccf.strToBuf(args.node_id), nodeInfo);
  // Nodes from before CCF 2.x have no CSR and keep their self-signed certificate.
  if (nodeInfo.certificate_signing_request !== undefined) {
    endorseNodeCertificate(args.node_id, nodeInfo, args.valid_from, args.validity_period_days);
  }
}

function removeNode(args) {
  const nodeId = ccf.strToBuf(args.node_id);
  const nodeInfo = getJson("public:ccf.gov.nodes.info", nodeId);
  if (nodeInfo === undefined) {
    return;
  }
  // A node that never joined leaves no trace; others stay on record, retired.
  if (nodeInfo.status === "Pending") {
    ccf.kv["public:ccf.gov.nodes.info"].delete(nodeId);
  } else {
    nodeInfo.status = "Retired";
    setJson("public:ccf.gov.nodes.info", nodeId, nodeInfo);
  }
}

// --- service -----------------------------------------------------------------

function transitionServiceToOpen(args) {
  const service = getRequiredSingleton("public:ccf.gov.service.info", "Service information");
  if (service.status === "Recovering" && args.previous_service_identity === undefined) {
    throw new Error("Opening a recovering network requires both, the previous and the next service identity");
  }
  const previous =
    args.previous_service_identity === undefined ? undefined : ccf.strToBuf(args.previous_service_identity);
  ccf.node.transitionServiceToOpen(previous, ccf.strToBuf(args.next_service_identity));
}

// --- JWT ---------------------------------------------------------------------

function setJwtIssuer(args) {
  if (args.auto_refresh && !ccf.kv["public:ccf.gov.tls.ca_cert_bundles"].has(ccf.strToBuf(args.ca_cert_bundle_name))) {
    throw new Error(`No CA cert bundle found with name '${args.ca_cert_bundle_name}'`);
  }
  // The issuer's metadata is its args without the keys themselves.
  const metadata = Object.assign({}, args);
  delete metadata.jwks;
  if (args.jwks) {
    ccf.setJwtPublicSigningKeys(args.issuer, metadata, args.jwks);
  }
  setJson("public:ccf.gov.jwt.issuers", ccf.strToBuf(args.issuer), metadata);
}

function setJwtPublicSigningKeys(args) {
  const metadata = getJson("public:ccf.gov.jwt.issuers", ccf.strToBuf(args.issuer));
  if (metadata === undefined) {
    throw new Error(`issuer ${args.issuer} not found`);
  }
  ccf.setJwtPublicSigningKeys(args.issuer, metadata, args.jwks);
}

function removeJwtIssuer(args) {
  const issuer = ccf.strToBuf(args.issuer);
  if (!ccf.kv["public:ccf.gov.jwt.issuers"].has(issuer)) {
    return;
  }
  ccf.kv["public:ccf.gov.jwt.issuers"].delete(issuer);
  ccf.removeJwtPublicSigningKeys(args.issuer);
}

// --- the table of actions ------------------------------------------------------

// Actions whose validate ignores args entirely take any args, as in CCF.
const ignoreArgs = () => {};

const actions = new Map([
  [
    "set_constitution",
    new Action(
      (args) => {
        checkArgs(args);
        checkType(args.constitution, "string", "constitution");
      },
      (args, proposalId) => {
        // Stored as a JSON string, as CCF does.
        setJson("public:ccf.gov.constitution", singletonKey(), args.constitution);
        invalidateOtherOpenProposals(proposalId);
      },
    ),
  ],
  [
    "set_member",
    new Action((args) => {
      checkArgs(args);
      checkX509CertBundle(args.cert, "cert");
      checkType(args.encryption_pub_key, "string?", "encryption_pub_key");
      checkType(args.member_data, "object?", "member_data");
      if (args.recovery_role !== undefined) {
        checkEnum(args.recovery_role, ["NonParticipant", "Participant", "Owner"], "recovery_role");
      }
      const hasKey = args.encryption_pub_key !== null && args.encryption_pub_key !== undefined;
      if (!hasKey && args.recovery_role !== null && args.recovery_role !== undefined) {
        throw new Error("Cannot specify a recovery_role value when encryption_pub_key is not specified");
      }
    }, setMember),
  ],
  [
    "remove_member",
    new Action((args) => {
      checkArgs(args);
      checkEntityId(args.member_id, "member_id");
    }, removeMember),
  ],
  [
    "set_member_data",
    new Action((args) => {
      checkArgs(args);
      checkEntityId(args.member_id, "member_id");
      checkType(args.member_data, "object", "member_data");
    }, setMemberData),
  ],
  [
    "set_user",
    new Action((args) => {
      checkArgs(args);
      checkX509CertBundle(args.cert, "cert");
      checkType(args.user_data, "object?", "user_data");
    }, setUser),
  ],
  [
    "remove_user",
    new Action(
      (args) => {
        checkArgs(args);
        checkEntityId(args.user_id, "user_id");
      },
      (args) => {
        const userId = ccf.strToBuf(args.user_id);
        ccf.kv["public:ccf.gov.users.certs"].delete(userId);
        ccf.kv["public:ccf.gov.users.info"].delete(userId);
      },
    ),
  ],
  [
    "set_user_data",
    new Action(
      (args) => {
        checkArgs(args);
        checkEntityId(args.user_id, "user_id");
        checkType(args.user_data, "object?", "user_data");
      },
      (args) => setUserInfo(ccf.strToBuf(args.user_id), args.user_data),
    ),
  ],
  [
    "set_recovery_threshold",
    new Action(
      (args) => {
        checkArgs(args);
        checkType(args.recovery_threshold, "integer", "recovery_threshold");
        checkBounds(args.recovery_threshold, 1, 254, "recovery_threshold");
      },
      (args) => updateServiceConfig({ recovery_threshold: args.recovery_threshold }),
    ),
  ],
  [
    "set_service_configuration",
    new Action((args) => {
      checkArgs(args);
      const settable = ["reconfiguration_type", "recovery_threshold", "recent_cose_proposals_window_size"];
      for (const key of Object.keys(args)) {
        if (!settable.includes(key)) {
          throw new Error(`Cannot change ${key} via set_service_configuration.`);
        }
      }
      checkType(args.reconfiguration_type, "string?", "reconfiguration_type");
      checkType(args.recovery_threshold, "integer?", "recovery_threshold");
      checkBounds(args.recovery_threshold, 1, 254, "recovery_threshold");
      checkType(args.recent_cose_proposals_window_size, "integer?", "recent_cose_proposals_window_size");
      checkBounds(args.recent_cose_proposals_window_size, 1, 10000, "recent_cose_proposals_window_size");
    }, updateServiceConfig),
  ],
  ["trigger_recovery_shares_refresh", new Action(checkNone, () => ccf.node.triggerRecoverySharesRefresh())],
  ["trigger_ledger_rekey", new Action(checkNone, () => ccf.node.triggerLedgerRekey())],
  [
    "transition_service_to_open",
    new Action((args) => {
      checkArgs(args);
      checkX509CertBundle(args.next_service_identity, "next_service_identity");
      if (args.previous_service_identity !== undefined) {
        checkX509CertBundle(args.previous_service_identity, "previous_service_identity");
      }
    }, transitionServiceToOpen),
  ],
  [
    "set_js_app",
    new Action((args) => {
      checkArgs(args);
      checkBundle(args.bundle);
      checkType(args.disable_bytecode_cache, "boolean?", "disable_bytecode_cache");
    }, setJsApp),
  ],
  ["remove_js_app", new Action(ignoreArgs, clearJsApp)],
  ["refresh_js_app_bytecode_cache", new Action(ignoreArgs, () => ccf.refreshAppBytecodeCache())],
  [
    "set_js_runtime_options",
    new Action(
      (args) => {
        checkArgs(args);
        checkType(args.max_heap_bytes, "integer", "max_heap_bytes");
        checkType(args.max_stack_bytes, "integer", "max_stack_bytes");
        checkType(args.max_execution_time_ms, "integer", "max_execution_time_ms");
        checkType(args.log_exception_details, "boolean?", "log_exception_details");
        checkType(args.return_exception_details, "boolean?", "return_exception_details");
        checkType(args.max_cached_interpreters, "integer?", "max_cached_interpreters");
        // A count of interpreters (CCF reads it as size_t).
        checkBounds(args.max_cached_interpreters, 0, null, "max_cached_interpreters");
      },
      // Stored as given: the node reads the snake_case fields it knows.
      (args) => setJson("public:ccf.gov.js_runtime_options", singletonKey(), args),
    ),
  ],
  [
    "set_ca_cert_bundle",
    new Action(
      (args) => {
        checkArgs(args);
        checkType(args.name, "string", "name");
        checkX509CertBundle(args.cert_bundle, "cert_bundle");
      },
      // The PEM is stored JSON-encoded (a JSON string), as CCF does.
      (args) => setJson("public:ccf.gov.tls.ca_cert_bundles", ccf.strToBuf(args.name), args.cert_bundle),
    ),
  ],
  [
    "remove_ca_cert_bundle",
    new Action(
      (args) => {
        checkArgs(args);
        checkType(args.name, "string", "name");
      },
      (args) => ccf.kv["public:ccf.gov.tls.ca_cert_bundles"].delete(ccf.strToBuf(args.name)),
    ),
  ],
  [
    "set_jwt_issuer",
    new Action((args) => {
      checkArgs(args);
      checkType(args.issuer, "string", "issuer");
      checkType(args.auto_refresh, "boolean?", "auto_refresh");
      checkType(args.ca_cert_bundle_name, "string?", "ca_cert_bundle_name");
      checkType(args.jwks, "object?", "jwks");
      if (args.jwks) {
        checkJwks(args.jwks, "jwks");
      }
      if (args.auto_refresh) {
        checkAutoRefreshIssuer(args);
      }
    }, setJwtIssuer),
  ],
  [
    "set_jwt_public_signing_keys",
    new Action((args) => {
      checkArgs(args);
      checkType(args.issuer, "string", "issuer");
      checkJwks(args.jwks, "jwks");
    }, setJwtPublicSigningKeys),
  ],
  [
    "remove_jwt_issuer",
    new Action((args) => {
      checkArgs(args);
      checkType(args.issuer, "string", "issuer");
    }, removeJwtIssuer),
  ],
  [
    "set_node_data",
    new Action(
      (args) => {
        checkArgs(args);
        checkEntityId(args.node_id, "node_id");
      },
      (args) => {
        const nodeInfo = getNode(args.node_id);
        nodeInfo.node_data = args.node_data;
        setJson("public:ccf.gov.nodes.info", ccf.strToBuf(args.node_id), nodeInfo);
      },
    ),
  ],
  [
    "transition_node_to_trusted",
    new Action((args) => {
      checkArgs(args);
      checkEntityId(args.node_id, "node_id");
      checkValidityPeriod(args);
    }, transitionNodeToTrusted),
  ],
  [
    "remove_node",
    new Action((args) => {
      checkArgs(args);
      checkEntityId(args.node_id, "node_id");
    }, removeNode),
  ],
  [
    "set_node_certificate_validity",
    new Action(
      (args) => {
        checkArgs(args);
        checkEntityId(args.node_id, "node_id");
        checkValidityPeriod(args);
      },
      (args) => {
        const nodeInfo = getNode(args.node_id);
        if (nodeInfo.status !== "Trusted") {
          throw new Error(`Node ${args.node_id} is not trusted`);
        }
        endorseNodeCertificate(args.node_id, nodeInfo, args.valid_from, args.validity_period_days);
      },
    ),
  ],
  [
    "set_all_nodes_certificate_validity",
    new Action(
      (args) => {
        checkArgs(args);
        checkValidityPeriod(args);
      },
      (args) => {
        ccf.kv["public:ccf.gov.nodes.info"].forEach((value, key) => {
          const nodeInfo = ccf.bufToJsonCompatible(value);
          if (nodeInfo.status === "Trusted") {
            endorseNodeCertificate(ccf.bufToStr(key), nodeInfo, args.valid_from, args.validity_period_days);
          }
        });
      },
    ),
  ],
  ["trigger_ledger_chunk", new Action(ignoreArgs, () => ccf.node.triggerLedgerChunk())],
  ["trigger_snapshot", new Action(ignoreArgs, () => ccf.node.triggerSnapshot())],
  [
    "assert_service_identity",
    new Action(
      (args) => {
        checkArgs(args);
        checkX509CertBundle(args.service_identity, "service_identity");
        const service = getRequiredSingleton("public:ccf.gov.service.info", "Service information");
        if (service.cert !== args.service_identity) {
          throw new Error("Service identity certificate mismatch");
        }
      },
      // Only a check, made at validation: accepting it changes nothing.
      () => {},
    ),
  ],
]);
