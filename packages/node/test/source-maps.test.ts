// An app built with inline source maps (esbuild, as the dev bundle is built) that throws: with
// CCF's return_exception_details, the trace names the TypeScript source, line and column of each
// frame, not the generated JS; a module without a map keeps QuickJS's frames.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { transformSync } from "esbuild";
import type { Bundle, EndpointProperties } from "../src/runtime/bundle.ts";
import { SENTINEL_KEY, Tables } from "../src/tables.ts";
import { AppNode } from "./helpers/app-node.ts";

const TS_SOURCE = `interface Order {
  id: number;
}

function check(order: Order): void {
  if (order.id > 1) {
    throw new Error("order " + order.id + " refused");
  }
}

export function place(): { body: string } {
  const order: Order = { id: 7 };
  check(order);
  return { body: "ok" };
}
`;

const built = transformSync(TS_SOURCE, { loader: "ts", format: "esm", target: "es2020", sourcemap: "inline", sourcefile: "src/endpoints/orders.ts" }).code;
const endpoint = (js_module: string): { get: EndpointProperties } => ({ get: { js_module, js_function: "place", authn_policies: ["no_auth"], mode: "readonly", forwarding_required: "never" } });
const BUNDLE: Bundle = {
  metadata: { endpoints: { "/mapped": endpoint("endpoints/orders.js"), "/plain": endpoint("plain.js") } },
  modules: [
    { name: "endpoints/orders.js", module: built },
    { name: "plain.js", module: 'export function place() {\n  throw new Error("plain");\n}\n' },
  ],
};

let app: AppNode;

before(async () => {
  app = await AppNode.start(BUNDLE, "confide-source-maps-");
  const tx = app.node.core.history.begin();
  tx.map(Tables.jsRuntimeOptions).set(SENTINEL_KEY, Buffer.from(JSON.stringify({ return_exception_details: true, log_exception_details: true })));
  app.node.core.history.commit(tx);
});

after(() => app.close());

describe("app traces through inline source maps", () => {
  it("maps every frame of a module with a source map to its TypeScript line and column", async () => {
    const reply = await app.client.get("/app/mapped");
    assert.equal(reply.status, 500);
    const trace = reply.json.error.details[0].trace as string;
    assert.match(trace, /at check \(src\/endpoints\/orders\.ts:7:15\)/, trace);
    assert.match(trace, /at place \(src\/endpoints\/orders\.ts:13:3\)/, trace);
    assert.doesNotMatch(trace, /orders\.js/);
  });

  it("leaves the frames of a module without a map as QuickJS gave them", async () => {
    const reply = await app.client.get("/app/plain");
    assert.match(reply.json.error.details[0].trace as string, /at place \(\/plain\.js:2:\d+\)/);
  });
});
