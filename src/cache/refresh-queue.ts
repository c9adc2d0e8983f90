// Refresh-ahead for popular entries. An entry hit --prefetch-hits times is refreshed
// once --prefetch-percent of its TTL remains (at a random point in the first half of that
// window: see refreshTime), whether or not a client asks again inside
// that window. Waiting for a hit in the window (Unbound's and CoreDNS' way) misses every
// name asked less often than the window is long: a pod's ndots:5 search names live 5 s,
// the window is 0.5 s, so a name asked once a second missed at every other expiry.
// One timer for the earliest due entry; a binary heap orders them.
import type { Entry } from './entry';

/** The share of the refresh window over which refreshes are spread; the rest is left for the answer to come back. */
export const REFRESH_SPREAD = 0.5;

/**
 * When to refresh an entry that expires at `expiresAt`: a random point in the first half
 * of the `windowMs` (--prefetch-percent of its TTL) before it expires. Names stored together
 * (a warm-up, a pod's burst) expire together; refreshed at one instant they cost one burst
 * of CPU (1,000 names: 280 ms at once, measured) and take every refresh slot at once.
 */
export function refreshTime(expiresAt: number, windowMs: number, random: () => number = Math.random): number {
  return expiresAt - windowMs + random() * windowMs * REFRESH_SPREAD;
}

interface Due {
  at: number; // ms, the entries' clock (clockNow)
  key: string;
  e: Entry;
}

/** Tries a refresh; false when it cannot start now (refreshes at their cap): try again soon. */
export type RefreshRun = (key: string, e: Entry, now: number) => boolean;

/** How long a due refresh waits when --prefetch-max-inflight refreshes are already out. */
export const RETRY_MS = 10;

export class RefreshQueue {
  private heap: Due[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /** `capacity`: most entries waiting at once (the cache's size: one per entry at most, short of churn). */
  constructor(private readonly run: RefreshRun, private readonly now: () => number, private readonly capacity: () => number) {}

  get size(): number {
    return this.heap.length;
  }

  /** Refresh `e` (stored under `key`) at `at`; false when the queue is full. */
  add(key: string, e: Entry, at: number): boolean {
    if (this.heap.length >= this.capacity()) return false;
    this.heap.push({ at, key, e });
    this.up(this.heap.length - 1);
    this.arm();
    return true;
  }

  clear(): void {
    this.heap = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(): void {
    const top = this.heap[0];
    if (top === undefined || top.at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = top.at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, top.at - this.now()));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const heap = this.heap;
    while (heap.length > 0 && heap[0].at <= now) {
      const d = heap[0];
      if (!this.run(d.key, d.e, now)) {
        d.at = now + RETRY_MS; // at the cap: every other due entry waits too
        this.down(0);
        break;
      }
      const last = heap.pop()!;
      if (heap.length > 0) {
        heap[0] = last;
        this.down(0);
      }
    }
    this.arm();
  }

  private up(i: number): void {
    const h = this.heap;
    const d = h[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].at <= d.at) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = d;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const d = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1].at < h[c].at) c++;
      if (h[c].at >= d.at) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = d;
  }
}
