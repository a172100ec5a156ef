// Builds the CCF bundle the way CCF app developers do: esbuild bundles each
// endpoint module named in app.json (src/<js_module stem>.ts) into one ES
// module with @microsoft/ccf-app inlined, then ccf-app's build_bundle layout
// is assembled: dist/app.json + dist/src/**.js (for sandbox.sh
// --js-app-bundle dist) and dist/bundle.json = {metadata, modules} (for a
// set_js_app proposal, on CCF or Confide alike).
import { build } from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
const metadata = JSON.parse(readFileSync(join(root, "app.json"), "utf8"));

const jsModules = [...new Set(Object.values(metadata.endpoints).flatMap((methods) => Object.values(methods).map((e) => e.js_module.replace(/^\/+/, ""))))].sort();

rmSync(dist, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: jsModules.map((m) => ({ in: join("src", m.replace(/\.js$/, ".ts")), out: m.replace(/\.js$/, "") })),
  outdir: join(dist, "src"),
  bundle: true,
  format: "esm",
  // QuickJS in CCF: ES2020, no Node built-ins.
  target: "es2020",
  platform: "neutral",
  // platform "neutral" has no default main fields; @microsoft/ccf-app only has "main".
  mainFields: ["module", "main"],
  write: false,
  logLevel: "warning",
});

const modules = result.outputFiles
  .map((f) => ({ name: relative(join(dist, "src"), f.path).split(sep).join("/"), module: f.text }))
  .sort((a, b) => (a.name < b.name ? -1 : 1));
for (const m of modules) {
  const file = join(dist, "src", m.name);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, m.module);
}
writeFileSync(join(dist, "app.json"), JSON.stringify(metadata, null, 2) + "\n");
writeFileSync(join(dist, "bundle.json"), JSON.stringify({ metadata, modules }));
console.log(`dist/bundle.json: ${Object.keys(metadata.endpoints).length} paths, modules ${modules.map((m) => m.name).join(", ")}`);
