// Live reconfiguration from ConfigMaps and Events on the Node: the real client library
// against an in-test API server, a real Agent in this process, real DNS queries.
import { strict as assert } from 'node:assert';
import { describe, it, afterEach } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../src/config/load';
import { connect } from '../src/kube/client';
import { NodeEvents } from '../src/kube/events';
import { configMap, dnsService, startFakeApiServer } from './helpers/fake-apiserver';
import { startFaultServer } from './helpers/fault-server';
import { makeHostRoot } from './helpers/hostroot';
import { answer, answeringServer, answersFrom, startKubeRig, type Cleanups } from './helpers/kube-rig';
import { freeAddress, hostPort } from './helpers/ports';
import { PATIENCE_MS, waitUntil } from './helpers/process';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const server = (ip: string, o: { address?: string; port?: number } = {}) => answeringServer(cleanups, ip, o);
const rig = (args: string[], o: { upstreamArgs?: string[] } = {}) => startKubeRig(cleanups, { args, upstreamArgs: o.upstreamArgs });

const OWN = ['--config-map', 'kube-system/nodedns', '--no-watch-kube-dns-configmap'];
const ownConfig = (yaml: string) => configMap('kube-system', 'nodedns', { 'config.yaml': yaml });

describe('nodedns\' own ConfigMap', () => {
  it('applies a change live while queries keep being answered', async () => {
    const s1 = await server('10.1.0.1');
    const s2 = await server('10.1.0.2');
    const cluster = await server('10.96.1.1');
    const r = await rig(OWN);
    r.api.put(dnsService('kube-dns', cluster));
    r.api.put(ownConfig(`stub-domain:\n  corp.example: ${hostPort(s1)}\n`));
    await answersFrom(r, 'corp.example', '10.1.0.1');

    // four clients querying without pause (cluster, stub, outside names) for the whole test
    let stop = false;
    let answered = 0;
    const failures: string[] = [];
    const client = async (zone: string, want: (ip: string) => boolean) => {
      while (!stop) {
        try {
          const ip = await answer(r, zone);
          if (want(ip)) answered++;
          else failures.push(`${zone}: ${ip}`);
        } catch (e) {
          failures.push(`${zone}: ${(e as Error).message}`);
        }
      }
    };
    const clients = [
      client('default.svc.cluster.local', (ip) => ip === '10.96.1.1'),
      client('corp.example', (ip) => ip === '10.1.0.1' || ip === '10.1.0.2'),
      client('example.org', (ip) => ip === '192.0.2.99'),
      client('example.org', (ip) => ip === '192.0.2.99'),
    ];
    try {
      for (let i = 0; i < 6; i++) {
        const [s, ip] = i % 2 === 0 ? [s2, '10.1.0.2'] : [s1, '10.1.0.1'];
        r.api.put(ownConfig(`# change ${i}\nstub-domain:\n  corp.example: ${hostPort(s)}\ncache-size: ${5000 + i}\n`));
        await answersFrom(r, 'corp.example', ip);
        assert.equal(r.agent.config.cache.positiveSize, 5000 + i);
        await new Promise((res) => setTimeout(res, 300)); // queries keep flowing between changes
      }
    } finally {
      stop = true;
      await Promise.all(clients);
    }
    assert.deepEqual(failures, [], 'every query during the changes must be answered correctly');
    assert.ok(answered > 100, `only ${answered} queries were answered`);
    assert.ok(r.agent.stats.configReloads.ok >= 7);
    assert.ok(r.logs.some((l) => l.msg === 'configuration applied live' && l.source === 'ConfigMap kube-system/nodedns key config.yaml'));
  });

  const invalid: [string, string, RegExp][] = [
    ['YAML syntax', 'stub-domain: [corp.example=', /not valid YAML/],
    ['a bad value', 'upstream-timeout: soon\n', /upstream-timeout: "soon" is not a duration/],
    ['an unknown key', 'cache-sise: 100\n', /unknown key "cache-sise"/],
    ['a key only the DaemonSet sets', 'kube-api: false\n', /kube-api can only be set in the DaemonSet's arguments/],
    ['a setting that needs a restart', 'port: 5353\n', /port cannot change while nodedns runs/],
    ['a setting read only at start', 'log-level: debug\n', /log-level is read only at start; set it in the DaemonSet's args/],
  ];
  for (const [what, yaml, message] of invalid) {
    it(`rejects ${what}, keeps the old configuration, logs and reports it`, async () => {
      const s1 = await server('10.1.0.1');
      const r = await rig(OWN);
      r.api.put(ownConfig(`stub-domain:\n  corp.example: ${hostPort(s1)}\n`));
      await answersFrom(r, 'corp.example', '10.1.0.1');
      const before = JSON.stringify(r.agent.config);
      const rejected = r.agent.stats.configReloads.rejected;
      r.api.put(ownConfig(yaml));
      await r.api.waitFor(() => r.api.events.some((e) => e.reason === 'ConfigRejected'), PATIENCE_MS, 'a ConfigRejected event');
      const ev = r.api.events.find((e) => e.reason === 'ConfigRejected')!;
      assert.match(ev.message, /ConfigMap kube-system\/nodedns key config\.yaml/);
      assert.match(ev.message, message);
      assert.match(ev.message, /the previous configuration stays in effect/);
      assert.equal(ev.type, 'Warning');
      assert.equal(JSON.stringify(r.agent.config), before);
      assert.equal(r.agent.stats.configReloads.rejected, rejected + 1);
      assert.ok(r.logs.some((l) => l.level === 50 && l.msg?.includes('rejected') && message.test(String(l.err))));
      assert.equal(await answer(r, 'corp.example'), '10.1.0.1');
      // and a good one after it still applies
      r.api.put(ownConfig(`stub-domain:\n  corp.example: ${hostPort(s1)}\ncache-size: 777\n`));
      await waitUntil('cache-size 777', () => (r.agent.config.cache.positiveSize === 777 ? true : undefined), PATIENCE_MS);
    });
  }

  it('goes back to the startup configuration when the ConfigMap is deleted', async () => {
    const s1 = await server('10.1.0.1');
    const r = await rig(OWN);
    r.api.put(ownConfig(`stub-domain:\n  corp.example: ${hostPort(s1)}\n`));
    await answersFrom(r, 'corp.example', '10.1.0.1');
    r.api.remove('ConfigMap', 'kube-system', 'nodedns');
    await answersFrom(r, 'corp.example', '192.0.2.99');
    assert.deepEqual(r.agent.config.stubDomains, []);
  });

  it('a flag given at startup stays under a ConfigMap that sets something else', async () => {
    const s1 = await server('10.1.0.1');
    const r = await rig([...OWN, '--cache-size', '1234']);
    r.api.put(ownConfig(`stub-domain:\n  corp.example: ${hostPort(s1)}\n`));
    await answersFrom(r, 'corp.example', '10.1.0.1');
    assert.equal(r.agent.config.cache.positiveSize, 1234);
  });
});

describe('the kube-dns ConfigMap (node-cache compatibility)', () => {
  it('applies stubDomains and upstreamNameservers, and rejects a broken or looping one', async () => {
    // the host's resolv.conf names a server on port 53, as a real one would
    const hostUpstream = await server('192.0.2.53', { address: freeAddress(), port: 53 });
    const root = makeHostRoot({ 'etc/resolv.conf': `nameserver ${hostUpstream.address}\n` });
    cleanups.push(() => root.cleanup());
    const stub = await server('10.2.0.1');
    const upstream = await server('198.51.100.1');
    const r = await rig(['--watch-kube-dns-configmap'], { upstreamArgs: ['--host-root', root.dir] });
    await r.kube.synced;
    assert.equal(await answer(r, 'example.org'), '192.0.2.53');
    r.api.put(configMap('kube-system', 'kube-dns', {
      stubDomains: JSON.stringify({ 'acme.local': [hostPort(stub)] }),
      upstreamNameservers: JSON.stringify([hostPort(upstream)]),
    }));
    await answersFrom(r, 'acme.local', '10.2.0.1');
    await answersFrom(r, 'example.org', '198.51.100.1');

    r.api.put(configMap('kube-system', 'kube-dns', { upstreamNameservers: '["8.8.8.8"' }));
    await r.api.waitFor(() => r.api.events.some((e) => e.reason === 'ConfigRejected'), PATIENCE_MS, 'a ConfigRejected event');
    assert.match(r.api.events.at(-1)!.message, /ConfigMap kube-system\/kube-dns key upstreamNameservers: not valid JSON/);
    assert.equal(await answer(r, 'acme.local'), '10.2.0.1', 'the previous kube-dns settings stay');

    r.api.put(configMap('kube-system', 'kube-dns', { upstreamNameservers: JSON.stringify([`${r.ep.address}:${r.ep.port}`]) }));
    await r.api.waitFor(() => r.api.events.filter((e) => e.reason === 'ConfigRejected').length === 2, PATIENCE_MS, 'a second ConfigRejected event');
    assert.match(r.api.events.at(-1)!.message, /is nodedns' own address; forwarding there would loop/);
    assert.equal(await answer(r, 'example.org'), '198.51.100.1');

    r.api.remove('ConfigMap', 'kube-system', 'kube-dns');
    await answersFrom(r, 'example.org', '192.0.2.53');
  });
});

describe('Events on the Node', () => {
  it('posts a well-formed core/v1 Event for the Node, folds repeats and caps the rate', async () => {
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    const { config } = loadConfig(['--kubeconfig', api.kubeconfig], {});
    const client = connect(config);
    let now = Date.parse('2030-01-01T00:00:00Z');
    const ev = new NodeEvents(client.core, 'node-a', pino({ level: 'silent' }), { dedupWindowMs: 60_000, burst: 3, refillMs: 10_000, now: () => now });
    for (let i = 0; i < 5; i++) ev.report('FallbackActive', 'nodedns is not serving; the fallback rule sends queries to the cluster DNS');
    await ev.flush();
    assert.equal(api.events.length, 1, 'repeats within the window are folded');
    const e = api.events[0];
    assert.equal(e.apiVersion, 'v1');
    assert.equal(e.kind, 'Event');
    assert.deepEqual(e.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'node-a' });
    assert.equal(e.metadata.namespace, 'default');
    assert.match(e.metadata.name, /^node-a\.[0-9a-f]+$/);
    assert.equal(e.reason, 'FallbackActive');
    assert.equal(e.type, 'Warning');
    assert.deepEqual(e.source, { component: 'nodedns', host: 'node-a' });
    assert.equal(e.firstTimestamp, '2030-01-01T00:00:00.000Z');
    assert.equal(e.count, 1);
    assert.equal(api.requests.at(-1)!.path, '/api/v1/namespaces/default/events');

    ev.report('NoUsableUpstream', 'a');
    ev.report('NoUsableUpstream', 'b');
    ev.report('NoUsableUpstream', 'c'); // over the burst of 3
    await ev.flush();
    assert.deepEqual(api.events.map((x) => x.message.slice(0, 1)), ['n', 'a', 'b']);
    assert.equal(ev.dropped, 1);

    now += 61_000; // past the window, and six tokens refilled
    ev.report('FallbackActive', 'nodedns is not serving; the fallback rule sends queries to the cluster DNS');
    await ev.flush();
    assert.match(api.events.at(-1)!.message, /\(and 4 more times in the last 1m\)$/);
  });

  it('reports every upstream of a zone down as NoUsableUpstream', async () => {
    const dead = await startFaultServer({ behaviour: { fault: 'drop' } });
    cleanups.push(() => dead.stop());
    const r = await rig([...OWN, '--stub-domain', `dead.example=${hostPort(dead)}`, '--upstream-timeout', '100ms', '--query-timeout', '300ms']);
    for (let i = 0; i < 4; i++) assert.equal(await answer(r, 'dead.example'), 'SERVFAIL');
    const wanted = (e: Record<string, any>) => e.reason === 'NoUsableUpstream' && /every upstream of zone dead\.example is down/.test(e.message);
    await r.api.waitFor(() => r.api.events.some(wanted), PATIENCE_MS, 'a NoUsableUpstream event for dead.example');
    assert.equal(r.api.events.find(wanted)!.type, 'Warning');
  });

  it('lets the node supervisor report the fallback through the integration', async () => {
    const r = await rig(OWN);
    r.kube.report('FallbackActive', 'worker 1 died; the fallback rule answers until it is back');
    await r.kube.events.flush();
    assert.ok(r.api.events.some((e) => e.reason === 'FallbackActive' && /worker 1 died/.test(e.message)));
  });
});
