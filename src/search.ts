/**
 * Binary search over items sorted by a numeric key: the last item whose key is at most `x`. Interval
 * lookups (NAT port blocks, RADIUS sessions, excluded address ranges) start there and walk back.
 */

/** The index of the last of `items` (ascending by `key`) whose key is ≤ `x`; -1 when none is. */
export function lastAtMost<T>(items: ArrayLike<T>, key: (item: T) => number, x: number): number {
  let lo = 0;
  let hi = items.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (key(items[mid]!) <= x) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi;
}
