// confide: the command line of the SDK, for members and users of a service:
// make identities, ack, propose, vote, withdraw, deploy an app, open the
// service, read governance state, fetch and verify receipts; for an operator,
// `node list|add|trust|retire`; for a recovery member, `recovery share`; and `sandbox`,
// a whole local consortium (npm start).
// Exit codes: 0 success; 1 the service refused or the operation failed; 2 usage errors.
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  BundleError,
  CcfClientError,
  ConfideClient,
  Governance,
  Member,
  ReceiptError,
  CoseReceiptError,
  JwksError,
  deployApp,
  fetchJwks,
  keyVaultSigner,
  proposeAndAccept,
  readJwksFile,
  setJwtIssuer,
  keygen,
  listNodes,
  submitRecoveryShare,
  loadBundle,
  NodeStateError,
  pendingNodes,
  retireNode,
  trustNodes,
  openService,
  verifyCoseReceipt,
  verifyReceipt,
  type AcceptOptions,
  type Action,
  type Identity,
  type NodeInfo,
  type MemberSigner,
  type Proposal,
  type ProposalBody,
} from "../src/index.ts";
import { DEFAULT_BUNDLES, DEFAULT_PORT, DEFAULT_WORKSPACE, SandboxError, startSandbox, type RunningSandbox } from "../src/sandbox/sandbox.ts";
import { DEFAULT_USERS_PER_BANK } from "../src/sandbox/demo.ts";
import type { SandboxDescription } from "../src/sandbox/workspace.ts";
import { reconCommand } from "../src/recon/cli.ts";
import { describeDryRun, dryRunSucceeds } from "../src/dry-run-text.ts";
import { toHex } from "@confide/sdk";

const DEFAULT_URL = "https://127.0.0.1:8000";

/** Bad flags or unreadable input: exit code 2. */
class UsageError extends Error {}

interface ConnectionOptions {
  url: string;
  cacert?: string;
  cert?: string;
  key?: string;
  keyUrl?: string;
  keyCacert?: string;
  json?: boolean;
}

interface VoterOptions extends ConnectionOptions {
  voter: string[];
}

function connectionOptions(command: Command): Command {
  return command
    .addOption(new Option("--url <url>", "URL of a node").env("CONFIDE_URL").default(DEFAULT_URL))
    .addOption(new Option("--cacert <file>", "the service certificate (service_cert.pem), the only one trusted").env("CONFIDE_CACERT"))
    .addOption(new Option("--cert <file>", "your member or user certificate").env("CONFIDE_CERT"))
    .addOption(new Option("--key <file>", "your private key").env("CONFIDE_KEY"))
    .addOption(new Option("--key-url <url>", "sign governance with a key held by a key service (Azure Key Vault's sign API) instead of --key: https://<vault>/keys/<name>[/<version>]; bearer token from CONFIDE_KEY_TOKEN").env("CONFIDE_KEY_URL"))
    .addOption(new Option("--key-cacert <file>", "with --key-url: the CA certificate of the key service's TLS (else Node's default CAs)").env("CONFIDE_KEY_CACERT"))
    .option("--json", "print JSON, for scripts");
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file}: ${(error as Error).message}`);
  }
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${what} is not valid JSON: ${(error as Error).message}`);
  }
}

function identityOf(certFile: string, keyFile: string): Identity {
  return { certPem: readText(certFile, "certificate"), keyPem: readText(keyFile, "private key") };
}

/** Runs `use` with a client of the service, closing its connections afterwards. */
async function withClient<T>(options: ConnectionOptions, use: (client: ConfideClient) => Promise<T>): Promise<T> {
  if (options.cacert === undefined) throw new UsageError("--cacert (or CONFIDE_CACERT) is required: the service certificate to trust");
  const serviceCertPem = readText(options.cacert, "service certificate");
  const identity = options.cert !== undefined && options.key !== undefined ? identityOf(options.cert, options.key) : undefined;
  const client = new ConfideClient({ url: options.url, serviceCertPem, ...(identity ? { identity } : {}) });
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

function memberOf(options: ConnectionOptions, client: ConfideClient): Member {
  if (options.keyUrl !== undefined) return new Member(client, keyServiceMember(options, options.keyUrl));
  if (options.cert === undefined || options.key === undefined) throw new UsageError("--cert and --key (or CONFIDE_CERT, CONFIDE_KEY) are required: the member's identity");
  return new Member(client, identityOf(options.cert, options.key));
}

/** The member's certificate, signing with the key service's key at `keyUrl`. */
function keyServiceMember(options: ConnectionOptions, keyUrl: string): MemberSigner {
  if (options.cert === undefined) throw new UsageError("--key-url needs --cert (or CONFIDE_CERT): the member's certificate");
  const token = process.env["CONFIDE_KEY_TOKEN"];
  if (token === undefined) throw new UsageError("--key-url needs the key service's bearer token in CONFIDE_KEY_TOKEN");
  const caCertPem = options.keyCacert === undefined ? undefined : readText(options.keyCacert, "key service CA certificate");
  return { certPem: readText(options.cert, "certificate"), signer: keyVaultSigner({ keyUrl, token: () => token, ...(caCertPem === undefined ? {} : { caCertPem }) }) };
}

/** The member running the command, then each --voter <cert,key>. */
function votersOf(options: VoterOptions, client: ConfideClient): Member[] {
  const voters = options.voter.map((pair) => {
    const [cert, key, ...rest] = pair.split(",");
    if (!cert || !key || rest.length > 0) throw new UsageError(`--voter expects <cert_file>,<key_file>, got ${JSON.stringify(pair)}`);
    return new Member(client, identityOf(cert, key));
  });
  return [memberOf(options, client), ...voters];
}

function print(options: { json?: boolean }, value: unknown, human: () => string): void {
  process.stdout.write(options.json === true ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

interface ReceiptOptions extends ConnectionOptions {
  verify?: boolean;
  cose?: boolean;
  out?: string;
}

async function printCoseReceipt(client: ConfideClient, txId: string, options: ReceiptOptions): Promise<void> {
  const receipt = await client.coseReceipt(txId);
  if (options.out !== undefined) writeFileSync(options.out, receipt);
  const verified = options.verify === true ? verifyCoseReceipt(receipt, client.serviceCertPem) : undefined;
  const facts = verified === undefined ? {} : { verified: true, root: verified.root.toString("hex"), signedAt: verified.txId, issuedAt: verified.issuedAtS };
  print(options, { txId, coseReceipt: receipt.toString("base64"), ...facts }, () =>
    [
      options.out === undefined ? receipt.toString("base64") : `COSE receipt for ${txId} written to ${options.out} (${receipt.length} bytes)`,
      ...(verified === undefined
        ? []
        : [`COSE receipt for ${txId} verified against the service certificate (root ${facts.root}, signed by the service at ${verified.txId})`]),
    ].join("\n"),
  );
}

function describeProposal(proposal: Proposal): string {
  const failure = proposal.failure ? ` (${proposal.failure.reason})` : "";
  return `proposal ${proposal.proposalId}: ${proposal.proposalState}, ${proposal.ballotCount} ballot(s)${failure}`;
}

function progress(options: ConnectionOptions): AcceptOptions {
  return options.json === true ? {} : { onBallot: (proposal, voter) => void process.stdout.write(`ballot by ${voter.id}: ${proposal.proposalState}\n`) };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function describeNode(node: NodeInfo): string {
  // Only a Trusted node takes part in consensus: a Pending or Retired one is neither primary nor backup.
  const role = node.primary ? "primary" : node.status === "Trusted" ? "backup" : "-";
  return `${node.nodeId}  ${node.status}  ${role}  ${node.rpcAddress ?? "-"}`;
}

/** `confide node`: an operator's view of the service's nodes, and the members' proposals that trust or retire one. */
function nodeCommand(program: Command): void {
  const node = program.command("node").description("the service's nodes: list them, trust the ones that joined (Pending), retire one");
  connectionOptions(node.command("list"))
    .description("list the nodes (id, status, primary or backup, RPC address), as the node at --url sees them")
    .action(async (options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const nodes = await listNodes(client);
        print(options, nodes, () => nodes.map(describeNode).join("\n"));
      }),
    );
  const trust = (nodeIds: (client: ConfideClient) => Promise<string[]>) => async (options: VoterOptions) =>
    withClient(options, async (client) => {
      const voters = votersOf(options, client);
      const ids = await nodeIds(client);
      const result = await trustNodes(ids, voters, progress(options));
      print(options, { nodeIds: ids, proposal: result }, () => `trusted ${ids.join(", ")}: ${describeProposal(result)}`);
    });
  connectionOptions(node.command("add"))
    .description("trust every Pending node (one that has joined and waits) by a transition_node_to_trusted proposal you propose and vote for, then each --voter")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(
      trust(async (client) => {
        const pending = await pendingNodes(client);
        if (pending.length === 0) throw new NodeStateError("no node is Pending: start a node with command.type \"Join\" first (confide node list shows them)");
        return pending.map((n) => n.nodeId);
      }),
    );
  connectionOptions(node.command("trust"))
    .description("trust one Pending node by a transition_node_to_trusted proposal you propose and vote for, then each --voter")
    .argument("<nodeId>", "the node's id (confide node list)")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (nodeId: string, options: VoterOptions) => trust(async () => [nodeId])(options));
  connectionOptions(node.command("retire"))
    .description("retire a node by a remove_node proposal you propose and vote for, then each --voter (a Pending node is forgotten)")
    .argument("<nodeId>", "the node's id (confide node list)")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (nodeId: string, options: VoterOptions) =>
      withClient(options, async (client) => {
        const { proposal, status } = await retireNode(nodeId, votersOf(options, client), progress(options));
        print(options, { nodeId, status, proposal }, () => `node ${nodeId} ${status}: ${describeProposal(proposal)}`);
      }),
    );
}

function portNumber(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0 || value > 65535) throw new InvalidArgumentError("expected a port number (0-65535; 0 picks a free port)");
  return value;
}

function usersPerBank(text: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > 50) throw new InvalidArgumentError("expected an integer from 1 to 50");
  return value;
}

interface SandboxFlags {
  workspace?: string;
  fresh?: boolean;
  recover?: boolean;
  port: number;
  bankingPort?: number;
  consolePort?: number;
  idpPort?: number;
  usersPerBank: number;
  reconciliationBundle?: string;
  bankingBundle?: string;
}

/**
 * Runs the sandbox until SIGINT or SIGTERM, then closes both nodes (ledgers
 * signed and flushed) and returns; a signal during start-up stops it between
 * steps. A second Ctrl-C takes Node's default action and ends it at once.
 */
async function sandbox(flags: SandboxFlags): Promise<void> {
  // npm runs `npm start` from the repository root and says in INIT_CWD where it was typed: paths are relative to that.
  const cwd = process.env["INIT_CWD"] ?? process.cwd();
  const abort = new AbortController();
  const signalled = new Promise<string>((resolveSignal) => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolveSignal(signal));
  });
  void signalled.then(() => abort.abort());
  const starting = startSandbox({
    workspace: flags.workspace === undefined ? DEFAULT_WORKSPACE : resolve(cwd, flags.workspace),
    fresh: flags.fresh === true,
    ...(flags.recover ? { recover: true } : {}),
    port: flags.port,
    bankingPort: flags.bankingPort ?? (flags.port === 0 ? 0 : flags.port + 1),
    consolePort: flags.consolePort ?? (flags.port === 0 ? 0 : flags.port + 2),
    idpPort: flags.idpPort ?? (flags.port === 0 ? 0 : flags.port + 3),
    usersPerBank: flags.usersPerBank,
    bundles: {
      reconciliation: flags.reconciliationBundle === undefined ? DEFAULT_BUNDLES.reconciliation : resolve(cwd, flags.reconciliationBundle),
      banking: flags.bankingBundle === undefined ? DEFAULT_BUNDLES.banking : resolve(cwd, flags.bankingBundle),
    },
    displayCwd: cwd,
    out: (line) => void process.stdout.write(`${line}\n`),
    err: (line) => void process.stderr.write(`${line}\n`),
    signal: abort.signal,
  });
  let running: RunningSandbox;
  try {
    running = await starting;
  } catch (error) {
    if (!abort.signal.aborted) throw error;
    process.stdout.write("stopped during start-up; nodes closed cleanly\n");
    return;
  }
  const signal = await signalled;
  process.stdout.write(`${signal}: stopping both nodes\n`);
  await running.stop();
  process.stdout.write("sandbox stopped: ledgers signed and flushed\n");
}

interface RecoveryShareOptions extends ConnectionOptions {
  encKey?: string;
  member?: string;
  service?: string;
  workspace?: string;
}

/** `--member <name>` of a sandbox workspace: its certificate, signing and encryption keys, and the service's URL and certificate. */
function sandboxMember(options: RecoveryShareOptions): RecoveryShareOptions {
  if (options.member === undefined) return options;
  const workspace = options.workspace === undefined ? DEFAULT_WORKSPACE : resolve(process.env["INIT_CWD"] ?? process.cwd(), options.workspace);
  const description = parseJson(readText(join(workspace, "sandbox.json"), "sandbox description"), "sandbox.json") as SandboxDescription;
  const member = description.members.find((m) => m.name === options.member || m.party === options.member);
  if (member === undefined) throw new UsageError(`no member ${JSON.stringify(options.member)} in ${workspace}/sandbox.json (members: ${description.members.map((m) => m.name).join(", ")})`);
  const serviceName = options.service ?? "reconciliation";
  const service = description.services.find((s) => s.name === serviceName);
  if (service === undefined) throw new UsageError(`no service ${JSON.stringify(serviceName)} in ${workspace}/sandbox.json`);
  return { ...options, url: service.url, cacert: service.serviceCertificate, cert: member.certificate, key: member.signingKey, encKey: member.encryptionKey };
}

function recoveryCommand(program: Command): void {
  const recovery = program.command("recovery").description("disaster recovery: a recovery member's share for a service recovering from its ledger");
  connectionOptions(recovery.command("share"))
    .description("fetch your recovery share (encrypted to your RSA key), decrypt it here with --enc-key, and submit it signed to the recovering service")
    .option("--enc-key <file>", "your RSA encryption private key (<name>_enc_privk.pem)")
    .option("--member <name>", "a sandbox member (e.g. bank_a or \"Bank A\"): its keys and the service's URL and certificate come from the workspace's sandbox.json")
    .option("--service <name>", "with --member: the sandbox service (reconciliation or banking)", "reconciliation")
    .option("--workspace <dir>", "with --member: the sandbox workspace (default: workspace/ at the repository root)")
    .action(async (given: RecoveryShareOptions) => {
      const options = sandboxMember(given);
      if (options.encKey === undefined) throw new UsageError("--enc-key (or --member in a sandbox) is required: your RSA encryption private key");
      const encryptionKeyPem = readText(options.encKey, "encryption private key");
      await withClient(options, async (client) => {
        const member = memberOf(options, client);
        const result = await submitRecoveryShare(member, encryptionKeyPem);
        print(options, { memberId: member.id, ...result }, () => `member ${member.id}: ${result.message.replace("\n", "; ")}`);
      });
    });
}

function buildProgram(): Command {
  const program = new Command("confide")
    .description("Govern and use a Confide (CCF) service: identities, proposals, ballots, apps, receipts")
    .exitOverride()
    .showHelpAfterError("(add --help for usage)");

  program
    .command("keygen")
    .description("make a P-384 key and self-signed certificate (<name>_privk.pem, <name>_cert.pem), as CCF's keygenerator.sh")
    .requiredOption("--name <name>", "identity name: file prefix and certificate CN")
    .option("--enc", "also make an RSA-2048 encryption key pair (<name>_enc_privk.pem, <name>_enc_pubk.pem) for a recovery member")
    .option("--out <dir>", "directory to write into", ".")
    .option("--json", "print JSON, for scripts")
    .action(async (options: { name: string; enc?: boolean; out: string; json?: boolean }) => {
      const identity = await keygen(options.name, { dir: options.out, encryption: options.enc === true }).catch((error: Error) => {
        throw new UsageError(error.message);
      });
      print(options, { name: identity.name, id: identity.id, files: identity.files }, () => [`${identity.name} id ${identity.id}`, ...Object.values(identity.files).map((file) => `wrote ${file}`)].join("\n"));
    });

  connectionOptions(program.command("ack"))
    .description("acknowledge the service's state digest: an Accepted member becomes Active")
    .action(async (options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const member = memberOf(options, client);
        await member.ackStateDigest();
        print(options, { memberId: member.id, status: "Active" }, () => `member ${member.id} is Active`);
      }),
    );

  connectionOptions(program.command("propose"))
    .description("submit a proposal: a JSON file {actions: [...]}, or one --action with --args")
    .argument("[file]", "proposal JSON file")
    .option("--action <name>", "a single action, e.g. set_user")
    .option("--args <json>", "the action's arguments as JSON")
    .option("--dry-run", "only show what it would do (validate, the KV diff and app endpoint diff of apply): nothing is proposed; exit 1 if it would be refused or fail")
    .action(async (file: string | undefined, options: ConnectionOptions & { action?: string; args?: string; dryRun?: boolean }) => {
      if ((file === undefined) === (options.action === undefined)) throw new UsageError("give either a proposal file or --action");
      if (file !== undefined && options.args !== undefined) throw new UsageError("--args goes with --action");
      let proposal: ProposalBody;
      if (file !== undefined) {
        proposal = parseJson(readText(file, "proposal"), file) as ProposalBody;
        if (!Array.isArray(proposal?.actions)) throw new UsageError(`${file} must hold {"actions": [...]}`);
      } else {
        const action: Action = { name: options.action! };
        if (options.args !== undefined) action.args = parseJson(options.args, "--args");
        proposal = { actions: [action] };
      }
      await withClient(options, async (client) => {
        if (options.dryRun === true) {
          const outcome = await memberOf(options, client).dryRun(proposal);
          print(options, outcome, () => describeDryRun(outcome));
          if (!dryRunSucceeds(outcome)) process.exitCode = 1;
          return;
        }
        const result = await memberOf(options, client).propose(proposal);
        print(options, result, () => describeProposal(result));
      });
    });

  connectionOptions(program.command("vote"))
    .description("vote on a proposal: --accept, --reject, or a ballot module from --ballot")
    .argument("<proposalId>", "the proposal's id")
    .option("--accept", "vote yes")
    .option("--reject", "vote no")
    .option("--ballot <file>", "a ballot: JS module exporting vote(proposal, proposerId)")
    .action(async (proposalId: string, options: ConnectionOptions & { accept?: boolean; reject?: boolean; ballot?: string }) => {
      const choices = [options.accept, options.reject, options.ballot].filter((choice) => choice !== undefined);
      if (choices.length !== 1) throw new UsageError("give exactly one of --accept, --reject, --ballot <file>");
      const ballot = options.ballot !== undefined ? readText(options.ballot, "ballot") : options.accept === true;
      await withClient(options, async (client) => {
        const result = await memberOf(options, client).vote(proposalId, ballot);
        print(options, result, () => describeProposal(result));
      });
    });

  connectionOptions(program.command("withdraw"))
    .description("withdraw one of your Open proposals")
    .argument("<proposalId>", "the proposal's id")
    .action(async (proposalId: string, options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const result = await memberOf(options, client).withdraw(proposalId);
        print(options, result ?? null, () => (result ? describeProposal(result) : `no proposal ${proposalId}: nothing withdrawn`));
      }),
    );

  connectionOptions(program.command("proposals"))
    .description("list proposals")
    .action(async (options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const proposals = await new Governance(client).proposals();
        print(options, proposals, () => (proposals.length === 0 ? "no proposals" : proposals.map((p) => `${p.proposalId}  ${p.proposalState}  ballots ${p.ballotCount}  proposer ${p.proposerId}`).join("\n")));
      }),
    );

  connectionOptions(program.command("members"))
    .description("list members")
    .action(async (options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const members = await new Governance(client).members();
        print(options, members, () => members.map((m) => `${m.memberId}  ${m.status}${m.memberData === undefined ? "" : `  ${JSON.stringify(m.memberData)}`}`).join("\n"));
      }),
    );

  connectionOptions(program.command("users"))
    .description("list users")
    .action(async (options: ConnectionOptions) =>
      withClient(options, async (client) => {
        const users = await new Governance(client).users();
        print(options, users, () => (users.length === 0 ? "no users" : users.map((u) => `${u.userId}${u.userData === undefined ? "" : `  ${JSON.stringify(u.userData)}`}`).join("\n")));
      }),
    );

  connectionOptions(program.command("deploy"))
    .description("deploy a JS app (bundle.json or a directory with app.json and src/) by a set_js_app proposal you propose and vote for, then each --voter")
    .argument("<bundle>", "bundle JSON file or app directory")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (path: string, options: VoterOptions) => {
      const bundle = loadBundle(path);
      await withClient(options, async (client) => {
        const result = await deployApp(bundle, votersOf(options, client), progress(options));
        print(options, result, () => `deployed ${path}: ${describeProposal(result)}`);
      });
    });

  connectionOptions(program.command("open"))
    .description("open the service (transition_service_to_open) by a proposal you propose and vote for, then each --voter")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (options: VoterOptions) =>
      withClient(options, async (client) => {
        const result = await openService(votersOf(options, client), progress(options));
        print(options, result, () => `service open: ${describeProposal(result)}`);
      }),
    );

  const jwt = program.command("jwt").description("trust JWT issuers: the app's `jwt` endpoints then accept their tokens");
  connectionOptions(jwt.command("add"))
    .description("trust an issuer and its signing keys by CCF's set_jwt_issuer proposal, which you propose and vote for, then each --voter")
    .requiredOption("--issuer <iss>", "the issuer, as its tokens' iss claim names it")
    .option("--jwks-file <file>", "the issuer's signing keys, a JWKS file")
    .option("--jwks-url <url>", "the issuer's JWKS URL: fetched now, and its keys put in the proposal")
    .option("--jwks-cacert <file>", "with --jwks-url: the CA certificate of the issuer's TLS (else Node's default CAs)")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (options: VoterOptions & { issuer: string; jwksFile?: string; jwksUrl?: string; jwksCacert?: string }) => {
      if ((options.jwksFile === undefined) === (options.jwksUrl === undefined)) throw new UsageError("give either --jwks-file or --jwks-url");
      const jwks =
        options.jwksFile !== undefined
          ? readJwksFile(options.jwksFile)
          : await fetchJwks(options.jwksUrl!, options.jwksCacert === undefined ? undefined : readText(options.jwksCacert, "issuer CA certificate"));
      await withClient(options, async (client) => {
        const result = await proposeAndAccept([setJwtIssuer(options.issuer, jwks)], votersOf(options, client), progress(options));
        print(options, result, () => `issuer ${options.issuer} trusted with ${jwks.keys.length} key(s) (${jwks.keys.map((k) => k.kid).join(", ")}): ${describeProposal(result)}`);
      });
    });
  connectionOptions(jwt.command("remove"))
    .description("stop trusting an issuer (CCF's remove_jwt_issuer), proposed and voted for by you, then each --voter")
    .requiredOption("--issuer <iss>", "the issuer")
    .option("--voter <cert,key>", "another member who votes yes (repeatable)", collect, [])
    .action(async (options: VoterOptions & { issuer: string }) =>
      withClient(options, async (client) => {
        const result = await proposeAndAccept([{ name: "remove_jwt_issuer", args: { issuer: options.issuer } }], votersOf(options, client), progress(options));
        print(options, result, () => `issuer ${options.issuer} no longer trusted: ${describeProposal(result)}`);
      }),
    );

  nodeCommand(program);
  recoveryCommand(program);

  connectionOptions(program.command("receipt"))
    .description("fetch the receipt of a transaction once committed; --verify checks it against the service certificate")
    .argument("<txid>", "transaction id, e.g. 2.15")
    .option("--verify", "verify the receipt against --cacert")
    .option("--cose", "the COSE receipt (CBOR, signed by the service key) instead of the JSON one")
    .option("--out <file>", "with --cose: write the receipt's bytes to this file")
    .action(async (txId: string, options: ReceiptOptions) => {
      if (!/^\d+\.\d+$/.test(txId)) throw new UsageError(`transaction id must be <view>.<seqno>, got ${JSON.stringify(txId)}`);
      if (options.out !== undefined && options.cose !== true) throw new UsageError("--out needs --cose (the JSON receipt is printed)");
      await withClient(options, async (client) => {
        await client.waitForCommit(txId);
        if (options.cose === true) return printCoseReceipt(client, txId, options);
        const receipt = await client.receipt(txId);
        const root = options.verify === true ? toHex((await verifyReceipt(receipt, client.serviceCertPem)).root) : undefined;
        print(options, { txId, receipt, ...(root === undefined ? {} : { verified: true, root }) }, () =>
          [JSON.stringify(receipt, null, 2), ...(root === undefined ? [] : [`receipt for ${txId} verified against the service certificate (root ${root})`])].join("\n"),
        );
      });
    });

  program
    .command("sandbox")
    .description(
      "start a local consortium (what npm start runs): members Bank A/B/C and their users, a reconciliation service and a banking service, " +
        "each opened and its app deployed by proposals; prints URLs, certificates and curl lines; Ctrl-C stops it cleanly",
    )
    .option("--workspace <dir>", "workspace directory, reused on the next start (default: workspace/ at the repository root)")
    .option("--fresh", "start over: delete the workspace's keys/, reconciliation/, banking/ and sandbox.json (nothing else)")
    .addOption(new Option("--recover", "disaster recovery of a stopped or killed sandbox: each service comes back from its workspace ledger once two of the three banks submit their recovery shares").conflicts("fresh"))
    .option("--port <port>", "port of the reconciliation service (0 picks a free one)", portNumber, DEFAULT_PORT)
    .option("--banking-port <port>", "port of the banking service (default: --port + 1; 0 picks a free one)", portNumber)
    .option("--console-port <port>", "port of the web console (default: --port + 2; 0 picks a free one)", portNumber)
    .option("--idp-port <port>", "port of the demo identity provider, a JWT issuer the reconciliation service trusts (default: --port + 3; 0 picks a free one)", portNumber)
    .option("--users-per-bank <n>", "users made for each bank", usersPerBank, DEFAULT_USERS_PER_BANK)
    .option("--reconciliation-bundle <file>", "reconciliation app bundle (default: apps/reconciliation/dist/bundle.json)")
    .option("--banking-bundle <file>", "banking app bundle (default: apps/banking/dist/bundle.json)")
    .action(sandbox);

  program.addCommand(reconCommand());

  return program;
}

/** The exit code for an error, after printing what went wrong. */
function report(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2; // commander printed it already
  if (error instanceof SandboxError) {
    process.stderr.write(`error: ${error.message}\n`);
    return error.exitCode;
  }
  const usage = error instanceof UsageError || error instanceof BundleError || error instanceof JwksError;
  let message = error instanceof Error ? error.message : String(error);
  if (error instanceof CcfClientError) message = `${error.status}${error.code === undefined ? "" : ` ${error.code}`}: ${error.message}`;
  if (error instanceof ReceiptError || error instanceof CoseReceiptError) message = `receipt does not verify: ${error.message}`;
  process.stderr.write(`error: ${message}\n`);
  return usage ? 2 : 1;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  process.exitCode = report(error);
}
