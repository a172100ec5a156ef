// Brings one service to "open, app deployed, demo data loaded" the way a
// consortium does it on CCF: members ack the state digest, then proposals
// voted through by two of the three banks (users, the app, opening the
// service), then the apps' own calls. Every step first reads the service's
// state and does only what is missing, so a recovered service proposes nothing
// twice. recoverService is the members' part in a disaster recovery.
import { readFileSync } from "node:fs";
import type { Bundle } from "@confide/node";
import { ConfideClient, type CcfResponse } from "../client.ts";
import { Member, openService, proposeAndAccept, type Action, type Proposal } from "../governance.ts";
import { submitRecoveryShare } from "../recovery.ts";
import { ACCOUNT_NAMES, OPENING_DEPOSIT, PARTIES, TRADES, TRANSFERS, VOTERS_PER_PROPOSAL, tradesCsv, type Party } from "./demo.ts";
import type { Consortium, SandboxUser } from "./identities.ts";
import { setJwtIssuer, type Jwks } from "../jwt-issuer.ts";
import type { ServiceName } from "./workspace.ts";

export interface ServiceSetup {
  name: ServiceName;
  url: string;
  serviceCertPem: string;
  consortium: Consortium;
  bundle: Bundle;
  /** Actions proposed together with set_js_app (the reconciliation schema and policy). */
  appActions: Action[];
  /** A JWT issuer the service is to trust (the demo identity provider), with its keys. */
  jwtIssuer?: { issuer: string; jwks: Jwks };
  /** Prints one line of progress. */
  say: (line: string) => void;
}

/** A set-up step that found the service in a state it cannot work from. */
export class SetupError extends Error {
  override name = "SetupError";
}

/** Runs every missing step; returns the names of the steps that did something. */
export async function setUpService(setup: ServiceSetup): Promise<string[]> {
  const session = new Session(setup);
  try {
    const done: string[] = [];
    if (await session.ackMembers()) done.push("ack");
    if (await session.setRecoveryThreshold()) done.push("recovery threshold");
    if (await session.addUsers()) done.push("users");
    if (await session.deployApp()) done.push("app");
    if (await session.trustJwtIssuer()) done.push("jwt");
    if (await session.open()) done.push("open");
    if (await (setup.name === "reconciliation" ? session.ingestTrades() : session.openAccounts())) done.push("data");
    return done;
  } finally {
    session.close();
  }
}

/** How long a recovered service may take to restore its private state and open. */
const RECOVERY_OPEN_TIMEOUT_MS = 60_000;

/**
 * The banks' part in the disaster recovery of a service whose node restarted with command
 * "Recover": two of them open it to recovery shares (transition_service_to_open with both
 * identities), then two submit their shares (fetched, decrypted with the bank's own encryption
 * key, signed); resolves once the private state is back and the service Open.
 */
export async function recoverService(setup: Omit<ServiceSetup, "bundle" | "appActions">, previousServiceCertPem: string): Promise<void> {
  const session = new Session({ ...setup, bundle: { metadata: { endpoints: {} }, modules: [] }, appActions: [] });
  try {
    await session.recover(previousServiceCertPem);
  } finally {
    session.close();
  }
}

/** The clients one set-up run needs: anonymous governance reads, each member, each user. */
class Session {
  private readonly gov: ConfideClient;
  private readonly members: Member[];
  private readonly memberClients = new Map<Party, ConfideClient>();
  private readonly userClients = new Map<string, ConfideClient>();
  private rotation = 0;

  constructor(private readonly setup: ServiceSetup) {
    const { url, serviceCertPem } = setup;
    this.gov = new ConfideClient({ url, serviceCertPem });
    this.members = setup.consortium.members.map((m) => new Member(this.gov, m.identity));
    for (const m of setup.consortium.members) this.memberClients.set(m.party, new ConfideClient({ url, serviceCertPem, identity: m.identity }));
    for (const u of setup.consortium.users) this.userClients.set(u.id, new ConfideClient({ url, serviceCertPem, identity: u.identity }));
  }

  close(): void {
    for (const client of [this.gov, ...this.memberClients.values(), ...this.userClients.values()]) client.close();
  }

  private say(line: string): void {
    this.setup.say(`${this.setup.name}: ${line}`);
  }

  /** The next two members in turn (A+B, B+C, C+A, ...): any two of the three carry a proposal. */
  private nextVoters(): Member[] {
    const voters = Array.from({ length: VOTERS_PER_PROPOSAL }, (_, i) => this.members[(this.rotation + i) % this.members.length]!);
    this.rotation++;
    return voters;
  }

  private partyOf(member: Member): string {
    return this.setup.consortium.members.find((m) => m.id === member.id)?.party ?? member.id;
  }

  private async pass(what: string, propose: (voters: Member[]) => Promise<Proposal>): Promise<void> {
    const voters = this.nextVoters();
    const proposal = await propose(voters);
    this.say(`proposal ${proposal.proposalId.slice(0, 10)}… ${what}: ${proposal.proposalState} (yes: ${voters.map((v) => this.partyOf(v)).join(", ")})`);
  }

  /** Genesis members start Accepted; each signs the state digest to become Active. */
  async ackMembers(): Promise<boolean> {
    const statuses = new Map((await this.members[0]!.members()).map((m) => [m.memberId, m.status]));
    const pending = this.members.filter((m) => statuses.get(m.id) === "Accepted");
    const unknown = this.members.filter((m) => !statuses.has(m.id));
    if (unknown.length > 0) throw new SetupError(`members ${unknown.map((m) => this.partyOf(m)).join(", ")} are not members of this service: its ledger was made with other keys (start over with --fresh)`);
    for (const member of pending) await member.ackStateDigest();
    if (pending.length > 0) this.say(`${pending.map((m) => this.partyOf(m)).join(", ")} acked the state digest: Active`);
    return pending.length > 0;
  }

  /** Any two of the three banks recover the service; none alone (CCF's default threshold is 1). */
  async setRecoveryThreshold(): Promise<boolean> {
    const threshold = (await this.members[0]!.serviceInfo()).configuration?.recoveryThreshold;
    if (threshold === VOTERS_PER_PROPOSAL) return false;
    await this.pass(`set_recovery_threshold ${VOTERS_PER_PROPOSAL}`, (voters) => proposeAndAccept([{ name: "set_recovery_threshold", args: { recovery_threshold: VOTERS_PER_PROPOSAL } }], voters));
    return true;
  }

  async recover(previousServiceCertPem: string): Promise<void> {
    if ((await this.members[0]!.serviceInfo()).status === "Recovering") {
      const args = { previous_service_identity: previousServiceCertPem, next_service_identity: this.setup.serviceCertPem };
      await this.pass("transition_service_to_open (previous and next identity)", (voters) => proposeAndAccept([{ name: "transition_service_to_open", args }], voters));
    }
    const sharers = this.setup.consortium.members.slice(0, VOTERS_PER_PROPOSAL);
    for (const [i, sandboxMember] of sharers.entries()) {
      const result = await submitRecoveryShare(this.members[i]!, readFileSync(sandboxMember.files.encryptionPrivateKey, "utf8"));
      this.say(`${sandboxMember.party} submitted its recovery share: ${result.message.replace("\n", "; ")}`);
    }
    const deadline = Date.now() + RECOVERY_OPEN_TIMEOUT_MS;
    while ((await this.members[0]!.serviceInfo()).status !== "Open") {
      if (Date.now() > deadline) throw new SetupError(`the recovered service did not open within ${RECOVERY_OPEN_TIMEOUT_MS / 1000} s: see its node.log`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.say("private state restored from the ledger with the shares: the service is Open again");
  }

  async addUsers(): Promise<boolean> {
    const present = new Set((await this.members[0]!.users()).map((u) => u.userId));
    const missing = this.setup.consortium.users.filter((u) => !present.has(u.id));
    if (missing.length === 0) return false;
    const actions = missing.map((u) => ({ name: "set_user", args: { cert: u.identity.certPem, user_data: { party: u.party } } }));
    await this.pass(`set_user ×${missing.length}`, (voters) => proposeAndAccept(actions, voters));
    return true;
  }

  async deployApp(): Promise<boolean> {
    const modules = (await this.gov.call("GET", "/gov/service/javascript-modules?api-version=2024-07-01")).json as { value: unknown[] };
    if (modules.value.length > 0) return false;
    const actions: Action[] = [{ name: "set_js_app", args: { bundle: this.setup.bundle } }, ...this.setup.appActions];
    await this.pass(actions.map((a) => a.name).join(" + "), (voters) => proposeAndAccept(actions, voters));
    return true;
  }

  /** set_jwt_issuer, unless the service already trusts the issuer with these keys (a restart, same workspace). */
  async trustJwtIssuer(): Promise<boolean> {
    const wanted = this.setup.jwtIssuer;
    if (wanted === undefined) return false;
    const jwk = (await this.gov.call("GET", "/gov/service/jwk?api-version=2024-07-01")).json as { issuers: Record<string, unknown>; keys: Record<string, Array<{ issuer?: string }>> };
    const trusted = wanted.jwks.keys.every((key) => jwk.keys[key.kid]?.some((entry) => entry.issuer === wanted.issuer));
    if (wanted.issuer in jwk.issuers && trusted) return false;
    await this.pass(`set_jwt_issuer ${wanted.issuer}`, (voters) => proposeAndAccept([setJwtIssuer(wanted.issuer, wanted.jwks)], voters));
    return true;
  }

  async open(): Promise<boolean> {
    if ((await this.members[0]!.serviceInfo()).status === "Open") return false;
    await this.pass("transition_service_to_open", (voters) => openService(voters));
    return true;
  }

  private user(party: Party, index: number): SandboxUser {
    const users = this.setup.consortium.users.filter((u) => u.party === party);
    return users[index % users.length]!;
  }

  private asUser(user: SandboxUser): ConfideClient {
    return this.userClients.get(user.id)!;
  }

  /** Each bank's trades: the first half as JSON from its first user, the rest as CSV from its second. */
  async ingestTrades(): Promise<boolean> {
    let records = 0;
    for (const party of PARTIES) {
      const first = this.asUser(this.user(party, 0));
      const report = expectOk(await first.request("GET", "/app/report?limit=1&summary=true"), `${party}'s report`);
      if (((report.json as { summary?: { keys?: number } }).summary?.keys ?? 0) > 0) continue;
      const trades = TRADES[party];
      const half = Math.ceil(trades.length / 2);
      expectOk(await first.request("POST", "/app/ingest", { body: trades.slice(0, half) }), `${party}'s JSON ingest`);
      const second = this.asUser(this.user(party, 1));
      expectOk(await second.request("POST", "/app/csv/ingest", { body: tradesCsv(trades.slice(half)), headers: { "content-type": "text/csv" } }), `${party}'s CSV ingest`);
      records += trades.length;
    }
    if (records > 0) this.say(`${records} trades ingested by the banks' users (JSON and CSV)`);
    return records > 0;
  }

  /** Each bank opens both accounts for its users and deposits into checking; then a few transfers. */
  async openAccounts(): Promise<boolean> {
    let opened = 0;
    for (const user of this.setup.consortium.users) {
      const bank = this.memberClients.get(user.party)!;
      for (const account of ACCOUNT_NAMES) {
        const balance = await this.asUser(user).request("GET", `/app/balance/${account}`);
        if (balance.status === 200) continue;
        if (balance.status !== 404) expectOk(balance, `${user.name}'s ${account} balance`);
        expectOk(await bank.request("PUT", `/app/account/${user.id}/${account}`), `opening ${user.name}'s ${account}`);
        if (account === "checking") expectOk(await bank.request("POST", `/app/deposit/${user.id}/${account}`, { body: { value: OPENING_DEPOSIT } }), `deposit for ${user.name}`);
        opened++;
      }
    }
    const transfers = (await this.transfersDone()) ? 0 : await this.transfer();
    if (opened > 0 || transfers > 0) this.say(`${opened} accounts opened by the banks (${OPENING_DEPOSIT} deposited in each checking), ${transfers} transfers`);
    return opened > 0 || transfers > 0;
  }

  /** The first demo transfer shows in its payer's history once the transfers have run. */
  private async transfersDone(): Promise<boolean> {
    const first = TRANSFERS[0]!;
    const history = expectOk(await this.asUser(this.user(first.from.party, first.from.index)).request("GET", `/app/history/${first.fromAccount}?limit=100`), "history");
    return (history.json as { transactions: { type: string }[] }).transactions.some((t) => t.type === "transfer_out");
  }

  private async transfer(): Promise<number> {
    for (const t of TRANSFERS) {
      const to = this.user(t.to.party, t.to.index);
      const body = { value: t.value, user_id_to: to.id, account_name_to: t.toAccount };
      expectOk(await this.asUser(this.user(t.from.party, t.from.index)).request("POST", `/app/transfer/${t.fromAccount}`, { body }), "transfer");
    }
    return TRANSFERS.length;
  }
}

/** The app refused a demo call: the sandbox cannot go on, and says which call and why. */
function expectOk(response: CcfResponse, what: string): CcfResponse {
  if (response.status >= 200 && response.status < 300) return response;
  throw new SetupError(`${what}: HTTP ${response.status} ${response.text.trim().slice(0, 300)}`);
}
