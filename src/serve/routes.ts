// Config -> routes and pools. Pools whose servers did not change are kept, so a
// reload does not forget which upstreams are down.
import type { Logger } from 'pino';
import type { Config, Endpoint, Transport } from '../config/types';
import { UpstreamPool } from '../forward/pool';
import type { Stats } from '../observe/stats';
import { Router, type Route } from './router';

export function buildRouter(c: Config, hostUpstreams: Endpoint[], old: UpstreamPool[], stats: Stats, log: Logger): { router: Router; pools: UpstreamPool[] } {
  const tuning = {
    timeoutMs: c.upstreamTimeoutMs, maxFails: c.upstreamMaxFails, healthCheckIntervalMs: c.healthCheckIntervalMs,
    caseRandomization: c.upstreamCaseRandomization, unwantedReplyThreshold: c.unwantedReplyThreshold,
  };
  const pools: UpstreamPool[] = [];
  const pool = (zone: string, eps: Endpoint[], transport: Transport) => {
    const kept = old.find((p) => p.zone === zone && p.sameAs(eps, transport) && !pools.includes(p));
    const p = kept ?? new UpstreamPool(zone, eps, transport, tuning, stats, log);
    pools.push(p);
    return p;
  };
  const cluster = { successCap: c.cache.clusterSuccessTtlCap, denialCap: c.cache.clusterDenialTtlCap, servfailTtl: c.cache.servfailTtl };
  const outside = { successCap: c.cache.successTtlCap, denialCap: c.cache.denialTtlCap, servfailTtl: c.cache.servfailTtl };
  const routes: Route[] = [];
  const clusterPool = pool(c.clusterDomain, c.clusterDns, c.clusterDnsTransport);
  for (const zone of [c.clusterDomain, ...c.reverseZones]) routes.push({ zone, kind: 'cluster', pool: clusterPool, policy: cluster });
  for (const s of c.stubDomains) {
    routes.push({ zone: s.domain, kind: 'stub', pool: pool(s.domain, s.servers, c.upstreamTransport), policy: outside });
  }
  if (!c.stubDomains.some((s) => s.domain === '')) {
    routes.push({ zone: '', kind: 'upstream', pool: pool('', hostUpstreams, c.upstreamTransport), policy: outside });
  }
  for (const p of old) if (!pools.includes(p)) p.close();
  return { router: new Router(routes, c.cache.zones), pools };
}
