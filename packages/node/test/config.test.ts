// The node config, shaped like CCF's cchost config: CCF's field names and its
// size ("5MB") and time ("1s", "100ms", bare number = µs) strings, defaults
// from limits.ts, paths relative to the config file, and a ConfigError naming
// the field for every unknown field, wrong type or unreadable file.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, loadAppBundle, loadConfig, parseConfig } from "../src/config.ts";
import { createServiceIdentity } from "../src/crypto/certs.ts";
import {
  HTTP_MAX_BODY_BYTES,
  HTTP_MAX_HEADER_BYTES,
  LEDGER_CHUNK_BYTES,
  SIGNATURE_INTERVAL_MS,
  SIGNATURE_INTERVAL_TX,
  SNAPSHOT_INTERVAL_TX,
} from "../src/limits.ts";

const BASE = "/etc/confide";

function configError(json: unknown, field: string, baseDir = BASE): void {
  assert.throws(
    () => parseConfig(json, baseDir),
    (error: unknown) => error instanceof ConfigError && error.field === field && error.message.includes(field),
    `expected a ConfigError naming ${field}`,
  );
}

describe("parseConfig", () => {
  it("fills every default from limits.ts and puts the workspace in the config's directory", () => {
    const { node, files, logLevel } = parseConfig({}, BASE);
    assert.deepEqual(node, {
      dir: BASE,
      maxBodyBytes: HTTP_MAX_BODY_BYTES,
      maxHeaderBytes: HTTP_MAX_HEADER_BYTES,
      chunkBytes: LEDGER_CHUNK_BYTES,
      snapshotIntervalTx: SNAPSHOT_INTERVAL_TX,
      signatureIntervalTx: SIGNATURE_INTERVAL_TX,
      signatureIntervalMs: SIGNATURE_INTERVAL_MS,
    });
    assert.deepEqual(files, { members: [], users: [] });
    assert.equal(logLevel, "info");
  });

  it("reads every field of a full config, resolving relative paths against the config's directory", () => {
    const { node, files, logLevel } = parseConfig(
      {
        network: {
          rpc_interfaces: {
            primary_rpc_interface: { bind_address: "0.0.0.0:8080", http_configuration: { max_body_size: "2MB", max_header_size: "32KB" } },
          },
        },
        node_certificate: { subject_alt_names: ["iPAddress:10.0.0.1", "dNSName:node.example"] },
        workspace: "workspace/node0",
        ledger: { directory: "/var/ledger", chunk_size: "5MB" },
        snapshots: { directory: "snaps", tx_count: 100 },
        ledger_signatures: { tx_count: 10, delay: "100ms" },
        command: {
          type: "Start",
          start: {
            members: [
              { certificate_file: "member0_cert.pem", encryption_public_key_file: "member0_enc_pubk.pem", data_json_file: "member0_data.json" },
              { certificate_file: "/abs/member1_cert.pem", encryption_public_key_file: null, data_json_file: null },
            ],
          },
        },
        service_data_json_file: "service_data.json",
        users: [{ certificate_file: "user0_cert.pem" }],
        js_app_bundle: "app",
        logging: { host_level: "Debug" },
      },
      BASE,
    );
    assert.deepEqual(node, {
      dir: "/etc/confide/workspace/node0",
      host: "0.0.0.0",
      port: 8080,
      maxBodyBytes: 2 * 1024 * 1024,
      maxHeaderBytes: 32 * 1024,
      subjectAltNames: [
        { type: "ip", value: "10.0.0.1" },
        { type: "dns", value: "node.example" },
      ],
      ledgerDir: "/var/ledger",
      chunkBytes: 5 * 1024 * 1024,
      snapshotsDir: "/etc/confide/snaps",
      snapshotIntervalTx: 100,
      signatureIntervalTx: 10,
      signatureIntervalMs: 100,
    });
    assert.deepEqual(files, {
      members: [
        {
          certificateFile: "/etc/confide/member0_cert.pem",
          encryptionPublicKeyFile: "/etc/confide/member0_enc_pubk.pem",
          dataJsonFile: "/etc/confide/member0_data.json",
        },
        { certificateFile: "/abs/member1_cert.pem" },
      ],
      users: [{ certificateFile: "/etc/confide/user0_cert.pem" }],
      serviceDataJsonFile: "/etc/confide/service_data.json",
      jsAppBundle: "/etc/confide/app",
    });
    assert.equal(logLevel, "debug");
  });

  it("reads CCF's size strings (factors of 1024, any case, optional space) and plain byte counts", () => {
    const chunk = (chunk_size: unknown) => parseConfig({ ledger: { chunk_size } }, BASE).node.chunkBytes;
    assert.equal(chunk("2048"), 2048);
    assert.equal(chunk("12B"), 12);
    assert.equal(chunk("3KB"), 3 * 1024);
    assert.equal(chunk("3 kb"), 3 * 1024);
    assert.equal(chunk("1GB"), 1024 ** 3);
    assert.equal(chunk("1TB"), 1024 ** 4);
    assert.equal(chunk(4096), 4096);
  });

  it("reads CCF's time strings (a bare number is µs) and plain milliseconds, rounding up to whole ms", () => {
    const delay = (value: unknown) => parseConfig({ ledger_signatures: { delay: value } }, BASE).node.signatureIntervalMs;
    assert.equal(delay("1s"), 1000);
    assert.equal(delay("100ms"), 100);
    assert.equal(delay("100 MS"), 100);
    assert.equal(delay("1500us"), 2);
    assert.equal(delay("2000"), 2);
    assert.equal(delay("1min"), 60_000);
    assert.equal(delay("1h"), 3_600_000);
    assert.equal(delay(250), 250);
  });

  it("reads IPv6 bind addresses and port 0", () => {
    const bind = (bind_address: string) => parseConfig({ network: { rpc_interfaces: { i: { bind_address } } } }, BASE).node;
    assert.deepEqual([bind("[::1]:0").host, bind("[::1]:0").port], ["::1", 0]);
    assert.deepEqual([bind("localhost:65535").host, bind("localhost:65535").port], ["localhost", 65535]);
  });

  it("reads app_protocol: HTTP2 turns HTTP/2 on, HTTP1 (the default) leaves it off", () => {
    const protocol = (app_protocol?: string) =>
      parseConfig({ network: { rpc_interfaces: { i: { bind_address: "127.0.0.1:0", ...(app_protocol ? { app_protocol } : {}) } } } }, BASE).node.http2;
    assert.deepEqual([protocol("HTTP2"), protocol("HTTP1"), protocol()], [true, undefined, undefined]);
    assert.throws(() => protocol("SPDY"), /network\.rpc_interfaces\.i\.app_protocol/);
  });

  it("maps CCF's logging.host_level to the node's levels", () => {
    const level = (host_level: string) => parseConfig({ logging: { host_level } }, BASE).logLevel;
    assert.deepEqual(["Trace", "Debug", "Info", "Fail", "Fatal", "info"].map(level), ["debug", "debug", "info", "warn", "error", "info"]);
  });

  it("rejects every unknown field, wrong type and bad value with a ConfigError naming the field", () => {
    const cases: Array<[unknown, string]> = [
      [[], ""],
      [null, ""],
      [{ enclave: { platform: "Virtual" } }, "enclave"],
      [{ workspace: 3 }, "workspace"],
      [{ workspace: "" }, "workspace"],
      [{ network: [] }, "network"],
      [{ network: { node_to_node_interface: {} } }, "network.node_to_node_interface.bind_address"],
      [{ network: { node_to_node_interface: { bind_address: "nowhere" } } }, "network.node_to_node_interface.bind_address"],
      [{ network: { rpc_interfaces: { main: { bind_address: "127.0.0.1:0" } } }, consensus: { election_timeout: "1s" } }, "consensus"],
      [
        { network: { rpc_interfaces: { main: { bind_address: "127.0.0.1:0" } }, node_to_node_interface: { bind_address: "127.0.0.1:0" } }, consensus: { message_timeout: "2s", election_timeout: "1s" } },
        "consensus.message_timeout",
      ],
      [{ command: { type: "Join", join: { target_rpc_address: "127.0.0.1:8000" }, service_certificate_file: "s.pem" } }, "network.node_to_node_interface"],
      [{ command: { type: "Join", service_certificate_file: "s.pem", join: {} } }, "command.join.target_rpc_address"],
      [{ command: { type: "Join", join: { target_rpc_address: "127.0.0.1:8000" } } }, "command.service_certificate_file"],
      [{ command: { type: "Recover", start: {} } }, "command.start"],
      [{ command: { type: "Recover", recover: { previous_service_identity_file: 1 } } }, "command.recover.previous_service_identity_file"],
      [{ command: { type: "Start", recover: {} } }, "command.recover"],
      [{ command: { type: "Recover" }, js_app_bundle: "app" }, "js_app_bundle"],
      [{ command: { type: "Restart" } }, "command.type"],
      [{ network: {} }, "network.rpc_interfaces"],
      [{ network: { rpc_interfaces: { a: { bind_address: "h:1" }, b: { bind_address: "h:2" } } } }, "network.rpc_interfaces"],
      [{ network: { rpc_interfaces: { primary: "127.0.0.1:8000" } } }, "network.rpc_interfaces.primary"],
      [{ network: { rpc_interfaces: { primary: {} } } }, "network.rpc_interfaces.primary.bind_address"],
      [{ network: { rpc_interfaces: { primary: { bind_address: "127.0.0.1" } } } }, "network.rpc_interfaces.primary.bind_address"],
      [{ network: { rpc_interfaces: { primary: { bind_address: "127.0.0.1:70000" } } } }, "network.rpc_interfaces.primary.bind_address"],
      [{ network: { rpc_interfaces: { primary: { bind_address: 8000 } } } }, "network.rpc_interfaces.primary.bind_address"],
      [{ network: { rpc_interfaces: { primary: { bind_address: "h:1", published_address: "x:1" } } } }, "network.rpc_interfaces.primary.published_address"],
      [{ network: { rpc_interfaces: { p: { bind_address: "h:1", http_configuration: { max_body_size: "1XB" } } } } }, "network.rpc_interfaces.p.http_configuration.max_body_size"],
      [{ network: { rpc_interfaces: { p: { bind_address: "h:1", http_configuration: { max_header_size: 0 } } } } }, "network.rpc_interfaces.p.http_configuration.max_header_size"],
      [{ network: { rpc_interfaces: { p: { bind_address: "h:1", http_configuration: { max_headers_count: 10 } } } } }, "network.rpc_interfaces.p.http_configuration.max_headers_count"],
      [{ node_certificate: { subject_alt_names: "localhost" } }, "node_certificate.subject_alt_names"],
      [{ node_certificate: { subject_alt_names: ["localhost"] } }, "node_certificate.subject_alt_names[0]"],
      [{ node_certificate: { curve_id: "Secp384R1" } }, "node_certificate.curve_id"],
      [{ ledger: { chunk_size: "5 megabytes" } }, "ledger.chunk_size"],
      [{ ledger: { chunk_size: "1.5MB" } }, "ledger.chunk_size"],
      [{ ledger: { chunk_size: -1 } }, "ledger.chunk_size"],
      [{ ledger: { chunk_size: "5ms" } }, "ledger.chunk_size"],
      [{ ledger: { read_only_directories: [] } }, "ledger.read_only_directories"],
      [{ ledger: { directory: null } }, "ledger.directory"],
      [{ snapshots: { tx_count: 0 } }, "snapshots.tx_count"],
      [{ snapshots: { tx_count: "100" } }, "snapshots.tx_count"],
      [{ ledger_signatures: { tx_count: 1.5 } }, "ledger_signatures.tx_count"],
      [{ ledger_signatures: { delay: "1KB" } }, "ledger_signatures.delay"],
      [{ ledger_signatures: { delay: "0ms" } }, "ledger_signatures.delay"],
      [{ ledger_signatures: { delay: true } }, "ledger_signatures.delay"],
      [{ command: { type: "Join" } }, "command.join.target_rpc_address"],
      [{ command: {} }, "command.type"],
      [{ command: { type: "Start", start: { constitution_files: [] } } }, "command.start.constitution_files"],
      [{ command: { type: "Start", start: { constitution_files: [7] } } }, "command.start.constitution_files[0]"],
      [{ command: { type: "Start", start: { members: {} } } }, "command.start.members"],
      [{ command: { type: "Start", start: { members: [{}] } } }, "command.start.members[0].certificate_file"],
      [{ command: { type: "Start", start: { members: [{ certificate_file: "c", encryption_public_key_file: 1 }] } } }, "command.start.members[0].encryption_public_key_file"],
      [{ command: { type: "Start", start: { members: [{ certificate_file: "c", member_data: {} }] } } }, "command.start.members[0].member_data"],
      [{ command: { type: "Start", service_certificate_file: "s.pem" } }, "command.service_certificate_file"],
      [{ service_data_json_file: 1 }, "service_data_json_file"],
      [{ users: [{ certificate_file: "u", encryption_public_key_file: "k" }] }, "users[0].encryption_public_key_file"],
      [{ users: ["u.pem"] }, "users[0]"],
      [{ js_app_bundle: ["app"] }, "js_app_bundle"],
      [{ logging: { host_level: "Verbose" } }, "logging.host_level"],
      [{ logging: { host_level: "constructor" } }, "logging.host_level"],
      [{ logging: { format: "Json" } }, "logging.format"],
    ];
    for (const [json, field] of cases) configError(json, field);
  });
});

describe("loadConfig", () => {
  let dir: string;
  let certPem: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "confide-config-"));
    certPem = (await createServiceIdentity()).certPem;
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "pem" }).toString();
    writeFileSync(join(dir, "member0_cert.pem"), certPem);
    writeFileSync(join(dir, "member0_enc_pubk.pem"), rsa);
    writeFileSync(join(dir, "member0_data.json"), JSON.stringify({ is_operator: true }));
    writeFileSync(join(dir, "user0_cert.pem"), certPem);
    writeFileSync(join(dir, "service_data.json"), JSON.stringify({ name: "test" }));
    writeFileSync(join(dir, "not_json.json"), "{");
    writeFileSync(join(dir, "not_a_cert.pem"), "hello");
    // An app directory as build_bundle reads it: app.json + src/**/*.js, names relative to src/.
    mkdirSync(join(dir, "app", "src", "endpoints"), { recursive: true });
    const endpoint = { js_module: "endpoints/hello.js", js_function: "hello", authn_policies: ["no_auth"], mode: "readonly", forwarding_required: "never" };
    writeFileSync(join(dir, "app", "app.json"), JSON.stringify({ endpoints: { "/hello": { get: endpoint } } }));
    writeFileSync(join(dir, "app", "src", "endpoints", "hello.js"), 'import { greeting } from "../lib.js"; export function hello() { return { body: greeting }; }');
    writeFileSync(join(dir, "app", "src", "lib.js"), 'export const greeting = "hi";');
    writeFileSync(join(dir, "app", "src", "notes.md"), "not a module");
    writeFileSync(join(dir, "bundle.json"), JSON.stringify({ metadata: { endpoints: { "/hello": { get: endpoint } } }, modules: [{ name: "endpoints/hello.js", module: "export function hello() {}" }] }));
    writeFileSync(join(dir, "bad_bundle.json"), JSON.stringify({ metadata: { endpoints: { "/hello": { get: endpoint } } }, modules: [] }));
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const write = (config: unknown): string => {
    const file = join(dir, "node.json");
    writeFileSync(file, JSON.stringify(config));
    return file;
  };

  it("reads CCF's Join command: node-to-node interface, target, retry timeout, fetch_recent_snapshot, service certificate and consensus timeouts", () => {
    const { node } = loadConfig(
      write({
        network: { rpc_interfaces: { main: { bind_address: "127.0.0.1:8010" } }, node_to_node_interface: { bind_address: "127.0.0.1:8011" } },
        consensus: { message_timeout: "50ms", election_timeout: "1s" },
        command: { type: "Join", service_certificate_file: "member0_cert.pem", join: { target_rpc_address: "127.0.0.1:8000", retry_timeout: "200ms" } },
      }),
    );
    assert.deepEqual(node.network, {
      nodeToNodeAddress: "127.0.0.1:8011",
      consensus: { messageTimeoutMs: 50, electionTimeoutMs: 1000 },
      join: { targetRpcAddress: "127.0.0.1:8000", retryMs: 200, fetchRecentSnapshot: true, serviceCertPem: certPem },
    });
    const joinWith = (join: Record<string, unknown>) =>
      write({
        network: { rpc_interfaces: { main: { bind_address: "127.0.0.1:8010" } }, node_to_node_interface: { bind_address: "127.0.0.1:8011" } },
        command: { type: "Join", service_certificate_file: "member0_cert.pem", join: { target_rpc_address: "127.0.0.1:8000", ...join } },
      });
    assert.equal(loadConfig(joinWith({ fetch_recent_snapshot: false })).node.network?.join?.fetchRecentSnapshot, false, "CCF's switch to replicate the whole ledger instead");
    assert.throws(
      () => loadConfig(joinWith({ fetch_recent_snapshot: "yes" })),
      (error: unknown) => error instanceof ConfigError && error.field === "command.join.fetch_recent_snapshot",
    );
    const started = loadConfig(write({ network: { rpc_interfaces: { main: { bind_address: "127.0.0.1:0" } }, node_to_node_interface: { bind_address: "127.0.0.1:0" } } })).node;
    assert.deepEqual(started.network, { nodeToNodeAddress: "127.0.0.1:0", consensus: {} }, "Start with channels: CCF's default timeouts");
    assert.equal(loadConfig(write({})).node.network, undefined, "no node-to-node interface: a node alone");
    assert.throws(
      () => loadConfig(write({ network: { node_to_node_interface: { bind_address: "127.0.0.1:1" }, rpc_interfaces: { m: { bind_address: "127.0.0.1:0" } } }, command: { type: "Join", service_certificate_file: "not_a_cert.pem", join: { target_rpc_address: "127.0.0.1:8000" } } })),
      (error: unknown) => error instanceof ConfigError && error.field === "command.service_certificate_file",
    );
  });

  it("reads CCF's Recover command: the node recovers the service whose ledger its ledger.directory holds", () => {
    const { node } = loadConfig(write({ ledger: { directory: "old-ledger" }, command: { type: "Recover" } }));
    assert.equal(node.recover, true);
    assert.match(node.ledgerDir!, /old-ledger$/);
    assert.equal(loadConfig(write({ command: { type: "Start" } })).node.recover, undefined);
    // CCF's own Recover configs carry a command.recover object.
    assert.equal(loadConfig(write({ command: { type: "Recover", recover: {} } })).node.recover, true);
  });

  it("reads the members, users, service data and app the config names", () => {
    const { node } = loadConfig(
      write({
        workspace: "ws",
        command: {
          type: "Start",
          start: { members: [{ certificate_file: "member0_cert.pem", encryption_public_key_file: "member0_enc_pubk.pem", data_json_file: "member0_data.json" }] },
        },
        users: [{ certificate_file: "user0_cert.pem" }],
        service_data_json_file: "service_data.json",
        js_app_bundle: "app",
      }),
    );
    assert.equal(node.dir, join(dir, "ws"));
    assert.equal(node.members?.length, 1);
    assert.equal(node.members?.[0]?.certPem, certPem);
    assert.match(node.members?.[0]?.encryptionPublicKeyPem ?? "", /BEGIN PUBLIC KEY/);
    assert.deepEqual(node.members?.[0]?.data, { is_operator: true });
    assert.deepEqual(node.users, [{ certPem }]);
    assert.deepEqual(node.serviceData, { name: "test" });
    assert.deepEqual(
      node.appBundle?.modules.map((m) => m.name),
      ["endpoints/hello.js", "lib.js"],
    );
    assert.deepEqual(Object.keys(node.appBundle?.metadata.endpoints ?? {}), ["/hello"]);
  });

  it("concatenates command.start.constitution_files in order into the constitution", () => {
    writeFileSync(join(dir, "actions.js"), "const actions = new Map();");
    writeFileSync(join(dir, "resolve.js"), 'export function resolve() { return "Open"; }');
    const { node } = loadConfig(write({ command: { type: "Start", start: { constitution_files: ["actions.js", "resolve.js"] } } }));
    assert.equal(node.constitution, 'const actions = new Map();\nexport function resolve() { return "Open"; }');
    assert.throws(() => loadConfig(write({ command: { type: "Start", start: { constitution_files: ["missing.js"] } } })), /command\.start\.constitution_files\[0\]/);
  });

  it("reads a bundle JSON file as well as an app directory", () => {
    assert.deepEqual(
      loadAppBundle(join(dir, "bundle.json")).modules.map((m) => m.name),
      ["endpoints/hello.js"],
    );
  });

  it("names the field of a file that is missing, unreadable or malformed", () => {
    const member = (files: Record<string, string>) => ({ command: { type: "Start", start: { members: [{ certificate_file: "member0_cert.pem", ...files }] } } });
    const cases: Array<[unknown, string]> = [
      [member({ certificate_file: "missing.pem" }), "command.start.members[0].certificate_file"],
      [member({ certificate_file: "not_a_cert.pem" }), "command.start.members[0].certificate_file"],
      [member({ encryption_public_key_file: "not_a_cert.pem" }), "command.start.members[0].encryption_public_key_file"],
      [member({ data_json_file: "not_json.json" }), "command.start.members[0].data_json_file"],
      [{ users: [{ certificate_file: "user0_cert.pem", data_json_file: "missing.json" }] }, "users[0].data_json_file"],
      [{ service_data_json_file: "not_json.json" }, "service_data_json_file"],
      [{ js_app_bundle: "missing" }, "js_app_bundle"],
      [{ js_app_bundle: "not_json.json" }, "js_app_bundle"],
      [{ js_app_bundle: "bad_bundle.json" }, "js_app_bundle"],
      [{ js_app_bundle: "ws" }, "js_app_bundle"],
    ];
    mkdirSync(join(dir, "ws"), { recursive: true });
    for (const [config, field] of cases) {
      assert.throws(
        () => loadConfig(write(config)),
        (error: unknown) => error instanceof ConfigError && error.field === field,
        `expected a ConfigError naming ${field}`,
      );
    }
  });

  it("reports a missing or non-JSON config file", () => {
    assert.throws(() => loadConfig(join(dir, "nope.json")), /config: cannot read/);
    assert.throws(() => loadConfig(join(dir, "not_json.json")), /config: .*not valid JSON/);
  });

  it("accepts the checked-in config that npm start uses", () => {
    const file = resolve(dirname(fileURLToPath(import.meta.url)), "../config/node0.json");
    const { node } = loadConfig(file);
    assert.equal(node.dir, resolve(dirname(fileURLToPath(import.meta.url)), "../../../workspace/node0"));
    assert.equal(node.port, 8000);
  });
});
