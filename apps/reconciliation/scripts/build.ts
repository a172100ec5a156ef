// Builds dist/bundle.json the way CCF developers build JS apps: esbuild bundles
// each endpoint module of app.json (ESM, es2020, @microsoft/ccf-app and
// papaparse inlined), and {metadata: app.json, modules} is assembled as
// ccf-app's build_bundle.js does.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const appDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

interface Metadata {
  endpoints: Record<string, Record<string, { js_module: string }>>;
}

export async function buildBundle(): Promise<{ metadata: Metadata; modules: { name: string; module: string }[] }> {
  const metadata = JSON.parse(readFileSync(path.join(appDir, "app.json"), "utf8")) as Metadata;
  const entries = [...new Set(Object.values(metadata.endpoints).flatMap((methods) => Object.values(methods).map((m) => m.js_module)))].sort();
  const outdir = path.join(appDir, "dist", "src");
  const result = await build({
    absWorkingDir: appDir,
    entryPoints: entries.map((m) => ({ in: path.join(appDir, "src", m.replace(/\.js$/, ".ts")), out: m.replace(/\.js$/, "") })),
    outdir,
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "neutral",
    mainFields: ["module", "main"],
    // papaparse requires Node's "stream" only for Node stream input, which the
    // app never passes: left external, the require is never reached.
    external: ["stream"],
    write: false,
    logLevel: "warning",
  });
  const modules = result.outputFiles
    .map((f) => ({ name: path.relative(outdir, f.path).split(path.sep).join("/"), module: f.text }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  return { metadata, modules };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bundle = await buildBundle();
  mkdirSync(path.join(appDir, "dist"), { recursive: true });
  writeFileSync(path.join(appDir, "dist", "bundle.json"), JSON.stringify(bundle));
  console.log(`dist/bundle.json: ${bundle.modules.map((m) => `${m.name} (${m.module.length} chars)`).join(", ")}`);
}
