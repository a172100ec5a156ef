// The floor bench/recon-ingest.ts compares the reconciliation app with: an app
// that does, per record, only what Microsoft's data-reconciliation sample does
// (its ingest service: read the key's JSON object, put the caller's vote in
// it, write it back), with none of our app's guarantees (no schema or
// revision checks, no all-or-nothing validation, no counts or party index).
// Built for the benchmark only, never shipped. Like the sample, a party is its
// caller id and a key's object is {key, value, votes: {party: value}}.
import type { Bundle } from "../packages/node/src/runtime/bundle.ts";

const APP_MODULE = `
export function ingest(request) {
  const party = request.caller.id;
  const records = request.body.json();
  const map = ccf.kv["baseline.records"];
  for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const key = ccf.strToBuf(record.lei);
    const stored = map.get(key);
    const entry = stored === undefined ? { key: record.lei, value: record.nace, votes: {} } : ccf.bufToJsonCompatible(stored);
    entry.votes[party] = record.nace;
    map.set(key, ccf.jsonCompatibleToBuf(entry));
  }
  return { body: { message: "data has ingested successfully" } };
}
`;

export const BASELINE_BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/ingest": {
        post: { js_module: "baseline.js", js_function: "ingest", authn_policies: ["user_cert"], mode: "readwrite", forwarding_required: "always" },
      },
    },
  },
  modules: [{ name: "baseline.js", module: APP_MODULE }],
};
