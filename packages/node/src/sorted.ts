// Binary search over ascending arrays (signature seqnos, view starts, chunk starts).

/** Index of the first element whose key is >= value (the length if none). */
export function lowerBound<T>(sorted: ArrayLike<T>, value: number, key: (item: T) => number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(sorted[mid]!) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
