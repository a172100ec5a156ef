// Time as a port: the commit pipeline and (later) consensus ask a Clock for the
// time and for timers, so a seeded simulation can run them on a simulated clock
// that moves only when the simulation says, and replay any run exactly.

/** A repeating timer; `ref`/`unref` say whether it keeps the process alive (as Node's timers do). */
export interface Timer {
  cancel(): void;
  ref(): void;
  unref(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `run` every `intervalMs` until cancelled. */
  every(intervalMs: number, run: () => void): Timer;
}

/** Calls `run` once, `delayMs` from now (cancel before then to skip it). */
export function after(clock: Clock, delayMs: number, run: () => void): Timer {
  const timer = clock.every(delayMs, () => {
    timer.cancel();
    run();
  });
  return timer;
}

/** The machine's clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  every(intervalMs, run) {
    const handle = setInterval(run, intervalMs);
    return {
      cancel: () => clearInterval(handle),
      ref: () => void handle.ref(),
      unref: () => void handle.unref(),
    };
  },
};

interface SimulatedTimer {
  id: number;
  dueMs: number;
  intervalMs: number;
  run: () => void;
  cancelled: boolean;
}

/**
 * A clock for simulations: it starts at `startMs` and moves only through advance(), which runs
 * every timer that falls due, in due order (ties in creation order), at its due time.
 */
export class SimulatedClock implements Clock {
  private nowMs: number;
  private readonly timers: SimulatedTimer[] = [];
  private nextId = 0;

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  every(intervalMs: number, run: () => void): Timer {
    if (!(intervalMs > 0)) throw new RangeError(`timer interval must be positive, got ${intervalMs}`);
    const timer: SimulatedTimer = { id: this.nextId++, dueMs: this.nowMs + intervalMs, intervalMs, run, cancelled: false };
    this.timers.push(timer);
    return {
      cancel: () => {
        // Idempotent: a second cancel must not remove another timer.
        if (timer.cancelled) return;
        timer.cancelled = true;
        this.timers.splice(this.timers.indexOf(timer), 1);
      },
      // A simulation does not keep a process alive: it runs until it stops advancing.
      ref: () => {},
      unref: () => {},
    };
  }

  /** When the next timer falls due, if any is set. */
  get nextDueMs(): number | undefined {
    return this.earliest()?.dueMs;
  }

  /** Moves time forward by `ms`, running each timer as it falls due. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move time back (${ms} ms)`);
    const until = this.nowMs + ms;
    for (let timer = this.earliest(); timer && timer.dueMs <= until; timer = this.earliest()) {
      this.nowMs = timer.dueMs;
      timer.dueMs += timer.intervalMs;
      timer.run();
    }
    this.nowMs = until;
  }

  private earliest(): SimulatedTimer | undefined {
    let best: SimulatedTimer | undefined;
    for (const timer of this.timers) {
      if (!best || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.id < best.id)) best = timer;
    }
    return best;
  }
}
