// Per-endpoint call counts, as CCF's GET /<frontend>/api/metrics reports them:
// calls, errors (4xx), failures (5xx) and retries (always 0: a single-threaded
// node never re-executes a transaction).

interface Counts {
  calls: number;
  errors: number;
  failures: number;
}

export class EndpointMetrics {
  private readonly counts = new Map<string, Counts & { path: string; method: string }>();

  record(method: string, path: string, status: number): void {
    const key = `${method} ${path}`;
    let counts = this.counts.get(key);
    if (!counts) this.counts.set(key, (counts = { path, method, calls: 0, errors: 0, failures: 0 }));
    counts.calls++;
    if (status >= 500) counts.failures++;
    else if (status >= 400) counts.errors++;
  }

  /** The metrics of endpoints whose path starts with `prefix`. */
  report(prefix: string): { metrics: Array<{ path: string; method: string; calls: number; errors: number; failures: number; retries: number }> } {
    const metrics = [...this.counts.values()]
      .filter((counts) => counts.path.startsWith(prefix))
      .map(({ path, method, calls, errors, failures }) => ({ path: path.slice(prefix.length), method, calls, errors, failures, retries: 0 }));
    return { metrics };
  }
}
