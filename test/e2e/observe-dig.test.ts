// Introspection with nothing but dig: NSID (RFC 5001) is the node name; CHAOS TXT names
// tell the version, identity, upstreams (with health), cache counters and configuration,
// and they follow the state. Also the per-query log lines of --log-queries.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig, kdig, txtStrings, type DigResult } from '../helpers/dig';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { hostPort } from '../helpers/ports';
import { waitUntil } from '../helpers/process';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const VERSION: string = require('../../package.json').version;
const NODE = 'node-obs-7.example.internal';
const MANY = Array.from({ length: 40 }, (_, i) => `10.20.30.${i + 1}`); // a --host value far over 255 bytes

/** Each TXT record's strings, in order. */
const records = (r: DigResult) => r.answers.filter((a) => a.type === 'TXT').map((a) => txtStrings(a.data));
/** "k=v" strings of one record as a map */
const fields = (strings: string[]) => Object.fromEntries(strings.map((s) => [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)]));

describe('dig-level introspection', () => {
  let up: FaultServer;
  let agent: AgentProcess;
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  const chaos = (name: string, o: { type?: string; tcp?: boolean; noedns?: boolean } = {}) =>
    dig({ server: agent, name, class: 'CH', type: o.type ?? 'TXT', tcp: o.tcp, noedns: o.noedns, timeoutSec: 3 });

  before(async () => {
    up = await startFaultServer({ records: { 'www.obs.test': [{ type: 'A', data: '192.0.2.80', ttl: 300 }] }, negativeSoa: { zone: 'obs.test', ttl: 60 } });
    cleanup.push(() => up.stop());
    agent = await startAgent({
      upstreams: [up],
      args: ['--cluster-dns', hostPort(up), '--node-name', NODE, '--host', `many.internal=${MANY.join(',')}`,
        '--log-queries', '--upstream-timeout', '300ms', '--query-timeout', '2s', '--upstream-max-fails', '2'],
    });
    cleanup.push(() => agent.stop());
  });

  it('returns the node name as NSID on answers from upstream, from the cache, and to kdig', async () => {
    const miss = await dig({ server: agent, name: 'www.obs.test', nsid: true });
    assert.equal(miss.status, 'NOERROR', miss.output);
    assert.equal(miss.nsid, NODE, miss.output);
    const hit = await dig({ server: agent, name: 'www.obs.test', nsid: true });
    assert.equal(hit.nsid, NODE);
    assert.equal(hit.answers[0]?.data, '192.0.2.80');
    const k = await kdig({ server: agent, name: 'www.obs.test', nsid: true });
    assert.equal(k.nsid, NODE, k.output);
    const none = await dig({ server: agent, name: 'www.obs.test' });
    assert.equal(none.nsid, undefined, 'no NSID unless asked');
  });

  it('answers version.bind, hostname.bind and id.server', async () => {
    const v = await chaos('version.bind');
    assert.equal(v.status, 'NOERROR', v.output);
    assert.ok(v.flags.includes('aa'));
    assert.deepEqual(records(v), [[`nodedns ${VERSION}`]]);
    assert.equal(v.answers[0].class, 'CH');
    assert.equal(v.answers[0].ttl, 0);
    for (const n of ['hostname.bind', 'id.server', 'ID.SERVER.']) assert.deepEqual(records(await chaos(n)), [[NODE]], n);
    const withNsid = await dig({ server: agent, name: 'version.bind', class: 'CH', type: 'TXT', nsid: true });
    assert.equal(withNsid.nsid, NODE);
  });

  it('answers upstreams.nodedns. with each upstream, its zone and health, and follows a failure', async () => {
    const to = hostPort(up);
    const r = await chaos('upstreams.nodedns.');
    const recs = records(r);
    assert.deepEqual(recs[0], ['source=--upstream']);
    const byZone = Object.fromEntries(recs.slice(1).map((s) => [fields(s).zone, fields(s)]));
    assert.deepEqual(Object.keys(byZone).sort(), ['.', 'cluster.local']);
    assert.equal(byZone['.'].to, to);
    assert.equal(byZone['.'].healthy, 'yes');
    assert.equal(byZone['.'].kind, 'upstream');
    assert.equal(byZone['cluster.local'].kind, 'cluster');
    assert.ok(Number(byZone['.'].queries) >= 1, 'the NSID test asked it');
    for (const s of recs.flat()) assert.ok(Buffer.byteLength(s) <= 255);

    up.set({ fault: 'drop' });
    assert.equal((await dig({ server: agent, name: 'gone.obs.test', timeoutSec: 4 })).status, 'SERVFAIL');
    const down = await waitUntil('upstreams.nodedns. to show the upstream down', async () => {
      const d = records(await chaos('upstreams.nodedns.'));
      const root = d.slice(1).map(fields).find((f) => f.zone === '.');
      return root?.healthy === 'no' ? d : undefined;
    }, 3000);
    const root = down.slice(1).map(fields).find((f) => f.zone === '.')!;
    assert.equal(root.failures, '2');
    assert.match(down[down.length - 1][0], /^not-ready=every upstream of zone \. is down/);
    up.set({});
    await waitUntil('the upstream to be probed back up', async () => {
      const d = records(await chaos('upstreams.nodedns.'));
      return d.slice(1).map(fields).find((f) => f.zone === '.')?.healthy === 'yes' ? true : undefined;
    }, 5000, 100);
  });

  it('answers cache.nodedns. with the counters the cache has', async () => {
    const before = fields(records(await chaos('cache.nodedns.'))[0]);
    await dig({ server: agent, name: 'c1.obs.test' }); // miss (NXDOMAIN)
    await dig({ server: agent, name: 'c1.obs.test' }); // hit
    await dig({ server: agent, name: 'c1.obs.test' }); // hit
    const now = fields(records(await chaos('cache.nodedns.'))[0]);
    assert.equal(Number(now.hits) - Number(before.hits), 2);
    assert.equal(Number(now.misses) - Number(before.misses), 1);
    assert.equal(Number(now.entries) - Number(before.entries), 1);
    assert.match(now.success, /^\d+\/9984$/);
    assert.match(now.denial, /^\d+\/9984$/);
    for (const k of ['stale-served', 'evictions', 'prefetches', 'coalesced']) assert.match(now[k], /^\d+$/, k);
  });

  it('answers config.nodedns. with the configuration in effect, over TCP when it does not fit UDP', async () => {
    const udp = await dig({ server: agent, name: 'config.nodedns.', class: 'CH', type: 'TXT', noedns: true, ignoreTc: true });
    assert.ok(udp.flags.includes('tc'), 'over 512 bytes: truncated over UDP');
    assert.equal(udp.answers.length, 0);
    const r = await chaos('config.nodedns.'); // dig retries over TCP by itself
    assert.equal(r.status, 'NOERROR', r.output);
    assert.ok(r.answers.length > 30, `${r.answers.length} records`);
    const recs = records(r);
    for (const s of recs.flat()) assert.ok(Buffer.byteLength(s) <= 255, `string of ${Buffer.byteLength(s)} bytes`);
    const cfg = Object.fromEntries(recs.map((strings) => {
      const text = strings.join(''); // long values continue over several strings of one record
      return [text.slice(0, text.indexOf('=')), text.slice(text.indexOf('=') + 1)];
    }));
    assert.equal(cfg.localIps, agent.localIps.join(','));
    assert.equal(cfg.port, String(agent.port));
    assert.equal(cfg.upstreams, hostPort(up));
    assert.equal(cfg.clusterDns, hostPort(up));
    assert.equal(cfg.nodeName, NODE);
    assert.equal(cfg['cache.positiveSize'], '9984');
    assert.equal(cfg.logQueries, 'true');
    assert.equal(cfg.version, VERSION);
    assert.match(cfg.routes, /cluster\.local\(cluster\)->/);
    const hosts = JSON.parse(cfg.hosts) as Record<string, string[]>;
    assert.deepEqual(hosts['many.internal'], MANY);
    const hostsRecord = recs.find((s) => s[0].startsWith('hosts='))!;
    assert.ok(hostsRecord.length > 1, 'the long value is split over several strings');
  });

  it('answers NOERROR with no records for another type, and REFUSED for unknown CHAOS names', async () => {
    const a = await chaos('version.bind', { type: 'A' });
    assert.equal(a.status, 'NOERROR');
    assert.equal(a.answers.length, 0);
    const any = await chaos('version.bind', { type: 'ANY' });
    assert.deepEqual(records(any), [[`nodedns ${VERSION}`]]);
    assert.equal((await chaos('authors.bind')).status, 'REFUSED');
    assert.equal((await chaos('nodedns.')).status, 'REFUSED');
  });

  it('logs each query with --log-queries: name, type, client, rcode, cache, upstream, latency', async () => {
    await dig({ server: agent, name: 'www.obs.test', type: 'A' });
    const line = await agent.waitForLog((l) => l.msg === 'query' && l.name === 'www.obs.test.' && l.cache === 'hit');
    assert.equal(line.type, 'A');
    assert.equal(line.rcode, 'NOERROR');
    assert.equal(line.transport, 'udp');
    assert.equal(line.client, '127.0.0.1');
    assert.equal(typeof line.latencyMs, 'number');
    const miss = agent.logs.find((l) => l.msg === 'query' && l.name === 'www.obs.test.' && l.cache === 'miss');
    assert.ok(miss, 'the first query was logged as a miss');
    assert.equal(miss.upstream, hostPort(up));
    const ch = agent.logs.find((l) => l.msg === 'query' && l.name === 'version.bind.');
    assert.equal(ch?.cache, 'local');
    const nx = agent.logs.find((l) => l.msg === 'query' && l.name === 'c1.obs.test.');
    assert.equal(nx?.rcode, 'NXDOMAIN');
  });
});
