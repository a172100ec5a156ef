// The SDK runs in a browser: bundled for the browser platform it pulls in no
// Node built-in and nothing of the node or the client, and the bundle checks a
// COSE envelope round trip with the page's WebCrypto alone. The same bundling
// refuses @confide/client, so the check can tell.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const SDK_ENTRY = fileURLToPath(new URL("../src/index.ts", import.meta.url));
const CLIENT_ENTRY = fileURLToPath(new URL("../../client/src/index.ts", import.meta.url));

async function bundleForBrowser(entry: string) {
  return build({ entryPoints: [entry], bundle: true, platform: "browser", format: "esm", write: false, metafile: true, logLevel: "silent" });
}

describe("@confide/sdk is browser-safe", () => {
  it("bundles for the browser with no node: import and no @confide/node or @confide/client input", async () => {
    const result = await bundleForBrowser(SDK_ENTRY);
    const inputs = Object.keys(result.metafile.inputs);
    assert.ok(inputs.length > 0);
    for (const input of inputs) {
      assert.doesNotMatch(input, /^node:|packages\/(node|client)\//, `the browser bundle includes ${input}`);
    }
    const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    assert.ok(imports.every((path) => !path.startsWith("node:")), `node imports: ${imports.filter((p) => p.startsWith("node:")).join(", ")}`);
  });

  it("the same bundling refuses @confide/client (it imports Node)", async () => {
    await assert.rejects(bundleForBrowser(CLIENT_ENTRY), /node:|Could not resolve/);
  });

  it("signs a governance envelope with a WebCrypto key that WebCrypto verifies", async () => {
    const { signGovRequest, govMessages, webCryptoSigner, sigStructure, CoseAlg } = await import("../src/index.ts");
    const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, false, ["sign", "verify"]);
    const signer = webCryptoSigner(keys.privateKey);
    assert.equal(signer.alg, CoseAlg.ES384);
    const request = await signGovRequest(signer, "ab".repeat(32), { ...govMessages.withdrawal("p1"), createdAt: 1 });
    assert.equal(request.path, "/gov/members/proposals/p1:withdraw?api-version=2024-07-01");
    // Tag 18, array of 4: protected bstr, empty map, payload bstr (empty), signature bstr (96 bytes for P-384).
    assert.equal(request.body[0], 0xd2);
    assert.equal(request.body[1], 0x84);
    const signature = request.body.subarray(request.body.length - 96);
    // The protected header (over 23 bytes here) is a bstr with a one-byte length: 0x58 then the length.
    assert.equal(request.body[2], 0x58);
    const protectedLength = request.body[3]!;
    const protectedStart = 4;
    const protectedBytes = request.body.subarray(protectedStart, protectedStart + protectedLength);
    const ok = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, keys.publicKey, new Uint8Array(signature), new Uint8Array(sigStructure(protectedBytes, new Uint8Array(0))));
    assert.ok(ok);
  });
});
