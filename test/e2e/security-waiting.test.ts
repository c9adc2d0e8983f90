// Clients waiting on upstream answers are bounded per client address (--max-waiting-per-client)
// and in all (--max-waiting): one client asking a name its upstream never answers, over and
// over, held every copy of its query until --query-timeout (nodedns grew from 63 to 290 MiB
// under dnsperf, docs/security-clients.md). Past a bound a miss gets SERVFAIL at once and is
// counted as overload; other clients' misses still go upstream and are answered.
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { CLI, startAgent, type AgentProcess } from '../helpers/agent';
import { buildQuery } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { freeAddress, freePort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { scrape, value } from './observe-scrape';

const skip = existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`;

/** A client on an address of its own: sends queries without waiting, keeps every reply by ID. */
async function client(address: string) {
  const sock = dgram.createSocket('udp4');
  const replies = new Map<number, string>();
  sock.on('message', (m) => { const p = dnsPacket.decode(m); replies.set(p.id!, p.rcode ?? '?'); });
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  return {
    replies,
    send(to: { address: string; port: number }, name: string, ids: number[]) {
      for (const id of ids) sock.send(buildQuery(name, 'A', { id }), to.port, to.address);
    },
    close: () => sock.close(),
  };
}
type Client = Awaited<ReturnType<typeof client>>;
const IDS = Array.from({ length: 100 }, (_, i) => i + 1);
const refusedOf = (c: Client) => IDS.filter((id) => c.replies.get(id) === 'SERVFAIL').length;

/** `c` sends 100 copies of the slow question at once; waits until `refused` of them got SERVFAIL. */
async function flood(c: Client, to: { address: string; port: number }, refused: number): Promise<void> {
  c.send(to, 'slow.example', IDS);
  await until(`${refused} of 100 queries refused`, () => refusedOf(c) >= refused, () => `${refusedOf(c)} refused`);
}
/** Waits (PATIENCE_MS at most) until `cond` holds; fails with what `seen` says. */
async function until(what: string, cond: () => boolean, seen: () => string): Promise<void> {
  try {
    await waitUntil(what, () => (cond() ? true : undefined), PATIENCE_MS);
  } catch (e) {
    throw new Error(`${(e as Error).message}; seen: ${seen()}`);
  }
}

describe('clients waiting on upstream answers', { skip, timeout: 120_000 }, () => {
  let upstream: FaultServer;
  let agent: AgentProcess;
  let metrics = '';
  const clients: Client[] = [];

  before(async () => {
    // slow.example is never answered; fast.example at once
    upstream = await startFaultServer({
      records: { 'fast.example': [{ type: 'A', data: '192.0.2.7' }] },
      handler: (q) => (q.name.toLowerCase().startsWith('slow') ? { fault: 'drop' } : undefined),
    });
    const ip = freeAddress();
    const mport = await freePort(ip);
    metrics = `http://${ip}:${mport}/metrics`;
    agent = await startAgent({
      localIps: [ip], upstreams: [upstream],
      // long enough that the admitted clients are still waiting when the test ends
      args: ['--max-waiting-per-client', '20', '--max-waiting', '30', '--query-timeout', '60s', '--upstream-timeout', '30s',
        '--metrics-addr', `${ip}:${mport}`, '--loop-check-interval', '0'],
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await agent?.stop();
    await upstream?.stop();
  });

  it('one client past its bound gets SERVFAIL at once; another client is still answered; the bound in all holds', async () => {
    const a = await client(freeAddress());
    const b = await client(freeAddress());
    const c = await client(freeAddress());
    clients.push(a, b, c);
    // a: 100 copies of the slow question; 20 wait (one upstream query), 80 are refused
    await flood(a, agent, 80);
    // b is another address: its miss goes upstream and is answered
    b.send(agent, 'fast.example', [1]);
    await until('client b\'s answer', () => b.replies.has(1), () => 'nothing');
    assert.equal(b.replies.get(1), 'NOERROR');
    // c: 30 in all may wait; a holds 20, so 10 of c's wait and 90 are refused
    await flood(c, agent, 90);
    // with all 30 waiting, b's next miss is refused too
    b.send(agent, 'fast2.example', [2]);
    await until('a reply to client b\'s second miss', () => b.replies.has(2), () => 'nothing');
    assert.equal(b.replies.get(2), 'SERVFAIL');

    // nobody admitted was answered meanwhile: exactly the bounds wait
    assert.equal(refusedOf(a), 80);
    assert.equal(refusedOf(c), 90);
    assert.equal(upstream.count({ name: 'slow.example' }) >= 1, true);
    const s = await scrape(metrics);
    assert.equal(value(s, 'nodedns_overload_rejects_total'), 80 + 90 + 1);
    await agent.waitForLog('--max-waiting-per-client (20)', PATIENCE_MS);
    await agent.waitForLog('--max-waiting (30) clients are waiting', PATIENCE_MS);
  });
});
