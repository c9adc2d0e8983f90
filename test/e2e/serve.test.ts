// The agent end to end: real Knot servers for the cluster domain, a stub domain and
// the outside world; real dig and kdig as clients, over UDP and TCP.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig, kdig } from '../helpers/dig';
import { simpleZone, startKnot, type KnotServer } from '../helpers/knot';
import { hostPort } from '../helpers/ports';

const BIG_TXT = Array.from({ length: 8 }, (_, i) => `"${String.fromCharCode(97 + i).repeat(250)}"`).join(' ');

describe('serving: routing by zone, record types, transports', () => {
  let cluster: KnotServer;
  let stub: KnotServer;
  let world: KnotServer;
  let agent: AgentProcess;

  before(async () => {
    cluster = await startKnot({
      zones: {
        'cluster.local': simpleZone('cluster.local', [
          'kubernetes.default.svc A 10.96.0.1',
          '_https._tcp.kubernetes.default.svc SRV 0 100 443 kubernetes.default.svc',
          'big.default.svc TXT ' + BIG_TXT,
        ].join('\n'), { negTtl: 30 }),
        '10.in-addr.arpa': simpleZone('10.in-addr.arpa', '1.0.96 PTR kubernetes.default.svc.cluster.local.'),
      },
    });
    stub = await startKnot({ zones: { 'corp.example': simpleZone('corp.example', 'db A 10.1.1.1') } });
    world = await startKnot({
      zones: { 'example.com': simpleZone('example.com', 'www A 192.0.2.10\nwww AAAA 2001:db8::10', { negTtl: 120 }) },
    });
    agent = await startAgent({
      upstreams: [world],
      args: ['--cluster-dns', hostPort(cluster), '--stub-domain', `corp.example=${hostPort(stub)}`,
        '--host', 'db.internal=10.20.30.40,fd00::40'],
    });
  });
  after(async () => {
    await agent?.stop();
    await Promise.all([cluster?.stop(), stub?.stop(), world?.stop()]);
  });

  for (const tool of [dig, kdig]) {
    for (const tcp of [false, true]) {
      const how = `${tool === dig ? 'dig' : 'kdig'} over ${tcp ? 'TCP' : 'UDP'}`;
      it(`answers cluster, stub and outside names (${how})`, async () => {
        const c = await tool({ server: agent, name: 'kubernetes.default.svc.cluster.local', tcp });
        assert.equal(c.status, 'NOERROR', c.output);
        assert.deepEqual(c.answers.map((a) => a.data), ['10.96.0.1']);
        const s = await tool({ server: agent, name: 'db.corp.example', tcp });
        assert.deepEqual(s.answers.map((a) => a.data), ['10.1.1.1']);
        const w = await tool({ server: agent, name: 'www.example.com', tcp });
        assert.deepEqual(w.answers.map((a) => a.data), ['192.0.2.10']);
        assert.ok(w.flags.includes('ra') && !w.flags.includes('aa'), `flags ${w.flags}`);
      });
    }
  }

  it('answers AAAA, SRV and PTR, routing in-addr.arpa to the cluster DNS', async () => {
    const aaaa = await dig({ server: agent, name: 'www.example.com', type: 'AAAA' });
    assert.deepEqual(aaaa.answers.map((a) => a.data), ['2001:db8::10']);
    const srv = await dig({ server: agent, name: '_https._tcp.kubernetes.default.svc.cluster.local', type: 'SRV' });
    assert.deepEqual(srv.answers.map((a) => a.data), ['0 100 443 kubernetes.default.svc.cluster.local.']);
    const ptr = await dig({ server: agent, name: '1.0.96.10.in-addr.arpa', type: 'PTR' });
    assert.deepEqual(ptr.answers.map((a) => a.data), ['kubernetes.default.svc.cluster.local.']);
  });

  it('returns NXDOMAIN with the SOA, the TTL capped for the cluster domain', async () => {
    const nx = await dig({ server: agent, name: 'nope.example.com' });
    assert.equal(nx.status, 'NXDOMAIN');
    assert.equal(nx.authority[0]?.type, 'SOA');
    assert.ok(nx.authority[0].ttl <= 30 && nx.authority[0].ttl > 0, `outside denial cap 30s: ${nx.authority[0].ttl}`);
    const cnx = await dig({ server: agent, name: 'nope.default.svc.cluster.local' });
    assert.equal(cnx.status, 'NXDOMAIN');
    assert.ok(cnx.authority[0].ttl <= 5, `cluster denial cap 5s: ${cnx.authority[0].ttl}`);
  });

  it('gets a TXT answer too large for UDP over TCP and hands it to UDP clients as TC', async () => {
    const udpOnly = await dig({ server: agent, name: 'big.default.svc.cluster.local', type: 'TXT', ignoreTc: true });
    assert.ok(udpOnly.flags.includes('tc'), `expected TC over UDP: ${udpOnly.output}`);
    const full = await dig({ server: agent, name: 'big.default.svc.cluster.local', type: 'TXT' }); // dig retries over TCP
    assert.equal(full.status, 'NOERROR');
    assert.equal(full.answers.length, 1);
    assert.ok(full.answers[0].data.length > 2000, 'the whole TXT record');
    const stats = await cluster.stats();
    const tcp = Object.entries(stats).filter(([k]) => /request-protocol\[tcp/.test(k)).reduce((n, [, v]) => n + v, 0);
    assert.ok(tcp >= 1, `nodedns retried over TCP upstream: ${JSON.stringify(stats)}`);
  });

  it('answers localhost and invalid itself (RFC 6761), and static hosts with PTR', async () => {
    const before = await world.queryCount();
    const lh = await dig({ server: agent, name: 'anything.localhost' });
    assert.deepEqual(lh.answers.map((a) => a.data), ['127.0.0.1']);
    const lh6 = await dig({ server: agent, name: 'localhost', type: 'AAAA' });
    assert.deepEqual(lh6.answers.map((a) => a.data), ['::1']);
    const inv = await dig({ server: agent, name: 'foo.invalid' });
    assert.equal(inv.status, 'NXDOMAIN');
    const h = await dig({ server: agent, name: 'DB.internal' });
    assert.deepEqual(h.answers.map((a) => [a.name, a.data]), [['DB.internal.', '10.20.30.40']]);
    const h6 = await dig({ server: agent, name: 'db.internal', type: 'AAAA' });
    assert.deepEqual(h6.answers.map((a) => a.data), ['fd00::40']);
    const rev = await dig({ server: agent, name: '40.30.20.10.in-addr.arpa', type: 'PTR' });
    assert.deepEqual(rev.answers.map((a) => a.data), ['db.internal.']);
    assert.equal(await world.queryCount(), before, 'none of these reached an upstream');
  });

  it('answers a second identical query from the cache, echoing each client\'s spelling', async () => {
    const first = await dig({ server: agent, name: 'WWW.example.COM' });
    assert.equal(first.status, 'NOERROR');
    await world.resetQueryCount();
    const second = await dig({ server: agent, name: 'wWw.ExAmPlE.cOm' }); // kdig prints questions lower-cased
    // 0x20 clients check the question; owner names are as the upstream wrote them (Knot: zone case)
    assert.equal(second.question?.name, 'wWw.ExAmPlE.cOm.');
    assert.deepEqual(second.answers.map((a) => [a.name.toLowerCase(), a.data]), [['www.example.com.', '192.0.2.10']]);
    assert.ok(second.answers[0].ttl <= 30, 'TTL capped at 30s');
    assert.equal(await world.queryCount(), 0, 'the cache answered');
  });
});
