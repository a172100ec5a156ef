// One node of a sandbox service as its own OS process: `confide-node start --config <file>`,
// as an operator runs it (and as CCF's sandbox runs cchost). Its output goes to node.log in its
// directory, warnings and errors are shown too; the sandbox learns the node's URL and id from
// what it prints once it serves. Stopping is SIGTERM (the node signs and flushes its ledger),
// then SIGKILL if it does not exit in time; an exit nobody asked for is reported.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const CONFIDE_NODE = fileURLToPath(new URL("../../../node/bin/confide-node.ts", import.meta.url));
const EXIT_WITH_PARENT = fileURLToPath(new URL("./exit-with-parent.ts", import.meta.url));
/** tsx runs the node's TypeScript, found from this package: the node's own directory has no node_modules. */
const TSX = import.meta.resolve("tsx");

/** A node that has not served within this time is stuck (a fresh node serves in about a second; a joiner waits for its trust proposal too). */
export const NODE_START_TIMEOUT_MS = 60_000;
/** SIGTERM → exit: a node signs and flushes its ledger in milliseconds; past this it is killed. */
export const NODE_STOP_GRACE_MS = 10_000;
/** Lines of a node's log quoted when it fails: enough for its last error and what led to it. */
const LOG_TAIL_LINES = 15;

/** What the node prints once it serves (packages/node/bin/confide-node.ts printStarted). */
const STARTED = /Node \[0\] = (https:\/\/\S+)\n\s*node id:\s+([0-9a-f]+)\n[\s\S]*Ctrl-C stops the node cleanly/;
/** A log line of the node at warn or fail level (logger.ts writes "[warn ]", "[fail ]"). */
const SHOWN = /\[(warn |fail )\] node \| (.*)$/;

export interface NodeProcessOptions {
  /** "banking node 1": how output and errors name it. */
  name: string;
  config: string;
  /** The node's directory: node.log goes there. */
  dir: string;
  /** Shows one of the node's warning or error lines. */
  show: (line: string) => void;
  /** Called once if the node exits without being asked to. */
  onCrash: (why: string) => void;
}

export class NodeProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  private readonly log: WriteStream;
  private stdout = "";
  private stopping = false;
  /** Set once it served: an exit before that is the start's error (ready() rejects), not a crash. */
  private served = false;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(private readonly options: NodeProcessOptions) {
    this.logFile = join(options.dir, "node.log");
    this.log = createWriteStream(this.logFile, { flags: "a" });
    // Losing the log file must not stop the sandbox.
    this.log.on("error", () => undefined);
    // stdin is a pipe only this process writes to: it closes when the sandbox ends (exit-with-parent.ts).
    this.child = spawn(process.execPath, ["--import", TSX, "--import", EXIT_WITH_PARENT, CONFIDE_NODE, "start", "--config", options.config], {
      cwd: options.dir,
      stdio: ["pipe", "pipe", "pipe"],
      // Its own process group: a Ctrl-C at the terminal reaches only the sandbox, which then stops each node once.
      detached: true,
    });
    this.child.stdin!.on("error", () => undefined);
    this.child.stdout!.on("data", (chunk: Buffer) => this.output(chunk, true));
    this.child.stderr!.on("data", (chunk: Buffer) => this.output(chunk, false));
    this.exited = new Promise((resolveExit) => {
      // "close": the process has exited and its last output has been read (and logged).
      this.child.once("close", (code, signal) => {
        if (this.served && !this.stopping) options.onCrash(`${options.name} (pid ${this.child.pid}) exited unexpectedly (${signal ?? `code ${code}`}); its log: ${this.logFile}\n${this.logTail()}`);
        resolveExit({ code, signal });
      });
    });
    this.child.once("error", (error) => this.log.write(`cannot start: ${error.message}\n`));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private partial = "";
  /** The last lines the node wrote, quoted when it fails. */
  private readonly recent: string[] = [];

  private output(chunk: Buffer, isStdout: boolean): void {
    const text = chunk.toString("utf8");
    this.log.write(text);
    if (isStdout && this.stdout.length < 64 * 1024) this.stdout += text;
    const lines = (this.partial + text).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      this.recent.push(line);
      if (this.recent.length > LOG_TAIL_LINES) this.recent.shift();
      const shown = SHOWN.exec(line);
      // The rest (and a crash's stack) stays in node.log; a failure quotes its last lines.
      if (shown) this.options.show(`${shown[1]!.startsWith("warn") ? "warning" : "error"}: ${shown[2]}`);
    }
  }

  /** The node's URL and id once it serves; rejects if it exits first, the time runs out, or `signal` aborts. */
  ready(signal?: AbortSignal): Promise<{ url: string; nodeId: string }> {
    return new Promise((resolveReady, reject) => {
      const done = (error?: Error, value?: { url: string; nodeId: string }) => {
        clearTimeout(timer);
        this.child.stdout!.off("data", check);
        signal?.removeEventListener("abort", aborted);
        if (error) reject(error);
        else resolveReady(value!);
      };
      const check = () => {
        const started = STARTED.exec(this.stdout);
        if (started === null) return;
        this.served = true;
        done(undefined, { url: started[1]!, nodeId: started[2]! });
      };
      const aborted = () => done(signal!.reason as Error);
      const timer = setTimeout(() => done(new Error(`${this.options.name} did not serve within ${NODE_START_TIMEOUT_MS} ms; its log: ${this.logFile}\n${this.logTail()}`)), NODE_START_TIMEOUT_MS);
      signal?.addEventListener("abort", aborted);
      this.child.stdout!.on("data", check);
      void this.exited.then(({ code, signal: killed }) => done(new Error(`${this.options.name} exited (${killed ?? `code ${code}`}) before it served; its log: ${this.logFile}\n${this.logTail()}`)));
      check();
    });
  }

  /**
   * SIGTERM, then SIGKILL after the grace time. Resolves with what went wrong (it had to be killed,
   * or exited with an error), or undefined for a clean stop; a node already gone had its exit reported.
   */
  async stop(): Promise<string | undefined> {
    this.stopping = true;
    if (!this.running) {
      await this.exited;
      await this.closeLog();
      return undefined;
    }
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<"killed">((resolveKill) => {
      timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        resolveKill("killed");
      }, NODE_STOP_GRACE_MS);
    });
    const outcome = await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    const exit = await this.exited;
    await this.closeLog();
    const who = `${this.options.name} (pid ${this.child.pid})`;
    if (outcome === "killed") return `${who} did not exit within ${NODE_STOP_GRACE_MS} ms of SIGTERM: killed (SIGKILL); its log: ${this.logFile}`;
    if (exit.code !== 0) return `${who} stopped with ${exit.signal ?? `exit code ${exit.code}`}; its log: ${this.logFile}\n${this.logTail()}`;
    return undefined;
  }

  private closeLog(): Promise<void> {
    if (this.log.writableEnded) return Promise.resolve();
    return new Promise((resolveClose) => this.log.end(() => resolveClose()));
  }

  /** The last lines the node wrote, indented, for an error message. */
  logTail(): string {
    return [...this.recent, this.partial].filter((line) => line.trim() !== "").map((line) => `    ${line}`).join("\n");
  }
}

/** A TCP port free on loopback now, for a joining node, which must name its ports before it listens. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}
