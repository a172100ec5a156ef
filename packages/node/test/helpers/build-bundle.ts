// Builds CCF JS app bundles from test-fixture apps (`<appDir>/app.json` +
// `<appDir>/src/**/*.ts`) the way CCF developers build them:
//
// - esbuild: every endpoint module (each distinct `js_module` in app.json) is
//   an entry point bundled into a single ES module with @microsoft/ccf-app
//   (and any other dependency) inlined. Target es2020, ESM.
// - rollup: `preserveModules` with @rollup/plugin-node-resolve,
//   @rollup/plugin-typescript and @rollup/plugin-commonjs, as the
//   ccf-app-samples / CCF samples rollup.config.js do. Module names look like
//   `endpoints/all.js`, `node_modules/@microsoft/ccf-app/kv.js`,
//   `_virtual/_commonjsHelpers.js`.
//
// Then `{metadata, modules}` is assembled the way ccf-app's
// scripts/build_bundle.js does from `dist/`: metadata is app.json verbatim,
// modules are every emitted file named by its path relative to `dist/src`.
//
// Nothing is written to disk: esbuild runs with `write: false` and rollup with
// `generate()`.

import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { build as esbuild, type Plugin as EsbuildPlugin } from "esbuild";
import { rollup, type Plugin as RollupPlugin, type RollupLog } from "rollup";
import { nodeResolve } from "@rollup/plugin-node-resolve";
import commonjsImport from "@rollup/plugin-commonjs";
import typescriptImport from "@rollup/plugin-typescript";

// The rollup plugins ship CommonJS-flavoured typings (`export default` in a
// package without "type": "module"), so under NodeNext TypeScript sees the
// default import as the module namespace while Node (via the "import"
// condition) hands us the function itself. Accept both.
type CommonjsPlugin = typeof commonjsImport.default;
type TypescriptPlugin = typeof typescriptImport.default;
function interopDefault<F>(m: unknown): F {
  const withDefault = m as { default?: F };
  return typeof m === "function" ? (m as F) : (withDefault.default as F);
}
const commonjs = interopDefault<CommonjsPlugin>(commonjsImport);
const typescript = interopDefault<TypescriptPlugin>(typescriptImport);

// ---------------------------------------------------------------------------
// Bundle types (local on purpose: the node's own types may differ).

export type AuthnPolicy = string | { all_of: string[] };

export interface EndpointProperties {
  js_module: string;
  js_function: string;
  authn_policies?: AuthnPolicy[];
  forwarding_required?: "always" | "sometimes" | "never";
  mode?: "readwrite" | "readonly" | "historical";
  openapi?: Record<string, unknown>;
  openapi_hidden?: boolean;
  redirection_strategy?: "none" | "to_primary" | "to_backup";
  interpreter_reuse?: { key: string };
  [field: string]: unknown;
}

export interface BundleMetadata {
  /** path (relative to /app) -> lower-case HTTP method -> properties */
  endpoints: Record<string, Record<string, EndpointProperties>>;
}

export interface BundleModule {
  /** Path relative to `src/`, forward slashes, e.g. "endpoints/all.js". */
  name: string;
  /** ES module source text. */
  module: string;
}

export interface Bundle {
  metadata: BundleMetadata;
  modules: BundleModule[];
}

/** Major version of @microsoft/ccf-app to build against. */
export type CcfAppMajor = 5 | 6;

export interface BuildOptions {
  /**
   * 6 (default): `@microsoft/ccf-app` 6.x. 5: every `@microsoft/ccf-app[/...]`
   * import is resolved to the `ccf-app-5` package (npm alias of
   * @microsoft/ccf-app@5) instead.
   */
  ccfApp?: CcfAppMajor;
}

export interface EsbuildOptions extends BuildOptions {
  /** Minify the output (default false, like the samples). */
  minify?: boolean;
}

export interface BuildResult {
  bundle: Bundle;
  /** Absolute paths of the source files that went into the bundle. */
  inputs: string[];
  /** Warnings reported by the bundler (already filtered of known noise). */
  warnings: string[];
}

// ---------------------------------------------------------------------------
// Shared helpers

const require = createRequire(import.meta.url);

/** Directory of the installed @microsoft/ccf-app package for a major version. */
export function ccfAppPackageDir(major: CcfAppMajor = 6): string {
  const pkg = major === 5 ? "ccf-app-5" : "@microsoft/ccf-app";
  return path.dirname(require.resolve(`${pkg}/package.json`));
}

/** Reads `<appDir>/app.json` verbatim, as build_bundle.js does. */
export function readAppMetadata(appDir: string): BundleMetadata {
  const metadata = JSON.parse(
    readFileSync(path.join(appDir, "app.json"), "utf8"),
  ) as BundleMetadata;
  if (
    metadata === null ||
    typeof metadata !== "object" ||
    typeof metadata.endpoints !== "object"
  ) {
    throw new Error(`${appDir}/app.json has no "endpoints" object`);
  }
  return metadata;
}

/** Distinct `js_module` values of the metadata, sorted. */
export function endpointModules(metadata: BundleMetadata): string[] {
  const names = new Set<string>();
  for (const methods of Object.values(metadata.endpoints)) {
    for (const props of Object.values(methods)) {
      names.add(props.js_module.replace(/^\/+/, ""));
    }
  }
  return [...names].sort();
}

const SOURCE_EXTENSIONS = [".ts", ".mts", ".js", ".mjs"];

/** Maps a js_module ("endpoints/kv.js") to its source file under src/. */
function entrySource(srcDir: string, jsModule: string): string {
  const stem = jsModule.replace(/\.(m?js)$/, "");
  for (const ext of SOURCE_EXTENSIONS) {
    const candidate = path.join(srcDir, stem + ext);
    if (existsSync(candidate)) {
      return candidate;
    }
  }
  throw new Error(
    `js_module "${jsModule}" has no source file ${stem}{${SOURCE_EXTENSIONS.join(",")}} under ${srcDir}`,
  );
}

function toPosix(p: string): string {
  return p.split(path.sep).join("/");
}

function sortModules(modules: BundleModule[]): BundleModule[] {
  return modules.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function appSources(appDir: string): {
  appDir: string;
  srcDir: string;
  metadata: BundleMetadata;
  entries: Array<{ jsModule: string; source: string }>;
} {
  const root = path.resolve(appDir);
  const srcDir = path.join(root, "src");
  const metadata = readAppMetadata(root);
  const entries = endpointModules(metadata).map((jsModule) => ({
    jsModule,
    source: entrySource(srcDir, jsModule),
  }));
  if (entries.length === 0) {
    throw new Error(`${root}/app.json declares no endpoints`);
  }
  return { appDir: root, srcDir, metadata, entries };
}

// ---------------------------------------------------------------------------
// esbuild

/**
 * Bundles every endpoint module of the app with esbuild (ESM, es2020, all
 * dependencies inlined): one bundle module per distinct `js_module`.
 */
export async function buildWithEsbuild(
  appDir: string,
  options: EsbuildOptions = {},
): Promise<Bundle> {
  return (await buildWithEsbuildDetailed(appDir, options)).bundle;
}

export async function buildWithEsbuildDetailed(
  appDir: string,
  options: EsbuildOptions = {},
): Promise<BuildResult> {
  const app = appSources(appDir);
  // Never written (write: false); only names outputs.
  const outdir = path.join(tmpdir(), "confide-esbuild-out", "src");
  const result = await esbuild({
    absWorkingDir: app.appDir,
    entryPoints: app.entries.map((e) => ({
      in: e.source,
      out: e.jsModule.replace(/\.(m?js)$/, ""),
    })),
    outdir,
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "neutral",
    // platform "neutral" has no default main fields; ccf-app only has "main".
    mainFields: ["module", "main"],
    ...(options.ccfApp === 5 ? { alias: { "@microsoft/ccf-app": "ccf-app-5" } } : {}),
    minify: options.minify ?? false,
    metafile: true,
    write: false,
    logLevel: "silent",
  });
  const modules = result.outputFiles
    .filter((f) => !f.path.endsWith(".map"))
    .map((f) => ({ name: toPosix(path.relative(outdir, f.path)), module: f.text }));
  const inputs = Object.keys(result.metafile.inputs)
    .map((p) => path.resolve(app.appDir, p))
    .sort();
  const warnings = result.warnings.map((w) => w.text);
  return {
    bundle: { metadata: app.metadata, modules: sortModules(modules) },
    inputs,
    warnings,
  };
}

// ---------------------------------------------------------------------------
// rollup

/** Resolves `@microsoft/ccf-app[/sub]` to `ccf-app-5[/sub]`. */
function ccfApp5Alias(): RollupPlugin {
  return {
    name: "confide-ccf-app-5-alias",
    async resolveId(source, importer, opts) {
      if (source === "@microsoft/ccf-app" || source.startsWith("@microsoft/ccf-app/")) {
        const target = "ccf-app-5" + source.slice("@microsoft/ccf-app".length);
        return this.resolve(target, importer, {
          isEntry: opts.isEntry,
          attributes: opts.attributes,
          skipSelf: true,
        });
      }
      return null;
    },
  };
}

/**
 * Builds the app with rollup `preserveModules` (inputs: the distinct
 * `js_module`s of app.json, usually just `endpoints/all.js`), keeping one
 * bundle module per source module.
 */
export async function buildWithRollup(
  appDir: string,
  options: BuildOptions = {},
): Promise<Bundle> {
  return (await buildWithRollupDetailed(appDir, options)).bundle;
}

export async function buildWithRollupDetailed(
  appDir: string,
  options: BuildOptions = {},
): Promise<BuildResult> {
  const app = appSources(appDir);
  const warnings: string[] = [];
  const typeErrors: string[] = [];
  const plugins: RollupPlugin[] = [];
  if (options.ccfApp === 5) {
    plugins.push(ccfApp5Alias());
  }
  plugins.push(
    nodeResolve(),
    typescript({
      // Do not pick up packages/node/tsconfig.json from the cwd: the app is
      // compiled like a standalone CCF app (ES2020 modules).
      tsconfig: false,
      include: [toPosix(path.join(app.srcDir, "**", "*.ts"))],
      filterRoot: false,
      noEmitOnError: false,
      compilerOptions: {
        target: "ES2020",
        module: "ESNext",
        moduleResolution: "Bundler",
        lib: ["ES2020"],
        // The isolation probes name Node globals (process, require) on
        // purpose, and console is not in lib ES2020: borrow @types/node's
        // declarations for type-checking only.
        types: ["node"],
        strict: true,
        skipLibCheck: true,
        // Local imports carry the .ts extension (project convention).
        allowImportingTsExtensions: true,
        rewriteRelativeImportExtensions: true,
        esModuleInterop: true,
        sourceMap: false,
        declaration: false,
        removeComments: false,
      },
    }),
    commonjs(),
  );
  const build = await rollup({
    input: app.entries.map((e) => e.source),
    plugins,
    onwarn(warning: RollupLog) {
      if (warning.code === "PLUGIN_WARNING" && warning.plugin === "typescript") {
        typeErrors.push(warning.message);
        return;
      }
      warnings.push(`${warning.code ?? "WARN"}: ${warning.message}`);
    },
  });
  try {
    if (typeErrors.length > 0) {
      throw new Error(`TypeScript errors in ${app.appDir}:\n${typeErrors.join("\n")}`);
    }
    const { output } = await build.generate({
      format: "es",
      preserveModules: true,
      preserveModulesRoot: app.srcDir,
    });
    const modules: BundleModule[] = [];
    const inputs = new Set<string>();
    for (const item of output) {
      if (item.type !== "chunk") {
        continue; // no assets expected (no sourcemaps)
      }
      modules.push({ name: item.fileName, module: item.code });
      for (const id of item.moduleIds) {
        if (!id.startsWith("\0") && path.isAbsolute(id)) {
          inputs.add(id);
        }
      }
    }
    return {
      bundle: { metadata: app.metadata, modules: sortModules(modules) },
      inputs: [...inputs].sort(),
      warnings,
    };
  } finally {
    await build.close();
  }
}

// ---------------------------------------------------------------------------
// Inspection helpers (used by the tests; parser-based, via esbuild)

export interface ImportRecord {
  /** Specifier as written, e.g. "./kv.js" or "@microsoft/ccf-app". */
  path: string;
  kind: "import-statement" | "dynamic-import" | "require-call" | "other";
}

/**
 * Static imports, re-exports (`export ... from`) and literal dynamic imports
 * of an ES module's source text, in source order.
 */
export async function importRecords(source: string): Promise<ImportRecord[]> {
  const found: ImportRecord[] = [];
  const collect: EsbuildPlugin = {
    name: "confide-collect-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind === "entry-point") {
          return null;
        }
        const kind =
          args.kind === "import-statement" ||
          args.kind === "dynamic-import" ||
          args.kind === "require-call"
            ? args.kind
            : "other";
        found.push({ path: args.path, kind });
        return { path: args.path, external: true };
      });
    },
  };
  await esbuild({
    stdin: { contents: source, loader: "js", sourcefile: "module.js" },
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    logLevel: "silent",
    plugins: [collect],
  });
  return found;
}

/**
 * Export names of an ES module's source text (local exports and named
 * re-exports; `export * from` another module cannot be listed).
 */
export async function moduleExports(source: string): Promise<string[]> {
  const externalAll: EsbuildPlugin = {
    name: "confide-external-all",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) =>
        args.kind === "entry-point" ? null : { path: args.path, external: true },
      );
    },
  };
  const result = await esbuild({
    stdin: { contents: source, loader: "js", sourcefile: "module.js" },
    bundle: true,
    write: false,
    format: "esm",
    platform: "neutral",
    outfile: path.join(tmpdir(), "confide-exports.js"),
    metafile: true,
    logLevel: "silent",
    plugins: [externalAll],
  });
  const outputs = Object.values(result.metafile.outputs);
  return [...(outputs[0]?.exports ?? [])].sort();
}

/** Resolves a relative specifier against a bundle module name (posix). */
export function resolveModuleSpecifier(fromModule: string, specifier: string): string {
  return path.posix.normalize(path.posix.join(path.posix.dirname(fromModule), specifier));
}

/** Serialises a bundle as build_bundle.js writes bundle.json. */
export function bundleToJson(bundle: Bundle): string {
  return JSON.stringify(bundle);
}
