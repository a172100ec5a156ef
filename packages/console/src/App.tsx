// The console's frame: which service, which identity the console acts as,
// and one page at a time. The acting identity is a name from the workspace;
// the console server holds its key.
import { useEffect, useState } from "react";
import { identities, type Identities } from "./api.ts";
import { NetworkPage } from "./pages/Network.tsx";
import { GovernancePage } from "./pages/Governance.tsx";
import { LedgerPage } from "./pages/Ledger.tsx";
import { ReconciliationPage } from "./pages/Reconciliation.tsx";
import { BankingPage } from "./pages/Banking.tsx";

const PAGES = ["Network", "Governance", "Ledger", "Reconciliation", "Banking"] as const;
type Page = (typeof PAGES)[number];

export interface Acting {
  service: string;
  /** A member's or a user's name in the workspace. */
  as: string;
  kind: "member" | "user";
  identities: Identities;
}

export function App() {
  const [ids, setIds] = useState<Identities>();
  const [page, setPage] = useState<Page>("Network");
  const [service, setService] = useState("reconciliation");
  const [as, setAs] = useState("");
  const [loadError, setLoadError] = useState<string>();

  useEffect(() => {
    identities().then(
      (loaded) => {
        setIds(loaded);
        setAs(loaded.members[0]?.name ?? "");
      },
      (e: unknown) => setLoadError((e as Error).message),
    );
  }, []);

  if (loadError) return <p role="alert">The console server did not answer: {loadError}</p>;
  if (!ids) return <p>Loading…</p>;
  const kind = ids.members.some((m) => m.name === as) ? "member" : "user";
  const acting: Acting = { service, as, kind, identities: ids };
  return (
    <>
      <header>
        <h1>Confide console</h1>
        <div className="pickers">
          <label>
            Service{" "}
            <select value={service} onChange={(e) => setService(e.target.value)}>
              {ids.services.map((s) => (
                <option key={s.name} value={s.name}>
                  {s.name}
                </option>
              ))}
            </select>
          </label>
          <label>
            Acting as{" "}
            <select value={as} onChange={(e) => setAs(e.target.value)}>
              <optgroup label="Members">
                {ids.members.map((m) => (
                  <option key={m.name} value={m.name}>
                    {m.party} member
                  </option>
                ))}
              </optgroup>
              <optgroup label="Users">
                {ids.users.map((u) => (
                  <option key={u.name} value={u.name}>
                    {u.party} user {u.index}
                  </option>
                ))}
              </optgroup>
            </select>
          </label>
        </div>
        <nav aria-label="Pages">
          {PAGES.map((p) => (
            <button key={p} type="button" aria-current={p === page ? "page" : undefined} onClick={() => setPage(p)}>
              {p}
            </button>
          ))}
        </nav>
      </header>
      {/* Keyed by service and identity: what a page shows (a report, a receipt) belongs to the one it was fetched as. */}
      <main key={`${service}/${as}`}>
        {page === "Network" && <NetworkPage acting={acting} />}
        {page === "Governance" && <GovernancePage acting={acting} />}
        {page === "Ledger" && <LedgerPage acting={acting} />}
        {page === "Reconciliation" && <ReconciliationPage acting={acting} />}
        {page === "Banking" && <BankingPage acting={acting} />}
      </main>
    </>
  );
}

/** Says so when a page needs the other kind of identity. */
export function NeedsKind({ acting, kind, children }: { acting: Acting; kind: "member" | "user"; children: React.ReactNode }) {
  if (acting.kind === kind) return <>{children}</>;
  return <p className="hint">Pick a {kind} in “Acting as” to do this: {kind === "member" ? "governance requests are signed by a member" : "app calls are made with a user's certificate"}.</p>;
}

export function ErrorLine({ error }: { error: string | undefined }) {
  return error ? (
    <p role="alert" className="error">
      {error}
    </p>
  ) : null;
}
