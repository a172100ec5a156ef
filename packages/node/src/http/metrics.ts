// What the node counts of its requests: per endpoint, calls, errors (4xx), failures (5xx) and a
// latency histogram; and the KV reads and writes app handlers make. CCF's GET /<frontend>/api/metrics
// reports the counts (retries always 0: a single-threaded node never re-executes a transaction);
// GET /node/metrics reports everything, as JSON or in Prometheus' text format.

/** Upper bounds of the latency buckets, in ms (Prometheus' cumulative `le` buckets; +Inf is the count). */
export const LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 10_000] as const;

interface Counts {
  calls: number;
  errors: number;
  failures: number;
  /** Calls that took at most LATENCY_BUCKETS_MS[i] ms (not cumulative here). */
  buckets: number[];
  totalMs: number;
}

export interface EndpointReport {
  method: string;
  path: string;
  calls: number;
  errors: number;
  failures: number;
  latency_ms: { buckets: Array<{ le: number | "+Inf"; count: number }>; sum: number; count: number };
}

export class EndpointMetrics {
  private readonly counts = new Map<string, Counts & { path: string; method: string }>();
  /** Key reads and writes by app handlers, across all their transactions. */
  readonly kv = { reads: 0, writes: 0 };

  record(method: string, path: string, status: number, durationMs: number): void {
    const key = `${method} ${path}`;
    let counts = this.counts.get(key);
    if (!counts) this.counts.set(key, (counts = { path, method, calls: 0, errors: 0, failures: 0, buckets: LATENCY_BUCKETS_MS.map(() => 0), totalMs: 0 }));
    counts.calls++;
    if (status >= 500) counts.failures++;
    else if (status >= 400) counts.errors++;
    const bucket = LATENCY_BUCKETS_MS.findIndex((bound) => durationMs <= bound);
    if (bucket >= 0) counts.buckets[bucket]!++;
    counts.totalMs += durationMs;
  }

  recordKv(counts: { reads: number; writes: number }): void {
    this.kv.reads += counts.reads;
    this.kv.writes += counts.writes;
  }

  /** CCF's api/metrics: the counts of endpoints whose path starts with `prefix`, relative to it. */
  report(prefix: string): { metrics: Array<{ path: string; method: string; calls: number; errors: number; failures: number; retries: number }> } {
    const metrics = [...this.counts.values()]
      .filter((counts) => counts.path.startsWith(prefix))
      .map(({ path, method, calls, errors, failures }) => ({ path: path.slice(prefix.length), method, calls, errors, failures, retries: 0 }));
    return { metrics };
  }

  /** Every endpoint with its latency histogram (cumulative, as Prometheus has it). */
  endpoints(): EndpointReport[] {
    return [...this.counts.values()].map(({ method, path, calls, errors, failures, buckets, totalMs }) => {
      let cumulative = 0;
      const histogram: EndpointReport["latency_ms"]["buckets"] = LATENCY_BUCKETS_MS.map((le, i) => ({ le, count: (cumulative += buckets[i]!) }));
      histogram.push({ le: "+Inf", count: calls });
      return { method, path, calls, errors, failures, latency_ms: { buckets: histogram, sum: Math.round(totalMs * 1000) / 1000, count: calls } };
    });
  }
}

export interface NodeMetrics {
  endpoints: EndpointReport[];
  kv: { reads: number; writes: number };
  js: { interpreters_memory_bytes: number };
  process: { heap_used_bytes: number; rss_bytes: number };
}

/** Prometheus' text exposition format (version 0.0.4) of the node's metrics. */
export function prometheusText(metrics: NodeMetrics): string {
  const lines: string[] = [];
  const label = (value: string) => value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  const family = (name: string, type: "counter" | "gauge" | "histogram", help: string) => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const of = (e: EndpointReport) => `method="${label(e.method)}",path="${label(e.path)}"`;
  family("confide_endpoint_calls_total", "counter", "Requests served, per endpoint.");
  for (const e of metrics.endpoints) lines.push(`confide_endpoint_calls_total{${of(e)}} ${e.calls}`);
  family("confide_endpoint_errors_total", "counter", "Requests answered 4xx, per endpoint.");
  for (const e of metrics.endpoints) lines.push(`confide_endpoint_errors_total{${of(e)}} ${e.errors}`);
  family("confide_endpoint_failures_total", "counter", "Requests answered 5xx, per endpoint.");
  for (const e of metrics.endpoints) lines.push(`confide_endpoint_failures_total{${of(e)}} ${e.failures}`);
  family("confide_endpoint_duration_ms", "histogram", "Time to answer a request, in milliseconds, per endpoint.");
  for (const e of metrics.endpoints) {
    for (const bucket of e.latency_ms.buckets) lines.push(`confide_endpoint_duration_ms_bucket{${of(e)},le="${bucket.le}"} ${bucket.count}`);
    lines.push(`confide_endpoint_duration_ms_sum{${of(e)}} ${e.latency_ms.sum}`, `confide_endpoint_duration_ms_count{${of(e)}} ${e.latency_ms.count}`);
  }
  family("confide_kv_reads_total", "counter", "Key reads by app handlers.");
  lines.push(`confide_kv_reads_total ${metrics.kv.reads}`);
  family("confide_kv_writes_total", "counter", "Key writes (sets and deletes) by app handlers.");
  lines.push(`confide_kv_writes_total ${metrics.kv.writes}`);
  family("confide_js_memory_bytes", "gauge", "WebAssembly memory held by the app's JS interpreters.");
  lines.push(`confide_js_memory_bytes ${metrics.js.interpreters_memory_bytes}`);
  family("confide_process_heap_used_bytes", "gauge", "The node process's V8 heap in use.");
  lines.push(`confide_process_heap_used_bytes ${metrics.process.heap_used_bytes}`);
  family("confide_process_rss_bytes", "gauge", "The node process's resident set size.");
  lines.push(`confide_process_rss_bytes ${metrics.process.rss_bytes}`);
  return `${lines.join("\n")}\n`;
}
