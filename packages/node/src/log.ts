// The node's log as its parts see it: four levels and a message. The node
// binary backs it with pino (CCF-like lines); tests can collect it in memory.

export interface Log {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** A log that drops everything (for tools and tests that do not care). */
export const SILENT_LOG: Log = { debug() {}, info() {}, warn() {}, error() {} };
