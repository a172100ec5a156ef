// Reconciliation app actions, appended to the default constitution (after
// actions.js, whose `actions`, `Action` and `singletonKey` it uses): the data
// schema and the policy live in public app tables that only governance
// writes, so every change to what is compared, and how, is a proposal the
// members vote on and the ledger records. Descriptions name the bad field
// (`schema.attributes[1].match.tolerance ...`) so a proposer can fix it.

const RECON_SCHEMA_TABLE = "public:recon.schema";
const RECON_POLICY_TABLE = "public:recon.policy";
// Rounds mode: {closed} = rounds closed by proposal (the app adds scheduled closes).
const RECON_ROUND_TABLE = "public:recon.round";

const RECON_FIELD_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const RECON_ATTRIBUTES_MAX = 64;
const RECON_ENUM_VALUES_MAX = 1000;
// 100,000 records of a few fields stay well under the node's body limit once
// the operator raises it; the default (10,000) fits CCF's default 1 MB.
const RECON_BATCH_SIZE_MAX = 100000;
const RECON_K_MAX = 1000;
const RECON_DAYS_MAX = 3650;
const RECON_ROUND_SECONDS_MAX = 366 * 86400;

// Which match rules make sense for each type, and what their tolerance is.
const RECON_RULES = {
  string: ["exact", "normalised"],
  enum: ["exact"],
  number: ["exact", "absolute", "relative"],
  decimal: ["exact", "absolute", "relative"],
  date: ["exact", "days"],
};

const RECON_POLICY_DEFAULTS = {
  k: 3,
  mode: "continuous",
  round_schedule: null,
  batch_size: 10000,
  revision_limit: null,
  require_party_data: false,
  jwt_party_claim: null,
};

function reconFail(message) {
  throw new Error(message);
}

function reconIsObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function reconOnlyKeys(value, allowed, where) {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) reconFail(`${where} has unknown field "${key}" (allowed: ${allowed.join(", ")})`);
  }
}

function reconCheckFieldName(name, where) {
  if (typeof name !== "string" || !RECON_FIELD_NAME.test(name)) {
    reconFail(`${where} must be a field name: a letter or _ then up to 63 letters, digits, _ . or -`);
  }
}

function reconCheckMatch(match, type, where) {
  if (match === undefined) return;
  if (!reconIsObject(match)) reconFail(`${where} must be an object {rule, tolerance?}`);
  reconOnlyKeys(match, ["rule", "tolerance"], where);
  const rules = RECON_RULES[type];
  if (!rules.includes(match.rule)) reconFail(`${where}.rule must be one of ${rules.join(", ")} for type ${type}`);
  const t = match.tolerance;
  if (match.rule === "exact" || match.rule === "normalised") {
    if (t !== undefined) reconFail(`${where}.tolerance is not allowed with rule ${match.rule}`);
  } else if (match.rule === "absolute") {
    if (typeof t !== "number" || !Number.isFinite(t) || t < 0) reconFail(`${where}.tolerance must be a non-negative number`);
  } else if (match.rule === "relative") {
    if (typeof t !== "number" || !(t >= 0 && t < 1)) reconFail(`${where}.tolerance must be a fraction in [0, 1), e.g. 0.001 for 0.1%`);
  } else if (!Number.isInteger(t) || t < 0 || t > RECON_DAYS_MAX) {
    reconFail(`${where}.tolerance must be a whole number of days from 0 to ${RECON_DAYS_MAX}`);
  }
}

function reconCheckAttribute(attribute, where) {
  if (!reconIsObject(attribute)) reconFail(`${where} must be an object {name, type, match?, values?, required?}`);
  reconOnlyKeys(attribute, ["name", "type", "match", "values", "required"], where);
  reconCheckFieldName(attribute.name, `${where}.name`);
  if (!Object.prototype.hasOwnProperty.call(RECON_RULES, attribute.type)) {
    reconFail(`${where}.type must be one of ${Object.keys(RECON_RULES).join(", ")}`);
  }
  if (attribute.type === "enum") {
    const values = attribute.values;
    if (!Array.isArray(values) || values.length === 0 || values.length > RECON_ENUM_VALUES_MAX) {
      reconFail(`${where}.values must list 1 to ${RECON_ENUM_VALUES_MAX} allowed values for an enum`);
    }
    values.forEach((v, i) => {
      if (typeof v !== "string" || v.length === 0) reconFail(`${where}.values[${i}] must be a non-empty string`);
    });
    if (new Set(values).size !== values.length) reconFail(`${where}.values has duplicates`);
  } else if (attribute.values !== undefined) {
    reconFail(`${where}.values is only allowed for type enum`);
  }
  if (attribute.required !== undefined && typeof attribute.required !== "boolean") {
    reconFail(`${where}.required must be a boolean`);
  }
  reconCheckMatch(attribute.match, attribute.type, `${where}.match`);
}

function reconCheckSchema(schema) {
  if (!reconIsObject(schema)) reconFail("schema must be an object {key, attributes}");
  reconOnlyKeys(schema, ["key", "attributes"], "schema");
  reconCheckFieldName(schema.key, "schema.key");
  const attributes = schema.attributes;
  if (!Array.isArray(attributes) || attributes.length === 0 || attributes.length > RECON_ATTRIBUTES_MAX) {
    reconFail(`schema.attributes must be an array of 1 to ${RECON_ATTRIBUTES_MAX} attributes`);
  }
  const names = new Set([schema.key]);
  attributes.forEach((attribute, i) => {
    reconCheckAttribute(attribute, `schema.attributes[${i}]`);
    if (names.has(attribute.name)) reconFail(`schema.attributes[${i}].name "${attribute.name}" is used twice (or is the key)`);
    names.add(attribute.name);
  });
}

// The stored form: every attribute with its match rule and `required` spelt out.
function reconNormaliseSchema(schema) {
  return {
    key: schema.key,
    attributes: schema.attributes.map((a) => ({
      name: a.name,
      type: a.type,
      ...(a.type === "enum" ? { values: a.values } : {}),
      match: a.match ?? { rule: "exact" },
      required: a.required ?? true,
    })),
  };
}

function reconCheckPolicy(policy) {
  if (!reconIsObject(policy)) reconFail("policy must be an object");
  reconOnlyKeys(policy, Object.keys(RECON_POLICY_DEFAULTS), "policy");
  const p = { ...RECON_POLICY_DEFAULTS, ...policy };
  if (!Number.isInteger(p.k) || p.k < 2 || p.k > RECON_K_MAX) reconFail(`policy.k must be an integer from 2 to ${RECON_K_MAX}`);
  if (p.mode !== "continuous" && p.mode !== "rounds") reconFail("policy.mode must be continuous or rounds");
  reconCheckSchedule(p.round_schedule, p.mode);
  if (!Number.isInteger(p.batch_size) || p.batch_size < 1 || p.batch_size > RECON_BATCH_SIZE_MAX) {
    reconFail(`policy.batch_size must be an integer from 1 to ${RECON_BATCH_SIZE_MAX}`);
  }
  if (p.revision_limit !== null && (!Number.isInteger(p.revision_limit) || p.revision_limit < 0)) {
    reconFail("policy.revision_limit must be null (no limit) or a non-negative integer");
  }
  if (typeof p.require_party_data !== "boolean") reconFail("policy.require_party_data must be a boolean");
  if (p.jwt_party_claim !== null && (typeof p.jwt_party_claim !== "string" || p.jwt_party_claim.length === 0)) {
    reconFail("policy.jwt_party_claim must be null or a claim name");
  }
  return p;
}

function reconCheckSchedule(schedule, mode) {
  if (schedule === null) return;
  if (mode !== "rounds") reconFail("policy.round_schedule needs policy.mode rounds");
  if (!reconIsObject(schedule)) reconFail("policy.round_schedule must be null or {first_close, every_seconds}");
  reconOnlyKeys(schedule, ["first_close", "every_seconds"], "policy.round_schedule");
  const first = schedule.first_close;
  if (typeof first !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(first) || !Number.isFinite(Date.parse(first))) {
    reconFail("policy.round_schedule.first_close must be a UTC time such as 2025-01-31T17:00:00Z");
  }
  const every = schedule.every_seconds;
  if (!Number.isInteger(every) || every < 1 || every > RECON_ROUND_SECONDS_MAX) {
    reconFail(`policy.round_schedule.every_seconds must be an integer from 1 to ${RECON_ROUND_SECONDS_MAX}`);
  }
}

function reconArgs(args, field) {
  if (!reconIsObject(args)) reconFail(`args must be an object {${field}}`);
  reconOnlyKeys(args, [field], "args");
  return args[field];
}

actions.set(
  "set_reconciliation_schema",
  new Action(
    (args) => reconCheckSchema(reconArgs(args, "schema")),
    (args) => {
      const schema = reconNormaliseSchema(args.schema);
      ccf.kv[RECON_SCHEMA_TABLE].set(singletonKey(), ccf.jsonCompatibleToBuf(schema));
    },
  ),
);

actions.set(
  "set_reconciliation_policy",
  new Action(
    (args) => reconCheckPolicy(reconArgs(args, "policy")),
    (args) => {
      const policy = reconCheckPolicy(args.policy);
      ccf.kv[RECON_POLICY_TABLE].set(singletonKey(), ccf.jsonCompatibleToBuf(policy));
    },
  ),
);

// Closes round `round` of rounds mode: its sealed submissions count in
// reports from this proposal on. `round` is the number of rounds closed by
// proposal so far (the app's reports show it as `round.by_proposal`), checked
// when the proposal is made. apply() may only write app tables, not read
// them, so it stores round + 1: two proposals to close the same round close
// it once.
function reconReadJson(table) {
  const raw = ccf.kv[table].get(singletonKey());
  return raw === undefined ? undefined : ccf.bufToJsonCompatible(raw);
}

actions.set(
  "close_reconciliation_round",
  new Action(
    (args) => {
      const round = reconArgs(args, "round");
      if (!Number.isInteger(round) || round < 0) reconFail("args.round must be a non-negative integer: the round to close");
      const policy = { ...RECON_POLICY_DEFAULTS, ...reconReadJson(RECON_POLICY_TABLE) };
      if (policy.mode !== "rounds") reconFail("close_reconciliation_round needs policy.mode rounds (set it by an earlier proposal)");
      const closed = reconReadJson(RECON_ROUND_TABLE)?.closed ?? 0;
      if (round !== closed) reconFail(`args.round must be ${closed}: the next round to close by proposal (${round} given)`);
    },
    (args) => {
      ccf.kv[RECON_ROUND_TABLE].set(singletonKey(), ccf.jsonCompatibleToBuf({ closed: args.round + 1 }));
    },
  ),
);
