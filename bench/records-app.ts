// The app of the HTTPS bench (bench/https-app.ts) and the fresh-realm bench:
// PUT /records/{id} writes a JSON record to the private map "records" (204),
// GET /records/{id} reads it back (readonly).
import type { Bundle } from "../packages/node/src/runtime/bundle.ts";

const APP_MODULE = `
export function put(request) {
  const record = request.body.json();
  ccf.kv["records"].set(ccf.strToBuf(request.params.id), ccf.jsonCompatibleToBuf(record));
  return { statusCode: 204 };
}
export function get(request) {
  const value = ccf.kv["records"].get(ccf.strToBuf(request.params.id));
  if (value === undefined) return { statusCode: 404, body: { error: "no such record" } };
  return { body: ccf.bufToJsonCompatible(value) };
}
`;

function endpoint(fn: string, mode: "readwrite" | "readonly") {
  return { js_module: "app.js", js_function: fn, authn_policies: ["no_auth"], mode, forwarding_required: "never" as const };
}

export const BUNDLE: Bundle = {
  metadata: { endpoints: { "/records/{id}": { put: endpoint("put", "readwrite"), get: endpoint("get", "readonly") } } },
  modules: [{ name: "app.js", module: APP_MODULE }],
};

/** A ~100-byte JSON record for key `id`. */
export function payload(id: number, n: number): string {
  return JSON.stringify({ id: `rec-${id}`, owner: "alice@example.com", amount: n % 100_000, currency: "EUR", note: "monthly settlement" });
}
