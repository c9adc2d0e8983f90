// Proves the shared e2e harness (test/helpers/) against the real servers and clients:
// Knot, Unbound, dnsmasq, the fault server, dig, kdig, and the built agent.
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, afterEach, before, describe, it } from 'node:test';
import { startAgent } from './helpers/agent';
import { dig, kdig, parseDig, parseKdig, txtStrings, type DigOptions, type DigResult } from './helpers/dig';
import { buildQuery, exchange, query } from './helpers/dns-query';
import { startDnsmasq } from './helpers/dnsmasq';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import {
  KUBELET_CONFIG, RESOLV_CONF, RESOLVED_RESOLV_CONF, kubeletConfig, makeHostRoot, systemdResolvedRoot,
} from './helpers/hostroot';
import { simpleZone, startKnot, type KnotServer } from './helpers/knot';
import { freeAddress, freeEndpoint, freeEndpoints, freePort, hostPort } from './helpers/ports';
import { PATIENCE_MS, spawnChild, waitUntil } from './helpers/process';
import { startUnbound } from './helpers/unbound';

const TOOLS = { dig, kdig } as const;

const EXAMPLE = simpleZone('example.test', [
  'www 300 A 192.0.2.1',
  'www 300 AAAA 2001:db8::1',
  '_http._tcp 300 SRV 10 5 80 www',
  'txt 300 TXT "hello world" "second"',
  'alias 300 CNAME www',
].join('\n'), { negTtl: 45 });
const REVERSE = simpleZone('2.0.192.in-addr.arpa', '1 300 PTR www.example.test.');

let knot: KnotServer;
before(async () => {
  knot = await startKnot({ zones: { 'example.test': EXAMPLE, '2.0.192.in-addr.arpa': REVERSE }, nsid: 'knot-harness' });
});
after(async () => { await knot?.stop(); });

describe('ports', () => {
  it('gives random loopback addresses outside 127.0.0.0/24', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const a = freeAddress();
      const o = a.split('.').map(Number);
      assert.equal(o[0], 127);
      assert.ok(o[1] >= 1 && o[1] <= 254, a);
      assert.ok(o[3] >= 1 && o[3] <= 254, a);
      seen.add(a);
    }
    assert.ok(seen.size > 1990, 'addresses repeat too often');
  });

  it('gives a port that UDP and TCP can both bind, and distinct endpoints', async () => {
    const eps = await freeEndpoints(5);
    assert.equal(new Set(eps.map((e) => e.address)).size, 5);
    const ep = await freeEndpoint();
    assert.ok(ep.port >= 20000 && ep.port < 32768, String(ep.port));
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((res, rej) => { sock.once('error', rej); sock.bind(ep.port, ep.address, () => res()); });
    // the port is now taken on that address: freePort must not hand it out again
    for (let i = 0; i < 30; i++) assert.notEqual(await freePort(ep.address), ep.port);
    sock.close();
    assert.equal(hostPort({ address: '::1', port: 53 }), '[::1]:53');
    assert.equal(hostPort(ep), `${ep.address}:${ep.port}`);
  });
});

describe('process', () => {
  it('stop() ends a child that ignores SIGTERM, with SIGKILL after the grace period', async () => {
    const c = spawnChild('stubborn', 'sh', ['-c', 'trap "" TERM; echo up; while true; do sleep 0.1; done']);
    await c.waitForLine(/^up$/);
    const t0 = Date.now();
    const st = await c.stop('SIGTERM', 300);
    assert.equal(st.signal, 'SIGKILL');
    assert.ok(Date.now() - t0 >= 250);
    assert.throws(() => process.kill(c.pid, 0), 'the process is gone');
  });

  it('a child dies with the test process, even when that is killed without running hooks', async () => {
    const script = "const c = require('./test/helpers/process.ts').spawnChild('s', 'sleep', ['30']); console.log(c.pid);";
    const parent = spawnChild('parent', process.execPath, ['--import', 'tsx', '-e', script], { cwd: `${__dirname}/..` });
    const pid = Number(await parent.waitForLine(/^\d+$/));
    assert.doesNotThrow(() => process.kill(pid, 0), 'sleep runs');
    await parent.stop('SIGKILL');
    const gone = async () => { try { process.kill(pid, 0); return undefined; } catch { return true; } };
    assert.equal(await waitUntil('the orphaned sleep to die', gone, PATIENCE_MS), true);
  });

  it('waitForLine fails with the output when the child exits first', async () => {
    const c = spawnChild('short', 'sh', ['-c', 'echo first; echo oops >&2; exit 3']);
    await assert.rejects(c.waitForLine(/never/), /exited \(code 3.*[\s\S]*oops/);
    assert.deepEqual((await c.exited).code, 3);
  });
});

describe('knot + dig/kdig', () => {
  for (const tool of ['dig', 'kdig'] as const) {
    for (const tcp of [false, true]) {
      const run = (o: Omit<DigOptions, 'server'>) => TOOLS[tool]({ server: knot, tcp, ...o });
      const transport = tcp ? 'TCP' : 'UDP';
      describe(`${tool} over ${transport}`, () => {
        it('A', async () => {
          const r = await run({ name: 'www.example.test', type: 'A' });
          assert.equal(r.status, 'NOERROR', r.output);
          assert.equal(r.tool, tool);
          assert.deepEqual(r.answers, [{ name: 'www.example.test.', ttl: 300, class: 'IN', type: 'A', data: '192.0.2.1' }]);
          assert.ok(r.flags.includes('qr') && r.flags.includes('aa'), r.flags.join(' '));
          assert.equal(r.transport, transport);
          assert.equal(r.server, tool === 'dig' ? `${knot.address}#${knot.port}` : `${knot.address}@${knot.port}`);
          assert.equal(typeof r.queryTimeMs, 'number');
          assert.ok(r.msgSize! > 30);
          assert.deepEqual(r.question, { name: 'www.example.test.', class: 'IN', type: 'A' });
          assert.equal(r.exitCode, 0);
          assert.equal(r.error, undefined);
        });
        it('AAAA', async () => {
          const r = await run({ name: 'www.example.test', type: 'AAAA' });
          assert.deepEqual(r.answers.map((a) => [a.type, a.data]), [['AAAA', '2001:db8::1']]);
        });
        it('SRV', async () => {
          const r = await run({ name: '_http._tcp.example.test', type: 'SRV' });
          assert.deepEqual(r.answers.map((a) => a.data), ['10 5 80 www.example.test.']);
        });
        it('PTR', async () => {
          const r = await run({ name: '1.2.0.192.in-addr.arpa', type: 'PTR' });
          assert.deepEqual(r.answers.map((a) => [a.name, a.type, a.data]), [['1.2.0.192.in-addr.arpa.', 'PTR', 'www.example.test.']]);
        });
        it('TXT', async () => {
          const r = await run({ name: 'txt.example.test', type: 'TXT' });
          assert.equal(r.answers.length, 1);
          assert.deepEqual(txtStrings(r.answers[0].data), ['hello world', 'second']);
        });
        it('CNAME chain', async () => {
          const r = await run({ name: 'alias.example.test', type: 'A' });
          assert.deepEqual(r.answers.map((a) => a.type), ['CNAME', 'A']);
        });
        it('NXDOMAIN with the SOA in authority', async () => {
          const r = await run({ name: 'nope.example.test', type: 'A' });
          assert.equal(r.status, 'NXDOMAIN');
          assert.equal(r.answers.length, 0);
          assert.equal(r.authority.length, 1);
          assert.equal(r.authority[0].type, 'SOA');
          assert.equal(r.authority[0].ttl, 45);
        });
        it('EDNS, DO, NSID and EDE', async () => {
          const r = await run({ name: 'out-of-zone.example', type: 'A', nsid: true, dnssec: true, bufsize: 1232 });
          assert.equal(r.status, 'REFUSED');
          assert.ok(r.edns);
          assert.equal(r.ednsVersion, 0);
          assert.equal(r.ednsUdp, 1232);
          assert.deepEqual(r.ednsFlags, ['do']);
          assert.equal(r.nsid, 'knot-harness');
          assert.deepEqual(r.ede.map((e) => [e.code, e.name]), [[20, 'Not Authoritative']]);
        });
      });
    }
  }

  it('counts the queries Knot received, by type', async () => {
    await knot.resetQueryCount();
    assert.equal(await knot.queryCount(), 0);
    await dig({ server: knot, name: 'www.example.test' });
    await kdig({ server: knot, name: 'www.example.test', tcp: true });
    await dig({ server: knot, name: 'txt.example.test', type: 'TXT' });
    assert.equal(await knot.queryCount(), 3);
    assert.equal(await knot.queryCountByType('A'), 2);
    assert.equal(await knot.queryCountByType('TXT'), 1);
    const s = await knot.stats();
    assert.ok(s['mod-stats.request-protocol[tcp4]'] >= 1);
  });

  it('serves a changed zone after setZone, without counting its own probes', async () => {
    const k = await startKnot({ zones: { 'change.test': simpleZone('change.test', 'a 60 A 192.0.2.10') } });
    try {
      assert.equal((await dig({ server: k, name: 'a.change.test' })).answers[0].data, '192.0.2.10');
      await k.resetQueryCount();
      await k.setZone('change.test', simpleZone('change.test', 'a 60 A 192.0.2.11', { serial: 2 }));
      assert.equal(await k.queryCount(), 0);
      assert.equal((await dig({ server: k, name: 'a.change.test' })).answers[0].data, '192.0.2.11');
      assert.equal(await k.queryCount(), 1);
    } finally {
      await k.stop();
    }
    assert.ok(k.child.exitStatus(), 'knotd has exited');
    assert.equal(existsSync(k.dir), false, 'its temp dir is removed');
  });

  it('serves on ::1 too, as do the fault server, unbound and dnsmasq', async () => {
    const k6 = await startKnot({ address: '::1', zones: { 'v6.test': simpleZone('v6.test', 'a 60 A 192.0.2.61') } });
    const f6 = await startFaultServer({ address: '::1', records: { 'b.v6.test': [{ type: 'A', data: '192.0.2.62' }] } });
    const u6 = await startUnbound({ address: '::1', forwardZones: { 'v6.test': [k6] } }).catch((e) => e as Error);
    const d6 = await startDnsmasq({ address: '::1', servers: [f6] }).catch((e) => e as Error);
    try {
      assert.ok(!(u6 instanceof Error), String(u6));
      assert.ok(!(d6 instanceof Error), String(d6));
      assert.equal((await kdig({ server: k6, name: 'a.v6.test', tcp: true })).answers[0]?.data, '192.0.2.61');
      assert.equal(await k6.queryCount(), 1);
      assert.equal((await dig({ server: u6, name: 'a.v6.test' })).answers[0]?.data, '192.0.2.61');
      assert.equal((await dig({ server: d6, name: 'b.v6.test' })).answers[0]?.data, '192.0.2.62');
      assert.equal(f6.queries[0]?.from.address, '::1');
    } finally {
      await Promise.all([k6.stop(), f6.stop(), u6 instanceof Error ? 0 : u6.stop(), d6 instanceof Error ? 0 : d6.stop()]);
    }
  });

  it('fails to start with knotd\'s own message on a bad zone (not a start timeout)', async () => {
    await assert.rejects(startKnot({ zones: { 'bad.test': 'this is not a zone file\n' } }), /could not load a zone: \[bad\.test\.\] zone loader, error in zone/);
  });
});

describe('unbound', () => {
  it('answers local-data and forwards a zone to Knot, logging every query it receives', async () => {
    const u = await startUnbound({
      localZones: { 'local.test': 'static' },
      localData: ['a.local.test. 60 IN A 192.0.2.7', 'txt.local.test. 60 IN TXT "from unbound"'],
      localDataPtr: ['192.0.2.7 a.local.test.'],
      forwardZones: { 'example.test': [knot], '2.0.192.in-addr.arpa': [knot] },
    });
    try {
      const a = await dig({ server: u, name: 'a.local.test' });
      assert.deepEqual(a.answers.map((x) => x.data), ['192.0.2.7']);
      const t = await kdig({ server: u, name: 'txt.local.test', type: 'TXT', tcp: true });
      assert.deepEqual(txtStrings(t.answers[0].data), ['from unbound']);
      const p = await dig({ server: u, name: '7.2.0.192.in-addr.arpa', type: 'PTR' });
      assert.deepEqual(p.answers.map((x) => x.data), ['a.local.test.']);
      // forwarded: the zone under unbound's built-in "test." and the TEST-NET-1 reverse zone
      await knot.resetQueryCount();
      const w1 = await dig({ server: u, name: 'www.example.test' });
      assert.equal(w1.status, 'NOERROR', w1.output);
      assert.deepEqual(w1.answers.map((x) => x.data), ['192.0.2.1']);
      assert.ok(w1.flags.includes('ra'));
      const w2 = await dig({ server: u, name: 'www.example.test' });
      assert.deepEqual(w2.answers.map((x) => x.data), ['192.0.2.1']);
      const r = await dig({ server: u, name: '1.2.0.192.in-addr.arpa', type: 'PTR' });
      assert.deepEqual(r.answers.map((x) => x.data), ['www.example.test.']);
      // the second www query came from unbound's cache: Knot saw www once, and the PTR
      assert.equal(await knot.queryCountByType('A'), 1);
      assert.equal(await knot.queryCountByType('PTR'), 1);
      assert.equal(u.count({ name: 'www.example.test.', type: 'A' }), 2);
      assert.deepEqual(u.queries[0], { client: '127.0.0.1', name: 'a.local.test', type: 'A', class: 'IN' });
      assert.equal(u.queries.length, 6, JSON.stringify(u.queries));
      const s = await u.stats();
      assert.ok(s['total.num.queries'] >= 6, JSON.stringify(s));
    } finally {
      await u.stop();
    }
    assert.ok(u.child.exitStatus());
  });
});

describe('dnsmasq', () => {
  it('answers its own records and forwards without caching, logging queries and forwards', async () => {
    const d = await startDnsmasq({
      addresses: { 'wild.dm.test': '192.0.2.9' },
      hosts: { 'h.dm.test': ['192.0.2.10', '2001:db8::10'] },
      txt: { 't.dm.test': 'from dnsmasq' },
      srv: ['_sip._udp.dm.test,h.dm.test,5060,1,2'],
      servers: [{ domain: 'example.test', upstream: knot }],
    });
    try {
      assert.deepEqual((await dig({ server: d, name: 'x.wild.dm.test' })).answers.map((a) => a.data), ['192.0.2.9']);
      assert.deepEqual((await kdig({ server: d, name: 'h.dm.test', type: 'AAAA' })).answers.map((a) => a.data), ['2001:db8::10']);
      assert.deepEqual((await dig({ server: d, name: '10.2.0.192.in-addr.arpa', type: 'PTR' })).answers.map((a) => a.data), ['h.dm.test.']);
      const t = await dig({ server: d, name: 't.dm.test', type: 'TXT', tcp: true });
      assert.deepEqual(txtStrings(t.answers[0].data), ['from dnsmasq']);
      assert.deepEqual((await dig({ server: d, name: '_sip._udp.dm.test', type: 'SRV' })).answers.map((a) => a.data), ['1 2 5060 h.dm.test.']);
      await knot.resetQueryCount();
      for (let i = 0; i < 2; i++) {
        const w = await dig({ server: d, name: 'www.example.test' });
        assert.deepEqual(w.answers.map((a) => a.data), ['192.0.2.1'], w.output);
      }
      assert.equal(await knot.queryCountByType('A'), 2, 'cache-size 0: both reached Knot');
      assert.equal(d.count({ name: 'www.example.test', type: 'A' }), 2);
      assert.deepEqual(d.forwarded, [
        { name: 'www.example.test', to: `${knot.address}#${knot.port}` },
        { name: 'www.example.test', to: `${knot.address}#${knot.port}` },
      ]);
      assert.equal(d.queries.length, 7);
    } finally {
      await d.stop();
    }
    assert.ok(d.child.exitStatus());
  });
});

describe('fault server', () => {
  let fs: FaultServer;
  before(async () => {
    fs = await startFaultServer({
      records: {
        'www.f.test': [{ type: 'A', data: '192.0.2.5', ttl: 30 }, { type: 'AAAA', data: '2001:db8::5', ttl: 30 }],
        'Mixed.F.test': [{ type: 'TXT', data: ['case kept'] }],
      },
      negativeSoa: { zone: 'f.test', ttl: 7 },
    });
  });
  after(async () => { await fs?.stop(); });
  afterEach(() => { fs.set({}); fs.setHandler(undefined); fs.clear(); });

  const ask = (tool: 'dig' | 'kdig', o: Partial<DigOptions> = {}): Promise<DigResult> =>
    TOOLS[tool]({ server: fs, name: 'www.f.test', timeoutSec: 1, ...o });

  it('answers from its records and records what reached it', async () => {
    const r = await ask('dig', { dnssec: true, nsid: true, bufsize: 1400, norec: true });
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answers.map((a) => [a.type, a.ttl, a.data]), [['A', 30, '192.0.2.5']]);
    assert.equal(fs.queries.length, 1);
    const q = fs.queries[0];
    assert.equal(q.name, 'www.f.test');
    assert.equal(q.type, 'A');
    assert.equal(q.transport, 'udp');
    assert.equal(q.rd, false);
    assert.equal(q.edns, true);
    assert.equal(q.ednsUdpSize, 1400);
    assert.equal(q.do, true);
    assert.ok(q.ednsOptions.some((o) => o.code === 3), 'NSID option seen');
    assert.equal(q.from.address, '127.0.0.1');
    const k = await ask('kdig', { tcp: true, type: 'AAAA' });
    assert.deepEqual(k.answers.map((a) => a.data), ['2001:db8::5']);
    assert.equal(fs.queries[1].transport, 'tcp');
    assert.equal(fs.queries[1].edns, false);
    assert.equal(fs.count({ name: 'WWW.F.TEST.' }), 2);
    assert.equal(fs.count({ type: 'AAAA', transport: 'tcp' }), 1);
  });

  it('gives NXDOMAIN and NODATA with the negative SOA', async () => {
    const nx = await ask('dig', { name: 'missing.f.test' });
    assert.equal(nx.status, 'NXDOMAIN');
    assert.deepEqual(nx.authority.map((a) => [a.type, a.ttl]), [['SOA', 7]]);
    const nodata = await ask('kdig', { type: 'MX' });
    assert.equal(nodata.status, 'NOERROR');
    assert.equal(nodata.answers.length, 0);
    assert.equal(nodata.authority[0].type, 'SOA');
  });

  it('drop: no reply (dig and kdig time out), but the query is recorded', async () => {
    fs.set({ fault: 'drop' });
    const r = await ask('dig');
    assert.equal(r.status, undefined);
    assert.match(r.error ?? '', /timed out/);
    assert.equal(r.exitCode, 9);
    const k = await ask('kdig', { tcp: true });
    assert.match(k.error ?? '', /failed to query server/);
    assert.equal(fs.queries.length, 2);
  });

  it('delay: the answer comes late', async () => {
    fs.set({ delayMs: 400 });
    const r = await ask('dig');
    assert.equal(r.status, 'NOERROR');
    assert.ok(r.queryTimeMs! >= 350, `query time ${r.queryTimeMs}`);
    const k = await ask('kdig');
    assert.ok(k.queryTimeMs! >= 350, `query time ${k.queryTimeMs}`);
  });

  it('wrong-id: both clients see the mismatch and keep waiting', async () => {
    fs.set({ fault: 'wrong-id' });
    const r = await ask('dig');
    assert.equal(r.status, undefined);
    assert.ok(r.warnings.some((w) => /ID mismatch/.test(w)), r.output);
    const k = await ask('kdig');
    assert.ok(k.warnings.some((w) => /reply ID .* is different from query ID/.test(w)), k.output);
  });

  it('wrong-port: the reply comes from another source port', async () => {
    fs.set({ fault: 'wrong-port' });
    const k = await ask('kdig');
    assert.equal(k.status, undefined);
    assert.ok(k.warnings.some((w) => /unexpected reply source/.test(w) && !w.includes(`@${fs.port}(`)), k.output);
    const r = await ask('dig'); // dig's connected socket never sees it
    assert.match(r.error ?? '', /timed out/);
  });

  it('truncate: TC=1 over UDP, the full answer over TCP', async () => {
    fs.set({ fault: 'truncate' });
    const tc = await ask('dig', { ignoreTc: true });
    assert.ok(tc.flags.includes('tc'), tc.output);
    assert.equal(tc.answers.length, 0);
    const retried = await ask('dig');
    assert.ok(retried.warnings.some((w) => /Truncated, retrying in TCP mode/.test(w)), retried.output);
    assert.equal(retried.transport, 'TCP');
    assert.deepEqual(retried.answers.map((a) => a.data), ['192.0.2.5']);
    const k = await ask('kdig');
    assert.ok(k.warnings.some((w) => /truncated reply/.test(w)));
    assert.equal(k.transport, 'TCP');
    assert.deepEqual(fs.queries.map((q) => q.transport), ['udp', 'udp', 'tcp', 'udp', 'tcp']);
  });

  it('servfail and refused', async () => {
    fs.set({ fault: 'servfail' });
    assert.equal((await ask('dig')).status, 'SERVFAIL');
    fs.set({ fault: 'refused' });
    const k = await ask('kdig');
    assert.equal(k.status, 'REFUSED');
    assert.equal(k.answers.length, 0);
  });

  it('huge-txt: truncated over UDP within the client size, whole over TCP, or oversize on request', async () => {
    fs.set({ fault: 'huge-txt', hugeTxtBytes: 4000 });
    const r = await ask('dig', { type: 'TXT', bufsize: 1232 });
    assert.equal(r.transport, 'TCP');
    assert.ok(r.msgSize! > 4000, String(r.msgSize));
    assert.ok(txtStrings(r.answers.map((a) => a.data).join(' ')).join('').length > 3900);
    fs.set({ fault: 'huge-txt', hugeTxtBytes: 4000, ignoreSize: true });
    const big = await ask('kdig', { type: 'TXT', bufsize: 1232 });
    assert.equal(big.transport, 'UDP');
    assert.ok(big.msgSize! > 4000, String(big.msgSize));
  });

  it('garbage: unparseable bytes with the query ID, or without', async () => {
    fs.set({ fault: 'garbage' });
    const r = await ask('dig');
    // dig says so in one of two ways, depending on where its parser gives up
    const badPacket = /Got bad packet/.test(r.error ?? '');
    const warned = r.warnings.some((w) => /malformed message packet/.test(w));
    assert.ok(badPacket || warned, r.output);
    if (badPacket) assert.equal(r.status, undefined);
    const k = await ask('kdig');
    assert.match(k.error ?? '', /malformed reply packet/);
    fs.set({ fault: 'garbage', garbageKeepsId: false, garbageBytes: 12 });
    const raw = await new Promise<Buffer>((res) => {
      const s = dgram.createSocket('udp4');
      s.on('message', (m) => { s.close(); res(m); });
      s.send(buildQuery('www.f.test', 'A', { id: 4242 }), fs.port, fs.address);
    });
    assert.equal(raw.length, 12);
  });

  it('close: a TCP connection closed without a reply', async () => {
    fs.set({ fault: 'close' });
    const r = await ask('dig', { tcp: true });
    assert.match(r.error ?? '', /end of file|connection reset/, r.output);
    await assert.rejects(exchange(fs, buildQuery('www.f.test', 'A'), 'tcp', 1000), /closed the TCP connection/);
  });

  it('EDE, NSID and a handler that decides per query', async () => {
    fs.setHandler((q) => (q.name.startsWith('blocked')
      ? { rcode: 'NXDOMAIN', ede: { code: 15, text: 'blocked by policy' }, nsid: 'fault-1' }
      : undefined));
    for (const tool of ['dig', 'kdig'] as const) {
      const b = await ask(tool, { name: 'blocked.f.test', nsid: true, bufsize: 1232 });
      assert.equal(b.status, 'NXDOMAIN');
      assert.deepEqual(b.ede, [{ code: 15, name: 'Blocked', text: 'blocked by policy' }]);
      assert.equal(b.nsid, 'fault-1');
      const ok = await ask(tool);
      assert.deepEqual(ok.answers.map((a) => a.data), ['192.0.2.5']);
    }
    const m = await ask('dig', { name: 'mixed.f.test', type: 'TXT' });
    assert.deepEqual(txtStrings(m.answers[0].data), ['case kept']);
  });

  it('records a malformed query and does not answer it', async () => {
    await assert.rejects(exchange(fs, Buffer.from([1, 2, 3, 4, 5]), 'udp', 300));
    const [q] = await fs.waitForQueries(1);
    assert.ok(q.malformed);
    const p = await query(fs, 'www.f.test', 'A', { edns: 1232, dnssecOk: true });
    assert.equal(p.rcode, 'NOERROR');
    assert.ok(p.additionals?.some((a) => a.type === 'OPT'));
  });
});

describe('parsers on fixed real output', () => {
  it('dig: keeps the last reply when dig printed a truncated one and retried', () => {
    const out = [
      ';; Truncated, retrying in TCP mode.',
      ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1',
      ';; flags: qr aa tc rd; QUERY: 1, ANSWER: 0, AUTHORITY: 0, ADDITIONAL: 0',
      '',
      ';; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2',
      ';; flags: qr aa rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 0',
      '',
      ';; QUESTION SECTION:',
      ';a.t.\t\t\tIN\tA',
      '',
      ';; ANSWER SECTION:',
      'a.t.\t\t60\tIN\tA\t192.0.2.1',
      '',
      ';; Query time: 3 msec',
      ';; SERVER: 127.1.2.3#5353(127.1.2.3) (TCP)',
      ';; MSG SIZE  rcvd: 40',
    ].join('\n');
    const r = parseDig(out);
    assert.equal(r.id, 2);
    assert.deepEqual(r.flags, ['qr', 'aa', 'rd', 'ra']);
    assert.deepEqual(r.warnings, ['Truncated, retrying in TCP mode.']);
    assert.equal(r.answers.length, 1);
    assert.equal(r.queryTimeMs, 3);
    assert.equal(r.transport, 'TCP');
  });

  it('kdig: a section ends at the blank line before the statistics', () => {
    const out = [
      ';; ->>HEADER<<- opcode: QUERY; status: NOERROR; id: 7980',
      ';; Flags: qr aa tc rd ra; QUERY: 1; ANSWER: 0; AUTHORITY: 0; ADDITIONAL: 0',
      '',
      ';; QUESTION SECTION:',
      ';; a.t.                \t\tIN\tTXT',
      '',
      ';; Received 21 B',
      ';; Time 2026-11-21 12:08:48 UTC',
      ';; From 127.175.1.134@21927(UDP) in 4.4 ms',
    ].join('\n');
    const r = parseKdig(out);
    assert.deepEqual(r.question, { name: 'a.t.', class: 'IN', type: 'TXT' });
    assert.equal(r.msgSize, 21);
    assert.equal(r.queryTimeMs, 4.4);
    assert.ok(r.flags.includes('tc'));
  });
});

describe('hostroot', () => {
  it('writes files by path, replaces them atomically, and cleans up', () => {
    const root = makeHostRoot({ [RESOLV_CONF]: 'nameserver 127.0.0.2\n', [KUBELET_CONFIG]: kubeletConfig(['10.96.0.10']) });
    try {
      assert.equal(readFileSync(`${root.dir}/etc/resolv.conf`, 'utf8'), 'nameserver 127.0.0.2\n');
      assert.match(root.read(KUBELET_CONFIG), /clusterDNS:\n- 10\.96\.0\.10\n/);
      const ino = statSync(root.path(RESOLV_CONF)).ino;
      root.write(RESOLV_CONF, 'nameserver 127.0.0.3\n');
      assert.notEqual(statSync(root.path(RESOLV_CONF)).ino, ino, 'replaced by rename');
      const ino2 = statSync(root.path(RESOLV_CONF)).ino;
      root.write(RESOLV_CONF, 'nameserver 127.0.0.4\n', { inPlace: true });
      assert.equal(statSync(root.path(RESOLV_CONF)).ino, ino2, 'same inode');
      assert.equal(root.read(RESOLV_CONF), 'nameserver 127.0.0.4\n');
      root.remove(RESOLV_CONF);
      assert.equal(root.exists(RESOLV_CONF), false);
      assert.throws(() => root.path('../../etc/passwd'), /leaves the root/);
    } finally {
      root.cleanup();
    }
    assert.equal(existsSync(root.dir), false);
  });

  it('builds the systemd-resolved layout of seed 000', () => {
    const root = systemdResolvedRoot(['127.1.1.1']);
    try {
      assert.match(root.read(RESOLV_CONF), /^nameserver 127\.0\.0\.53$/m);
      assert.match(root.read(RESOLVED_RESOLV_CONF), /^nameserver 127\.1\.1\.1$/m);
    } finally {
      root.cleanup();
    }
  });
});

describe('agent spawner', () => {
  it('starts the built agent, which answers through it, captures its JSON log, and stops it', async () => {
    const up = await startFaultServer({ records: { 'www.agent.test': [{ type: 'A', data: '192.0.2.77', ttl: 30 }] } });
    const agent = await startAgent({ upstreams: [up] }).catch(async (e) => { await up.stop(); throw e; });
    try {
      assert.equal(up.count({ name: 'localhost' }), 0, 'the readiness probe is answered locally');
      const r = await dig({ server: agent, name: 'www.agent.test' });
      assert.deepEqual(r.answers.map((a) => a.data), ['192.0.2.77'], `${r.output}\n${agent.tail()}`);
      const t = await kdig({ server: agent, name: 'www.agent.test', tcp: true });
      assert.deepEqual(t.answers.map((a) => a.data), ['192.0.2.77']);
      assert.ok(up.count({ name: 'www.agent.test' }) >= 1);
      const serving = await agent.waitForLog('serving');
      assert.equal(serving.level, 30);
      assert.ok(agent.argv.includes('--no-setup-interface'));
      assert.ok(agent.argv.join(' ').includes(`--upstream ${hostPort(up)}`));
    } finally {
      const st = await agent.stop();
      await up.stop();
      assert.equal(st.code, 0, agent.tail());
    }
    assert.throws(() => process.kill(agent.pid, 0), 'the agent process is gone');
  });

  it('fails with the agent\'s own message when it exits at start', async () => {
    await assert.rejects(
      startAgent({ upstreams: [{ address: '127.0.0.9', port: 53 }], args: ['--cache-size', 'lots'], readyTimeoutMs: 5000 }),
      /nodedns agent \S+ exited \(code 2[\s\S]*cache-size/,
    );
  });

  it('refuses upstreams that are not loopback, and a run without upstreams or host root', async () => {
    await assert.rejects(startAgent({ upstreams: [{ address: '10.0.0.1', port: 53 }] }), /not loopback/);
    await assert.rejects(startAgent({}), /give upstreams or hostRoot/);
  });
});
