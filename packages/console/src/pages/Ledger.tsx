// Ledger: the transactions in the node's ledger files (LedgerTransactions),
// and a receipt for any committed transaction, verified here in the page
// with the SDK (WebCrypto), each step shown: leaf, proof path, root
// signature, certificate endorsement. Clicking a transaction verifies its receipt.
import { useState } from "react";
import { ReceiptError, fromBase64, toBase64, toHex, verifyReceipt, type Receipt, type ReceiptStep } from "@confide/sdk";
import { errorText, read, readJson } from "../api.ts";
import { ErrorLine, type Acting } from "../App.tsx";
import { useLive } from "../live.ts";
import { LedgerTransactions } from "./LedgerTransactions.tsx";

/** The node answers 202 while it fetches historical state; a receipt normally follows within a few tries. */
const RECEIPT_ATTEMPTS = 30;
const RECEIPT_RETRY_MS = 100;

async function fetchReceipt(service: string, txId: string): Promise<Receipt> {
  for (let attempt = 1; ; attempt++) {
    const reply = await read(service, `/app/receipt?transaction_id=${encodeURIComponent(txId)}`);
    if (reply.status === 200) return reply.json as Receipt;
    if (reply.status !== 202) throw new Error(errorText(reply));
    if (attempt >= RECEIPT_ATTEMPTS) throw new Error(`the receipt for ${txId} is still not available after ${attempt} attempts`);
    await new Promise((r) => setTimeout(r, RECEIPT_RETRY_MS));
  }
}

/** The same receipt with one bit of its signature flipped: what a forged receipt looks like to the verifier. */
function tamper(receipt: Receipt): Receipt {
  const signature = fromBase64(receipt.signature) ?? new Uint8Array(8);
  signature[8] = (signature[8] ?? 0) ^ 1;
  return { ...receipt, signature: toBase64(signature) };
}

interface Outcome {
  txId: string;
  steps: ReceiptStep[];
  verified: boolean;
  message: string;
}

export function LedgerPage({ acting }: { acting: Acting }) {
  const commit = useLive(() => readJson<{ transaction_id: string }>(acting.service, "/node/commit"), [acting.service]);
  const [txId, setTxId] = useState("");
  const [tampered, setTampered] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const verify = async (id: string) => {
    setError(undefined);
    setOutcome(undefined);
    setBusy(true);
    try {
      const [network, fetched] = await Promise.all([readJson<{ service_certificate: string }>(acting.service, "/node/network"), fetchReceipt(acting.service, id)]);
      const receipt = tampered ? tamper(fetched) : fetched;
      try {
        const verified = await verifyReceipt(receipt, network.service_certificate);
        setOutcome({ txId: id, steps: verified.steps, verified: true, message: `Receipt for ${id} verified: root ${toHex(verified.root)}` });
      } catch (e) {
        if (!(e instanceof ReceiptError)) throw e;
        setOutcome({ txId: id, steps: e.steps, verified: false, message: `Receipt for ${id} does not verify (${e.step}): ${e.message}` });
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="ledger-title">
      <h2 id="ledger-title">Ledger of {acting.service}</h2>
      <p>
        Committed up to <span data-testid="ledger-commit">{commit.value?.transaction_id ?? "…"}</span>.
      </p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void verify(txId.trim() || commit.value?.transaction_id || "");
        }}
        aria-labelledby="receipt-title"
      >
        <h3 id="receipt-title">Verify a receipt in this page</h3>
        <label>
          Transaction id{" "}
          <input value={txId} onChange={(e) => setTxId(e.target.value)} placeholder={commit.value?.transaction_id ?? "2.17"} pattern="\d+\.\d+" />
        </label>{" "}
        <label>
          <input type="checkbox" checked={tampered} onChange={(e) => setTampered(e.target.checked)} /> Tamper with the signature first
        </label>{" "}
        <button type="submit" disabled={busy}>
          Verify receipt
        </button>
      </form>
      <ErrorLine error={error} />
      {outcome && (
        <div aria-label="Receipt verification">
          <p role="status" className={outcome.verified ? "ok" : "error"}>
            {outcome.message}
          </p>
          <ol className="steps">
            {outcome.steps.map((step) => (
              <li key={step.name} className={step.ok ? "ok" : "error"}>
                <strong>
                  {step.ok ? "✓" : "✗"} {step.name}
                </strong>{" "}
                <span className="mono">{step.detail}</span>
              </li>
            ))}
          </ol>
        </div>
      )}
      <LedgerTransactions
        service={acting.service}
        committed={commit.value?.transaction_id}
        onReceipt={(id) => {
          setTxId(id);
          void verify(id);
          document.getElementById("receipt-title")?.scrollIntoView();
        }}
      />
    </section>
  );
}
