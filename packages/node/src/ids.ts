// Transaction identifiers as CCF writes them: "<view>.<seqno>".
// Branded number types keep views and seqnos from being mixed up.

export type SeqNo = number & { readonly __brand: "SeqNo" };
export type View = number & { readonly __brand: "View" };

export interface TxId {
  readonly view: View;
  readonly seqno: SeqNo;
}

export const seqNo = (n: number): SeqNo => n as SeqNo;
export const view = (n: number): View => n as View;

export function formatTxId(id: TxId): string {
  return `${id.view}.${id.seqno}`;
}

const TX_ID_PATTERN = /^(\d{1,15})\.(\d{1,15})$/;

/** Parses "2.17"; returns undefined for anything else (callers turn that into a CCF error). */
export function parseTxId(text: string): TxId | undefined {
  const match = TX_ID_PATTERN.exec(text);
  if (!match) return undefined;
  const v = Number(match[1]);
  const s = Number(match[2]);
  if (v < 1 || s < 1) return undefined;
  return { view: view(v), seqno: seqNo(s) };
}

/** CCF transaction status as reported by GET /node/tx. */
export type TxStatus = "Unknown" | "Pending" | "Committed" | "Invalid";
