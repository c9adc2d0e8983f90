// Per-query log lines, only with --log-queries, optionally sampled (--log-queries-sample).
import type { Logger } from 'pino';
import type { QueryLogEntry } from '../serve/handler';
import { RCODE_NAMES } from './stats';

const TYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR',
  39: 'DNAME', 43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 52: 'TLSA', 64: 'SVCB', 65: 'HTTPS',
  99: 'SPF', 255: 'ANY', 257: 'CAA',
};

export const typeName = (t: number): string => TYPE_NAMES[t] ?? `TYPE${t}`;
export const rcodeName = (r: number): string => RCODE_NAMES[r] ?? `RCODE${r}`;

/**
 * A handler.queryLog callback: one info line per logged query with name, type, client,
 * transport, rcode, cache (hit, miss, stale, local, error), upstream and latencyMs.
 * `sample` is the share logged (0..1); `random` is there for tests.
 */
export function queryLogger(log: Logger, sample: number, random: () => number = Math.random): (e: QueryLogEntry) => void {
  const q = log.child({ log: 'query' });
  const write = (e: QueryLogEntry) => {
    q.info({
      name: e.name, type: typeName(e.type), client: e.client, transport: e.transport, rcode: rcodeName(e.rcode),
      cache: e.cache, upstream: e.upstream, latencyMs: e.latencyMs,
    }, 'query');
  };
  if (sample >= 1) return write;
  return (e) => { if (random() < sample) write(e); };
}
