// Pages update live by polling: the service has no push channel (CCF has none either).
import { useEffect, useRef, useState } from "react";

export const LIVE_INTERVAL_MS = 1000;

export interface Live<T> {
  value: T | undefined;
  error: string | undefined;
  refresh: () => void;
}

/** Runs `load` now, every LIVE_INTERVAL_MS, and on refresh(); keeps the last value and the last error. */
export function useLive<T>(load: () => Promise<T>, deps: unknown[]): Live<T> {
  const [value, setValue] = useState<T>();
  const [error, setError] = useState<string>();
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    let cancelled = false;
    const run = () =>
      loadRef.current().then(
        (v) => !cancelled && (setValue(v), setError(undefined)),
        (e: unknown) => !cancelled && setError((e as Error).message),
      );
    void run();
    const timer = setInterval(() => void run(), LIVE_INTERVAL_MS);
    return () => {
      cancelled = true;
      clearInterval(timer);
    };
    // `load` is read through loadRef, so a new closure each render does not restart the polling; the caller's deps do.
  }, [...deps, tick]);
  return { value, error, refresh: () => setTick((t) => t + 1) };
}
