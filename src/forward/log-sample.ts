// Warnings an upstream (or a forger) can trigger at packet rate are logged at most once
// per interval and kind, with how many were left out since: the log stays readable
// and cannot be used to fill the node's disk.
import { monotonicMs } from '../cache/clock';

export class LogSampler {
  private readonly seen = new Map<string, { at: number; skipped: number }>();

  constructor(private readonly intervalMs = 10_000, private readonly maxKeys = 1024) {}

  /** The number left out since the last line for `key` when one may be logged now, else undefined. */
  take(key: string, now = monotonicMs()): number | undefined {
    const s = this.seen.get(key);
    if (s && now - s.at < this.intervalMs) {
      s.skipped++;
      return undefined;
    }
    if (!s && this.seen.size >= this.maxKeys) this.seen.clear();
    const skipped = s?.skipped ?? 0;
    this.seen.set(key, { at: now, skipped: 0 });
    return skipped;
  }
}

export const upstreamWarnings = new LogSampler();
