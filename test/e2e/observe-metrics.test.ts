// /metrics and /ready of the real agent after a known sequence of real queries (dig):
// misses, hits, NXDOMAIN, NODATA over TCP, coalesced queries, an upstream SERVFAIL,
// prefetch, a stale answer after the upstream (real knotd) is stopped, upstream failures.
// After each step every coredns_* and nodedns_* counter must have moved by exactly the
// expected amount, and nothing else may have moved.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig, type DigOptions } from '../helpers/dig';
import { buildQuery, exchange } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { simpleZone, startKnot, type KnotServer } from '../helpers/knot';
import { freePort, hostPort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { deltas, httpGet, key, scrape, value, type Scrape } from './observe-scrape';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ZONE = simpleZone('obs.test', [
  'hit A 192.0.2.1',
  'pf 6 A 192.0.2.3',
  'short 1 A 192.0.2.2',
].join('\n'), { negTtl: 60 });

/** Samples that count something (not histogram buckets/sums, RTTs, process figures, timestamps). */
function counting(k: string): boolean {
  if (!/^(coredns|nodedns)_/.test(k)) return false;
  return !/_bucket\{|_sum(\{|$)|^nodedns_upstream_rtt_seconds|^process_|^nodedns_last_sync/.test(k);
}

describe('metrics after a known sequence of queries', () => {
  let knot: KnotServer;
  let slow: FaultServer;
  let agent: AgentProcess;
  let metricsUrl: string;
  let readyUrl: string;
  let server: string;
  let last: Scrape;
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  const S = () => ({ server, zone: '.', view: '' });
  const C = () => ({ server, zones: '.', view: '' });
  const req = (proto: string, type: string) => key('coredns_dns_requests_total', { ...S(), proto, family: '1', type });
  const resp = (rcode: string) => key('coredns_dns_responses_total', { ...S(), rcode, plugin: '' });
  const dur = () => key('coredns_dns_request_duration_seconds_count', S());
  const cache = (name: string, type?: string) => key(`coredns_cache_${name}`, type ? { ...C(), type } : C());
  const proxy = (to: string, rcode: string) => key('coredns_proxy_request_duration_seconds_count', { proxy_name: 'forward', to, rcode });
  const up = (name: string, zone: string, to: string) => key(`nodedns_upstream_${name}`, { zone, to });
  const plain = (name: string) => key(name);

  /** Scrapes and checks that exactly `expected` moved since the last scrape. */
  async function expectMoved(step: string, expected: [string, number][]): Promise<Scrape> {
    const now = await scrape(metricsUrl);
    const moved = new Map([...deltas(last, now)].filter(([k]) => counting(k)));
    const want = new Map<string, number>();
    for (const [k, n] of expected) want.set(k, (want.get(k) ?? 0) + n);
    const show = (m: Map<string, number>) => [...m].sort().map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join('\n');
    assert.equal(show(moved), show(new Map([...want].filter(([, v]) => v !== 0))), `${step}: counters moved differently than expected`);
    last = now;
    return now;
  }

  const q = (o: Omit<DigOptions, 'server'>) => dig({ server: agent, timeoutSec: 4, ...o });

  before(async () => {
    knot = await startKnot({ zones: { 'obs.test': ZONE, 'cluster.local': simpleZone('cluster.local', 'svc A 10.96.0.99') } });
    cleanup.push(() => knot.stop());
    slow = await startFaultServer({ records: { 'c.slow.test': [{ type: 'A', data: '192.0.2.9', ttl: 300 }] }, negativeSoa: { zone: 'slow.test', ttl: 60 } });
    cleanup.push(() => slow.stop());
    const { freeAddress } = await import('../helpers/ports');
    const ip = freeAddress();
    const port = await freePort(ip);
    const mport = await freePort(ip);
    const hport = await freePort(ip);
    agent = await startAgent({
      localIps: [ip], port, upstreams: [knot],
      args: [
        '--cluster-dns', hostPort(knot), '--stub-domain', `slow.test=${hostPort(slow)}`,
        '--metrics-addr', `${ip}:${mport}`, '--health-addr', `${ip}:${hport}`,
        '--success-ttl', '5m', '--prefetch-hits', '3', '--prefetch-percent', '50',
        '--upstream-timeout', '300ms', '--query-timeout', '2s', '--upstream-max-fails', '3', '--health-check-interval', '200ms',
      ],
    });
    cleanup.push(() => agent.stop());
    metricsUrl = `http://${ip}:${mport}/metrics`;
    readyUrl = `http://${ip}:${hport}/ready`;
    server = `dns://:${port}`;
    last = await scrape(metricsUrl);
  });

  it('starts ready, with every upstream healthy', async () => {
    const r = await httpGet(readyUrl);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, 'ready\n');
    assert.equal(value(last, 'nodedns_ready'), 1);
    for (const [zone, to] of [['.', hostPort(knot)], ['cluster.local', hostPort(knot)], ['slow.test', hostPort(slow)]]) {
      assert.equal(value(last, 'nodedns_upstream_healthy', { zone, to }), 1, `${zone} ${to}`);
    }
    assert.equal(value(last, 'nodedns_serving_processes'), 1);
    assert.equal(value(last, 'nodedns_cache_capacity', { type: 'success' }), 9984);
  });

  it('counts a miss, then hits', async () => {
    const k = hostPort(knot);
    const a = await q({ name: 'hit.obs.test' });
    assert.deepEqual(a.answers.map((x) => x.data), ['192.0.2.1'], a.output);
    await expectMoved('first query (miss)', [
      [req('udp', 'A'), 1], [resp('NOERROR'), 1], [dur(), 1],
      [cache('misses_total'), 1], [cache('requests_total'), 1], [cache('entries', 'success'), 1],
      [proxy(k, 'NOERROR'), 1], [up('queries_total', '.', k), 1],
    ]);
    for (let i = 0; i < 3; i++) assert.equal((await q({ name: 'hit.obs.test' })).status, 'NOERROR');
    await expectMoved('three hits', [
      [req('udp', 'A'), 3], [resp('NOERROR'), 3], [dur(), 3],
      [cache('hits_total', 'success'), 3], [cache('requests_total'), 3],
    ]);
    assert.equal(await knot.queryCountByType('A'), 1, 'knotd saw one A query');
  });

  it('counts NXDOMAIN (miss then denial hit) and NODATA over TCP', async () => {
    const k = hostPort(knot);
    assert.equal((await q({ name: 'missing.obs.test' })).status, 'NXDOMAIN');
    assert.equal((await q({ name: 'missing.obs.test' })).status, 'NXDOMAIN');
    await expectMoved('NXDOMAIN twice', [
      [req('udp', 'A'), 2], [resp('NXDOMAIN'), 2], [dur(), 2],
      [cache('misses_total'), 1], [cache('hits_total', 'denial'), 1], [cache('requests_total'), 2], [cache('entries', 'denial'), 1],
      [proxy(k, 'NXDOMAIN'), 1], [up('queries_total', '.', k), 1],
    ]);
    const r = await q({ name: 'hit.obs.test', type: 'AAAA', tcp: true });
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answers.length, 0);
    await expectMoved('NODATA over TCP', [
      [req('tcp', 'AAAA'), 1], [resp('NOERROR'), 1], [dur(), 1],
      [cache('misses_total'), 1], [cache('requests_total'), 1], [cache('entries', 'denial'), 1],
      [proxy(k, 'NOERROR'), 1], [up('queries_total', '.', k), 1],
    ]);
  });

  it('counts coalesced queries: three clients, one upstream query', async () => {
    const f = hostPort(slow);
    slow.set({ delayMs: 150 }); // under --upstream-timeout (300ms)
    const replies = await Promise.all([0, 1, 2].map(() => exchange(agent, buildQuery('c.slow.test', 'A'), 'udp', 3000)));
    slow.set({});
    for (const r of replies) assert.equal(r[3] & 0x0f, 0);
    assert.equal(slow.count({ name: 'c.slow.test' }), 1);
    await expectMoved('coalesced', [
      [req('udp', 'A'), 3], [resp('NOERROR'), 3], [dur(), 3],
      [cache('misses_total'), 3], [cache('requests_total'), 3], [cache('entries', 'success'), 1],
      [plain('nodedns_coalesced_queries_total'), 2],
      [proxy(f, 'NOERROR'), 1], [up('queries_total', 'slow.test', f), 1],
    ]);
  });

  it('counts an upstream SERVFAIL by upstream and rcode', async () => {
    const f = hostPort(slow);
    slow.set({ fault: 'servfail' });
    const r = await q({ name: 'sf.slow.test' });
    slow.set({});
    assert.equal(r.status, 'SERVFAIL');
    await expectMoved('upstream SERVFAIL', [
      [req('udp', 'A'), 1], [resp('SERVFAIL'), 1], [dur(), 1],
      [cache('misses_total'), 1], [cache('requests_total'), 1], [cache('entries', 'denial'), 1],
      [proxy(f, 'SERVFAIL'), 1], [up('queries_total', 'slow.test', f), 1],
    ]);
  });

  it('counts a prefetch', async () => {
    const k = hostPort(knot);
    await q({ name: 'pf.obs.test' });
    for (let i = 0; i < 3; i++) await q({ name: 'pf.obs.test' }); // popular at its third hit: refreshed 3-4.5 s after it was stored
    await waitUntil('the prefetch to reach knotd', async () => ((await knot.queryCountByType('A')) === 4 ? true : undefined), PATIENCE_MS);
    await expectMoved('prefetch', [
      [req('udp', 'A'), 4], [resp('NOERROR'), 4], [dur(), 4],
      [cache('misses_total'), 1], [cache('hits_total', 'success'), 3], [cache('requests_total'), 4], [cache('entries', 'success'), 1],
      [cache('prefetch_total'), 1], [proxy(k, 'NOERROR'), 2], [up('queries_total', '.', k), 2],
    ]);
  });

  it('counts a stale answer and upstream failures once knotd is stopped, and /ready says what is down', async () => {
    const k = hostPort(knot);
    const f = hostPort(slow);
    await q({ name: 'short.obs.test' });
    await expectMoved('short-lived entry', [
      [req('udp', 'A'), 1], [resp('NOERROR'), 1], [dur(), 1], [cache('misses_total'), 1], [cache('requests_total'), 1],
      [cache('entries', 'success'), 1], [proxy(k, 'NOERROR'), 1], [up('queries_total', '.', k), 1],
    ]);
    await sleep(1100); // expired
    await knot.child.stop('SIGTERM', 3000); // keep its files: it starts again below

    const stale = await q({ name: 'short.obs.test' });
    assert.equal(stale.status, 'NOERROR', stale.output);
    assert.equal(stale.answers[0]?.ttl, 30);
    await expectMoved('stale answer (two failed tries)', [
      [req('udp', 'A'), 1], [resp('NOERROR'), 1], [dur(), 1], [cache('misses_total'), 1], [cache('requests_total'), 1],
      [cache('served_stale_total'), 1], [up('queries_total', '.', k), 2], [up('failures_total', '.', k), 2],
    ]);

    assert.equal((await q({ name: 'new1.obs.test' })).status, 'SERVFAIL');
    await expectMoved('third failure marks knotd down', [
      [req('udp', 'A'), 1], [resp('SERVFAIL'), 1], [dur(), 1], [cache('misses_total'), 1], [cache('requests_total'), 1],
      [up('queries_total', '.', k), 2], [up('failures_total', '.', k), 2], [up('marked_down_total', '.', k), 1],
      [up('healthy', '.', k), -1], [plain('nodedns_ready'), -1],
    ]);
    assert.equal((await httpGet(readyUrl)).status, 503, 'not ready once the zone "." has no healthy upstream');
    assert.equal((await q({ name: 'new2.obs.test' })).status, 'SERVFAIL');
    await expectMoved('every upstream of the zone down', [
      [req('udp', 'A'), 1], [resp('SERVFAIL'), 1], [dur(), 1], [cache('misses_total'), 1], [cache('requests_total'), 1],
      [up('queries_total', '.', k), 2], [up('failures_total', '.', k), 2], [plain('coredns_forward_healthcheck_broken_total'), 1],
    ]);

    // The cluster zone (same knotd) and the stub domain go down too: nothing is healthy.
    for (const n of ['a.svc.cluster.local', 'b.svc.cluster.local']) assert.equal((await q({ name: n })).status, 'SERVFAIL');
    slow.set({ fault: 'drop' });
    for (const n of ['x.slow.test', 'y.slow.test']) assert.equal((await q({ name: n })).status, 'SERVFAIL');
    const down = await expectMoved('cluster and stub zones down', [
      [req('udp', 'A'), 4], [resp('SERVFAIL'), 4], [dur(), 4], [cache('misses_total'), 4], [cache('requests_total'), 4],
      [up('queries_total', 'cluster.local', k), 4], [up('failures_total', 'cluster.local', k), 4], [up('marked_down_total', 'cluster.local', k), 1],
      [up('healthy', 'cluster.local', k), -1],
      [up('queries_total', 'slow.test', f), 4], [up('failures_total', 'slow.test', f), 4], [up('marked_down_total', 'slow.test', f), 1],
      [up('healthy', 'slow.test', f), -1],
    ]);
    assert.equal(value(down, 'nodedns_ready'), 0);
    const r = await httpGet(readyUrl);
    assert.equal(r.status, 503);
    assert.match(r.body, /^not ready:\n/);
    for (const zone of ['.', 'cluster.local', 'slow.test']) assert.match(r.body, new RegExp(`- every upstream of zone ${zone.replace('.', '\\.')} is down`), r.body);

    // Back: knotd on the same address and port, the stub server answering again.
    slow.set({});
    const again = await startKnot({ address: knot.address, port: knot.port, zones: { 'obs.test': ZONE, 'cluster.local': simpleZone('cluster.local', 'svc A 10.96.0.99') } });
    cleanup.push(() => again.stop());
    await waitUntil('/ready to answer 200 again', async () => ((await httpGet(readyUrl)).status === 200 ? true : undefined), PATIENCE_MS, 100);
    const back = await scrape(metricsUrl);
    assert.equal(value(back, 'nodedns_ready'), 1);
    for (const [zone, to] of [['.', k], ['cluster.local', k], ['slow.test', f]]) assert.equal(value(back, 'nodedns_upstream_healthy', { zone, to }), 1);
  });

  it('adds up: every request got one response, and the histogram counted each', async () => {
    const s = await scrape(metricsUrl);
    const sumOf = (name: string) => [...s.samples].filter(([k]) => k.startsWith(`${name}{`)).reduce((n, [, v]) => n + v, 0);
    const requests = sumOf('coredns_dns_requests_total');
    assert.ok(requests > 20, `requests ${requests}`);
    assert.equal(sumOf('coredns_dns_responses_total'), requests);
    assert.equal(value(s, 'coredns_dns_request_duration_seconds_count', S()), requests);
    assert.equal(value(s, 'coredns_dns_request_duration_seconds_bucket', { ...S(), le: '+Inf' }), requests);
    const cacheReq = value(s, 'coredns_cache_requests_total', C());
    assert.equal(cacheReq, value(s, 'coredns_cache_misses_total', C()) + sumOf('coredns_cache_hits_total'));
    assert.match(s.text, /# TYPE coredns_dns_requests_total counter/);
    assert.match(s.text, /# TYPE coredns_dns_request_duration_seconds histogram/);
    assert.match(s.text, /# TYPE coredns_cache_entries gauge/);
  });
});
