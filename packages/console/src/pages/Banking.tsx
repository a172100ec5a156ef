// Banking: the acting user's accounts and a transfer, with the transfer's receipt verified in the page.
import { useState } from "react";
import { verifyReceipt, type Receipt } from "@confide/sdk";
import { app, errorText, readJson } from "../api.ts";
import { ErrorLine, NeedsKind, type Acting } from "../App.tsx";
import { useLive } from "../live.ts";

const ACCOUNTS = ["checking", "savings"];

export function BankingPage({ acting }: { acting: Acting }) {
  return (
    <section aria-labelledby="bank-title">
      <h2 id="bank-title">Banking</h2>
      {/* The app's endpoints exist only on its own service: on the other, the page would call paths that are not there. */}
      {acting.service !== "banking" ? (
        <p className="hint">Pick the banking service to use this page.</p>
      ) : (
        <NeedsKind acting={acting} kind="user">
          <Accounts acting={acting} />
        </NeedsKind>
      )}
    </section>
  );
}

function Accounts({ acting }: { acting: Acting }) {
  const balances = useLive(
    () =>
      Promise.all(
        ACCOUNTS.map(async (name) => {
          const reply = await app(acting.service, acting.as, "GET", `/balance/${name}`);
          return { name, balance: reply.ok ? String((reply.json as { balance: number }).balance) : errorText(reply) };
        }),
      ),
    [acting.service, acting.as],
  );
  const [to, setTo] = useState("");
  const [amount, setAmount] = useState("10");
  const [error, setError] = useState<string>();
  const [done, setDone] = useState<string>();
  const others = acting.identities.users.filter((u) => u.name !== acting.as);

  const transfer = async (event: React.FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setDone(undefined);
    const payee = acting.identities.users.find((u) => u.name === (to || others[0]?.name));
    const reply = await app(acting.service, acting.as, "POST", "/transfer/checking", { data: JSON.stringify({ value: Number(amount), user_id_to: payee?.id, account_name_to: "checking" }), contentType: "application/json" });
    if (!reply.ok || reply.txId === undefined) return setError(errorText(reply));
    balances.refresh();
    // The receipt exists once the transfer is committed: ask until it is.
    for (let attempt = 0; attempt < 50; attempt++) {
      const receipt = await app(acting.service, acting.as, "GET", `/transfer/receipt?transaction_id=${reply.txId}`);
      if (receipt.status === 200) {
        const network = await readJson<{ service_certificate: string }>(acting.service, "/node/network");
        const verified = await verifyReceipt((receipt.json as { receipt: Receipt }).receipt, network.service_certificate).then(() => "verified in this page", (e: Error) => `does not verify: ${e.message}`);
        return setDone(`Transfer ${reply.txId} committed; its receipt ${verified}.`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    setError(`no receipt for ${reply.txId} yet`);
  };

  return (
    <>
      <table aria-label="Accounts">
        <thead>
          <tr>
            <th scope="col">Account</th>
            <th scope="col">Balance</th>
          </tr>
        </thead>
        <tbody>
          {balances.value?.map((b) => (
            <tr key={b.name}>
              <td>{b.name}</td>
              <td>{b.balance}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={(e) => void transfer(e)} aria-labelledby="transfer-title">
        <h3 id="transfer-title">Transfer from checking</h3>
        <label>
          To{" "}
          <select value={to} onChange={(e) => setTo(e.target.value)}>
            {others.map((u) => (
              <option key={u.name} value={u.name}>
                {u.party} user {u.index}
              </option>
            ))}
          </select>
        </label>{" "}
        <label>
          Amount <input type="number" min={1} value={amount} onChange={(e) => setAmount(e.target.value)} />
        </label>{" "}
        <button type="submit">Transfer</button>
        <ErrorLine error={error} />
        {done && <p role="status">{done}</p>}
      </form>
    </>
  );
}
