// What the sandbox prints once ready: where each service is, where the
// certificates and keys are, and a curl line per app that works as printed
// (paths relative to the directory the command was typed in).
import { basename, dirname, isAbsolute, join, relative } from "node:path";
import { SANDBOX_JSON, type SandboxDescription, type ServiceEntry, type UserEntry } from "./workspace.ts";

/** The line a script (or the test) waits for. */
export const READY_PREFIX = "Confide sandbox ready";

/** POSIX shell quoting: bare when safe, else single quotes. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Paths as the person at the terminal can use them: relative to where they
 * typed the command (npm runs scripts from the package root but says where
 * in INIT_CWD), absolute when the file is elsewhere.
 */
export function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel) ? rel : path;
}

/** The app call each service's curl line makes, as the given user. */
export const CURL_PATHS: Record<string, string> = {
  reconciliation: "/app/report",
  banking: "/app/balance/checking",
};

export function curlLine(service: ServiceEntry, user: UserEntry, cwd: string): string {
  const path = (file: string) => shellQuote(displayPath(file, cwd));
  return ["curl", "--cacert", path(service.serviceCertificate), "--cert", path(user.certificate), "--key", path(user.key), shellQuote(`${service.url}${CURL_PATHS[service.name]}`)].join(" ");
}

/** Two lines: ask the demo identity provider for a token naming the user's party, then call the reconciliation app with it. */
export function tokenCurlLines(description: SandboxDescription, user: UserEntry, cwd: string): [string, string] {
  const idp = description.identityProvider!;
  const service = description.services.find((s) => s.name === "reconciliation")!;
  const tokenUrl = `${idp.tokenUrl}?sub=${encodeURIComponent(user.name)}&party=${encodeURIComponent(user.party)}`;
  return [
    `TOKEN=$(curl -s --cacert ${shellQuote(displayPath(idp.caCertificate, cwd))} ${shellQuote(tokenUrl)} | jq -r .access_token)`,
    `curl --cacert ${shellQuote(displayPath(service.serviceCertificate, cwd))} -H "Authorization: Bearer $TOKEN" ${shellQuote(`${service.url}${CURL_PATHS[service.name]}`)}`,
  ];
}

export function readyText(description: SandboxDescription, seconds: number, cwd: string): string {
  const show = (file: string) => displayPath(file, cwd);
  const user = description.users[0]!;
  const member = description.members[0]!;
  const width = Math.max(...description.services.map((s) => s.name.length));
  const lines = [
    "",
    `${READY_PREFIX} in ${seconds.toFixed(1)} s: ${description.services.length} services, ${description.members.length} members, ${description.users.length} users`,
    "",
    ...description.services.flatMap((s) => [`  ${s.name.padEnd(width)}  ${s.url}  service certificate ${show(s.serviceCertificate)}`, ...nodeLines(s, width)]),
    ...(description.console ? [`  ${"console".padEnd(width)}  ${description.console.url}  (web console: acts as any member or user of the workspace)`] : []),
    ...(description.identityProvider ? [`  ${"idp".padEnd(width)}  ${description.identityProvider.issuer}  (demo JWT issuer the reconciliation service trusts; CA ${show(description.identityProvider.caCertificate)})`] : []),
    "",
    `  keys      ${show(dirname(user.certificate))}/: members ${description.members.map((m) => m.party).join(", ")} (${basename(member.certificate)}, ${basename(member.signingKey)}, ${basename(member.encryptionKey)}, …),`,
    `            ${description.users.length / description.members.length} users per bank (${basename(user.certificate)}, ${basename(user.key)}, …)`,
    `  scripts   ${show(join(description.workspace, SANDBOX_JSON))}: every service, member and user, with file paths`,
    "",
    `Try it, as ${user.party}'s first user (${user.name}):`,
    ...description.services.map((s) => `  ${curlLine(s, user, cwd)}`),
    ...(description.identityProvider
      ? ["", `Or as ${user.party} with a token from the demo identity provider (its party claim names the bank):`, ...tokenCurlLines(description, user, cwd).map((line) => `  ${line}`)]
      : []),
    "",
    stopLine(description),
  ];
  return lines.join("\n");
}

/** With several nodes per service, one line per node: where it is, its role, its process and log. */
function nodeLines(service: ServiceEntry, width: number): string[] {
  if (service.nodes.length < 2) return [];
  return service.nodes.map((node, i) => `  ${"".padEnd(width)}    node ${i}  ${node.url}  ${node.role.padEnd(7)}  pid ${node.pid}  ${node.nodeId.slice(0, 12)}…`);
}

/** One node per service can resume from its ledger; a node of a multi-node service cannot restart (CCF's rule). */
function stopLine(description: SandboxDescription): string {
  const count = description.services.reduce((sum, s) => sum + s.nodes.length, 0);
  if (count === description.services.length) return "Ctrl-C stops both nodes cleanly (ledgers signed and flushed); run it again to resume, with --fresh to start over.";
  return `Ctrl-C stops all ${count} nodes cleanly (ledgers signed and flushed); a multi-node sandbox does not resume: start the next one with --fresh.`;
}
