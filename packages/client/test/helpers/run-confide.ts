// Runs the real `confide` CLI as a child process, asynchronously (the node under
// test may serve from this same process), with none of the caller's CONFIDE_*
// variables unless given.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CONFIDE = fileURLToPath(new URL("../../bin/confide.js", import.meta.url));
/** A child that hangs fails its test instead of the whole run. */
const CHILD_TIMEOUT_MS = 30_000;

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function confide(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("CONFIDE_")));
  return new Promise((resolve) => {
    execFile(process.execPath, [CONFIDE, ...args], { env: { ...base, ...env }, timeout: CHILD_TIMEOUT_MS, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}
