// mulberry32 with its state passed in and returned, so a pure state machine can hold its own
// seeded chance (randomised election timeouts) and replay exactly from the seed.

/** The next value in [0, 1) and the next state. */
export function nextRandom(state: number): [value: number, next: number] {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, next];
}
