// The node's JSON configuration, shaped like CCF's cchost config
// (doc/host_config_schema/cchost_config.json) wherever CCF has the same
// setting, with CCF's size ("5MB") and time ("1s", "100ms") strings.
// parseConfig checks the JSON and resolves paths without touching the disk;
// readConfigFiles then reads the files it names (certificates, data, the app).
// docs/configuration.md describes every field.
import { X509Certificate, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseHostPort, type HostPort } from "./address.ts";
import type { SubjectAltName } from "./crypto/certs.ts";
import type { InitialMember, InitialUser } from "./genesis.ts";
import {
  HTTP_MAX_BODY_BYTES,
  HTTP_MAX_HEADER_BYTES,
  JOIN_RETRY_MS,
  LEDGER_CHUNK_BYTES,
  SIGNATURE_INTERVAL_MS,
  SIGNATURE_INTERVAL_TX,
  SNAPSHOT_INTERVAL_TX,
} from "./limits.ts";
import type { LogLevel } from "./logger.ts";
import type { ServingNodeOptions } from "./node.ts";
import { BundleError, readBundle, type Bundle } from "./runtime/bundle.ts";

/** A configuration the node cannot start with; `field` is its dotted path ("ledger.chunk_size"). */
export class ConfigError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(field === "" ? `config: ${detail}` : `config field ${field}: ${detail}`);
    this.name = "ConfigError";
  }
}

export interface IdentityFiles {
  certificateFile: string;
  dataJsonFile?: string;
}

export interface MemberFiles extends IdentityFiles {
  encryptionPublicKeyFile?: string;
}

/** Files the config names, as absolute paths, read by readConfigFiles. */
export interface ConfigFiles {
  members: MemberFiles[];
  users: IdentityFiles[];
  serviceDataJsonFile?: string;
  /** CCF's constitution_files: concatenated in order into the new service's constitution. */
  constitutionFiles?: string[];
  /** A bundle JSON file or an app directory (app.json + src/). */
  jsAppBundle?: string;
}

export interface ParsedConfig {
  /** Everything but the contents of `files`. */
  node: ServingNodeOptions;
  files: ConfigFiles;
  logLevel: LogLevel;
  /** command.type "Join": where to join, and the service certificate file to trust it by. */
  join?: { targetRpcAddress: string; retryMs: number; fetchRecentSnapshot: boolean; serviceCertificateFile: string };
}

export interface NodeConfig {
  node: ServingNodeOptions;
  logLevel: LogLevel;
}

/** CCF's logging.host_level values (any case) and the level of our log each one shows from. */
const HOST_LEVELS = new Map<string, LogLevel>([["trace", "debug"], ["debug", "debug"], ["info", "info"], ["fail", "warn"], ["fatal", "error"]]);

export function loadConfig(file: string): NodeConfig {
  return readConfigFiles(parseConfigFile(file));
}

/** Reads and checks a config file without reading the files it names (so a caller can override fields first). */
export function parseConfigFile(file: string): ParsedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError("", `cannot read ${file}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError("", `${file} is not valid JSON: ${(error as Error).message}`);
  }
  return parseConfig(json, dirname(resolve(file)));
}

/** Checks a config and fills in defaults; relative paths resolve against `baseDir` (the config file's directory). */
export function parseConfig(json: unknown, baseDir: string): ParsedConfig {
  const root = object(json, "", ["network", "node_certificate", "workspace", "ledger", "snapshots", "ledger_signatures", "consensus", "command", "service_data_json_file", "users", "js_app_bundle", "logging"]);
  const path = (value: string) => resolve(baseDir, value);
  const node: ServingNodeOptions = { dir: path(optionalString(root, "", "workspace") ?? ".") };

  const { nodeToNodeAddress, ...rpc } = parseNetwork(root.network);
  Object.assign(node, rpc);
  const join = parseJoin(root.command, path);
  if (join !== undefined && nodeToNodeAddress === undefined) throw new ConfigError("network.node_to_node_interface", 'is required to join a service (command.type "Join")');
  if (nodeToNodeAddress !== undefined) node.network = { nodeToNodeAddress, consensus: parseConsensus(root.consensus) };
  else if (root.consensus !== undefined) throw new ConfigError("consensus", "needs network.node_to_node_interface (a node alone has no consensus)");
  if ((root.command as { type?: unknown } | undefined)?.type === "Recover") {
    // CCF's disaster recovery: the ledger (ledger.directory) is of a lost service; see docs/recovery.md.
    if ((root.command as { start?: unknown }).start !== undefined) throw new ConfigError("command.start", 'goes with command.type "Start"');
    if (root.js_app_bundle !== undefined) throw new ConfigError("js_app_bundle", "a recovered service serves the app its ledger holds: remove js_app_bundle");
    object((root.command as { recover?: unknown }).recover ?? {}, "command.recover", []);
    node.recover = true;
  }
  const subjectAltNames = parseSubjectAltNames(root.node_certificate);
  if (subjectAltNames !== undefined) node.subjectAltNames = subjectAltNames;

  const ledger = optionalObject(root, "", "ledger", ["directory", "chunk_size"]);
  const ledgerDir = optionalString(ledger, "ledger", "directory");
  if (ledgerDir !== undefined) node.ledgerDir = path(ledgerDir);
  node.chunkBytes = optionalSize(ledger, "ledger", "chunk_size") ?? LEDGER_CHUNK_BYTES;

  const snapshots = optionalObject(root, "", "snapshots", ["directory", "tx_count"]);
  const snapshotsDir = optionalString(snapshots, "snapshots", "directory");
  if (snapshotsDir !== undefined) node.snapshotsDir = path(snapshotsDir);
  node.snapshotIntervalTx = optionalPositiveInteger(snapshots, "snapshots", "tx_count") ?? SNAPSHOT_INTERVAL_TX;

  const signatures = optionalObject(root, "", "ledger_signatures", ["tx_count", "delay"]);
  node.signatureIntervalTx = optionalPositiveInteger(signatures, "ledger_signatures", "tx_count") ?? SIGNATURE_INTERVAL_TX;
  node.signatureIntervalMs = optionalDuration(signatures, "ledger_signatures", "delay") ?? SIGNATURE_INTERVAL_MS;

  const files: ConfigFiles = { members: parseMembers(root.command, path), users: parseUsers(root.users, path) };
  const constitutionFiles = parseConstitutionFiles(root.command, path);
  if (constitutionFiles !== undefined) files.constitutionFiles = constitutionFiles;
  const serviceData = optionalString(root, "", "service_data_json_file", true);
  if (serviceData !== undefined) files.serviceDataJsonFile = path(serviceData);
  const bundle = optionalString(root, "", "js_app_bundle");
  if (bundle !== undefined) files.jsAppBundle = path(bundle);

  const logging = optionalObject(root, "", "logging", ["host_level"]);
  const hostLevel = optionalString(logging, "logging", "host_level");
  const logLevel = hostLevel === undefined ? "info" : HOST_LEVELS.get(hostLevel.toLowerCase());
  if (logLevel === undefined) throw new ConfigError("logging.host_level", `expected one of Trace, Debug, Info, Fail, Fatal, got ${JSON.stringify(hostLevel)}`);
  return { node, files, logLevel, ...(join ? { join } : {}) };
}

/** Reads the certificates, data and app the config names; a file that is missing or malformed is a ConfigError naming its field. */
export function readConfigFiles(config: ParsedConfig): NodeConfig {
  const { files } = config;
  const node: ServingNodeOptions = {
    ...config.node,
    members: files.members.map((member, i) => {
      const field = `command.start.members[${i}]`;
      const initial: InitialMember = readIdentity(member, field);
      if (member.encryptionPublicKeyFile !== undefined) {
        initial.encryptionPublicKeyPem = readPublicKey(member.encryptionPublicKeyFile, `${field}.encryption_public_key_file`);
      }
      return initial;
    }),
    users: files.users.map((user, i): InitialUser => readIdentity(user, `users[${i}]`)),
  };
  if (files.serviceDataJsonFile !== undefined) node.serviceData = readJson(files.serviceDataJsonFile, "service_data_json_file");
  if (files.constitutionFiles !== undefined) {
    node.constitution = files.constitutionFiles.map((file, i) => readText(file, `command.start.constitution_files[${i}]`)).join("\n");
  }
  if (files.jsAppBundle !== undefined) node.appBundle = loadAppBundle(files.jsAppBundle);
  if (config.join !== undefined && node.network !== undefined) {
    const { serviceCertificateFile, ...target } = config.join;
    node.network = { ...node.network, join: { ...target, serviceCertPem: readCertificate(serviceCertificateFile, "command.service_certificate_file") } };
  }
  return { node, logLevel: config.logLevel };
}

/** The app config's js_app_bundle names (a bundle JSON file or an app directory); any fault is a ConfigError of that field. */
export function loadAppBundle(path: string): Bundle {
  try {
    return readBundle(path);
  } catch (error) {
    if (error instanceof BundleError) throw new ConfigError("js_app_bundle", error.message);
    throw error;
  }
}

type NetworkSection = Pick<ServingNodeOptions, "host" | "port" | "maxBodyBytes" | "maxHeaderBytes" | "http2"> & { nodeToNodeAddress?: string };

function parseNetwork(value: unknown): NetworkSection {
  // Without a network section the node listens where startNode puts it by default.
  if (value === undefined) return { maxBodyBytes: HTTP_MAX_BODY_BYTES, maxHeaderBytes: HTTP_MAX_HEADER_BYTES };
  const network = object(value, "network", ["rpc_interfaces", "node_to_node_interface"]);
  const n2n = optionalObject(network, "network", "node_to_node_interface", ["bind_address", "published_address"]);
  const n2nBind = optionalString(n2n, "network.node_to_node_interface", "bind_address");
  if (network.node_to_node_interface !== undefined && n2nBind === undefined) throw new ConfigError("network.node_to_node_interface.bind_address", "is required");
  const n2nPublished = optionalString(n2n, "network.node_to_node_interface", "published_address");
  for (const [key, text] of [["bind_address", n2nBind], ["published_address", n2nPublished]] as const) {
    if (text !== undefined) parseBindAddress(text, `network.node_to_node_interface.${key}`);
  }
  const nodeToNode = n2nBind === undefined ? {} : { nodeToNodeAddress: n2nBind };
  const interfaces = object(network.rpc_interfaces ?? {}, "network.rpc_interfaces");
  const names = Object.keys(interfaces);
  // CCF may listen on several named interfaces; a single Confide node serves one.
  if (names.length !== 1) throw new ConfigError("network.rpc_interfaces", `expected exactly one interface, got ${names.length}`);
  const field = `network.rpc_interfaces.${names[0]!}`;
  const rpc = object(interfaces[names[0]!], field, ["bind_address", "http_configuration", "app_protocol"]);
  const protocol = optionalString(rpc, field, "app_protocol");
  if (protocol !== undefined && protocol !== "HTTP1" && protocol !== "HTTP2") {
    throw new ConfigError(`${field}.app_protocol`, `expected "HTTP1" or "HTTP2", got ${JSON.stringify(protocol)}`);
  }
  const bindAddress = optionalString(rpc, field, "bind_address");
  if (bindAddress === undefined) throw new ConfigError(`${field}.bind_address`, "is required");
  const http = optionalObject(rpc, field, "http_configuration", ["max_body_size", "max_header_size"]);
  return {
    ...parseBindAddress(bindAddress, `${field}.bind_address`),
    maxBodyBytes: optionalSize(http, `${field}.http_configuration`, "max_body_size") ?? HTTP_MAX_BODY_BYTES,
    maxHeaderBytes: optionalSize(http, `${field}.http_configuration`, "max_header_size") ?? HTTP_MAX_HEADER_BYTES,
    ...(protocol === "HTTP2" ? { http2: true } : {}),
    ...nodeToNode,
  };
}

/** CCF's consensus section: message_timeout (heartbeats) and election_timeout, as time strings. */
function parseConsensus(value: unknown): NonNullable<NonNullable<ServingNodeOptions["network"]>["consensus"]> {
  const consensus = value === undefined ? {} : object(value, "consensus", ["message_timeout", "election_timeout"]);
  const messageTimeoutMs = optionalDuration(consensus, "consensus", "message_timeout");
  const electionTimeoutMs = optionalDuration(consensus, "consensus", "election_timeout");
  if (messageTimeoutMs !== undefined && electionTimeoutMs !== undefined && messageTimeoutMs >= electionTimeoutMs) {
    throw new ConfigError("consensus.message_timeout", `must be shorter than consensus.election_timeout (${electionTimeoutMs} ms), got ${messageTimeoutMs} ms`);
  }
  return { ...(messageTimeoutMs !== undefined ? { messageTimeoutMs } : {}), ...(electionTimeoutMs !== undefined ? { electionTimeoutMs } : {}) };
}

/** command.type "Join": command.join.target_rpc_address, retry_timeout (CCF's default 1000ms), fetch_recent_snapshot (CCF's default true) and command.service_certificate_file. */
function parseJoin(value: unknown, path: (value: string) => string): ParsedConfig["join"] {
  if (value === undefined) return undefined;
  const command = object(value, "command", COMMAND_FIELDS);
  if (command.type !== "Start" && command.type !== "Join" && command.type !== "Recover") {
    throw new ConfigError("command.type", `expected "Start", "Join" or "Recover", got ${JSON.stringify(command.type)}`);
  }
  if (command.recover !== undefined && command.type !== "Recover") throw new ConfigError("command.recover", 'goes with command.type "Recover"');
  if (command.type !== "Join") {
    for (const key of ["join", "service_certificate_file"]) {
      if (command[key] !== undefined) throw new ConfigError(`command.${key}`, 'goes with command.type "Join"');
    }
    return undefined;
  }
  if (command.start !== undefined) throw new ConfigError("command.start", 'goes with command.type "Start"');
  const join = object(command.join ?? {}, "command.join", ["target_rpc_address", "retry_timeout", "follow_redirect", "fetch_recent_snapshot"]);
  const fetchRecentSnapshot = join.fetch_recent_snapshot ?? true;
  if (typeof fetchRecentSnapshot !== "boolean") throw new ConfigError("command.join.fetch_recent_snapshot", `expected true or false, got ${JSON.stringify(fetchRecentSnapshot)}`);
  const target = optionalString(join, "command.join", "target_rpc_address");
  if (target === undefined) throw new ConfigError("command.join.target_rpc_address", "is required");
  parseBindAddress(target, "command.join.target_rpc_address");
  const serviceCert = optionalString(command, "command", "service_certificate_file");
  if (serviceCert === undefined) throw new ConfigError("command.service_certificate_file", "is required to join (the certificate of the service to join)");
  return {
    targetRpcAddress: target,
    retryMs: optionalDuration(join, "command.join", "retry_timeout") ?? JOIN_RETRY_MS,
    fetchRecentSnapshot,
    serviceCertificateFile: path(serviceCert),
  };
}

/** "host:port" or "[ipv6]:port"; port 0 lets the OS pick a free port. */
function parseBindAddress(text: string, field: string): HostPort {
  const address = parseHostPort(text);
  if (address === undefined) throw new ConfigError(field, `expected "host:port" (port 0-65535), got ${JSON.stringify(text)}`);
  return address;
}

function parseSubjectAltNames(value: unknown): SubjectAltName[] | undefined {
  if (value === undefined) return undefined;
  const cert = object(value, "node_certificate", ["subject_alt_names"]);
  if (cert.subject_alt_names === undefined) return undefined;
  return array(cert.subject_alt_names, "node_certificate.subject_alt_names").map((entry, i) => {
    const match = typeof entry === "string" ? /^(iPAddress|dNSName):(.+)$/.exec(entry) : null;
    if (match === null) throw new ConfigError(`node_certificate.subject_alt_names[${i}]`, `expected "iPAddress:<ip>" or "dNSName:<name>", got ${JSON.stringify(entry)}`);
    return { type: match[1] === "iPAddress" ? "ip" : "dns", value: match[2]! };
  });
}

/** The fields of `command` (CCF's cchost config): one sub-object per command.type. */
const COMMAND_FIELDS = ["type", "start", "join", "recover", "service_certificate_file"];

function parseMembers(value: unknown, path: (value: string) => string): MemberFiles[] {
  if (value === undefined) return [];
  const command = object(value, "command", COMMAND_FIELDS);
  const start = optionalObject(command, "command", "start", ["members", "constitution_files"]);
  if (start.members === undefined) return [];
  return array(start.members, "command.start.members").map((entry, i) => {
    const field = `command.start.members[${i}]`;
    const member = object(entry, field, ["certificate_file", "encryption_public_key_file", "data_json_file"]);
    const files: MemberFiles = identityFiles(member, field, path);
    const key = optionalString(member, field, "encryption_public_key_file", true);
    if (key !== undefined) files.encryptionPublicKeyFile = path(key);
    return files;
  });
}

/** command.start.constitution_files: a non-empty list of JS files (absent: the default constitution). */
function parseConstitutionFiles(value: unknown, path: (value: string) => string): string[] | undefined {
  if (value === undefined) return undefined;
  const start = (value as { start?: { constitution_files?: unknown } }).start;
  if (start?.constitution_files === undefined) return undefined;
  const files = array(start.constitution_files, "command.start.constitution_files");
  if (files.length === 0) throw new ConfigError("command.start.constitution_files", "expected at least one file");
  return files.map((file, i) => {
    if (typeof file !== "string" || file === "") throw new ConfigError(`command.start.constitution_files[${i}]`, `expected a file path, got ${describe(file)}`);
    return path(file);
  });
}

function parseUsers(value: unknown, path: (value: string) => string): IdentityFiles[] {
  if (value === undefined) return [];
  return array(value, "users").map((entry, i) => identityFiles(object(entry, `users[${i}]`, ["certificate_file", "data_json_file"]), `users[${i}]`, path));
}

function identityFiles(entry: Record<string, unknown>, field: string, path: (value: string) => string): IdentityFiles {
  const certificate = optionalString(entry, field, "certificate_file");
  if (certificate === undefined) throw new ConfigError(`${field}.certificate_file`, "is required");
  const files: IdentityFiles = { certificateFile: path(certificate) };
  const data = optionalString(entry, field, "data_json_file", true);
  if (data !== undefined) files.dataJsonFile = path(data);
  return files;
}

// --- CCF's unit strings (src/ds/unit_strings.h): an integer, optional spaces, a case-insensitive unit.

const SIZE_UNITS = new Map([["", 1], ["b", 1], ["kb", 1024], ["mb", 1024 ** 2], ["gb", 1024 ** 3], ["tb", 1024 ** 4]]);
/** In milliseconds; a bare number in a CCF time string is microseconds. */
const TIME_UNITS = new Map([["", 0.001], ["us", 0.001], ["ms", 1], ["s", 1000], ["min", 60_000], ["h", 3_600_000]]);

function unitString(text: string, units: Map<string, number>): number | undefined {
  const match = /^(\d+)\s*([a-zA-Z]*)$/.exec(text.trim());
  if (match === null) return undefined;
  const factor = units.get(match[2]!.toLowerCase());
  return factor === undefined ? undefined : Number(match[1]) * factor;
}

/** A size string ("5MB", "16KB", "2048") or a number of bytes; at least 1 byte. */
function optionalSize(parent: Record<string, unknown>, parentField: string, key: string): number | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  const bytes = typeof value === "number" ? value : typeof value === "string" ? unitString(value, SIZE_UNITS) : undefined;
  if (bytes === undefined || !Number.isSafeInteger(bytes) || bytes < 1) {
    throw new ConfigError(at(parentField, key), `expected a size such as "5MB", "16KB" or a positive number of bytes, got ${JSON.stringify(value)}`);
  }
  return bytes;
}

/** A time string ("1s", "100ms", "1000us") or a number of milliseconds; rounded up to whole ms, at least 1 ms. */
function optionalDuration(parent: Record<string, unknown>, parentField: string, key: string): number | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  const ms = typeof value === "number" ? value : typeof value === "string" ? unitString(value, TIME_UNITS) : undefined;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0 || ms > 2 ** 31 - 1) {
    throw new ConfigError(at(parentField, key), `expected a duration such as "1s", "100ms" or a positive number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return Math.ceil(ms);
}

// --- Shape checks: each names the field it rejects.

/** The dotted path of `key` inside `parentField` ("" is the root). */
function at(parentField: string, key: string): string {
  return parentField === "" ? key : `${parentField}.${key}`;
}

/** The value as an object; with `known`, any other key is an error. */
function object(value: unknown, field: string, known?: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ConfigError(field, `expected an object, got ${describe(value)}`);
  const unknown = known === undefined ? undefined : Object.keys(value).find((key) => !known.includes(key));
  if (unknown !== undefined) throw new ConfigError(at(field, unknown), `unknown field (expected one of: ${known!.join(", ")})`);
  return value as Record<string, unknown>;
}

function optionalObject(parent: Record<string, unknown>, parentField: string, key: string, known: readonly string[]): Record<string, unknown> {
  const value = parent[key];
  return value === undefined ? {} : object(value, at(parentField, key), known);
}

function array(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new ConfigError(field, `expected an array, got ${describe(value)}`);
  return value;
}

/** A non-empty string, or undefined when absent (or null, where CCF's schema allows null). */
function optionalString(parent: Record<string, unknown>, parentField: string, key: string, nullable = false): string | undefined {
  const value = parent[key];
  if (value === undefined || (nullable && value === null)) return undefined;
  if (typeof value !== "string" || value === "") throw new ConfigError(at(parentField, key), `expected a non-empty string, got ${describe(value)}`);
  return value;
}

function optionalPositiveInteger(parent: Record<string, unknown>, parentField: string, key: string): number | undefined {
  const value = parent[key];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw new ConfigError(at(parentField, key), `expected a positive integer, got ${describe(value)}`);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

// --- Reading the files the config names.

function readText(file: string, field: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(field, `cannot read ${file}: ${(error as Error).message}`);
  }
}

function readJson(file: string, field: string): unknown {
  const text = readText(file, field);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(field, `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function readIdentity(files: IdentityFiles, field: string): InitialUser {
  const certPem = readCertificate(files.certificateFile, `${field}.certificate_file`);
  const identity: InitialUser = { certPem };
  if (files.dataJsonFile !== undefined) identity.data = readJson(files.dataJsonFile, `${field}.data_json_file`);
  return identity;
}

function readCertificate(file: string, field: string): string {
  const pem = readText(file, field);
  try {
    new X509Certificate(pem);
  } catch (error) {
    throw new ConfigError(field, `${file} is not a PEM certificate: ${(error as Error).message}`);
  }
  return pem;
}

function readPublicKey(file: string, field: string): string {
  const pem = readText(file, field);
  try {
    createPublicKey(pem);
  } catch (error) {
    throw new ConfigError(field, `${file} is not a PEM public key: ${(error as Error).message}`);
  }
  return pem;
}
