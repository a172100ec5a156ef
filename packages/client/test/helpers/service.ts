// A real node for SDK and CLI tests: started in-process on a free port in a
// temp directory, with three genesis members whose identities `keygen` made,
// and a tiny app directory (app.json + src/) to deploy.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNode, type ServingNode } from "@confide/node";
import { keygen, type GeneratedIdentity, type IdentityFiles } from "../../src/keys.ts";

export type MadeIdentity = GeneratedIdentity & { files: IdentityFiles };

export interface TestService {
  node: ServingNode;
  dir: string;
  serviceCertFile: string;
  serviceCertPem: string;
  members: MadeIdentity[];
  /** An app directory: GET /whoami and PUT /records/{key}, both for users (user_cert). */
  appDir: string;
  close(): Promise<void>;
}

const APP_JSON = {
  endpoints: {
    "/whoami": { get: endpoint("whoami", "readonly") },
    "/records/{key}": { put: endpoint("putRecord", "readwrite") },
  },
};

function endpoint(js_function: string, mode: string) {
  return { js_module: "app.js", js_function, authn_policies: ["user_cert"], mode, forwarding_required: "always" };
}

const APP_JS = `
export function whoami(request) {
  return { body: { id: request.caller.id } };
}
export function putRecord(request) {
  ccf.kv["records"].set(ccf.strToBuf(request.params.key), request.body.arrayBuffer());
  return { statusCode: 204 };
}
`;

export async function startTestService(): Promise<TestService> {
  const dir = mkdtempSync(join(tmpdir(), "confide-client-"));
  const members: MadeIdentity[] = [];
  for (const name of ["member0", "member1", "member2"]) members.push(await keygen(name, { dir: join(dir, "keys") }));
  const appDir = join(dir, "app");
  mkdirSync(join(appDir, "src"), { recursive: true });
  writeFileSync(join(appDir, "app.json"), JSON.stringify(APP_JSON));
  writeFileSync(join(appDir, "src", "app.js"), APP_JS);
  // Frequent signatures so commits (and receipts) come within tens of milliseconds.
  const node = await startNode({ dir: join(dir, "node"), port: 0, signatureIntervalMs: 20, members: members.map((m) => ({ certPem: m.certPem, data: { name: m.name } })) });
  return {
    node,
    dir,
    serviceCertFile: join(dir, "node", "service_cert.pem"),
    serviceCertPem: node.core.identity.serviceCertPem,
    members,
    appDir,
    close: async () => {
      await node.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
