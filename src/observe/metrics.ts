// Prometheus metrics with the names, labels and meanings of CoreDNS (what node-cache
// users chart and alert on), plus nodedns_* for what node-cache does not have.
// Nothing here runs per query: every value is read from a Snapshot at scrape time.
import type { Registry as PromRegistry } from 'prom-client';
import type { Config } from '../config/types';
import type { NodeCounters } from '../node/counters';
import type { ServingState } from './source';
import type { HistogramSnapshot, Snapshot } from './snapshot';
import { DURATION_BUCKETS, RCODE_NAMES } from './stats';
import { VERSION } from './introspection';
import { Check, REASONS } from '../wire/validate';

// Only the Registry, all nodedns uses of prom-client: its index also loads the Pushgateway,
// the default metrics (and with them OpenTelemetry's API), cluster aggregation and more,
// 14 MiB of RSS for nothing (measured on Node 24, --max-semi-space-size=2).
const Registry = require('prom-client/lib/registry') as typeof PromRegistry;
type Registry = PromRegistry;

type Labels = Record<string, string>;
interface Sample { labels: Labels; value: number; metricName?: string }

/** Everything a scrape reports, gathered once per scrape. */
export interface ScrapeView {
  state: ServingState;
  node: NodeCounters;
  config: Config;
}

/** CoreDNS' query type label: the common types by name, everything else "other". */
export const MONITORED_TYPES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 43: 'DS', 46: 'RRSIG',
  47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 64: 'SVCB', 65: 'HTTPS', 251: 'IXFR', 252: 'AXFR', 255: 'ANY',
};
/** rcodes reported even at zero, so rate() and alerts have a series from the first scrape */
const ALWAYS_RCODES = [0, 1, 2, 3, 4, 5];
const TRANSPORTS = [['udp', '1'], ['udp', '2'], ['tcp', '1'], ['tcp', '2']] as const; // index = requestsByType >> 8

/** A metric whose values are computed from the scrape's view when prom-client asks. */
class ScrapeMetric {
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly read: (v: ScrapeView) => Sample[], private readonly view: () => ScrapeView | undefined) {}

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Sample[] }> {
    const v = this.view();
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: v ? this.read(v) : [] };
  }

  reset(): void { /* values live in the snapshot */ }
}

function histogramSamples(name: string, labels: Labels, h: HistogramSnapshot): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    cumulative += h.counts[i] ?? 0;
    out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: String(DURATION_BUCKETS[i]) }, value: cumulative });
  }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count });
  out.push({ metricName: `${name}_sum`, labels, value: h.sum });
  out.push({ metricName: `${name}_count`, labels, value: h.count });
  return out;
}

/** Extended rcodes (RFC 6891): 16 is BADVERS in an OPT record, the only one nodedns sends. */
const rcodeLabel = (i: number) => RCODE_NAMES[i] ?? (i === 16 ? 'BADVERS' : String(i));

/** The metric table: name, help, type, and how to read it from a view. */
function definitions(server: string): [string, string, 'counter' | 'gauge' | 'histogram', (v: ScrapeView) => Sample[]][] {
  const base = { server, zone: '.', view: '' };
  const cacheBase = { server, zones: '.', view: '' };
  const s = (v: ScrapeView): Snapshot => v.state.snapshot;
  const one = (value: number, labels: Labels = {}): Sample[] => [{ labels, value }];
  return [
    // ---- CoreDNS: prometheus plugin
    ['coredns_dns_requests_total', 'Counter of DNS requests made per zone, protocol and family.', 'counter', (v) => {
      const out: Sample[] = [];
      const other = [0, 0, 0, 0];
      const a = s(v).requestsByType;
      for (let i = 0; i < a.length; i++) {
        if (a[i] === 0) continue;
        const t = MONITORED_TYPES[i & 255];
        if (t === undefined) { other[i >> 8] += a[i]; continue; }
        const [proto, family] = TRANSPORTS[i >> 8];
        out.push({ labels: { ...base, proto, family, type: t }, value: a[i] });
      }
      other.forEach((n, tr) => { if (n > 0) out.push({ labels: { ...base, proto: TRANSPORTS[tr][0], family: TRANSPORTS[tr][1], type: 'other' }, value: n }); });
      return out;
    }],
    ['coredns_dns_responses_total', 'Counter of response status codes.', 'counter', (v) => {
      const out: Sample[] = [];
      s(v).responses.forEach((n, rc) => { if (n > 0 || ALWAYS_RCODES.includes(rc)) out.push({ labels: { ...base, rcode: rcodeLabel(rc), plugin: '' }, value: n }); });
      return out;
    }],
    ['coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.', 'histogram',
      (v) => histogramSamples('coredns_dns_request_duration_seconds', base, s(v).duration)],
    // ---- CoreDNS: cache plugin
    ['coredns_cache_entries', 'The number of elements in the cache.', 'gauge', (v) => [
      { labels: { ...cacheBase, type: 'success' }, value: s(v).cacheEntries.success },
      { labels: { ...cacheBase, type: 'denial' }, value: s(v).cacheEntries.denial }]],
    ['coredns_cache_hits_total', 'The count of cache hits.', 'counter', (v) => [
      { labels: { ...cacheBase, type: 'success' }, value: s(v).cacheHits.success },
      { labels: { ...cacheBase, type: 'denial' }, value: s(v).cacheHits.denial }]],
    ['coredns_cache_misses_total', 'The count of cache misses.', 'counter', (v) => one(s(v).cacheMisses, cacheBase)],
    ['coredns_cache_requests_total', 'The count of cache requests.', 'counter',
      (v) => one(s(v).cacheHits.success + s(v).cacheHits.denial + s(v).cacheMisses, cacheBase)],
    ['coredns_cache_served_stale_total', 'The number of requests served from stale cache entries.', 'counter', (v) => one(s(v).cacheServedStale, cacheBase)],
    ['coredns_cache_evictions_total', 'The count of cache evictions.', 'counter', (v) => [
      { labels: { ...cacheBase, type: 'success' }, value: s(v).cacheEvictions.success },
      { labels: { ...cacheBase, type: 'denial' }, value: s(v).cacheEvictions.denial }]],
    ['coredns_cache_prefetch_total', 'The number of times the cache has prefetched a cached item.', 'counter', (v) => one(s(v).cachePrefetch, cacheBase)],
    // ---- CoreDNS: forward plugin (pkg/proxy)
    ['coredns_proxy_request_duration_seconds', 'Histogram of the time each request took.', 'histogram', (v) => {
      // `to` is unique per series: an upstream serving several zones is summed.
      const byTo = new Map<string, Map<string, HistogramSnapshot>>();
      for (const u of s(v).upstreams) {
        let m = byTo.get(u.address);
        if (!m) byTo.set(u.address, (m = new Map()));
        for (const [rcode, h] of Object.entries(u.durations)) {
          const prev = m.get(rcode);
          if (!prev) { m.set(rcode, { counts: [...h.counts], sum: h.sum, count: h.count }); continue; }
          h.counts.forEach((c, i) => { prev.counts[i] += c; });
          prev.sum += h.sum;
          prev.count += h.count;
        }
      }
      const out: Sample[] = [];
      for (const [to, m] of byTo) for (const [rcode, h] of m) out.push(...histogramSamples('coredns_proxy_request_duration_seconds', { proxy_name: 'forward', to, rcode }, h));
      return out;
    }],
    ['coredns_forward_healthcheck_broken_total', 'Counter of the number of complete failures of the healthchecks.', 'counter',
      (v) => one(s(v).healthcheckBroken)],
    // ---- node-cache
    ['coredns_nodecache_setup_errors_total', 'The number of errors during periodic network setup for node-cache', 'counter', (v) => [
      ...Object.entries(v.node.setupErrors).map(([errortype, n]) => ({ labels: { errortype }, value: n })),
      { labels: { errortype: 'configmap' }, value: s(v).configReloads.rejected }]],
    // ---- nodedns
    ['nodedns_cache_compactions_total', 'Times the cache moved its answers out of slabs kept alive by a few answers each, to hold memory to about twice the answers\' bytes.', 'counter', (v) => one(s(v).cacheCompactions)],
    ['nodedns_build_info', 'Always 1; the labels say which nodedns and Node.js serve.', 'gauge',
      () => one(1, { version: VERSION, nodejs: process.version })],
    ['nodedns_ready', '1 when /ready answers 200: listeners bound, an upstream healthy in every zone, node setup complete.', 'gauge',
      (v) => one(v.state.ready ? 1 : 0)],
    ['nodedns_serving_processes', 'Serving processes (workers) whose counters are included in these metrics.', 'gauge',
      (v) => one(s(v).processes)],
    ['nodedns_fallback_active', '1 while DNS for the local addresses goes to the cluster DNS fallback instead of nodedns (NOTRACK rules absent).', 'gauge',
      (v) => one(v.config.firewall !== 'none' && v.node.notrackInstalled === 0 ? 1 : 0)],
    ['nodedns_fallback_activations_total', 'Times the NOTRACK rules were removed so that the fallback took over.', 'counter',
      (v) => one(v.node.fallbackActivations)],
    ['nodedns_rule_repairs_total', 'Node setup found missing and put back by the resync, by what was repaired.', 'counter',
      (v) => Object.entries(v.node.ruleRepairs).map(([what, n]) => ({ labels: { what }, value: n }))],
    ['nodedns_firewall_syncs_total', 'Firewall passes of the resync: full (rules read with iptables-save / nft), skipped (nf_tables generation unchanged since the last full one).', 'counter',
      (v) => Object.entries(v.node.firewallSyncs).map(([kind, n]) => ({ labels: { kind }, value: n }))],
    ['nodedns_last_sync_timestamp_seconds', 'When the last node setup resync completed (Unix time; 0 = none yet).', 'gauge',
      (v) => one(v.node.lastSyncTime)],
    ['nodedns_worker_restarts_total', 'Worker processes restarted after they died.', 'counter', (v) => one(v.node.workerRestarts)],
    ['nodedns_upstream_healthy', 'Upstream health: 1 healthy, 0 marked down (with workers: the share of workers that see it healthy).', 'gauge',
      (v) => s(v).upstreams.filter((u) => u.current).map((u) => ({ labels: { zone: u.zone, to: u.address }, value: u.healthy }))],
    ['nodedns_upstream_rtt_seconds', 'Moving average of the upstream\'s answer time.', 'gauge',
      (v) => s(v).upstreams.filter((u) => u.current).map((u) => ({ labels: { zone: u.zone, to: u.address }, value: u.rttMs / 1000 }))],
    ['nodedns_upstream_queries_total', 'Queries sent to the upstream (each try counts).', 'counter',
      (v) => s(v).upstreams.map((u) => ({ labels: { zone: u.zone, to: u.address }, value: u.queries }))],
    ['nodedns_upstream_failures_total', 'Tries that got no usable answer from the upstream (timeout, refused connection, malformed reply).', 'counter',
      (v) => s(v).upstreams.map((u) => ({ labels: { zone: u.zone, to: u.address }, value: u.failures }))],
    ['nodedns_upstream_marked_down_total', 'Times the upstream was marked down after repeated failures.', 'counter',
      (v) => s(v).upstreams.map((u) => ({ labels: { zone: u.zone, to: u.address }, value: u.markedDown }))],
    ['nodedns_coalesced_queries_total', 'Cache misses that waited for an identical query already in flight upstream instead of sending their own.', 'counter',
      (v) => one(s(v).coalesced)],
    ['nodedns_loops_detected_total', 'Forwarding loops detected (a query of ours that came back to us).', 'counter', (v) => one(s(v).loopsDetected)],
    ['nodedns_config_reloads_total', 'Live configuration changes, applied (ok) or refused (rejected).', 'counter', (v) => [
      { labels: { result: 'ok' }, value: s(v).configReloads.ok },
      { labels: { result: 'rejected' }, value: s(v).configReloads.rejected }]],
    ['nodedns_overload_rejects_total', 'Queries refused by a limit (--max-inflight, --max-waiting, --max-waiting-per-client, TCP connection caps).', 'counter', (v) => one(s(v).overload)],
    ['nodedns_malformed_queries_total', 'Packets that were not answerable queries: dropped, or answered FORMERR.', 'counter', (v) => [
      { labels: { action: 'dropped' }, value: s(v).dropped },
      { labels: { action: 'formerr' }, value: s(v).formerr }]],
    // ---- nodedns: upstream replies and sockets refused for safety (docs/security-upstreams.md)
    ['nodedns_upstream_invalid_replies_total', 'Upstream replies to our query refused as malformed, by reason; never cached or served.', 'counter',
      (v) => REASONS.map((reason, i) => ({ reason, i })).filter((r) => r.i >= Check.OPCODE)
        .map((r) => ({ labels: { reason: r.reason }, value: s(v).guard.replies[r.i] }))],
    ['nodedns_upstream_unwanted_replies_total', 'Datagrams on an upstream query socket that were not its reply: wrong ID, question or 0x20 letter case.', 'counter',
      (v) => [Check.ID, Check.QUESTION, Check.CASE].map((i) => ({ labels: { reason: REASONS[i] }, value: s(v).guard.replies[i] }))],
    ['nodedns_upstream_spoof_suspected_total', 'Queries that drew more than --unwanted-reply-threshold unwanted replies: the socket was dropped and the query asked again over TCP.', 'counter',
      (v) => one(s(v).guard.spoofed)],
    ['nodedns_upstream_case_fallbacks_total', 'Replies that did not echo the 0x20 letter case of our query: asked again without it.', 'counter',
      (v) => one(s(v).guard.caseFallbacks)],
    ['nodedns_upstream_sockets_refused_total', 'Upstream tries refused to keep --fd-reserve file descriptors free (answered SERVFAIL, counted as overload too).', 'counter',
      (v) => one(s(v).guard.fdRefused)],
    ['nodedns_local_answers_total', 'Queries answered locally (localhost., invalid., --hosts, CHAOS).', 'counter', (v) => one(s(v).localAnswers)],
    ['nodedns_cache_capacity', 'Cache capacity in entries by type (summed over workers: each has its own cache).', 'gauge', (v) => [
      { labels: { type: 'success' }, value: s(v).cacheCapacity.success },
      { labels: { type: 'denial' }, value: s(v).cacheCapacity.denial }]],
    // ---- the process (as the Go client names them), summed over every nodedns process on the node
    // ---- per pod of this node, only with --pod-metrics (pod labels multiply series)
    ...(['queries', 'nxdomain', 'servfail', 'completions'] as const).map((k): [string, string, 'counter', (v: ScrapeView) => Sample[]] => [
      `nodedns_pod_${k === 'queries' ? 'requests' : k}_total`,
      { queries: 'Queries from each pod of this node (--pod-metrics).', nxdomain: 'NXDOMAIN answers to each pod of this node (--pod-metrics).',
        servfail: 'SERVFAIL answers to each pod of this node (--pod-metrics).', completions: 'Answers completed along the pod\'s search path (--search-completion, --pod-metrics).' }[k],
      'counter', (v) => (s(v).pods ?? []).map((p) => ({ labels: { namespace: p.namespace, pod: p.pod }, value: p[k] }))]),
    ['process_resident_memory_bytes', 'Resident memory size in bytes, summed over the nodedns processes (supervisor and workers).', 'gauge',
      (v) => one(s(v).rssBytes)],
    ['process_cpu_seconds_total', 'Total user and system CPU time spent in seconds, summed over the nodedns processes.', 'counter',
      (v) => one(s(v).cpuSeconds)],
  ];
}

export interface MetricsRegistry {
  registry: Registry;
  /** the exposition text for one view */
  render(view: ScrapeView): Promise<string>;
  /** every metric family name this registry can emit (for tests and docs) */
  names(): string[];
}

/**
 * A registry with every metric above. prom-client's default metrics are left out: their
 * GC and event-loop monitors would run in the serving process, and they would describe
 * only the process that serves /metrics; process_* above covers every process instead.
 */
export function createMetricsRegistry(config: Config): MetricsRegistry {
  const registry = new Registry();
  let current: ScrapeView | undefined;
  for (const [name, help, type, read] of definitions(`dns://:${config.port}`)) {
    registry.registerMetric(new ScrapeMetric(name, help, type, read, () => current) as never);
  }
  return {
    registry,
    async render(view) {
      // Every ScrapeMetric reads `current` synchronously when metrics() starts, so
      // concurrent scrapes cannot see each other's view.
      current = view;
      const p = registry.metrics();
      current = undefined;
      return p;
    },
    names: () => registry.getMetricsAsArray().map((m) => m.name),
  };
}
