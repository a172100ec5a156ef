// The node binary's log: pino filters by level and writes asynchronously, and
// each entry is printed as a CCF-like text line rather than JSON:
//   2026-11-25T15:41:20.123456Z [info ] node | Created new service …
// (CCF prints "<time> <thread> [<level>] <file:line> | <message>"; a Node
// process has one thread and no useful file:line, so "node" stands in.)
import { pino, type DestinationStream } from "pino";
import type { Log } from "./log.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; stdout (written asynchronously) when absent. */
  destination?: DestinationStream;
}

export interface NodeLogger extends Log {
  /** Writes out every buffered line and stops logging; later messages are dropped. */
  close(): Promise<void>;
}

/** CCF's five-character level labels; an error is what CCF calls "fail". */
const LABELS: Record<string, string> = { debug: "debug", info: "info ", warn: "warn ", error: "fail " };

export function createLogger(options: LoggerOptions): NodeLogger {
  // Asynchronous writes to stdout so a slow terminal or pipe never blocks request handling.
  const stdout = options.destination === undefined ? pino.destination({ dest: 1, sync: false }) : undefined;
  // The node keeps running if its log pipe closes: there is nowhere left to report that.
  stdout?.on("error", () => undefined);
  const clock = new MicrosecondClock();
  const logger = pino(
    {
      level: options.level,
      base: null,
      timestamp: false,
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        streamWrite: (json) => {
          const { level, msg } = JSON.parse(json) as { level: string; msg: string };
          return `${clock.iso()} [${LABELS[level] ?? level}] node | ${msg}\n`;
        },
      },
    },
    options.destination ?? stdout,
  );
  let closed = false;
  const at = (level: LogLevel) => (message: string) => {
    if (!closed) logger[level](message);
  };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    close: () => {
      closed = true;
      if (stdout === undefined) return Promise.resolve();
      return new Promise((resolve) => {
        stdout.once("close", () => resolve());
        stdout.end();
      });
    },
  };
}

/**
 * Wall-clock time with microseconds from the monotonic clock, re-anchored to the wall clock
 * (whole ms, so up to 1 ms behind) when the two drift more than 2 ms apart.
 */
class MicrosecondClock {
  private originMs = Date.now() - performance.now();

  iso(): string {
    const wallMs = Date.now();
    let ms = this.originMs + performance.now();
    if (Math.abs(ms - wallMs) > 2) {
      this.originMs = wallMs - performance.now();
      ms = wallMs;
    }
    const whole = Math.floor(ms);
    const micros = Math.floor((ms - whole) * 1000);
    return `${new Date(whole).toISOString().slice(0, -1)}${String(micros).padStart(3, "0")}Z`;
  }
}
