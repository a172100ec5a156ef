// The constitution host: the constitution module stored in
// public:ccf.gov.constitution (a JSON string of JS source) runs in its own
// QuickJS interpreter with the governance `ccf` APIs. validate, resolve and
// ballots run read-only (CCF's "read-only governance" context); apply may
// write governance tables ("read-write governance"). The interpreter is
// rebuilt when the stored constitution changes.
import { CcfError, ErrorCode } from "../errors.ts";
import type { History } from "../history/history.ts";
import type { Tx } from "../kv/tx.ts";
import type { Log } from "../log.ts";
import { CallState } from "../runtime/call-state.ts";
import type { HistoricalStates } from "../runtime/historical.ts";
import { AppInterpreter, DEFAULT_JS_RUNTIME_OPTIONS } from "../runtime/interpreter.ts";
import { SENTINEL_KEY, Tables } from "../tables.ts";
import { governanceHostFunctions, type NodeOperations } from "./gov-functions.ts";

const MODULE = "/constitution.js";

export interface Vote {
  member_id: string;
  vote: boolean;
}

export type Resolution = "Open" | "Accepted" | "Rejected" | "Failed";

export interface ConstitutionOptions {
  history: History;
  historical: HistoricalStates;
  serviceCertPem: string;
  /** The service key endorses the certificates of nodes members trust. */
  servicePrivateKeyPem: string;
  log: Log;
  /** What proposals may trigger on the node (recovery shares refresh, ledger rekey). */
  node: NodeOperations;
}

/** The entry points of one constitution, each run in the caller's transaction. */
export class ConstitutionRunner {
  constructor(private readonly interpreter: AppInterpreter) {}

  validate(tx: Tx, proposal: string): { valid: boolean; description: string } {
    const result = this.interpreter.callExport(MODULE, "validate", [proposal], readOnly(tx)) as { valid?: unknown; description?: unknown } | undefined;
    return { valid: result?.valid === true, description: typeof result?.description === "string" ? result.description : "" };
  }

  resolve(tx: Tx, proposal: string, proposerId: string, votes: Vote[], proposalId: string): Resolution {
    const outcome = this.interpreter.callExport(MODULE, "resolve", [proposal, proposerId, votes as never, proposalId], readOnly(tx));
    return outcome === "Open" || outcome === "Accepted" || outcome === "Rejected" ? outcome : "Failed";
  }

  apply(tx: Tx, proposal: string, proposalId: string): void {
    this.interpreter.callExport(MODULE, "apply", [proposal, proposalId], new CallState(tx, "read-write governance"));
  }

  /** A ballot: a module exporting vote(proposal, proposerId); its result counts as a yes if truthy. */
  vote(tx: Tx, ballot: string, proposal: string, proposerId: string): boolean {
    return Boolean(this.interpreter.callModuleSource(ballot, "vote", [proposal, proposerId], readOnly(tx)));
  }
}

function readOnly(tx: Tx): CallState {
  return new CallState(tx, "read-only governance");
}

export class Constitution {
  private built: { version: number; runner: Promise<ConstitutionRunner> } | undefined;

  constructor(private readonly options: ConstitutionOptions) {}

  /** The runner of the constitution currently stored (built on first use after each change). */
  runner(): Promise<ConstitutionRunner> {
    const { store } = this.options.history;
    const version = store.mapState(Tables.constitution)?.lastWriteVersion ?? 0;
    if (this.built?.version !== version) {
      this.built = { version, runner: this.build() };
      // A failed build is retried by the next request, not cached.
      this.built.runner.catch(() => {
        if (this.built?.version === version) this.built = undefined;
      });
    }
    return this.built.runner;
  }

  private async build(): Promise<ConstitutionRunner> {
    const { history, historical, serviceCertPem, servicePrivateKeyPem, log } = this.options;
    const stored = history.store.beginReadOnly().map(Tables.constitution).get(SENTINEL_KEY);
    if (stored === undefined) throw new CcfError(500, ErrorCode.InternalError, "No constitution is set on this service");
    const source = JSON.parse(stored.toString("utf8")) as string;
    const interpreter = await AppInterpreter.create(
      { modules: new Map([[MODULE, source]]), endpoints: [] },
      {
        history,
        historical,
        log: (level, message) => log[level](`constitution: ${message}`),
        governance: (vm, call) => governanceHostFunctions(vm, call, history, { certPem: serviceCertPem, privateKeyPem: servicePrivateKeyPem }, this.options.node),
      },
      DEFAULT_JS_RUNTIME_OPTIONS,
    );
    return new ConstitutionRunner(interpreter);
  }
}
