// Plain counters the hot path bumps: a property increment costs nothing next to a
// prom-client call. The metrics module reads them at scrape time.

export const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED',
  'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];

/** Upper bounds (seconds) of the request duration histogram, as CoreDNS uses. */
export const DURATION_BUCKETS = [0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
  0.256, 0.512, 1.024, 2.048, 4.096, 8.192];

export class Histogram {
  readonly counts = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;
  observe(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]) i++;
    this.counts[i]++;
    this.sum += seconds;
    this.count++;
  }
}

export interface UpstreamStats {
  zone: string;
  address: string; // host:port
  queries: number;
  failures: number; // timeouts, refused connections, bad replies
  healthy: boolean;
  brokenTotal: number; // times it was marked down
  rttMs: number; // moving average of answered tries
  /** duration histogram per rcode of what the upstream answered */
  durations: Map<string, Histogram>;
}

/** Index into Stats.requestsByType: transport and family in the high bits, qtype (0 = 256 and above) in the low 8. */
export const enum Transport { UDP4 = 0, UDP6 = 256, TCP4 = 512, TCP6 = 768 }

export class Stats {
  /**
   * Requests by transport, family and query type in one flat array, so the hot path
   * does one increment: requestsByType[transport + (qtype < 256 ? qtype : 0)].
   */
  readonly requestsByType = new Float64Array(1024);
  /** requests by transport and family (read-only view of requestsByType) */
  get requests(): { udp4: number; udp6: number; tcp4: number; tcp6: number } {
    const sum = (base: number) => { let n = 0; for (let i = base; i < base + 256; i++) n += this.requestsByType[i]; return n; };
    return { udp4: sum(Transport.UDP4), udp6: sum(Transport.UDP6), tcp4: sum(Transport.TCP4), tcp6: sum(Transport.TCP6) };
  }
  /** queries that found every upstream of their zone marked down (CoreDNS' healthcheck_broken) */
  healthcheckBroken = 0;
  /** responses by rcode number (index); 16+ lumped at the end */
  responses = new Float64Array(24);
  requestDuration = new Histogram();
  cacheHits = { success: 0, denial: 0 };
  cacheMisses = 0;
  cacheServedStale = 0;
  cacheEvictions = { success: 0, denial: 0 };
  cachePrefetch = 0;
  /** Times the cache moved its answers out of sparse slabs (src/cache/wire-arena.ts). */
  cacheCompactions = 0;
  coalesced = 0;
  dropped = 0; // packets that were not queries we could answer at all
  formerr = 0;
  overload = 0; // refused for --max-inflight, --max-waiting(-per-client) or connection caps
  localAnswers = 0;
  loopsDetected = 0;
  configReloads = { ok: 0, rejected: 0 };
  /** upstream replies and sockets refused for safety (docs/security-upstreams.md) */
  guard = newGuardCounters();
  upstreams = new Map<string, UpstreamStats>(); // key zone|host:port
  /** set by the cache so gauges can read sizes at scrape time */
  cacheSize: () => { success: number; denial: number } = () => ({ success: 0, denial: 0 });

  upstream(zone: string, address: string): UpstreamStats {
    const key = `${zone}|${address}`;
    let u = this.upstreams.get(key);
    if (!u) {
      u = { zone, address, queries: 0, failures: 0, healthy: true, brokenTotal: 0, rttMs: 0, durations: new Map() };
      this.upstreams.set(key, u);
    }
    return u;
  }
}

/** replies: by Check (src/wire/validate.ts REASONS) */
export interface GuardCounters {
  replies: number[];
  spoofed: number; // queries whose unwanted replies passed --unwanted-reply-threshold (asked again over TCP)
  caseFallbacks: number; // replies without our 0x20 case, asked again without it
  fdRefused: number; // upstream tries refused to keep --fd-reserve descriptors free
}

export function newGuardCounters(): GuardCounters {
  return { replies: new Array(16).fill(0), spoofed: 0, caseFallbacks: 0, fdRefused: 0 };
}
