// What nodedns thinks, for `dig` on the node: NSID (RFC 5001) is the node name, and
// CHAOS-class TXT names answer with the version, identity, upstreams, cache and config.
//   dig @169.254.20.10 +nsid example.com
//   dig @169.254.20.10 CH TXT upstreams.nodedns.
import { Buffer } from 'node:buffer';
import type { Config } from '../config/types';
import type { Agent } from '../serve/agent';
import { RCODE, TYPE } from '../wire/constants';
import { questionName, type Query } from '../wire/query';
import { clusterWorkerId } from './cluster-worker';
import { NodeClients } from './node-clients';
import { chaosEmptyReply, chaosTxtReply, TYPE_TXT } from './txt-reply';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const VERSION: string = require('../../package.json').version;

/** The CHAOS names nodedns answers, lower-case, without the trailing dot. */
export const CHAOS_NAMES = ['version.bind', 'hostname.bind', 'id.server', 'upstreams.nodedns', 'cache.nodedns', 'config.nodedns'] as const;
export type ChaosName = (typeof CHAOS_NAMES)[number];
/** Names that reveal the configuration, the upstreams or the traffic: the node itself and --chaos-allow only (REFUSED to others). */
export const NODE_ONLY_CHAOS_NAMES: readonly ChaosName[] = ['upstreams.nodedns', 'cache.nodedns', 'config.nodedns'];

/** Which serving process answered, when there are several (--workers). */
function processTag(): string[] {
  const id = clusterWorkerId();
  return id !== undefined ? [`worker=${id}`, `pid=${process.pid}`] : [];
}

export function upstreamRecords(agent: Agent): string[][] {
  const out: string[][] = [[`source=${agent.hostUpstreams.source}`, ...processTag()]];
  for (const u of agent.upstreamStatus()) {
    out.push([`zone=${u.zone}`, `kind=${u.kind}`, `to=${u.address}`, `healthy=${u.healthy ? 'yes' : 'no'}`,
      `rtt=${u.rttMs}ms`, `queries=${u.queries}`, `failures=${u.failures}`]);
  }
  const ready = agent.readiness();
  if (!ready.ready) out.push([`not-ready=${ready.missing.join('; ')}`]);
  return out;
}

export function cacheRecords(agent: Agent): string[][] {
  const s = agent.stats;
  const size = s.cacheSize();
  const c = agent.config.cache;
  return [[
    `entries=${size.success + size.denial}`, `success=${size.success}/${c.positiveSize}`, `denial=${size.denial}/${c.negativeSize}`,
    `hits=${s.cacheHits.success + s.cacheHits.denial}`, `misses=${s.cacheMisses}`, `stale-served=${s.cacheServedStale}`,
    `evictions=${s.cacheEvictions.success + s.cacheEvictions.denial}`, `prefetches=${s.cachePrefetch}`, `coalesced=${s.coalesced}`,
    ...processTag(),
  ]];
}

function flatten(prefix: string, v: unknown, out: [string, string][]): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && prefix !== 'hosts') {
    for (const [k, x] of Object.entries(v)) flatten(prefix ? `${prefix}.${k}` : k, x, out);
    return;
  }
  let text: string;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) text = v.join(',');
  else if (Array.isArray(v) && v.every((x) => x && typeof x === 'object' && 'host' in x && 'port' in x)) {
    text = (v as { host: string; port: number; family: number }[]).map((e) => (e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`)).join(',');
  } else text = typeof v === 'string' ? v : JSON.stringify(v);
  out.push([prefix, text]);
}

/** One record per setting, "name=value" (long values continue in more strings of the same record). */
export function configRecords(agent: Agent): string[][] {
  const pairs: [string, string][] = [];
  flatten('', agent.config as unknown as Record<string, unknown>, pairs);
  const routes = agent.router.routes.map((r) => `${r.zone || '.'}(${r.kind})->${r.pool.describe()}`).join(' ');
  pairs.push(['routes', routes], ['upstreamSource', agent.hostUpstreams.source], ['version', VERSION]);
  return pairs.map(([k, v]) => [`${k}=${v}`]);
}

/** The CHAOS answerer for agent.handler.chaos. */
export function chaosResponder(agent: Agent, getNsid: () => Buffer | undefined): (query: Buffer, q: Query, maxSize: number, client: string) => Buffer {
  const nodeClients = new NodeClients(() => agent.config);
  return (query, q, maxSize, client) => {
    const nsid = getNsid();
    const name = questionName(query, q.qnameEnd) as ChaosName;
    if (NODE_ONLY_CHAOS_NAMES.includes(name) && !nodeClients.allows(client)) return chaosEmptyReply(query, q, RCODE.REFUSED, nsid);
    let records: string[][];
    switch (name) {
      case 'version.bind': records = [[`nodedns ${VERSION}`]]; break;
      case 'hostname.bind':
      case 'id.server': records = [[agent.config.nodeName]]; break;
      case 'upstreams.nodedns': records = upstreamRecords(agent); break;
      case 'cache.nodedns': records = cacheRecords(agent); break;
      case 'config.nodedns': records = configRecords(agent); break;
      default: return chaosEmptyReply(query, q, RCODE.REFUSED, nsid);
    }
    if (q.qtype !== TYPE_TXT && q.qtype !== TYPE.ANY) return chaosEmptyReply(query, q, RCODE.NOERROR, nsid);
    return chaosTxtReply(query, q, records, maxSize, nsid);
  };
}

/** NSID bytes for a node name ('' = none). At most 255 bytes: a Kubernetes node name fits. */
export function nsidFor(nodeName: string): Buffer | undefined {
  if (!nodeName) return undefined;
  const b = Buffer.from(nodeName, 'utf8');
  return b.length > 255 ? b.subarray(0, 255) : b;
}

/** Sets NSID and CHAOS answers on the agent's handler (every serving process does this). */
export function instrumentHandler(agent: Agent, config: Config): void {
  agent.handler.nsid = nsidFor(config.nodeName);
  agent.handler.chaos = chaosResponder(agent, () => agent.handler.nsid);
}
