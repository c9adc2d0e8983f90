// `nodedns run --workers 2`: the supervisor serves /metrics and /ready for both workers
// (their counters summed over IPC); a killed worker makes the node not ready until it is
// restarted, and the node's counters never go backwards.
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { startAgent } from '../helpers/agent';
import { query } from '../helpers/dns-query';
import { startFaultServer } from '../helpers/fault-server';
import { freeAddress, freePort, hostPort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { httpGet, scrape, sum, value } from './observe-scrape';

describe('metrics and readiness with --workers 2', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  it('sums both workers, and drops readiness while a killed worker restarts', async () => {
    const up = await startFaultServer({ records: { 'w.obs.test': [{ type: 'A', data: '192.0.2.44', ttl: 300 }] } });
    cleanup.push(() => up.stop());
    const ip = freeAddress();
    const [m, h] = [await freePort(ip), await freePort(ip)];
    const agent = await startAgent({
      localIps: [ip], upstreams: [up], args: ['--workers', '2', '--cluster-dns', hostPort(up), '--metrics-addr', `${ip}:${m}`, '--health-addr', `${ip}:${h}`],
    });
    cleanup.push(() => agent.stop());
    const metrics = `http://${ip}:${m}/metrics`;
    const ready = `http://${ip}:${h}/ready`;
    await waitUntil('both workers ready', async () => ((await httpGet(ready)).status === 200 ? true : undefined), PATIENCE_MS, 200);

    const before = await scrape(metrics);
    assert.equal(value(before, 'nodedns_serving_processes'), 2);
    for (let i = 0; i < 20; i++) assert.equal((await query(agent, 'w.obs.test', 'A')).rcode, 'NOERROR');
    const afterQueries = await scrape(metrics);
    const moved = (name: string, labels = {}) => sum(afterQueries, name, labels) - sum(before, name, labels);
    assert.equal(moved('coredns_dns_requests_total', { type: 'A' }), 20);
    const misses = moved('coredns_cache_misses_total');
    assert.ok(misses >= 1 && misses <= 2, `one miss per worker at most (each has its own cache): ${misses}`);
    assert.equal(moved('coredns_cache_hits_total') + misses, 20);
    assert.equal(up.count({ name: 'w.obs.test' }), misses);

    const pids = agent.logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.worker));
    assert.equal(pids.length, 2, agent.tail());
    process.kill(pids[0], 'SIGKILL');
    const down = await waitUntil('/ready to drop', async () => {
      const r = await httpGet(ready);
      return r.status === 503 ? r : undefined;
    }, 5000, 20);
    assert.match(down.body, /worker/);
    const during = await scrape(metrics);
    assert.ok(sum(during, 'coredns_dns_requests_total') >= sum(afterQueries, 'coredns_dns_requests_total'), 'no counter goes backwards');
    await waitUntil('the restarted worker to be ready', async () => ((await httpGet(ready)).status === 200 ? true : undefined), PATIENCE_MS, 200);
    const back = await scrape(metrics);
    assert.equal(value(back, 'nodedns_serving_processes'), 2);
    assert.equal(value(back, 'nodedns_worker_restarts_total') - value(before, 'nodedns_worker_restarts_total'), 1);
    assert.ok(sum(back, 'coredns_dns_requests_total') >= sum(afterQueries, 'coredns_dns_requests_total'));
  });
});
