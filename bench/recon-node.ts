// The node under a reconciliation benchmark, in a child process of its own
// (so its CPU time and memory are its own): `startNode` with one member and the
// reconciliation constitution actions, driven over IPC. Shared by
// bench/reconciliation.ts and bench/recon-ingest.ts.
//
//   node --import tsx bench/recon-node.ts serve    (the child; launch() forks it)
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { constitutionWith, reconciliationActions } from "@confide/governance";
import { startNode, type ServingNode } from "../packages/node/src/node.ts";
import { removeDir, tempDir } from "./lib.ts";

interface ServeRequest {
  type: "start";
  memberCertPem: string;
  maxBodyBytes?: number;
}

interface Ready {
  type: "ready";
  url: string;
  ca: string;
}

function serveChild(): void {
  let node: ServingNode | undefined;
  const dir = tempDir("recon-node");
  process.on("message", (message: ServeRequest | { type: "exit" } | { type: "cpu" }) => {
    if (message.type === "start") {
      startNode({
        dir,
        port: 0,
        members: [{ certPem: message.memberCertPem }],
        constitution: constitutionWith(reconciliationActions()),
        ...(message.maxBodyBytes === undefined ? {} : { maxBodyBytes: message.maxBodyBytes }),
      }).then(
        (started) => {
          node = started;
          process.send!({ type: "ready", url: started.url, ca: started.core.identity.serviceCertPem } satisfies Ready);
        },
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    } else if (message.type === "cpu") {
      const { user, system } = process.cpuUsage();
      process.send!({ type: "cpu", micros: user + system });
    } else if (message.type === "exit") {
      const close = node ? node.close() : Promise.resolve();
      close.finally(() => {
        removeDir(dir);
        process.exit(0);
      });
    }
  });
  process.on("disconnect", () => process.exit(0));
}

export interface NodeChild {
  child: ChildProcess;
  url: string;
  ca: string;
  /** CPU time (user + system, µs) the child has used so far: unlike wall time, little changed by other load on the machine. */
  cpuMicros(): Promise<number>;
  stop(): Promise<void>;
}

export async function launch(memberCertPem: string, profileDir: string | undefined, maxBodyBytes?: number): Promise<NodeChild> {
  const execArgv = [...process.execArgv.filter((a) => !a.startsWith("--cpu-prof")), ...(profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [])];
  const child = fork(fileURLToPath(import.meta.url), ["serve"], { execArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = new Promise<Ready>((resolve, reject) => {
    child.once("message", (message: Ready) => resolve(message));
    child.once("exit", (code) => reject(new Error(`node child exited (${code}) before it was ready`)));
  });
  child.send({ type: "start", memberCertPem, ...(maxBodyBytes === undefined ? {} : { maxBodyBytes }) } satisfies ServeRequest);
  const { url, ca } = await ready;
  return {
    child,
    url,
    ca,
    cpuMicros: () =>
      new Promise<number>((resolve) => {
        const answer = (message: { type: string; micros?: number }) => {
          if (message.type !== "cpu") return;
          child.off("message", answer);
          resolve(message.micros!);
        };
        child.on("message", answer);
        child.send({ type: "cpu" });
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.send({ type: "exit" });
      await exited;
    },
  };
}

/** VmRSS and VmHWM (peak) of a process, from /proc (Linux); undefined elsewhere. */
export function procMemory(pid: number): { rss: number; peak: number } | undefined {
  const file = `/proc/${pid}/status`;
  if (!existsSync(file)) return undefined;
  const text = readFileSync(file, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/** Samples the child's RSS every 100 ms from this process (the child's event loop may be busy). */
export function rssSampler(pid: number): { stop(): { maxSampledRss: number; peakRss: number; lastRss: number } } {
  let maxSampled = 0;
  let last = 0;
  const take = () => {
    const m = procMemory(pid);
    if (m) {
      last = m.rss;
      maxSampled = Math.max(maxSampled, m.rss);
    }
  };
  take();
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return { maxSampledRss: maxSampled, peakRss: procMemory(pid)?.peak ?? maxSampled, lastRss: last };
    },
  };
}

if (process.argv[2] === "serve" && process.argv[1] === fileURLToPath(import.meta.url)) serveChild();
