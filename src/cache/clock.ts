// One clock for the cache: wall time at process start plus monotonic time since.
// It reads as epoch milliseconds (so the warm-restart file carries across processes)
// but never jumps when the system clock is stepped.
const EPOCH = performance.timeOrigin;

export function clockNow(): number {
  return EPOCH + performance.now();
}

export { EPOCH };
