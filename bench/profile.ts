// Summaries of V8 CPU profiles (`--cpu-prof`) of a node under benchmark:
// self time by category (QuickJS, its glue, each part of the node, Node's
// internals, GC) and the top functions, so a benchmark can say where the time goes.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  file: string;
  /** Main-thread time not idle. */
  busyMs: number;
  byCategory: Array<{ category: string; ms: number; share: number }>;
  topFunctions: Array<{ function: string; selfMs: number; share: number }>;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

function category(url: string, name: string): string {
  if (name === "(garbage collector)") return "GC";
  if (name === "(idle)") return "idle";
  if (name === "(program)") return "(program: native, not attributed)";
  if (url.startsWith("wasm://")) return "QuickJS (wasm)";
  // Before the runtime/ rule: the engine's host side is the cost of crossing into QuickJS, not app runtime work.
  if (url.includes("/packages/node/src/runtime/engine.ts") || url.includes("/packages/node/src/runtime/vm.ts")) return "engine glue (engine.ts, vm.ts)";
  if (url.includes("cbor-x")) return "cbor-x";
  if (url.includes("/packages/node/src/runtime/")) return "node: runtime (interpreter, ccf globals)";
  if (url.includes("/packages/node/src/governance/")) return "node: governance";
  if (url.includes("/packages/node/src/http/")) return "node: http (server, auth, endpoints)";
  if (url.includes("/packages/node/src/crypto/")) return "node: crypto (COSE, keys)";
  if (url.includes("/packages/node/src/kv/")) return "node: kv";
  if (url.includes("/packages/node/src/")) return "node: history, ledger, merkle";
  if (url.startsWith("node:") || url === "") return name.startsWith("(") ? name : "Node.js internals and builtins (TLS, HTTP, crypto)";
  return "other";
}

/** The main thread's profile in `dir`: the largest file (tsx's loader thread writes a small one beside it). */
export function mainThreadProfile(dir: string): string | undefined {
  let best: { file: string; size: number } | undefined;
  try {
    for (const f of readdirSync(dir)) {
      if (!f.endsWith(".cpuprofile")) continue;
      const size = statSync(join(dir, f)).size;
      if (!best || size > best.size) best = { file: join(dir, f), size };
    }
  } catch {
    return undefined;
  }
  return best?.file;
}

export function summarizeProfile(file: string): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFunction = new Map<string, number>();
  const byCategory = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const cat = category(url, functionName);
    if (cat === "idle") return;
    total += us;
    const short = url.replace(/^.*\/(packages\/node\/src\/|node_modules\/)/, "$1").replace(/^file:\/\//, "");
    const key = `${functionName || "(anonymous)"} ${short ? `${short}:${lineNumber + 1}` : ""}`.trim();
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
  });
  const rank = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    file,
    busyMs: round(total / 1000),
    byCategory: rank(byCategory).map(([c, us]) => ({ category: c, ms: round(us / 1000), share: round(us / total, 3) })),
    topFunctions: rank(byFunction)
      .slice(0, 20)
      .map(([f, us]) => ({ function: f, selfMs: round(us / 1000), share: round(us / total, 3) })),
  };
}
