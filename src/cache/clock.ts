// One clock for the cache: wall time at process start plus monotonic time since.
// It reads as epoch milliseconds (so the warm-restart file carries across processes)
// but never jumps when the system clock is stepped.
const EPOCH = performance.timeOrigin;

/** performance.now, bound once: Node defines the global `performance` as a getter, run on every read. */
export const monotonicMs: () => number = performance.now.bind(performance);

/**
 * Whole milliseconds until `deadline` (a monotonicMs() time), rounded up: what a timer waits.
 * A fraction gave each upstream try a Node timer list of its own, and a timeout message read
 * "within 299.93263099999996ms".
 */
export function msUntil(deadline: number): number {
  return Math.ceil(deadline - monotonicMs());
}

export function clockNow(): number {
  return EPOCH + monotonicMs();
}

export { EPOCH };
