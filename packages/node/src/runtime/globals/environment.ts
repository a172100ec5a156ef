// Installs what CCF gives every app context besides `ccf`'s tables: an
// untrusted clock (0 unless the app opts in), entropy-seeded Math.random, and
// console output into the node's log.
import { randomBytes } from "node:crypto";
import type { CallState } from "../call-state.ts";
import type { HostFunction, Vm } from "../vm.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** A random double in [0, 1) from the CSPRNG: 53 random bits. */
function secureRandom(): number {
  const bytes = randomBytes(8);
  return (bytes.readUInt32BE(0) * 2 ** 21 + (bytes.readUInt32BE(4) >>> 11)) / 2 ** 53;
}

export function environmentHostFunctions(vm: Vm, call: () => CallState | undefined, log: (level: LogLevel, message: string) => void): Record<string, HostFunction> {
  const flag = (name: "untrustedDateTime" | "metricsLogging") => (enable: Parameters<HostFunction>[0]) => {
    const state = call();
    if (state === undefined) throw new Error(`${name} can only be changed while handling a request`);
    const previous = state[name];
    state[name] = vm.preludeBoolean(enable);
    return previous;
  };
  return {
    now: () => (call()?.untrustedDateTime ? Date.now() : 0),
    random: () => secureRandom(),
    log: (level, message) => log(vm.string(level) as LogLevel, vm.string(message)),
    enableUntrustedDateTime: flag("untrustedDateTime"),
    enableMetricsLogging: flag("metricsLogging"),
  };
}
