/** The default constitution's source: one ES module exporting validate, resolve and apply. */
export function defaultConstitution(): string;
/** The default constitution with extra action sources (each adds to `actions`) placed after actions.js. */
export function constitutionWith(...appActions: string[]): string;
/** Source of the reconciliation app's actions (set_reconciliation_schema, set_reconciliation_policy). */
export function reconciliationActions(): string;
