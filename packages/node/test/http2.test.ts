// HTTP/2 when configured for an interface (CCF's app_protocol "HTTP2"): the
// node offers h2 by ALPN over the same TLS (client certificates included) and
// still answers HTTP/1.1 clients; app and built-in endpoints behave the same.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect, type ClientHttp2Session } from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import { certId } from "../src/crypto/keys.ts";
import { startNode, type ServingNode } from "../src/node.ts";
import type { Bundle } from "../src/runtime/bundle.ts";
import { HttpsClient } from "./helpers/https-client.ts";

const BUNDLE: Bundle = {
  metadata: {
    endpoints: {
      "/whoami": { post: { js_module: "app.js", js_function: "whoami", authn_policies: ["user_cert"], mode: "readwrite", forwarding_required: "never" } },
    },
  },
  modules: [
    {
      name: "app.js",
      module: `export function whoami(request) {
  ccf.kv["calls"].set(ccf.strToBuf(request.caller.id), request.body.arrayBuffer());
  return { body: { id: request.caller.id, host: request.hostname, said: request.body.text() } };
}`,
    },
  ],
};

let dir: string;
let node: ServingNode;
let user: { certPem: string; keyPem: string };
let session: ClientHttp2Session;

function h2(path: string, method = "GET", body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, ":method": method, ...(body ? { "content-type": "text/plain" } : {}) });
    let text = "";
    let headers: Record<string, unknown> = {};
    stream.setEncoding("utf8");
    stream.on("response", (h) => (headers = h));
    stream.on("data", (chunk: string) => (text += chunk));
    stream.on("end", () => resolve({ status: Number(headers[":status"]), headers, text }));
    stream.on("error", reject);
    stream.end(body);
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "confide-h2-"));
  const made = await createServiceIdentity();
  user = { certPem: made.certPem, keyPem: made.privateKeyPem };
  node = await startNode({ dir, port: 0, http2: true, appBundle: BUNDLE, users: [{ certPem: user.certPem }] });
  session = connect(node.url, { ca: node.core.identity.serviceCertPem, cert: user.certPem, key: user.keyPem });
  await new Promise((resolve, reject) => session.once("connect", resolve).once("error", reject));
});

after(async () => {
  session.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

it("serves built-in and app endpoints over HTTP/2, with the TLS client certificate and the :authority as host", async () => {
  assert.equal(session.alpnProtocol, "h2");
  const state = await h2("/node/state");
  assert.equal(state.status, 200);
  assert.equal(JSON.parse(state.text).node_id, node.core.identity.nodeId);
  const call = await h2("/app/whoami", "POST", "over h2");
  assert.equal(call.status, 200, call.text);
  assert.deepEqual(JSON.parse(call.text), { id: certId(user.certPem), host: new URL(node.url).host, said: "over h2" });
  assert.match(String(call.headers["x-ms-ccf-transaction-id"]), /^\d+\.\d+$/);
  const missing = await h2("/app/nowhere");
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.text).error.code, "ResourceNotFound");
});

it("still answers HTTP/1.1 clients on the same port", async () => {
  const client = new HttpsClient(node.url, node.core.identity.serviceCertPem, user);
  try {
    const reply = await client.post("/app/whoami", "over h1");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.said, "over h1");
  } finally {
    client.close();
  }
});
