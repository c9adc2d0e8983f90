// nodedns' own cache counters, read as an operator reads them (dig CH TXT cache.nodedns), around
// each run together: the refreshes it started in the window the targets judge, shown in the
// report, so that a round which took clock-driven work is seen, not guessed at.
import { ask } from '../../src/diagnose/ask';

export interface CacheCounters {
  refreshes: number; // prefetches: refreshes started on the clock
  misses: number;
}

/** The counters of the nodedns listening on ip:port; undefined when it does not answer with them. */
export async function cacheCounters(ip: string, port: number): Promise<CacheCounters | undefined> {
  const r = await ask({ host: ip, port, family: ip.includes(':') ? 6 : 4 }, 'cache.nodedns', 'TXT', { cls: 'CH', timeoutMs: 5000 });
  return parseCacheCounters((r.summary?.answers ?? []).map((a) => a.data).join(' '));
}

/** The counters from the TXT data of cache.nodedns ("… prefetches=12 … misses=3 …"). */
export function parseCacheCounters(text: string): CacheCounters | undefined {
  const field = (k: string) => Number(new RegExp(`\\b${k}=(\\d+)`).exec(text)?.[1] ?? NaN);
  const c = { refreshes: field('prefetches'), misses: field('misses') };
  return Number.isFinite(c.refreshes) && Number.isFinite(c.misses) ? c : undefined;
}
