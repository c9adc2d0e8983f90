// The real process on SIGTERM: readiness drops first (503 "shutting down") while the
// query in flight still gets its answer, then the process exits cleanly.
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { startAgent } from '../helpers/agent';
import { query } from '../helpers/dns-query';
import { startFaultServer } from '../helpers/fault-server';
import { freeAddress, freePort, hostPort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { httpGet } from './observe-scrape';

describe('readiness on SIGTERM', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  it('drops /ready before draining, answers the query in flight, then exits 0', async () => {
    const up = await startFaultServer({ records: { 'slow.obs.test': [{ type: 'A', data: '192.0.2.5', ttl: 60 }] } });
    cleanup.push(() => up.stop());
    const ip = freeAddress();
    const h = await freePort(ip);
    const agent = await startAgent({
      localIps: [ip], upstreams: [up],
      args: ['--cluster-dns', hostPort(up), '--health-addr', `${ip}:${h}`, '--upstream-timeout', '3s', '--query-timeout', '4s'],
    });
    cleanup.push(() => agent.stop());
    const ready = `http://${ip}:${h}/ready`;
    assert.equal((await httpGet(ready)).status, 200);

    up.set({ delayMs: 1500 });
    const inflight = query(agent, 'slow.obs.test', 'A', { timeoutMs: 4000 });
    await waitUntil('the query to reach the upstream', () => (up.count({ name: 'slow.obs.test' }) === 1 ? true : undefined), PATIENCE_MS, 10);
    agent.child.proc.kill('SIGTERM');
    const during = await waitUntil('/ready to drop', async () => {
      const r = await httpGet(ready);
      return r.status === 503 ? r : undefined;
    }, 1000, 20);
    assert.equal(during.body, 'not ready:\n- shutting down (SIGTERM)\n');
    assert.equal((await httpGet(`http://${ip}:${h}/health`)).status, 200, 'alive while draining');
    const answer = await inflight;
    assert.equal(answer.rcode, 'NOERROR');
    assert.equal((answer.answers![0] as { data: string }).data, '192.0.2.5');
    const exit = await agent.exited;
    assert.equal(exit.code, 0, agent.tail());
    const order = agent.logs.map((l) => l.msg);
    assert.ok(order.indexOf('stopping: finishing queries in flight') >= 0);
    assert.ok(agent.logs.some((l) => l.msg === 'not ready' && (l.missing as string[])[0] === 'shutting down (SIGTERM)'), 'the drop was logged');
  });
});
