// The default constitution, as the node's genesis stores it in
// public:ccf.gov.constitution: its four parts concatenated, in CCF's order, into
// one ES module exporting validate, resolve and apply. Apps that need their own
// governed settings add action files, placed right after actions.js so they can
// extend its `actions` map before validate/apply run.
import { readFileSync } from "node:fs";

const directory = new URL("./constitution/", import.meta.url);

const part = (name) => readFileSync(new URL(name, directory), "utf8");

export function defaultConstitution() {
  return constitutionWith();
}

/** The default constitution with extra action sources (each adds to `actions`) after actions.js. */
export function constitutionWith(...appActions) {
  return [part("actions.js"), ...appActions, part("validate.js"), part("resolve.js"), part("apply.js")].join("\n");
}

/** The reconciliation app's actions: set_reconciliation_schema and set_reconciliation_policy. */
export function reconciliationActions() {
  return readFileSync(new URL("./apps/reconciliation-actions.js", import.meta.url), "utf8");
}
