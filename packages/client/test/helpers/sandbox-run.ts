// One `confide sandbox` child as a user runs it, its output collected as it comes, and the
// checks the sandbox tests share: free ports, and whether the node processes it names are alive.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type AddressInfo, type Server } from "node:net";
import { fileURLToPath } from "node:url";
import type { SandboxDescription } from "../../src/sandbox/workspace.ts";

const CONFIDE = fileURLToPath(new URL("../../bin/confide.js", import.meta.url));
/** Fresh start is a few seconds here; the bound leaves room for a loaded machine. */
export const READY_TIMEOUT_MS = 40_000;
const EXIT_TIMEOUT_MS = 15_000;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One `confide sandbox` child, its output collected as it comes. */
export class SandboxRun {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<Exit>;

  constructor(args: string[], cwd: string) {
    // Without INIT_CWD (npm sets it when the tests run under npm), printed paths are relative to cwd, where curl runs.
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "INIT_CWD" && !name.startsWith("CONFIDE_")));
    this.child = spawn(process.execPath, [CONFIDE, "sandbox", ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (chunk: Buffer) => (this.stdout += chunk.toString("utf8")));
    this.child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = new Promise((resolveExit) => this.child.once("exit", (code, signal) => resolveExit({ code, signal })));
  }

  /** Resolves with stdout once `text` appears; rejects if the child exits first or the time runs out. */
  async waitFor(text: string, timeoutMs = READY_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let exit: Exit | undefined;
    void this.exited.then((e) => (exit = e));
    while (!this.stdout.includes(text)) {
      if (exit !== undefined) throw new Error(`sandbox exited (${exit.code ?? exit.signal}) before "${text}"\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`no "${text}" within ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.stdout;
  }

  /** Waits for the last line of the ready block; returns the start-up time the sandbox reports. */
  async ready(lastLine = "Ctrl-C stops both nodes"): Promise<number> {
    await this.waitFor(lastLine);
    const seconds = /Confide sandbox ready in ([\d.]+) s/.exec(this.stdout);
    assert.ok(seconds, this.stdout);
    return Number(seconds[1]);
  }

  async exit(timeoutMs = EXIT_TIMEOUT_MS): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`sandbox still running after ${timeoutMs} ms\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async interrupt(): Promise<Exit> {
    this.child.kill("SIGINT");
    return this.exit();
  }

  /** Test clean-up only: a child the test failed to stop must not outlive it. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }

  /** The curl lines that call an app with a certificate (the token line is tokenLines'). */
  curlLines(): string[] {
    return this.lines().filter((line) => line.startsWith("curl ") && !line.includes("$TOKEN"));
  }

  /** TOKEN=$(curl ... the identity provider ...), then the curl line using $TOKEN. */
  tokenLines(): string[] {
    return this.lines().filter((line) => line.startsWith("TOKEN=") || (line.startsWith("curl ") && line.includes("$TOKEN")));
  }

  private lines(): string[] {
    return this.stdout.split("\n").map((line) => line.trim());
  }
}

/** Two ports free right now, held until both are known so they differ. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < count; i++) {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The pid of every node process sandbox.json lists. */
export function nodePids(description: SandboxDescription): number[] {
  return description.services.flatMap((service) => service.nodes.map((node) => node.pid));
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls until none of `pids` is running; fails with the ones left after `timeoutMs`. */
export async function waitGone(pids: number[], timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(pids.filter(isAlive), [], "node processes left running");
}

/** Test clean-up only: a node process a failed test left behind must not outlive the test file. */
export function killNodes(pids: number[]): void {
  for (const pid of pids) if (isAlive(pid)) process.kill(pid, "SIGKILL");
}
