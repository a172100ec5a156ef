// CCF governance from a member's side (/gov, api-version 2024-07-01): reads
// need no identity; proposals, ballots, withdrawals and the state-digest ack
// are COSE Sign1 envelopes signed with the member's key, with kid = member id.
import { certId, type Bundle } from "@confide/node";
import { govMessages, govPath, signGovRequest, type Action, type CoseSigner, type DryRun, type GovMessage, type MemberInfo, type Proposal, type ProposalBody, type ServiceInfo, type UserInfo } from "@confide/sdk";
import { CcfClientError, type CcfResponse, type ConfideClient } from "./client.ts";
import type { Identity } from "./keys.ts";
import { pemSigner } from "./signer.ts";

export { GOV_API_VERSION, ballotSource, type DryRun, type Action, type ProposalBody, type Proposal, type ProposalState, type MemberInfo, type UserInfo, type ServiceInfo } from "@confide/sdk";

/** A proposal that its voters did not carry: still Open after all voted, or Rejected, Failed, Withdrawn, Dropped. */
export class ProposalNotAcceptedError extends Error {
  override name = "ProposalNotAcceptedError";

  constructor(readonly proposal: Proposal) {
    const failure = proposal.failure ? `: ${proposal.failure.reason}` : "";
    super(`proposal ${proposal.proposalId} is ${proposal.proposalState} after ${proposal.ballotCount} ballot(s)${failure}`);
  }
}

/** Governance reads: proposals, members, users, service state. */
export class Governance {
  constructor(readonly client: ConfideClient) {}

  async proposals(): Promise<Proposal[]> {
    return ((await this.read("/gov/members/proposals")).json as { value: Proposal[] }).value;
  }

  async proposal(proposalId: string): Promise<Proposal> {
    return (await this.read(`/gov/members/proposals/${encodeURIComponent(proposalId)}`)).json as Proposal;
  }

  /** The proposal as its proposer submitted it. */
  async proposalActions(proposalId: string): Promise<ProposalBody> {
    return JSON.parse((await this.read(`/gov/members/proposals/${encodeURIComponent(proposalId)}/actions`)).text) as ProposalBody;
  }

  async members(): Promise<MemberInfo[]> {
    return ((await this.read("/gov/service/members")).json as { value: MemberInfo[] }).value;
  }

  async users(): Promise<UserInfo[]> {
    return ((await this.read("/gov/service/users")).json as { value: UserInfo[] }).value;
  }

  async serviceInfo(): Promise<ServiceInfo> {
    return (await this.read("/gov/service/info")).json as ServiceInfo;
  }

  /** The constitution's JavaScript source. */
  async constitution(): Promise<string> {
    return (await this.read("/gov/service/constitution")).text;
  }

  private read(path: string): Promise<CcfResponse> {
    return this.client.call("GET", govPath(path));
  }
}

/**
 * A member whose key is held elsewhere (a KMS, an HSM): its certificate, and a
 * signer that signs with that certificate's key (e.g. keyVaultSigner).
 */
export interface MemberSigner {
  certPem: string;
  signer: CoseSigner;
}

/** A member: the governance reads plus the requests it signs. */
export class Member extends Governance {
  /** Member id: hex SHA-256 of the member certificate's DER. */
  readonly id: string;
  private readonly signer: CoseSigner;

  /** `identity`: a PEM certificate and private key (signed with pemSigner), or a certificate and any signer. */
  constructor(client: ConfideClient, identity: Identity | MemberSigner) {
    super(client);
    this.id = certId(identity.certPem);
    this.signer = "signer" in identity ? identity.signer : pemSigner(identity.keyPem);
  }

  /** Fetches the current state digest and acknowledges it: an Accepted member becomes Active. */
  async ackStateDigest(): Promise<void> {
    const digest = await this.signed(govMessages.stateDigest(this.id));
    await this.signed(govMessages.ack(this.id, digest.text));
  }

  async propose(proposal: Action[] | ProposalBody): Promise<Proposal> {
    return (await this.signed(govMessages.proposal(proposalBody(proposal)))).json as Proposal;
  }

  /** What the proposal would do (validate, :create's answer, apply()'s KV and endpoint diff); the service keeps nothing. Confide only. */
  async dryRun(proposal: Action[] | ProposalBody): Promise<DryRun> {
    return (await this.signed(govMessages.dryRun(proposalBody(proposal)))).json as DryRun;
  }

  /** Submits a ballot: `true`/`false` for a plain yes/no, or a ballot module's source. */
  async vote(proposalId: string, ballot: boolean | string): Promise<Proposal> {
    return (await this.signed(govMessages.ballot(this.id, proposalId, ballot))).json as Proposal;
  }

  /** Withdraws one of this member's Open proposals; undefined when the service does not know the id (CCF answers 204). */
  async withdraw(proposalId: string): Promise<Proposal | undefined> {
    const response = await this.signed(govMessages.withdrawal(proposalId));
    return response.status === 204 ? undefined : (response.json as Proposal);
  }

  /** Signs and sends one governance message; returns whatever the service answered, errors included. */
  async send(message: GovMessage): Promise<CcfResponse> {
    const request = await signGovRequest(this.signer, this.id, message);
    return this.client.request("POST", request.path, { body: Buffer.from(request.body), headers: { "content-type": request.contentType } });
  }

  private async signed(message: GovMessage): Promise<CcfResponse> {
    const response = await this.send(message);
    if (response.status >= 400) throw CcfClientError.fromResponse(response);
    return response;
  }
}

function proposalBody(proposal: Action[] | ProposalBody): ProposalBody {
  return Array.isArray(proposal) ? { actions: proposal } : proposal;
}

export interface AcceptOptions {
  /** Called after each ballot with the proposal as the service resolved it (e.g. to report progress). */
  onBallot?: (proposal: Proposal, voter: Member) => void | Promise<void>;
}

/**
 * The first voter proposes; then each voter in turn, the proposer first, votes
 * yes until the proposal leaves Open. Returns the Accepted proposal; any other
 * outcome throws ProposalNotAcceptedError.
 */
export async function proposeAndAccept(proposal: Action[] | ProposalBody, voters: readonly Member[], options: AcceptOptions = {}): Promise<Proposal> {
  const proposer = voters[0];
  if (proposer === undefined) throw new Error("proposeAndAccept needs at least one voter");
  let current = await proposer.propose(proposal);
  for (const voter of voters) {
    if (current.proposalState !== "Open") break;
    current = await voter.vote(current.proposalId, true);
    await options.onBallot?.(current, voter);
  }
  if (current.proposalState !== "Accepted") throw new ProposalNotAcceptedError(current);
  return current;
}

/** set_js_app: replaces the service's app with `bundle`. */
export function deployApp(bundle: Bundle, voters: readonly Member[], options: AcceptOptions = {}): Promise<Proposal> {
  return proposeAndAccept([{ name: "set_js_app", args: { bundle } }], voters, options);
}

/** transition_service_to_open with the service certificate the node reports: the /app frontend opens. */
export async function openService(voters: readonly Member[], options: AcceptOptions = {}): Promise<Proposal> {
  const client = voters[0]?.client;
  if (client === undefined) throw new Error("openService needs at least one voter");
  const network = (await client.call("GET", "/node/network")).json as { service_certificate: string };
  return proposeAndAccept([{ name: "transition_service_to_open", args: { next_service_identity: network.service_certificate } }], voters, options);
}
