// Positive and negative answers in two least-recently-used stores of their own size.
// Expiry is ours (not the LRU's) so that an expired entry can still be served stale.
import type { CacheConfig } from '../config/types';
import type { Stats } from '../observe/stats';
import { keyFlags } from '../wire/query';
import type { Entry } from './entry';
import { HotIndex } from './hot-index';
import { keyHash } from './key-hash';
import { Recency } from './recency';
import { refreshTime } from './refresh-queue';
import { wireArena, type WireArena } from './wire-arena';

/**
 * How precisely the LRU knows when an entry was last hit. Hearing of a hit once a second, an
 * ndots burst told the LRU of one hit in three (each of 8,000 names asked about three times a
 * second); once per 4 s, one in twelve, and the burst cost 2.2 % less (scripts/bench/pair.ts
 * --workload ndots, 2026-12-07). An entry in use is evicted out of order only when more names
 * than its store holds were stored within those 4 s (docs/cache.md).
 */
export const RECENCY_MS = 4000;

/** The recency tick of `now` (ms): a small integer, compared, never subtracted. */
export function recencyTick(now: number): number {
  return ((now / RECENCY_MS) | 0) & 0x3fffffff;
}

export class AnswerCache {
  /**
   * Refreshes upstream now. Names stored together (a warm-up, a pod's burst) expire
   * together: unbounded, their refreshes would open a socket each in one burst and
   * take every --max-inflight slot from client misses. Past the cap, refreshes wait.
   */
  prefetchesInflight = 0;
  /** Each store's size and recency (src/cache/recency.ts); undefined when its size is 0. */
  private positive: Recency | undefined;
  private negative: Recency | undefined;
  /**
   * Every entry of both stores by key, and the only map: an entry is in it exactly while it is
   * in its store's recency list (store() and drop() keep both). A negative answer is found in one
   * probe, where through per-store maps it was a probe of the positive store first, and three in
   * four answers of an ndots burst are negative.
   */
  private readonly index = new Map<string, Entry>();
  /** The entries' records by key hash, where a hit looks first (src/cache/hot-index.ts); undefined with no cache. */
  hot: HotIndex | undefined;
  private cfg: CacheConfig;
  /** cfg.prefetchHits, on the object a hit reads anyway. */
  prefetchHits: number;
  /**
   * What the last fresh() that found nothing fresh found: the expired entry stored under its key,
   * or undefined. The miss that follows at once hands it to the resolver's client-response timer
   * (RFC 8767), which would otherwise look the key up again.
   */
  expired: Entry | undefined = undefined;

  /** `arena` is where the answers stored here were cut (makeEntry's): it counts what this cache holds in each slab. */
  constructor(cfg: CacheConfig, private readonly stats: Stats, readonly arena: WireArena = wireArena) {
    this.cfg = cfg;
    this.prefetchHits = cfg.prefetchHits;
    this.makeStores(cfg);
    stats.cacheSize = () => ({ success: this.positive?.size ?? 0, denial: this.negative?.size ?? 0 });
  }

  private makeStores(cfg: CacheConfig): void {
    const entries = cfg.positiveSize + cfg.negativeSize;
    this.hot = entries > 0 ? new HotIndex(entries) : undefined;
    this.positive = cfg.positiveSize > 0 ? new Recency(cfg.positiveSize) : undefined;
    this.negative = cfg.negativeSize > 0 ? new Recency(cfg.negativeSize) : undefined;
  }

  /** Takes stored `e` out of its store, the index and the hot index. */
  private drop(e: Entry): void {
    (e.negative ? this.negative : this.positive)!.unlink(e);
    this.index.delete(e.key);
    if (e.slab !== undefined) this.arena.released(e.slab, e.wire.length);
    if (e.usedAt !== -1) this.hot?.remove(keyHash(e.key), e); // never hit: never indexed (fresh())
  }

  get config(): CacheConfig {
    return this.cfg;
  }

  /**
   * A fresh entry, or undefined. Hot path. The LRU hears of a hit once per RECENCY_MS per entry
   * (recencyTick): moving an entry to the tail on every hit touches three more places in the
   * LRU's lists, and eviction needs recency to a few seconds, not to the query.
   */
  fresh(key: string, now: number): Entry | undefined {
    const e = this.index.get(key);
    if (e === undefined || e.expiresAt <= now) {
      this.expired = e;
      return undefined;
    }
    const tick = recencyTick(now);
    if (e.usedAt !== tick) {
      // Indexed for hits at its first hit, this one counted (the caller counts it in e.hits), not
      // when stored: most misses store a name never asked again, and indexing each cost a miss
      // about 6 % (scripts/bench/pair.ts, bench/results/HISTORY.md 2026-12-06 22:43).
      if (e.usedAt === -1) this.hot?.add(keyHash(key), e, keyFlags(key), e.hits + 1);
      e.usedAt = tick;
      this.touch(e);
    }
    return e;
  }

  /** Tells the LRU of a hit on `e` (found here or through `hot`). */
  touch(e: Entry): void {
    (e.negative ? this.negative : this.positive)!.touch(e);
  }

  /** An expired entry still inside the stale window (RFC 8767), for when upstreams fail. */
  stale(key: string, now: number): Entry | undefined {
    const e = this.index.get(key);
    if (e === undefined) return undefined;
    if (now > e.expiresAt + this.cfg.staleWindow * 1000) {
      this.delete(key);
      return undefined;
    }
    return e;
  }

  store(key: string, e: Entry): void {
    if (e.ttl <= 0) return;
    const old = this.index.get(key);
    if (old !== undefined) this.drop(old); // replaced, from either store: a name lives in one only
    const into = e.negative ? this.negative : this.positive;
    if (!into) return;
    if (into.full) {
      this.drop(into.oldest!);
      if (e.negative) this.stats.cacheEvictions.denial++; else this.stats.cacheEvictions.success++;
    }
    e.key = key;
    into.push(e);
    this.index.set(key, e);
    if (e.slab !== undefined) {
      this.arena.held(e.slab, e.wire.length);
      if (this.arena.wasteful) this.compact();
    }
  }

  /**
   * Moves the answers out of slabs less than half held into the slab being filled, so that
   * the slabs kept alive hold at most about twice the bytes of the answers in them
   * (src/cache/wire-arena.ts says how a client could make it hundreds of times more).
   * Each entry keeps its identity: only its wire view changes, to the same bytes.
   */
  private compact(): void {
    const arena = this.arena;
    for (const e of this.index.values()) {
      const s = e.slab;
      if (s === undefined || !arena.sparse(s)) continue;
      const n = e.wire.length;
      const wire = arena.cut(n);
      wire.set(e.wire);
      arena.released(s, n);
      e.wire = wire;
      e.slab = arena.lastSlab!;
      arena.held(e.slab, n);
    }
    this.stats.cacheCompactions++;
  }

  /** Every stored answer let go of its slab: the index is about to be emptied. */
  private releaseAll(): void {
    for (const e of this.index.values()) if (e.slab !== undefined) this.arena.released(e.slab, e.wire.length);
  }

  delete(key: string): void {
    const e = this.index.get(key);
    if (e !== undefined) this.drop(e);
  }

  /** The entry stored under `key`, fresh or not, without touching its recency. */
  current(key: string): Entry | undefined {
    return this.index.get(key);
  }

  /** When a popular `e` should be refreshed: in the first half of the last --prefetch-percent of its TTL. */
  refreshAt(e: Entry): number {
    return refreshTime(e.expiresAt, e.ttl * 10 * this.cfg.prefetchPercent);
  }

  get size(): { success: number; denial: number } {
    return { success: this.positive?.size ?? 0, denial: this.negative?.size ?? 0 };
  }

  /** Entries from least to most recently used (the negative ones first), for the warm-restart file. */
  *entries(): Generator<[string, Entry]> {
    for (const store of [this.negative, this.positive]) {
      if (!store) continue;
      for (const e of store.entries()) yield [e.key, e];
    }
  }

  /** New sizes or caps: keep what fits, most recent first. */
  reconfigure(cfg: CacheConfig): void {
    const old = [...this.entries()];
    this.cfg = cfg;
    this.prefetchHits = cfg.prefetchHits;
    if (cfg.positiveSize !== this.positive?.max || cfg.negativeSize !== this.negative?.max) {
      this.releaseAll(); // store() below holds again what it keeps
      this.index.clear();
      this.positive?.clear(); // old links go: what is not stored again keeps nothing alive
      this.negative?.clear();
      this.makeStores(cfg);
      for (const [k, e] of old) {
        e.usedAt = -1; // not in the new hot index: indexed again at its next hit
        this.store(k, e);
      }
    }
  }

  clear(): void {
    this.releaseAll();
    this.positive?.clear();
    this.negative?.clear();
    this.index.clear();
    this.hot?.clear();
  }
}
