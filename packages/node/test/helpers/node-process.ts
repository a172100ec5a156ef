// A confide-node child process, as an operator runs cchost, with its output collected as it
// arrives; and a small counter app to deploy on it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const START_TIMEOUT_MS = 60_000;
export const STOP_TIMEOUT_MS = 30_000;

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One confide-node process, with its output collected as it arrives. */
export class NodeProcess {
  readonly child: ChildProcess;
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | null>;

  /** `nodeArgs` go to Node itself (e.g. --cpu-prof for a benchmark's profile). */
  constructor(args: string[], nodeArgs: string[] = []) {
    this.child = spawn(process.execPath, [...nodeArgs, "--import", "tsx", "bin/confide-node.ts", ...args], { cwd: PACKAGE_DIR, stdio: ["ignore", "pipe", "pipe"] });
    this.child.stdout!.on("data", (chunk: Buffer) => (this.stdout += chunk.toString("utf8")));
    this.child.stderr!.on("data", (chunk: Buffer) => (this.stderr += chunk.toString("utf8")));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    children.push(this);
  }

  /** Resolves with the first match of `pattern` in stdout; fails if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<RegExpMatchArray> {
    const found = new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match !== null) {
          this.child.stdout!.off("data", check);
          resolve(match);
        }
      };
      this.child.stdout!.on("data", check);
      check();
      void this.exited.then((code) => reject(new Error(`node exited (${code}) before printing ${pattern}:\n${this.stdout}\n${this.stderr}`)));
    });
    return withTimeout(found, START_TIMEOUT_MS, `${pattern} in the node's output`);
  }

  exitCode(): Promise<number | null> {
    return withTimeout(this.exited, STOP_TIMEOUT_MS, "the node to exit");
  }
}

const children: NodeProcess[] = [];

/** Kills (SIGKILL) every node process still running: call from the test file's after(). */
export function killAll(): void {
  for (const node of children) if (node.child.exitCode === null && node.child.signalCode === null) node.child.kill("SIGKILL");
}

const APP_JS = `
const key = ccf.strToBuf("n");
function current() {
  const value = ccf.kv["counter"].get(key);
  return value === undefined ? 0 : ccf.bufToJsonCompatible(value);
}
export function increment() {
  const n = current() + 1;
  ccf.kv["counter"].set(key, ccf.jsonCompatibleToBuf(n));
  return { body: { n } };
}
export function read() {
  return { body: { n: current() } };
}
`;

export function writeCounterApp(dir: string): void {
  const endpoint = (js_function: string, mode: string) => ({ js_module: "counter.js", js_function, authn_policies: ["no_auth"], mode, forwarding_required: "sometimes" });
  mkdirSync(join(dir, "src"), { recursive: true });
  writeFileSync(join(dir, "app.json"), JSON.stringify({ endpoints: { "/counter": { post: endpoint("increment", "readwrite"), get: endpoint("read", "readonly") } } }));
  writeFileSync(join(dir, "src", "counter.js"), APP_JS);
}

