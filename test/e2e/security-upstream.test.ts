// Upstream replies are untrusted (issue 14): a fault server sends each kind of malformed
// reply, and none is cached or served; answers passed through keep the TTL caps; a stale
// answer comes before the upstream try times out; upstream sockets leave file descriptors
// for the listeners and /health.
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { agentArgs, CLI, REPO_ROOT, startAgent } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { buildQuery, exchange } from '../helpers/dns-query';
import { startFaultServer, type FaultServer, type ReceivedQuery } from '../helpers/fault-server';
import { freeAddress, freePort } from '../helpers/ports';
import { PATIENCE_MS, spawnChild } from '../helpers/process';
import { waitUntilAnswering } from '../helpers/ready';
import { httpGet, key, parseExposition } from './observe-scrape';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Offset just past the question of an encoded reply (dns-packet writes names in full). */
function questionEnd(b: Buffer): number {
  let o = 12;
  while (b[o] !== 0) o += b[o] + 1;
  return o + 5;
}
const ownerLen = (b: Buffer) => questionEnd(b) - 12 - 4; // the answer's owner is the question name, written out again
const ptr = (to: number) => Buffer.from([0xc0 | (to >> 8), to & 0xff]);

/** Each malformed reply of the table and of the validator, made from the valid one. */
const MALFORMED: Record<string, (b: Buffer) => Buffer> = {
  'pointer-loop': (b) => { const qe = questionEnd(b); return Buffer.concat([b.subarray(0, qe), ptr(qe), b.subarray(qe + ownerLen(b))]); },
  'pointer-past-end': (b) => { const qe = questionEnd(b); return Buffer.concat([b.subarray(0, qe), ptr(0x3fff), b.subarray(qe + ownerLen(b))]); },
  'pointer-forward': (b) => { const qe = questionEnd(b); return Buffer.concat([b.subarray(0, qe), ptr(qe + 4), b.subarray(qe + ownerLen(b))]); },
  'opcode-update': (b) => { b[2] = (b[2] & ~0x78) | (5 << 3); return b; },
  'opcode-notify': (b) => { b[2] = (b[2] & ~0x78) | (4 << 3); return b; },
  'count-too-high': (b) => { b.writeUInt16BE(b.readUInt16BE(10) + 1, 10); return b; }, // ARCOUNT: one more record than there is
  'trailing-garbage': (b) => Buffer.concat([b, Buffer.from('garbage')]),
  'a-rdlength-5': (b) => {
    const rdlen = questionEnd(b) + ownerLen(b) + 8;
    b.writeUInt16BE(5, rdlen);
    return Buffer.concat([b.subarray(0, rdlen + 2 + 4), Buffer.from([9]), b.subarray(rdlen + 2 + 4)]);
  },
  'label-type-0x40': (b) => { b[questionEnd(b)] = 0x41; return b; },
};

describe('untrusted upstream replies', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  const track = <T extends { stop(): Promise<unknown> }>(x: T): T => { cleanup.push(() => x.stop()); return x; };

  async function scrape(metrics: string): Promise<Map<string, number>> {
    const r = await httpGet(`http://${metrics}/metrics`);
    assert.equal(r.status, 200, r.body);
    return (await parseExposition(r.body)).samples;
  }

  it('never caches or serves a malformed reply: the next upstream answers, or SERVFAIL; rejects are counted', async () => {
    const bad = track(await startFaultServer({
      handler: (q: ReceivedQuery) => ({
        answers: [{ name: q.name, type: 'A', ttl: 300, data: '192.0.2.66' }],
        mutate: (b) => MALFORMED[q.name.split('.')[0].toLowerCase()]?.(b) ?? b,
      }),
    }));
    const good = track(await startFaultServer({ handler: (q) => ({ answers: [{ name: q.name, type: 'A', ttl: 300, data: '192.0.2.1' }] }) }));
    const ip = freeAddress();
    const metrics = `${ip}:${await freePort(ip)}`;
    const a = track(await startAgent({ localIps: [ip], upstreams: [bad, good], args: ['--metrics-addr', metrics, '--upstream-timeout', '1s', '--upstream-max-fails', '100'] }));
    for (const kind of Object.keys(MALFORMED)) {
      for (const round of ['miss', 'cached']) {
        const r = await dig({ server: a, name: `${kind}.bad.test` });
        assert.equal(r.status, 'NOERROR', `${kind} (${round}): ${r.output}`);
        assert.deepEqual(r.answers.map((x) => x.data), ['192.0.2.1'], `${kind} (${round}): the malformed reply was served:\n${r.output}`);
      }
      assert.equal(bad.count({ name: `${kind}.bad.test` }), 1, `${kind}: the bad upstream was asked once (first), and the good answer cached`);
    }
    const m = await scrape(metrics);
    const by = (reason: string) => m.get(key('nodedns_upstream_invalid_replies_total', { reason })) ?? 0;
    assert.equal(by('pointer'), 3, 'loop, past the end, forward');
    assert.equal(by('opcode'), 2);
    assert.equal(by('short'), 1);
    assert.equal(by('trailing'), 1);
    assert.equal(by('rdata'), 1);
    assert.equal(by('name'), 1);
    await a.waitForLog('invalid reply from the upstream');

    // the bad upstream alone: SERVFAIL, and nothing stored (it is asked again)
    const alone = track(await startAgent({ upstreams: [bad], args: ['--upstream-timeout', '1s', '--upstream-max-fails', '100'] }));
    for (let i = 0; i < 2; i++) {
      const r = await dig({ server: alone, name: 'pointer-loop.alone.test' });
      assert.equal(r.status, 'SERVFAIL', r.output);
    }
    assert.equal(bad.count({ name: 'pointer-loop.alone.test' }), 4, 'two tries per query, never answered from the cache');
  });

  it('answers passed through without caching get the TTL caps of cached ones', async () => {
    const s = track(await startFaultServer({
      handler: (q) => q.name.toLowerCase().startsWith('refused')
        ? { rcode: 'REFUSED', answers: [{ name: q.name, type: 'A', ttl: 86400, data: '192.0.2.7' }] }
        : { answers: [{ name: q.name, type: 'CNAME', ttl: 86400, data: 'target.cap.test' }, { name: 'target.cap.test', type: 'A', ttl: 0, data: '192.0.2.8' }] },
    }));
    const a = track(await startAgent({ upstreams: [s], args: ['--success-ttl', '30s', '--denial-ttl', '20s'] }));
    const zero = await dig({ server: a, name: 'zero.cap.test' });
    assert.equal(zero.answers.length, 2, zero.output);
    for (const rr of zero.answers) assert.ok(rr.ttl <= 30, `TTL ${rr.ttl} over --success-ttl:\n${zero.output}`);
    const refused = await dig({ server: a, name: 'refused.cap.test' });
    assert.equal(refused.status, 'REFUSED', refused.output);
    for (const rr of refused.answers) assert.ok(rr.ttl <= 20, `TTL ${rr.ttl} over --denial-ttl:\n${refused.output}`);
  });

  it('serves a stale answer before the upstream try times out, and at once when every upstream is down', async () => {
    const s = track(await startFaultServer({ handler: (q) => ({ answers: [{ name: q.name, type: 'A', ttl: 1, data: '192.0.2.9' }] }) }));
    // A try lasts 20 s; dig gives up after 8 s: an answer at all means the client-response timer served it.
    const a = track(await startAgent({ upstreams: [s], args: ['--upstream-timeout', '20s', '--query-timeout', '40s', '--stale-answer-client-timeout', '1800ms'] }));
    const first = await dig({ server: a, name: 'old.stale.test' });
    assert.deepEqual(first.answers.map((x) => x.data), ['192.0.2.9'], first.output);
    await sleep(1500); // the 1 s TTL runs out: the entry is now stale
    s.set({ fault: 'drop' });
    s.clear();
    const st = await dig({ server: a, name: 'old.stale.test', timeoutSec: 8 });
    assert.deepEqual(st.answers.map((x) => x.data), ['192.0.2.9'], `no stale answer before dig gave up:\n${st.output}`);
    assert.equal(st.answers[0].ttl, 30, 'RFC 8767 stale TTL');
    assert.ok(st.ede.some((e) => e.code === 3), `EDE 3 (stale answer) expected:\n${st.output}`);
    assert.equal(s.count({ name: 'old.stale.test' }), 1, 'the upstream was asked (the refresh goes on)');
    assert.ok(!a.logs.some((l) => String(l.msg).includes('marked down')), 'the upstream try had not timed out yet');

    // every upstream marked down: stale at once, even with a client-response timer longer than dig waits
    const up = track(await startFaultServer({ handler: (q) => ({ answers: [{ name: q.name, type: 'A', ttl: 1, data: '192.0.2.10' }] }) }));
    const b = track(await startAgent({ upstreams: [up], args: ['--upstream-timeout', '20s', '--query-timeout', '40s', '--stale-answer-client-timeout', '30s', '--upstream-max-fails', '1'] }));
    assert.equal((await dig({ server: b, name: 'down.stale.test' })).answers.length, 1);
    await sleep(1500);
    const where = { address: up.address, port: up.port };
    await up.stop(); // nothing listens: the next try is refused at once
    assert.equal((await dig({ server: b, name: 'other.stale.test', timeoutSec: 5 })).status, 'SERVFAIL');
    await b.waitForLog('upstream marked down', PATIENCE_MS);
    const silent: Socket = createSocket('udp4'); // the address answers nothing from now on: probes and tries hang
    await new Promise<void>((res) => silent.bind(where.port, where.address, () => res()));
    cleanup.push(() => new Promise((res) => silent.close(() => res(undefined))));
    const down = await dig({ server: b, name: 'down.stale.test', timeoutSec: 5 });
    assert.deepEqual(down.answers.map((x) => x.data), ['192.0.2.10'], `every upstream down: the stale answer should come at once:\n${down.output}`);
  });

  it('keeps file descriptors for listeners and /health when a black-holed upstream takes sockets', async () => {
    const hole = track(await startFaultServer({}));
    hole.set({ fault: 'drop' });
    const ip = freeAddress();
    const port = await freePort(ip);
    const health = `${ip}:${await freePort(ip)}`;
    const args = agentArgs([ip], port, {
      upstreams: [hole],
      args: ['--health-addr', health, '--upstream-timeout', '20s', '--query-timeout', '40s', '--tcp-max-connections', '64', '--fd-reserve', '64', '--max-inflight', '100000'],
    });
    // soft = hard = 400: the agent cannot raise it, and its budget must hold
    const child = spawnChild('nodedns agent (nofile 400)', 'prlimit', ['--nofile=400:400', '--', process.execPath, CLI, ...args], { cwd: REPO_ROOT });
    cleanup.push(() => child.stop('SIGTERM', 10_000));
    await waitUntilAnswering({ child, ep: { address: ip, port }, name: 'localhost.', type: 'A', timeoutMs: 20_000, cleanup: () => child.stop('SIGKILL') });
    const client = createSocket('udp4');
    cleanup.push(() => new Promise((res) => client.close(() => res(undefined))));
    await new Promise<void>((res) => client.bind(0, '127.0.0.1', () => res()));
    const answers: Buffer[] = [];
    client.on('message', (m) => answers.push(m));
    for (let i = 0; i < 600; i++) client.send(buildQuery(`n${i}.hole.test`, 'A', { id: i }), port, ip);
    // the upstream socket budget is spent well before 600: the rest are SERVFAIL at once
    const deadline = Date.now() + 30_000;
    while (answers.length < 200 && Date.now() < deadline) await sleep(100);
    assert.ok(answers.length >= 200, `only ${answers.length} SERVFAIL answers for 600 misses to a black hole`);
    assert.ok(answers.every((m) => (m[3] & 0x0f) === 2), 'answers to misses are SERVFAIL');
    const tcp = await exchange({ address: ip, port }, buildQuery('localhost', 'A', { id: 7 }), 'tcp', 5000);
    assert.equal(tcp[3] & 0x0f, 0, 'TCP DNS still answered');
    const h = await httpGet(`http://${health}/health`, 5000);
    assert.ok(h.status > 0, '/health still answers');
    const out = child.tail(200);
    assert.match(out, /short of file descriptors/, 'the log names the cause');
    assert.doesNotMatch(out, /upstream marked down/, 'and does not blame the upstream');
  });

  it('raises its soft open-files limit to the hard limit at start', async () => {
    const s = track(await startFaultServer({}));
    const ip = freeAddress();
    const port = await freePort(ip);
    const child = spawnChild('nodedns agent (nofile 300:2048)', 'prlimit', ['--nofile=300:2048', '--', process.execPath, CLI, ...agentArgs([ip], port, { upstreams: [s] })], { cwd: REPO_ROOT });
    cleanup.push(() => child.stop('SIGTERM', 10_000));
    await waitUntilAnswering({ child, ep: { address: ip, port }, name: 'localhost.', type: 'A', timeoutMs: 20_000, cleanup: () => child.stop('SIGKILL') });
    const limits = readFileSync(`/proc/${child.pid}/limits`, 'utf8');
    assert.match(limits, /^Max open files\s+2048\s+2048/m, limits);
  });
});
