// A CCF JS app bundle (`{metadata: {endpoints}, modules: [{name, module}]}`) and
// its stored form: `set_js_app` writes each module to public:ccf.gov.modules
// under "/<name>" and each endpoint to public:ccf.gov.endpoints under
// "<METHOD> <path>", so the app is part of the ledger like any other state.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { CcfError, ErrorCode } from "../errors.ts";
import type { Tx } from "../kv/tx.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { readBytecodeCache, refreshBytecodeCache } from "./bytecode-cache.ts";

export type AuthnPolicy = string | { all_of: string[] };
export type EndpointMode = "readwrite" | "readonly" | "historical";

export interface EndpointProperties {
  js_module: string;
  js_function: string;
  authn_policies: AuthnPolicy[];
  mode: EndpointMode;
  forwarding_required: "always" | "sometimes" | "never";
  redirection_strategy?: "none" | "to_primary" | "to_backup";
  openapi?: Record<string, unknown>;
  openapi_hidden?: boolean;
  /** Share one interpreter, and its state, with the endpoints naming the same key (null: as absent). */
  interpreter_reuse?: { key: string } | null;
}

export interface Bundle {
  metadata: { endpoints: Record<string, Record<string, EndpointProperties>> };
  modules: Array<{ name: string; module: string }>;
}

/** An app as the runtime serves it: module sources (and bytecode, if cached) by "/name", endpoints by method and path. */
export interface AppDefinition {
  modules: Map<string, string>;
  bytecode?: Map<string, Buffer>;
  endpoints: Array<{ method: string; path: string; properties: EndpointProperties }>;
}

const MODES = ["readwrite", "readonly", "historical"];
const FORWARDING = ["always", "sometimes", "never"];
const REDIRECTION = ["none", "to_primary", "to_backup"];

function invalid(message: string): CcfError {
  return new CcfError(400, ErrorCode.InvalidInput, message);
}

export function moduleKey(name: string): string {
  return name.startsWith("/") ? name : `/${name}`;
}

/** Checks a bundle as the default constitution's validate() does for set_js_app; throws InvalidInput naming the fault. */
export function parseBundle(value: unknown): Bundle {
  if (typeof value !== "object" || value === null) throw invalid("bundle must be an object");
  const { metadata, modules } = value as Partial<Bundle>;
  if (!Array.isArray(modules)) throw invalid("bundle.modules must be an array");
  const names = new Set<string>();
  for (const [i, module] of modules.entries()) {
    if (typeof module?.name !== "string" || typeof module.module !== "string") {
      throw invalid(`bundle.modules[${i}] must be {name: string, module: string}`);
    }
    names.add(moduleKey(module.name));
  }
  if (typeof metadata?.endpoints !== "object" || metadata.endpoints === null) throw invalid("bundle.metadata.endpoints must be an object");
  for (const [path, methods] of Object.entries(metadata.endpoints)) {
    if (!path.startsWith("/")) throw invalid(`endpoint path ${JSON.stringify(path)} must start with /`);
    for (const [method, info] of Object.entries(methods)) checkEndpoint(`${method.toUpperCase()} ${path}`, info, names);
  }
  return { metadata: metadata as Bundle["metadata"], modules: modules as Bundle["modules"] };
}

/** A bundle file or app directory that cannot be read or does not hold a valid bundle; the message names the path. */
export class BundleError extends Error {
  override name = "BundleError";
}

/**
 * A JS app bundle from a bundle JSON file, or from an app directory laid out as
 * @microsoft/ccf-app's build_bundle reads it: app.json is the metadata and each
 * .js file under src/ a module named by its path relative to src/.
 */
export function readBundle(path: string): Bundle {
  let bundle: unknown;
  if (isDirectory(path)) {
    const srcDir = join(path, "src");
    if (!isDirectory(srcDir)) throw new BundleError(`${srcDir} is not a directory`);
    bundle = {
      metadata: readJson(join(path, "app.json")),
      modules: jsFiles(srcDir).map((file) => ({ name: relative(srcDir, file).split(sep).join("/"), module: readText(file) })),
    };
  } else {
    bundle = readJson(path);
  }
  try {
    return parseBundle(bundle);
  } catch (error) {
    throw new BundleError(`${path}: ${(error as Error).message}`);
  }
}

function readText(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new BundleError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

function readJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new BundleError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    throw new BundleError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/** Every .js file under `dir`, sorted so a bundle's module order does not depend on the file system. */
function jsFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((name) => join(dir, name))
    .filter((file) => file.endsWith(".js") && statSync(file).isFile())
    .sort();
}

function checkEndpoint(where: string, info: Partial<EndpointProperties>, moduleNames: Set<string>): void {
  const fail = (what: string) => invalid(`${where}: ${what}`);
  if (typeof info !== "object" || info === null) throw fail("endpoint properties must be an object");
  if (typeof info.js_module !== "string") throw fail("js_module must be a string");
  if (!moduleNames.has(moduleKey(info.js_module))) throw fail(`js_module ${info.js_module} is not among the bundle's modules`);
  if (typeof info.js_function !== "string") throw fail("js_function must be a string");
  if (!MODES.includes(info.mode as string)) throw fail(`mode must be one of ${MODES.join(", ")}`);
  if (!FORWARDING.includes(info.forwarding_required as string)) throw fail(`forwarding_required must be one of ${FORWARDING.join(", ")}`);
  if (info.redirection_strategy !== undefined && !REDIRECTION.includes(info.redirection_strategy)) {
    throw fail(`redirection_strategy must be one of ${REDIRECTION.join(", ")}`);
  }
  if (!Array.isArray(info.authn_policies)) throw fail("authn_policies must be an array");
  for (const policy of info.authn_policies) {
    const ok =
      typeof policy === "string" ||
      (typeof policy === "object" && policy !== null && Array.isArray(policy.all_of) && policy.all_of.every((p) => typeof p === "string"));
    if (!ok) throw fail("each authn_policies entry must be a policy name or {all_of: [names]}");
  }
  if (info.openapi !== undefined && (typeof info.openapi !== "object" || info.openapi === null)) throw fail("openapi must be an object");
  if (info.openapi_hidden !== undefined && typeof info.openapi_hidden !== "boolean") throw fail("openapi_hidden must be a boolean");
  const reuse = info.interpreter_reuse as unknown;
  if (reuse !== undefined && reuse !== null && (typeof reuse !== "object" || typeof (reuse as { key?: unknown }).key !== "string")) {
    throw fail('interpreter_reuse must be {"key": string}');
  }
}

/** The effect of set_js_app: replaces the stored app with this bundle in the transaction `tx`. */
export function writeAppTables(tx: Tx, bundle: Bundle): void {
  const modules = tx.map(Tables.modules);
  const endpoints = tx.map(Tables.endpoints);
  modules.clear();
  endpoints.clear();
  for (const { name, module } of bundle.modules) modules.set(Buffer.from(moduleKey(name)), Buffer.from(module));
  for (const [path, methods] of Object.entries(bundle.metadata.endpoints)) {
    for (const [method, info] of Object.entries(methods)) {
      const stored = { ...info, js_module: moduleKey(info.js_module) };
      endpoints.set(Buffer.from(`${method.toUpperCase()} ${path}`), Buffer.from(JSON.stringify(stored)));
    }
  }
  refreshBytecodeCache(tx);
  tx.map(Tables.interpreterFlush).set(SENTINEL_KEY, Buffer.from("true"));
}

/** A public:ccf.gov.endpoints key, "<METHOD> <path>". */
export function parseEndpointKey(key: Buffer): { method: string; path: string } {
  const text = key.toString("utf8");
  const space = text.indexOf(" ");
  return { method: text.slice(0, space), path: text.slice(space + 1) };
}

/** Reads the deployed app from the KV; undefined when no app is deployed. */
export function readAppTables(tx: Tx): AppDefinition | undefined {
  const modules = new Map<string, string>();
  tx.map(Tables.modules).forEach((value, key) => modules.set(key.toString("utf8"), value.toString("utf8")));
  const endpoints: AppDefinition["endpoints"] = [];
  tx.map(Tables.endpoints).forEach((value, key) => {
    endpoints.push({ ...parseEndpointKey(key), properties: JSON.parse(value.toString("utf8")) as EndpointProperties });
  });
  return modules.size === 0 && endpoints.length === 0 ? undefined : { modules, bytecode: readBytecodeCache(tx), endpoints };
}
