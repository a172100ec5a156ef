// Before `npm start` and `npm run bench`: builds each app bundle the sandbox
// (and the reconciliation benchmark) deploys if it is missing (a clean clone has no dist/). CONFIDE_BUILD_APPS=always rebuilds
// them anyway, so bench/sandbox-start.ts can time a clean clone's start.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const APPS = [
  { workspace: "@confide/app-reconciliation", bundle: "apps/reconciliation/dist/bundle.json" },
  { workspace: "@confide/app-banking", bundle: "apps/banking/dist/bundle.json" },
];
const root = fileURLToPath(new URL("..", import.meta.url));
const always = process.env.CONFIDE_BUILD_APPS === "always";

for (const app of APPS) {
  if (!always && existsSync(new URL(`../${app.bundle}`, import.meta.url))) continue;
  console.log(`building ${app.bundle} (npm run build -w ${app.workspace})`);
  const npm = process.platform === "win32" ? "npm.cmd" : "npm";
  const run = spawnSync(npm, ["run", "build", "--silent", "-w", app.workspace], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (run.status !== 0) {
    console.error(`error: building ${app.workspace} failed (exit ${run.status ?? run.signal})`);
    process.exit(1);
  }
}
