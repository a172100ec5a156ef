// Governance: members, users, the constitution, proposals updating as ballots
// arrive, and proposing (from templates) and voting as the acting member.
import { useState } from "react";
import type { MemberInfo, Proposal, ProposalBody, UserInfo } from "@confide/sdk";
import { errorText, gov, read, readJson } from "../api.ts";
import { ErrorLine, NeedsKind, type Acting } from "../App.tsx";
import { useLive } from "../live.ts";
import { TEMPLATES } from "./templates.ts";

interface ProposalRow extends Proposal {
  actions: string[];
}

async function loadGovernance(service: string) {
  const [members, users, proposals, constitution] = await Promise.all([
    readJson<{ value: MemberInfo[] }>(service, "/gov/service/members?api-version=2024-07-01"),
    readJson<{ value: UserInfo[] }>(service, "/gov/service/users?api-version=2024-07-01"),
    readJson<{ value: Proposal[] }>(service, "/gov/members/proposals?api-version=2024-07-01"),
    read(service, "/gov/service/constitution?api-version=2024-07-01"),
  ]);
  const rows: ProposalRow[] = await Promise.all(
    proposals.value.map(async (p) => {
      const actions = await read(service, `/gov/members/proposals/${p.proposalId}/actions?api-version=2024-07-01`);
      const names = actions.ok ? ((JSON.parse(actions.text) as ProposalBody).actions ?? []).map((a) => a.name) : [];
      return { ...p, actions: names };
    }),
  );
  return { members: members.value, users: users.value, proposals: rows, constitution: constitution.text };
}

export function GovernancePage({ acting }: { acting: Acting }) {
  const live = useLive(() => loadGovernance(acting.service), [acting.service]);
  const [actionError, setActionError] = useState<string>();
  const memberName = (id: string) => acting.identities.members.find((m) => m.id === id)?.party ?? `${id.slice(0, 12)}…`;

  const vote = async (proposalId: string, ballot: boolean) => {
    setActionError(undefined);
    const reply = await gov(acting.service, "ballot", { as: acting.as, proposalId, ballot });
    if (!reply.ok) setActionError(errorText(reply));
    live.refresh();
  };

  const g = live.value;
  return (
    <section aria-labelledby="gov-title">
      <h2 id="gov-title">Governance of {acting.service}</h2>
      <ErrorLine error={live.error} />
      <Propose acting={acting} onDone={live.refresh} />
      <h3>Proposals</h3>
      <ErrorLine error={actionError} />
      <table aria-label="Proposals">
        <thead>
          <tr>
            <th scope="col">Proposal</th>
            <th scope="col">Proposer</th>
            <th scope="col">Actions</th>
            <th scope="col">Ballots</th>
            <th scope="col">State</th>
            <th scope="col">Vote</th>
          </tr>
        </thead>
        <tbody>
          {[...(g?.proposals ?? [])].reverse().map((p) => (
            <tr key={p.proposalId} data-proposal-id={p.proposalId}>
              <td className="mono" title={p.proposalId}>
                {p.proposalId.slice(0, 12)}…
              </td>
              <td>{memberName(p.proposerId)}</td>
              <td>{p.actions.join(", ")}</td>
              <td>
                {p.ballotCount}
                {p.finalVotes ? ` (${Object.entries(p.finalVotes).map(([id, yes]) => `${memberName(id)}: ${yes ? "yes" : "no"}`).join(", ")})` : ""}
              </td>
              <td className={`state state-${p.proposalState}`}>{p.proposalState}</td>
              <td>
                {p.proposalState === "Open" && acting.kind === "member" && (
                  <>
                    <button type="button" onClick={() => void vote(p.proposalId, true)} aria-label={`Vote yes on ${p.proposalId}`}>
                      Yes
                    </button>{" "}
                    <button type="button" onClick={() => void vote(p.proposalId, false)} aria-label={`Vote no on ${p.proposalId}`}>
                      No
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <div className="columns">
        <div>
          <h3>Members</h3>
          <table aria-label="Members">
            <thead>
              <tr>
                <th scope="col">Member</th>
                <th scope="col">Status</th>
                <th scope="col">Data</th>
              </tr>
            </thead>
            <tbody>
              {g?.members.map((m) => (
                <tr key={m.memberId}>
                  <td className="mono" title={m.memberId}>
                    {m.memberId.slice(0, 12)}…
                  </td>
                  <td>{m.status}</td>
                  <td className="mono">{JSON.stringify(m.memberData ?? null)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Users</h3>
          <table aria-label="Users">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Data</th>
              </tr>
            </thead>
            <tbody>
              {g?.users.map((u) => (
                <tr key={u.userId} data-user-id={u.userId}>
                  <td className="mono" title={u.userId}>
                    {u.userId.slice(0, 12)}…
                  </td>
                  <td className="mono">{JSON.stringify(u.userData ?? null)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
      <details>
        <summary>Constitution</summary>
        <pre className="source">{g?.constitution}</pre>
      </details>
    </section>
  );
}

function Propose({ acting, onDone }: { acting: Acting; onDone: () => void }) {
  const [text, setText] = useState(JSON.stringify({ actions: TEMPLATES[0]!.actions }, null, 2));
  const [error, setError] = useState<string>();
  const [result, setResult] = useState<string>();
  const [busy, setBusy] = useState(false);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setResult(undefined);
    let proposal: ProposalBody;
    try {
      proposal = JSON.parse(text) as ProposalBody;
    } catch (e) {
      setError(`The proposal is not JSON: ${(e as Error).message}`);
      return;
    }
    setBusy(true);
    const reply = await gov(acting.service, "proposal", { as: acting.as, proposal });
    setBusy(false);
    if (!reply.ok) setError(errorText(reply));
    else {
      const p = reply.json as Proposal;
      setResult(`Proposal ${p.proposalId} is ${p.proposalState}`);
    }
    onDone();
  };

  return (
    <NeedsKind acting={acting} kind="member">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="propose-title">
        <h3 id="propose-title">Propose</h3>
        <label>
          Template{" "}
          <select onChange={(e) => setText(JSON.stringify({ actions: TEMPLATES[Number(e.target.value)]!.actions }, null, 2))}>
            {TEMPLATES.map((t, i) => (
              <option key={t.label} value={i}>
                {t.label}
              </option>
            ))}
          </select>
        </label>
        <label className="block">
          Proposal (JSON)
          <textarea value={text} onChange={(e) => setText(e.target.value)} rows={8} spellCheck={false} />
        </label>
        <button type="submit" disabled={busy}>
          Submit proposal
        </button>
        <ErrorLine error={error} />
        {result && <p role="status">{result}</p>}
      </form>
    </NeedsKind>
  );
}
