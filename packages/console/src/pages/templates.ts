// Proposal templates: the actions of the common proposals, to edit before submitting.
import type { Action } from "@confide/sdk";

export interface Template {
  label: string;
  actions: Action[];
}

export const TEMPLATES: Template[] = [
  { label: "Add user", actions: [{ name: "set_user", args: { cert: "-----BEGIN CERTIFICATE-----\n(paste the user's certificate)\n-----END CERTIFICATE-----\n", user_data: {} } }] },
  { label: "Remove user", actions: [{ name: "remove_user", args: { user_id: "(user id)" } }] },
  { label: "Deploy app", actions: [{ name: "set_js_app", args: { bundle: { metadata: { endpoints: {} }, modules: [] } } }] },
  { label: "Set reconciliation schema", actions: [{ name: "set_reconciliation_schema", args: { schema: { key: "trade_id", attributes: [{ name: "price", type: "decimal", match: { rule: "absolute", tolerance: 0.01 } }] } } }] },
  { label: "Set reconciliation policy", actions: [{ name: "set_reconciliation_policy", args: { policy: { k: 3, mode: "rounds" } } }] },
  { label: "Close a reconciliation round", actions: [{ name: "close_reconciliation_round", args: {} }] },
];
