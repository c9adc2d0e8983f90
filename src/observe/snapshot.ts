// A plain copy of one serving process' counters, taken at scrape time. Plain arrays and
// objects only: it crosses the cluster IPC channel as JSON, and snapshots of several
// workers add up into one (mergeSnapshots) so /metrics reports the whole node.
import type { Agent } from '../serve/agent';
import { DURATION_BUCKETS, newGuardCounters, type GuardCounters, type Histogram, type Stats } from './stats';

export interface HistogramSnapshot {
  counts: number[]; // per bucket of DURATION_BUCKETS, then the overflow (not cumulative)
  sum: number;
  count: number;
}

export interface UpstreamSnapshot {
  zone: string; // '.' for the root
  kind: string; // default, cluster, stub…
  address: string; // host:port
  queries: number;
  failures: number;
  markedDown: number;
  /** share of the serving processes that consider it healthy: 1 healthy, 0 down */
  healthy: number;
  rttMs: number;
  /** in the current configuration (false: counters of a server since removed) */
  current: boolean;
  durations: Record<string, HistogramSnapshot>; // by rcode name
}

export interface Snapshot {
  processes: number; // serving processes summed in here
  requestsByType: number[]; // see Stats.requestsByType
  responses: number[]; // by rcode
  duration: HistogramSnapshot;
  cacheHits: { success: number; denial: number };
  cacheMisses: number;
  cacheServedStale: number;
  cacheEvictions: { success: number; denial: number };
  cachePrefetch: number;
  cacheCompactions: number;
  cacheEntries: { success: number; denial: number };
  cacheCapacity: { success: number; denial: number };
  coalesced: number;
  dropped: number;
  formerr: number;
  overload: number;
  localAnswers: number;
  loopsDetected: number;
  configReloads: { ok: number; rejected: number };
  healthcheckBroken: number;
  guard: GuardCounters;
  upstreams: UpstreamSnapshot[];
  rssBytes: number;
  cpuSeconds: number;
  /** per pod of this node, only with --pod-metrics (src/pods/) */
  pods: PodCountersSnapshot[];
}

export interface PodCountersSnapshot { namespace: string; pod: string; queries: number; nxdomain: number; servfail: number; completions: number }

const histogram = (h: Histogram): HistogramSnapshot => ({ counts: Array.from(h.counts), sum: h.sum, count: h.count });

/** What `agent` (and the process it runs in) has counted so far. */
export function takeSnapshot(agent: Agent): Snapshot {
  const s: Stats = agent.stats;
  const current = new Map<string, { kind: string; healthy: boolean; rttMs: number }>();
  for (const u of agent.upstreamStatus()) current.set(`${u.zone === '.' ? '' : u.zone}|${u.address}`, u);
  const upstreams: UpstreamSnapshot[] = [];
  for (const [key, u] of s.upstreams) {
    const cur = current.get(key);
    const durations: Record<string, HistogramSnapshot> = {};
    for (const [rcode, h] of u.durations) durations[rcode] = histogram(h);
    upstreams.push({
      zone: u.zone || '.', kind: cur?.kind ?? '', address: u.address, queries: u.queries, failures: u.failures,
      markedDown: u.brokenTotal, healthy: (cur ? cur.healthy : u.healthy) ? 1 : 0, rttMs: u.rttMs, current: cur !== undefined, durations,
    });
  }
  const cpu = process.cpuUsage();
  return {
    processes: 1,
    requestsByType: Array.from(s.requestsByType),
    responses: Array.from(s.responses),
    duration: histogram(s.requestDuration),
    cacheHits: { ...s.cacheHits },
    cacheMisses: s.cacheMisses,
    cacheServedStale: s.cacheServedStale,
    cacheEvictions: { ...s.cacheEvictions },
    cachePrefetch: s.cachePrefetch,
    cacheCompactions: s.cacheCompactions,
    cacheEntries: s.cacheSize(),
    cacheCapacity: { success: agent.config.cache.positiveSize, denial: agent.config.cache.negativeSize },
    coalesced: s.coalesced,
    dropped: s.dropped,
    formerr: s.formerr,
    overload: s.overload,
    localAnswers: s.localAnswers,
    loopsDetected: s.loopsDetected,
    configReloads: { ...s.configReloads },
    healthcheckBroken: s.healthcheckBroken,
    guard: { ...s.guard, replies: s.guard.replies.slice() },
    upstreams,
    rssBytes: process.memoryUsage.rss(),
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    pods: agent.config.podMetrics ? (agent.handler.pods?.views ?? []).map((v) => ({ namespace: v.record.namespace, pod: v.record.name,
      queries: v.counters.queries, nxdomain: v.counters.nxdomain, servfail: v.counters.servfail, completions: v.counters.completions })) : [],
  };
}

export function emptySnapshot(): Snapshot {
  const h = (): HistogramSnapshot => ({ counts: new Array(DURATION_BUCKETS.length + 1).fill(0), sum: 0, count: 0 });
  return {
    processes: 0, requestsByType: new Array(1024).fill(0), responses: new Array(24).fill(0), duration: h(),
    cacheHits: { success: 0, denial: 0 }, cacheMisses: 0, cacheServedStale: 0, cacheEvictions: { success: 0, denial: 0 },
    cachePrefetch: 0, cacheCompactions: 0, cacheEntries: { success: 0, denial: 0 }, cacheCapacity: { success: 0, denial: 0 }, coalesced: 0,
    dropped: 0, formerr: 0, overload: 0, localAnswers: 0, loopsDetected: 0, configReloads: { ok: 0, rejected: 0 },
    healthcheckBroken: 0, guard: newGuardCounters(), upstreams: [], rssBytes: 0, cpuSeconds: 0, pods: [],
  };
}

function addArray(into: number[], from: number[]): void {
  for (let i = 0; i < from.length && i < into.length; i++) into[i] += from[i];
}

function addHistogram(into: HistogramSnapshot, from: HistogramSnapshot): void {
  addArray(into.counts, from.counts);
  into.sum += from.sum;
  into.count += from.count;
}

function addFields<T extends Record<string, number>>(into: T, from: T): void {
  for (const k of Object.keys(into) as (keyof T)[]) (into[k] as number) += from[k] ?? 0;
}

/**
 * Only the counters of `s` (gauges zeroed, processes 0): what a worker that died or did
 * not answer in time still contributes, so that the node's sums never go backwards.
 */
export function countersOnly(s: Snapshot): Snapshot {
  return {
    ...s, processes: 0, cacheEntries: { success: 0, denial: 0 }, cacheCapacity: { success: 0, denial: 0 }, rssBytes: 0,
    upstreams: s.upstreams.map((u) => ({ ...u, healthy: 0, rttMs: 0, current: false })),
  };
}

/**
 * The node's total: counters add up; an upstream's `healthy` becomes the share of
 * serving processes that consider it healthy and its RTT the mean over them
 * (counters-only snapshots, processes 0, add their counters and nothing else).
 */
export function mergeSnapshots(list: Snapshot[]): Snapshot {
  if (list.length === 1 && list[0].processes > 0) return list[0];
  const out = emptySnapshot();
  const ups = new Map<string, UpstreamSnapshot & { seen: number }>();
  for (const s of list) {
    out.processes += s.processes;
    addArray(out.requestsByType, s.requestsByType);
    addArray(out.responses, s.responses);
    addHistogram(out.duration, s.duration);
    for (const k of ['cacheHits', 'cacheEvictions', 'cacheEntries', 'configReloads'] as const) addFields(out[k], s[k]);
    if (s.guard) {
      addArray(out.guard.replies, s.guard.replies);
      for (const k of ['spoofed', 'caseFallbacks', 'fdRefused'] as const) out.guard[k] += s.guard[k];
    }
    out.cacheCapacity = { success: out.cacheCapacity.success + s.cacheCapacity.success, denial: out.cacheCapacity.denial + s.cacheCapacity.denial };
    for (const k of ['cacheMisses', 'cacheServedStale', 'cachePrefetch', 'cacheCompactions', 'coalesced', 'dropped', 'formerr', 'overload',
      'localAnswers', 'loopsDetected', 'healthcheckBroken', 'rssBytes', 'cpuSeconds'] as const) out[k] += s[k];
    const live = s.processes > 0;
    for (const u of s.upstreams) {
      const key = `${u.zone}|${u.address}`;
      const m = ups.get(key);
      if (!m) {
        const durations: Record<string, HistogramSnapshot> = {};
        for (const [rc, h] of Object.entries(u.durations)) durations[rc] = { counts: [...h.counts], sum: h.sum, count: h.count };
        ups.set(key, { ...u, durations, seen: live ? 1 : 0 });
        continue;
      }
      m.queries += u.queries;
      m.failures += u.failures;
      m.markedDown += u.markedDown;
      m.kind = m.kind || u.kind;
      if (live) {
        m.healthy += u.healthy;
        m.rttMs += u.rttMs;
        m.current = m.current || u.current;
        m.seen++;
      }
      for (const [rc, h] of Object.entries(u.durations)) {
        if (m.durations[rc]) addHistogram(m.durations[rc], h);
        else m.durations[rc] = { counts: [...h.counts], sum: h.sum, count: h.count };
      }
    }
  }
  const pods = new Map<string, PodCountersSnapshot>();
  for (const p of list.flatMap((s) => s.pods ?? [])) {
    const m = pods.get(`${p.namespace}/${p.pod}`);
    if (!m) { pods.set(`${p.namespace}/${p.pod}`, { ...p }); continue; }
    m.queries += p.queries; m.nxdomain += p.nxdomain; m.servfail += p.servfail; m.completions += p.completions;
  }
  out.pods = [...pods.values()];
  for (const m of ups.values()) {
    const { seen, ...u } = m;
    u.healthy = seen > 0 ? u.healthy / seen : 0;
    u.rttMs = seen > 0 ? u.rttMs / seen : 0;
    out.upstreams.push(u);
  }
  return out;
}
