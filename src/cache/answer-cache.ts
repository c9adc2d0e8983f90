// Positive and negative answers in two least-recently-used stores of their own size.
// Expiry is ours (not the LRU's) so that an expired entry can still be served stale.
import { LRUCache } from 'lru-cache';
import type { CacheConfig } from '../config/types';
import type { Stats } from '../observe/stats';
import type { Entry } from './entry';
import { refreshTime } from './refresh-queue';

type Store = LRUCache<string, Entry>;

function makeStore(size: number, onEvict: () => void): Store | undefined {
  if (size <= 0) return undefined;
  return new LRUCache<string, Entry>({
    max: size,
    dispose: (_v, _k, reason) => { if (reason === 'evict') onEvict(); },
  });
}

export class AnswerCache {
  /**
   * Refreshes upstream now. Names stored together (a warm-up, a pod's burst) expire
   * together: unbounded, their refreshes would open a socket each in one burst and
   * take every --max-inflight slot from client misses. Past the cap, refreshes wait.
   */
  prefetchesInflight = 0;
  private positive: Store | undefined;
  private negative: Store | undefined;
  private cfg: CacheConfig;

  constructor(cfg: CacheConfig, private readonly stats: Stats) {
    this.cfg = cfg;
    this.positive = makeStore(cfg.positiveSize, () => stats.cacheEvictions.success++);
    this.negative = makeStore(cfg.negativeSize, () => stats.cacheEvictions.denial++);
    stats.cacheSize = () => ({ success: this.positive?.size ?? 0, denial: this.negative?.size ?? 0 });
  }

  get config(): CacheConfig {
    return this.cfg;
  }

  /**
   * A fresh entry, or undefined. Hot path. The LRU hears of a hit once per second per entry:
   * moving an entry to the tail on every hit touches three more places in the LRU's lists,
   * and eviction needs recency to the second, not to the query (two nodedns side by side on
   * one core: hits 1.007, mixed 1.004 of the cost).
   */
  fresh(key: string, now: number): Entry | undefined {
    const e = this.positive?.peek(key) ?? this.negative?.peek(key);
    if (e === undefined || e.expiresAt <= now) return undefined;
    const second = ((now / 1000) | 0) & 0x3fffffff; // a small integer: compared, never subtracted
    if (e.usedAt !== second) {
      e.usedAt = second;
      (e.negative ? this.negative : this.positive)?.get(key);
    }
    return e;
  }

  /** An expired entry still inside the stale window (RFC 8767), for when upstreams fail. */
  stale(key: string, now: number): Entry | undefined {
    const e = this.positive?.peek(key) ?? this.negative?.peek(key);
    if (e === undefined) return undefined;
    if (now > e.expiresAt + this.cfg.staleWindow * 1000) {
      this.delete(key);
      return undefined;
    }
    return e;
  }

  store(key: string, e: Entry): void {
    if (e.ttl <= 0) return;
    const into = e.negative ? this.negative : this.positive;
    const other = e.negative ? this.positive : this.negative;
    other?.delete(key); // a name that changed from NXDOMAIN to an answer lives in one store only
    into?.set(key, e);
  }

  delete(key: string): void {
    this.positive?.delete(key);
    this.negative?.delete(key);
  }

  /** The entry stored under `key`, fresh or not, without touching its recency. */
  current(key: string): Entry | undefined {
    return this.positive?.peek(key) ?? this.negative?.peek(key);
  }

  /** When a popular `e` should be refreshed: in the first half of the last --prefetch-percent of its TTL. */
  refreshAt(e: Entry): number {
    return refreshTime(e.expiresAt, e.ttl * 10 * this.cfg.prefetchPercent);
  }

  get size(): { success: number; denial: number } {
    return { success: this.positive?.size ?? 0, denial: this.negative?.size ?? 0 };
  }

  /** Entries from least to most recently used, for the warm-restart file. */
  *entries(): Generator<[string, Entry]> {
    for (const store of [this.negative, this.positive]) {
      if (!store) continue;
      for (const k of store.rkeys()) {
        const e = store.peek(k);
        if (e) yield [k, e];
      }
    }
  }

  /** New sizes or caps: keep what fits, most recent first. */
  reconfigure(cfg: CacheConfig): void {
    const old = [...this.entries()];
    this.cfg = cfg;
    if (cfg.positiveSize !== this.positive?.max || cfg.negativeSize !== this.negative?.max) {
      this.positive = makeStore(cfg.positiveSize, () => this.stats.cacheEvictions.success++);
      this.negative = makeStore(cfg.negativeSize, () => this.stats.cacheEvictions.denial++);
      for (const [k, e] of old) this.store(k, e);
    }
  }

  clear(): void {
    this.positive?.clear();
    this.negative?.clear();
  }
}
