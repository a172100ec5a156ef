// What the sandbox's consortium is made of and what it does on first start:
// three banks (members), their users, the reconciliation schema and policy,
// each bank's trade data, and the banking app's accounts and transfers.
// Plain data, so the setup code reads as the steps CCF's docs describe.

export const PARTIES = ["Bank A", "Bank B", "Bank C"] as const;
export type Party = (typeof PARTIES)[number];

/** "Bank A" → "bank_a": the prefix of its key files and its certificates' CN. */
export function partySlug(party: Party): string {
  return party.toLowerCase().replace(/ /g, "_");
}

export const DEFAULT_USERS_PER_BANK = 2;

/** Majority of three Active members: any two carry a proposal under the default constitution. */
export const VOTERS_PER_PROPOSAL = 2;

// ---------------------------------------------------------------- reconciliation

/** The trade schema of docs/reconciliation.md: tolerances on price and settlement date, an optional currency. */
export const RECONCILIATION_SCHEMA = {
  key: "trade_id",
  attributes: [
    { name: "price", type: "decimal", match: { rule: "absolute", tolerance: 0.01 } },
    { name: "settles", type: "date", match: { rule: "days", tolerance: 1 } },
    { name: "ccy", type: "enum", values: ["USD", "EUR", "GBP"], required: false },
  ],
};

/**
 * k = 3: a trade gets a verdict only once all three banks hold it; below that nothing is revealed.
 * A JWT caller's party is its token's `party` claim (the demo identity provider's tokens carry one).
 */
export const RECONCILIATION_POLICY = { k: 3, revision_limit: 5, require_party_data: true, jwt_party_claim: "party" };

export interface Trade {
  trade_id: string;
  price: string;
  settles: string;
  ccy?: string;
}

const trade = (trade_id: string, price: string, settles: string, ccy?: string): Trade => ({ trade_id, price, settles, ...(ccy === undefined ? {} : { ccy }) });

/**
 * Each bank's copy of the same trades. The first half goes in as JSON from the
 * bank's first user, the rest as CSV from its second (one party either way).
 */
export const TRADES: Record<Party, Trade[]> = {
  "Bank A": [
    trade("T-1001", "101.25", "2026-12-01", "USD"), // all agree
    trade("T-1002", "99.50", "2026-12-02", "EUR"), // prices within the 0.01 tolerance
    trade("T-1003", "250.00", "2026-12-03", "USD"), // Bank C's price is off
    trade("T-1004", "75.10", "2026-12-03", "GBP"), // dates a day apart: within tolerance
    trade("T-1005", "12.00", "2026-12-04", "USD"), // Bank C settles three days later
    trade("T-1006", "40.00", "2026-12-05", "USD"), // only two banks hold it: not enough data
    trade("T-1007", "64.80", "2026-12-06", "USD"), // Bank B booked it in EUR
    trade("T-1008", "18.75", "2026-12-07"), // currency left out by two banks
  ],
  "Bank B": [
    trade("T-1001", "101.25", "2026-12-01", "USD"),
    trade("T-1002", "99.505", "2026-12-02", "EUR"),
    trade("T-1003", "250.00", "2026-12-03", "USD"),
    trade("T-1004", "75.10", "2026-12-04", "GBP"),
    trade("T-1005", "12.00", "2026-12-04", "USD"),
    trade("T-1006", "40.00", "2026-12-05", "USD"),
    trade("T-1007", "64.80", "2026-12-06", "EUR"),
    trade("T-1008", "18.75", "2026-12-07", "GBP"),
  ],
  "Bank C": [
    trade("T-1001", "101.25", "2026-12-01", "USD"),
    trade("T-1002", "99.5", "2026-12-02", "EUR"),
    trade("T-1003", "252.00", "2026-12-03", "USD"),
    trade("T-1004", "75.10", "2026-12-03", "GBP"),
    trade("T-1005", "12.00", "2026-12-07", "USD"),
    trade("T-1007", "64.80", "2026-12-06", "USD"),
    trade("T-1008", "18.75", "2026-12-07"),
  ],
};

/** RFC 4180 CSV with a header row; an empty cell is a missing optional value. */
export function tradesCsv(trades: readonly Trade[]): string {
  const rows = trades.map((t) => [t.trade_id, t.price, t.settles, t.ccy ?? ""].join(","));
  return ["trade_id,price,settles,ccy", ...rows].join("\r\n") + "\r\n";
}

// ---------------------------------------------------------------- banking

/** Every user gets both accounts; their own bank opens them and deposits into checking. */
export const ACCOUNT_NAMES = ["checking", "savings"] as const;
export const OPENING_DEPOSIT = 1000;

/** A user by bank and index among that bank's users. */
export interface UserRef {
  party: Party;
  index: number;
}

export interface DemoTransfer {
  from: UserRef;
  fromAccount: string;
  to: UserRef;
  toAccount: string;
  value: number;
}

/** A few transfers across banks and one within a user's own accounts (user indexes wrap to the users there are). */
export const TRANSFERS: DemoTransfer[] = [
  { from: { party: "Bank A", index: 0 }, fromAccount: "checking", to: { party: "Bank B", index: 0 }, toAccount: "checking", value: 150 },
  { from: { party: "Bank B", index: 1 }, fromAccount: "checking", to: { party: "Bank C", index: 0 }, toAccount: "checking", value: 75 },
  { from: { party: "Bank C", index: 1 }, fromAccount: "checking", to: { party: "Bank A", index: 1 }, toAccount: "checking", value: 40 },
  { from: { party: "Bank A", index: 1 }, fromAccount: "checking", to: { party: "Bank A", index: 1 }, toAccount: "savings", value: 100 },
];
