// The docs test: every shell block marked runnable in README.md and docs/*.md
// works. The test starts a real sandbox (`confide sandbox`, as `npm start`
// does: temp workspace, free ports), then runs each page's runnable blocks in
// order, in a directory of its own, with bash; a block fails the test if it
// exits non-zero or its output lacks a line it promises with `#>`. The
// convention (marker, ports, background blocks) is in docs/contributing.md.
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const CONFIDE = join(REPO, "packages/client/bin/confide.js");
/** What a page's directory sees of the repository (read through symlinks; nothing there is written). */
const LINKED = ["node_modules", "examples", "apps", "governance", "packages"];
/** Ports the docs use for the sandbox's two services; any other port in a block gets a free one. */
const SANDBOX_PORTS = { reconciliation: 8000, banking: 8001 } as const;
/** A fresh sandbox is ready in a few seconds; the bound leaves room for a loaded CI machine. */
const READY_TIMEOUT_MS = 60_000;
/** One block: a few CLI calls (each an npx start, ~0.5 s) and requests. */
const BLOCK_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
/** Both confide-node and confide sandbox print this once they serve requests. */
const READY_LINE = "Ctrl-C stops";
const TOOLS = ["bash", "curl", "jq", "openssl", "lsof"];

interface Block {
  file: string;
  line: number;
  background: boolean;
  text: string;
}

/** Fenced blocks whose info string is `sh runnable` (or `sh runnable background`). */
export function runnableBlocks(file: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    assert.ok(end > i, `${file}:${i + 1}: unclosed code block`);
    const words = open[2]!.split(/\s+/).filter(Boolean);
    if (words.includes("runnable")) {
      assert.equal(open[1], "sh", `${file}:${i + 1}: runnable blocks are sh`);
      const unknown = words.filter((w) => w !== "runnable" && w !== "background");
      assert.deepEqual(unknown, [], `${file}:${i + 1}: unknown block options`);
      blocks.push({ file, line: i + 1, background: words.includes("background"), text: lines.slice(i + 1, end).join("\n") });
    }
    i = end;
  }
  return blocks;
}

/** The texts a block promises to print: its `#> text` lines, in order. */
function promised(block: Block): string[] {
  return block.text.split("\n").flatMap((l) => (/^\s*#>\s?(.*)$/.exec(l)?.[1] ?? [])).filter((t) => t.length > 0);
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** Maps the ports written in the docs to the ports of this run. */
class Ports {
  private readonly map = new Map<number, number>();
  constructor(reconciliation: number, banking: number) {
    this.map.set(SANDBOX_PORTS.reconciliation, reconciliation);
    this.map.set(SANDBOX_PORTS.banking, banking);
  }

  async substitute(text: string): Promise<string> {
    const pattern = /((?:127\.0\.0\.1|localhost):|--port[ =]|--banking-port[ =])(\d{4,5})\b/g;
    for (const match of text.matchAll(pattern)) {
      const written = Number(match[2]);
      if (!this.map.has(written)) this.map.set(written, await freePort());
    }
    return text.replace(pattern, (_, prefix: string, port: string) => `${prefix}${this.map.get(Number(port))!}`);
  }
}

interface Output {
  text: string;
}

function collect(child: ChildProcess): Output {
  const output = { text: "" };
  child.stdout!.on("data", (c: Buffer) => (output.text += c.toString("utf8")));
  child.stderr!.on("data", (c: Buffer) => (output.text += c.toString("utf8")));
  return output;
}

/** The exit code, or the signal that ended the process. */
function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode ?? child.signalCode!);
  return new Promise((r) => child.once("exit", (code, signal) => r(code ?? signal!)));
}

async function waitFor(output: Output, child: ChildProcess, text: string, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!output.text.includes(text)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before "${text}":\n${output.text}`);
    if (Date.now() > deadline) throw new Error(`${what}: no "${text}" within ${READY_TIMEOUT_MS} ms:\n${output.text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * SIGINT to the process group, as Ctrl-C in a terminal. Resolves with the exit code, or "SIGINT" when
 * a wrapper (npx, then bash) passed the signal on after its child stopped, as it does in a terminal.
 */
async function interrupt(child: ChildProcess, output: Output, what: string): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) return exited(child);
  process.kill(-child.pid!, "SIGINT");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still running ${STOP_TIMEOUT_MS} ms after Ctrl-C:\n${output.text}`)), STOP_TIMEOUT_MS);
  });
  try {
    return await Promise.race([exited(child), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Test clean-up only: nothing the test started may outlive it. */
function kill(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
}

/** One page's shell session: a directory, and the variables its blocks export, carried from block to block. */
class Session {
  readonly dir: string;
  private readonly state: string;
  readonly background: { block: Block; child: ChildProcess; output: Output }[] = [];

  constructor(root: string, page: string, sandboxWorkspace: string) {
    this.dir = join(root, "pages", page);
    mkdirSync(this.dir, { recursive: true });
    for (const name of LINKED) symlinkSync(join(REPO, name), join(this.dir, name));
    symlinkSync(sandboxWorkspace, join(this.dir, "workspace"));
    this.state = join(root, "pages", `${page}.env`);
    writeFileSync(this.state, "");
  }

  /** bash, with every variable assigned exported (set -a) and saved for the next block. */
  script(text: string, save: boolean): string {
    const keep = `export -p | grep -vE '^declare -x (SHLVL|PWD|OLDPWD|_|BASHOPTS|SHELLOPTS)=' > '${this.state}'`;
    return `set -a\n. '${this.state}'\nset -eo pipefail\n${text}\n${save ? keep : ""}\n`;
  }

  spawn(text: string, save: boolean): ChildProcess {
    return spawn("bash", ["-c", this.script(text, save)], { cwd: this.dir, env: blockEnv(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  }
}

/** The environment of a reader's fresh shell: no CONFIDE_* settings of our own, no npm run context. */
function blockEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "INIT_CWD" && !name.startsWith("CONFIDE_") && !name.startsWith("npm_")));
}

function where(block: Block): string {
  return `${block.file}:${block.line}`;
}

async function runBlock(session: Session, block: Block, text: string): Promise<void> {
  if (block.background) {
    const child = session.spawn(text, false);
    const output = collect(child);
    session.background.push({ block, child, output });
    // Ready once it prints its first promised line (a joining node says it is Pending), else the node's ready line.
    await waitFor(output, child, promised(block)[0] ?? READY_LINE, `background block ${where(block)}`);
    return;
  }
  const child = session.spawn(text, true);
  const output = collect(child);
  const timer = setTimeout(() => kill(child), BLOCK_TIMEOUT_MS);
  const code = await exited(child);
  clearTimeout(timer);
  const report = `${where(block)}\n--- block (as run) ---\n${text}\n--- output ---\n${output.text}`;
  assert.equal(code, 0, `block exited ${code}${code === "SIGKILL" ? ` (over ${BLOCK_TIMEOUT_MS} ms)` : ""}: ${report}`);
  let from = 0;
  for (const expected of promised(block)) {
    const at = output.text.indexOf(expected, from);
    assert.ok(at >= 0, `block did not print "${expected}" (in order): ${report}`);
    from = at + expected.length;
  }
}

const pages = [join(REPO, "README.md"), ...readdirSync(join(REPO, "docs")).filter((f) => f.endsWith(".md")).sort().map((f) => join(REPO, "docs", f))]
  .map((path) => ({ name: path.slice(REPO.length), blocks: runnableBlocks(path.slice(REPO.length), readFileSync(path, "utf8")) }))
  .filter((page) => page.blocks.length > 0);

describe("docs: every runnable block in README.md and docs/ works", () => {
  let root: string;
  let sandbox: ChildProcess;
  let sandboxOutput: Output;
  let ports: Ports;

  before(async () => {
    const missing = TOOLS.filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0);
    assert.deepEqual(missing, [], `the docs test runs the docs' commands, which need ${TOOLS.join(", ")} on PATH`);
    root = mkdtempSync(join(tmpdir(), "confide-docs-"));
    const [reconciliation, banking] = [await freePort(), await freePort()];
    ports = new Ports(reconciliation, banking);
    // As a reader runs it: `npm start` in a fresh clone makes workspace/ in the current directory.
    sandbox = spawn(process.execPath, [CONFIDE, "sandbox", "--workspace", "workspace", "--port", String(reconciliation), "--banking-port", String(banking)], {
      cwd: root,
      env: blockEnv(),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    sandboxOutput = collect(sandbox);
    await waitFor(sandboxOutput, sandbox, READY_LINE, "confide sandbox");
  });

  after(async () => {
    if (sandbox) {
      try {
        assert.equal(await interrupt(sandbox, sandboxOutput, "confide sandbox"), 0, sandboxOutput.text);
      } finally {
        kill(sandbox);
        rmSync(root, { recursive: true, force: true });
      }
    }
  });

  it("finds runnable blocks in the README and the docs", () => {
    assert.ok(pages.some((p) => p.name === "README.md"), "README.md has no runnable block");
    assert.ok(pages.length >= 5, pages.map((p) => p.name).join(", "));
  });

  for (const page of pages) {
    describe(page.name, () => {
      let session: Session;
      before(() => {
        session = new Session(root, basename(page.name, ".md"), join(root, "workspace"));
      });
      after(async () => {
        // Background processes stop as a reader stops them: Ctrl-C, a clean exit.
        const unclean: string[] = [];
        for (const { block, child, output } of session.background) {
          try {
            const end = await interrupt(child, output, `background block ${where(block)}`);
            if (end !== 0 && end !== "SIGINT") unclean.push(`${where(block)} ended with ${end} after Ctrl-C:\n${output.text}`);
          } catch (error) {
            unclean.push(String(error));
          } finally {
            kill(child);
          }
        }
        assert.deepEqual(unclean, []);
      });
      for (const block of page.blocks) {
        it(`${where(block)}${block.background ? " (background)" : ""}`, { timeout: BLOCK_TIMEOUT_MS + READY_TIMEOUT_MS }, async () => {
          await runBlock(session, block, await ports.substitute(block.text));
        });
      }
    });
  }
});
