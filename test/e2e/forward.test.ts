// Forwarding under faults: in-test servers that drop, delay, lie about IDs and ports,
// and the cache behaviours that depend on upstream timing (coalescing, prefetch, stale).
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { query } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { simpleZone, startKnot } from '../helpers/knot';
import { makeHostRoot } from '../helpers/hostroot';
import { freeAddress, freePort, hostPort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { startDnsmasq } from '../helpers/dnsmasq';
import { createSocket } from 'node:dgram';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('forwarding under faults', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  async function server(records: Record<string, string>, ttl = 60): Promise<FaultServer> {
    const s = await startFaultServer({
      records: Object.fromEntries(Object.entries(records).map(([n, ip]) => [n, [{ type: 'A', data: ip, ttl }]])),
      negativeSoa: { zone: 'example', ttl: 60 },
    });
    cleanup.push(() => s.stop());
    return s;
  }
  async function agent(upstreams: FaultServer[], args: string[] = []): Promise<AgentProcess> {
    const a = await startAgent({ upstreams, args: ['--upstream-timeout', '300ms', '--query-timeout', '2s', ...args] });
    cleanup.push(() => a.stop());
    return a;
  }

  it('moves to the next upstream when one drops, and marks it down', async () => {
    const bad = await server({ 'a.example': '192.0.2.66' });
    bad.set({ fault: 'drop' });
    const good = await server({ 'a.example': '192.0.2.1', 'b.example': '192.0.2.2', 'c.example': '192.0.2.3', 'd.example': '192.0.2.4' });
    const a = await agent([bad, good], ['--upstream-max-fails', '2']);
    for (const n of ['a', 'b', 'c']) {
      const r = await dig({ server: a, name: `${n}.example` });
      assert.equal(r.status, 'NOERROR', r.output);
    }
    await a.waitForLog('upstream marked down');
    bad.clear();
    const d = await dig({ server: a, name: 'd.example' });
    assert.deepEqual(d.answers.map((x) => x.data), ['192.0.2.4']);
    assert.equal(bad.count({ name: 'd.example' }), 0, 'a down upstream is not tried first');
  });

  it('ignores replies with a wrong ID or from a wrong port (RFC 5452) and uses the real answer', async () => {
    for (const fault of ['wrong-id', 'wrong-port'] as const) {
      const liar = await server({ 'a.example': '192.0.2.66' });
      liar.set({ fault });
      const honest = await server({ 'a.example': '192.0.2.1' });
      const a = await agent([liar, honest]);
      const r = await dig({ server: a, name: 'a.example' });
      assert.deepEqual(r.answers.map((x) => x.data), ['192.0.2.1'], `${fault}: ${r.output}`);
      assert.ok(liar.count({ name: 'a.example' }) >= 1, 'the liar was asked first');
    }
  });

  it('gives SERVFAIL when every upstream fails, quickly and with the reason logged', async () => {
    const s = await server({});
    s.set({ fault: 'drop' });
    const a = await agent([s], ['--upstream-max-fails', '1']);
    const r = await dig({ server: a, name: 'x.example', timeoutSec: 5 });
    assert.equal(r.status, 'SERVFAIL');
    // The reason names the timeout as configured: a try's timer runs to the query's deadline in
    // whole milliseconds (a fraction read "within 299.9871ms", and gave each try a timer list of its own).
    const down = await a.waitForLog('upstream marked down');
    assert.match(String(down.err), /did not answer within \d+ms$/, JSON.stringify(down));
  });

  it('retries a truncated UDP answer over TCP', async () => {
    const s = await startFaultServer({ handler: () => ({ fault: 'huge-txt', hugeTxtBytes: 3000 }) });
    cleanup.push(() => s.stop());
    const a = await agent([s]);
    const r = await dig({ server: a, name: 'big.example', type: 'TXT', tcp: true });
    assert.equal(r.status, 'NOERROR', r.output);
    assert.ok(r.answers.length >= 1);
    assert.equal(s.count({ name: 'big.example', transport: 'tcp' }), 1);
  });

  it('sends one upstream query for identical queries in flight (coalescing)', async () => {
    const s = await server({ 'slow.example': '192.0.2.9' });
    s.set({ delayMs: 400 });
    const a = await agent([s], ['--upstream-timeout', '2s', '--query-timeout', '4s']);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => query(a, i % 2 ? 'SLOW.example' : 'slow.example', 'A', { timeoutMs: 3000 })));
    assert.equal(answers.length, 20);
    for (const p of answers) assert.equal((p.answers![0] as { data: string }).data, '192.0.2.9');
    assert.equal(s.count({ name: 'slow.example' }), 1);
  });

  it('refreshes a popular entry before it expires, even when nobody asks for it inside the refresh window (prefetch)', async () => {
    // Before: only a hit inside the window started a refresh, so a name asked often and then not at all missed at expiry.
    const s = await server({ 'hot.example': '192.0.2.7' }, 8);
    const a = await agent([s], ['--prefetch-hits', '2', '--prefetch-percent', '50']);
    for (let i = 0; i < 3; i++) await query(a, 'hot.example', 'A'); // popular at once, then quiet
    assert.equal(s.count({ name: 'hot.example' }), 1);
    s.set({ answers: [{ name: 'hot.example', type: 'A', ttl: 8, data: '192.0.2.70' }] }); // what a refresh brings back
    // Due 4-6 s after it was stored. nodedns never refreshes an entry that has expired (a client's
    // miss fetches it then), so a second upstream query while no client asks is a refresh in time.
    await s.waitForQueries(2, PATIENCE_MS);
    // the old answer until the refresh's is stored (it is on its way back), then the new one; never a miss
    let seen = '';
    await waitUntil('the refreshed answer to be served', async () => {
      seen = ((await query(a, 'hot.example', 'A')).answers![0] as { data: string }).data;
      return seen === '192.0.2.70' ? true : undefined;
    }, PATIENCE_MS, 100).catch((e: Error) => { throw new Error(`${e.message}; last answer ${seen}`); });
    assert.equal(s.count({ name: 'hot.example' }), 2, 'no miss');
  });

  it('spreads the refreshes of names stored together over the window instead of one burst', async () => {
    // Before: all ten were due at the same instant and reached the upstream within a few ms.
    const names = Array.from({ length: 10 }, (_, i) => `spread${i}.example`);
    const s = await server(Object.fromEntries(names.map((n, i) => [n, `192.0.2.${i + 1}`])), 6);
    const a = await agent([s], ['--prefetch-hits', '1', '--prefetch-percent', '50']);
    for (const n of names) await query(a, n, 'A'); // stored together
    for (const n of names) await query(a, n, 'A'); // each hit once: popular, refreshed 3 to 4.5 s after it was stored
    const refreshes = await s.waitForQueries(20, PATIENCE_MS); // an entry expired unrefreshed would never be asked again
    const at = refreshes.slice(10).map((q) => q.at);
    for (const n of names) assert.equal(s.count({ name: n }), 2, `${n}: refreshed once`);
    // ten uniform draws over 1.5 s span less than 0.3 s with a chance below 1 in 10^5
    assert.ok(Math.max(...at) - Math.min(...at) >= 300, `the refreshes arrived within ${Math.max(...at) - Math.min(...at)} ms of each other`);
  });

  it('refreshes names that expire together a few at a time (--prefetch-max-inflight), all before they expire', async () => {
    const names = Array.from({ length: 10 }, (_, i) => `hot${i}.example`);
    const s = await server(Object.fromEntries(names.map((n, i) => [n, `192.0.2.${i + 1}`])), 8);
    const a = await agent([s], ['--prefetch-hits', '1', '--prefetch-percent', '50', '--prefetch-max-inflight', '2',
      '--upstream-timeout', '2s']);
    for (const n of names) await query(a, n, 'A'); // stored together
    const stored = Date.now();
    for (const n of names) await query(a, n, 'A'); // each hit once: popular, due 4 to 6 s after it was stored
    assert.equal(s.queries.length, 10);
    s.set({ delayMs: 250 }); // each refresh holds its slot 250 ms at least
    await s.waitForQueries(20, PATIENCE_MS); // all refreshed: an entry that expired first would never be asked again
    for (const n of names) assert.equal(s.count({ name: n }), 2, `${n}: refreshed once`);
    // a refresh starts only when one of the two in flight has its answer: never three within 250 ms
    const at = s.queries.slice(10).map((q) => q.at).sort((x, y) => x - y);
    for (let i = 2; i < at.length; i++) assert.ok(at[i] - at[i - 2] >= 240, `three refreshes out at once: ${at.map((t) => t - at[0]).join(', ')} ms`);
    await sleep(8600 - (Date.now() - stored)); // past the first answers' expiry
    const answers = await Promise.all(names.map((n) => query(a, n, 'A')));
    answers.forEach((r, i) => assert.equal((r.answers![0] as { data: string }).data, `192.0.2.${i + 1}`));
    for (const n of names) assert.equal(s.count({ name: n }), 2, `${n}: answered from its refreshed entry, not a miss`);
  });

  it('leaves --max-inflight slots to client misses while refreshes are due', async () => {
    const names = ['p0.example', 'p1.example', 'p2.example'];
    const s = await server({ ...Object.fromEntries(names.map((n) => [n, '192.0.2.1'])), 'new.example': '192.0.2.99' }, 4);
    const a = await agent([s], ['--prefetch-hits', '1', '--prefetch-percent', '75', '--prefetch-max-inflight', '1',
      '--max-inflight', '3', '--upstream-timeout', '2s']);
    for (const n of names) { await query(a, n, 'A'); await query(a, n, 'A'); }
    s.set({ delayMs: 500 });
    await sleep(1200); // all three due at 1 s: one refresh is out; uncapped, three would fill every slot
    const r = await dig({ server: a, name: 'new.example', timeoutSec: 3 });
    assert.equal(r.status, 'NOERROR', `a client miss still gets a slot: ${r.output}`);
    assert.deepEqual(r.answers.map((x) => x.data), ['192.0.2.99']);
  });

  it('serves a stale answer (TTL 30, EDE 3) when upstreams are gone, SERVFAIL for new names', async () => {
    const knot = await startKnot({ zones: { 'example.org': simpleZone('example.org', 'short 1 A 192.0.2.55') } });
    cleanup.push(() => knot.stop());
    const a = await startAgent({ upstreams: [knot], args: ['--upstream-timeout', '300ms', '--query-timeout', '1s'] });
    cleanup.push(() => a.stop());
    const fresh = await dig({ server: a, name: 'short.example.org' });
    assert.deepEqual(fresh.answers.map((x) => x.data), ['192.0.2.55']);
    await sleep(1200);
    await knot.stop();
    const stale = await dig({ server: a, name: 'short.example.org', timeoutSec: 4 });
    assert.equal(stale.status, 'NOERROR', stale.output);
    assert.deepEqual(stale.answers.map((x) => [x.data, x.ttl]), [['192.0.2.55', 30]]);
    assert.deepEqual(stale.ede.map((e) => e.code), [3]);
    const plain = await dig({ server: a, name: 'short.example.org', noedns: true, timeoutSec: 4 });
    assert.equal(plain.answers[0]?.ttl, 30);
    const fresh2 = await dig({ server: a, name: 'new.example.org', timeoutSec: 4 });
    assert.equal(fresh2.status, 'SERVFAIL');
  });

  it('never uses the systemd-resolved stub 127.0.0.53 (seed 000)', async () => {
    // The real upstream must be on port 53: resolv.conf has no port.
    const real = await startFaultServer({ address: `127.${50 + Math.floor(Math.random() * 100)}.0.53`, port: 53, records: { 'seed.example': [{ type: 'A', data: '192.0.2.99', ttl: 60 }] } });
    cleanup.push(() => real.stop());
    let stub: FaultServer | undefined;
    try {
      stub = await startFaultServer({ address: '127.0.0.53', port: 53, records: { 'seed.example': [{ type: 'A', data: '192.0.2.53', ttl: 60 }] } });
      cleanup.push(() => stub!.stop());
    } catch { /* a real systemd-resolved holds it: the answer check below still tells them apart */ }
    const root = makeHostRoot({
      'etc/resolv.conf': '# managed by systemd-resolved\nnameserver 127.0.0.53\noptions edns0 trust-ad\n',
      'run/systemd/resolve/resolv.conf': `nameserver ${real.address}\n`,
    });
    cleanup.push(async () => root.cleanup());
    const a = await startAgent({ hostRoot: root.dir });
    cleanup.push(() => a.stop());
    const r = await dig({ server: a, name: 'seed.example' });
    assert.deepEqual(r.answers.map((x) => x.data), ['192.0.2.99']);
    if (stub) assert.equal(stub.queries.length, 0, 'nothing was sent to 127.0.0.53');
    const start = a.logs.find((l) => l.msg === 'nodedns serving')!;
    assert.match(String(start.upstreamSource), /run\/systemd\/resolve\/resolv.conf$/);
  });

  it('follows a change of the host resolv.conf without a restart', async () => {
    const one = await server({ 'which.example': '192.0.2.1' });
    const two = await server({ 'which.example': '192.0.2.2' });
    // ports other than 53 are not expressible in resolv.conf: use --upstream-less discovery on port 53 servers
    const s1 = await startFaultServer({ address: `127.${150 + Math.floor(Math.random() * 100)}.0.1`, port: 53, records: one.records });
    const s2 = await startFaultServer({ address: `127.${150 + Math.floor(Math.random() * 100)}.0.2`, port: 53, records: two.records });
    cleanup.push(() => s1.stop(), () => s2.stop());
    const root = makeHostRoot({ 'etc/resolv.conf': `nameserver ${s1.address}\n` });
    cleanup.push(async () => root.cleanup());
    const a = await startAgent({ hostRoot: root.dir, args: ['--success-ttl', '1s'] });
    cleanup.push(() => a.stop());
    assert.equal((await dig({ server: a, name: 'which.example' })).answers[0]?.data, '192.0.2.1');
    root.write('etc/resolv.conf', `nameserver ${s2.address}\n`);
    await a.waitForLog('new upstreams in use');
    await sleep(1100);
    assert.equal((await dig({ server: a, name: 'which.example' })).answers[0]?.data, '192.0.2.2');
  });

  it('finds an upstream that forwards back to nodedns (a loop) and says what to do', async () => {
    const ip = freeAddress();
    const port = await freePort(ip);
    const loop = await startDnsmasq({ servers: [{ address: ip, port }] }); // forwards everything to the agent
    cleanup.push(() => loop.stop());
    const a = await startAgent({ localIps: [ip], port, upstreams: [loop], args: ['--loop-check-interval', '1s', '--upstream-timeout', '300ms', '--query-timeout', '1s'] });
    cleanup.push(() => a.stop());
    const line = await a.waitForLog('sends queries back to nodedns');
    assert.equal(line.upstream, hostPort(loop));
    assert.match(String(line.msg), /Point .* at a real resolver/);
    const r = await dig({ server: a, name: 'anything.example', timeoutSec: 4 });
    assert.equal(r.status, 'SERVFAIL', 'a loop ends in SERVFAIL, not a storm');
    assert.ok(loop.queries.length < 50, `${loop.queries.length} queries reached the looping server`);
  });

  it('answers FORMERR to malformed queries, NOTIMP to other opcodes, nothing to responses', async () => {
    const s = await server({ 'a.example': '192.0.2.1' });
    const a = await agent([s]);
    const send = (bytes: Buffer) => new Promise<Buffer | undefined>((resolve) => {
      const sock = createSocket('udp4');
      const t = setTimeout(() => { sock.close(); resolve(undefined); }, 500);
      sock.on('message', (m) => { clearTimeout(t); sock.close(); resolve(m); });
      sock.send(bytes, a.port, a.address);
    });
    const good = Buffer.from('1234010000010000000000000161076578616d706c650000010001', 'hex');
    assert.equal(((await send(good))![3]) & 0x0f, 0);
    const trailing = Buffer.concat([good, Buffer.from([1, 2, 3])]);
    assert.equal(((await send(trailing))![3]) & 0x0f, 1, 'FORMERR');
    const notify = Buffer.from(good); notify[2] = 0x20;
    assert.equal(((await send(notify))![3]) & 0x0f, 4, 'NOTIMP');
    const response = Buffer.from(good); response[2] |= 0x80;
    assert.equal(await send(response), undefined, 'responses are dropped');
    assert.equal(await send(Buffer.from([1, 2, 3])), undefined, 'short packets are dropped');
    void hostPort;
  });
});
