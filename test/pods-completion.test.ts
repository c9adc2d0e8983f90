// Search completion and pod attribution in a real Agent (this process) fed by the real
// client library from the in-test API server: pods whose addresses are loopback
// addresses, dig sending from those addresses (-b), a recording fault server upstream.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { dig, type DigResult } from './helpers/dig';
import { podObject, startFakeApiServer, type FakeApiServer } from './helpers/fake-apiserver';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { makeHostRoot, RESOLV_CONF, type HostRoot } from './helpers/hostroot';
import { startKubeRig, type Cleanups, type KubeRig } from './helpers/kube-rig';
import { freeAddress, hostPort } from './helpers/ports';
import { PATIENCE_MS, waitUntil } from './helpers/process';

const cleanups: Cleanups = [];
let api: FakeApiServer;
let up: FaultServer;
let root: HostRoot;
let r: KubeRig;
const podA = freeAddress(); // app/client
const podB = freeAddress(); // other/client
const stranger = freeAddress(); // no pod
const A_ONLY = 'api.example.com';

async function ask(from: string, name: string, type = 'A'): Promise<DigResult> {
  return dig({ server: r.ep, name, type, source: from, timeoutSec: 5, tries: 1 });
}
const short = (d: DigResult) => `${d.status} ${d.answers.map((a) => `${a.type}=${a.data}`).join(' ')}`.trim();
const attributed = (ip: string) => r.agent.handler.pods?.byIp.get(ip);

before(async () => {
  up = await startFaultServer({
    records: {
      [A_ONLY]: [{ type: 'A', data: '192.0.2.10', ttl: 60 }],
      'dual.example.com': [{ type: 'A', data: '192.0.2.11', ttl: 60 }, { type: 'AAAA', data: '2001:db8::11', ttl: 60 }],
      'kubernetes.default.svc.cluster.local': [{ type: 'A', data: '10.96.0.1', ttl: 30 }],
      'web.corp.corp.test': [{ type: 'A', data: '192.0.2.20', ttl: 60 }],
      'web.corp.test': [{ type: 'A', data: '192.0.2.22', ttl: 60 }],
      'gone.corp.test': [{ type: 'A', data: '192.0.2.21', ttl: 60 }],
      'txtonly.example.com': [{ type: 'TXT', data: 'x', ttl: 60 }],
    },
    negativeSoa: { zone: 'test', ttl: 30 },
    handler: (q) => (q.name.toLowerCase() === 'split.example.com' && q.type === 'AAAA' ? { rcode: 'NXDOMAIN' } : undefined),
  });
  up.records['split.example.com'] = [{ type: 'A', data: '192.0.2.12', ttl: 60 }];
  cleanups.push(() => up.stop());
  root = makeHostRoot({ [RESOLV_CONF]: 'nameserver 192.0.2.53\nsearch corp.test\n' });
  cleanups.push(() => root.cleanup());
  api = await startFakeApiServer();
  cleanups.push(() => api.close());
  api.put(podObject('app', 'client', { ips: [podA] }));
  api.put(podObject('other', 'client', { ips: [podB] }));
  api.put(podObject('app', 'elsewhere', { ips: ['127.9.9.9'], node: 'node-b' }));
  r = await startKubeRig(cleanups, {
    api,
    upstreamArgs: ['--upstream', hostPort(up), '--cluster-dns', hostPort(up), '--host-root', root.dir],
    args: ['--search-completion', '--no-watch-kube-dns-configmap'],
  });
  await r.kube.synced;
  await waitUntil('both pods known', () => (attributed(podA) && attributed(podB) ? true : undefined), PATIENCE_MS);
});
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('pods of this node', () => {
  it('lists and watches only this node\'s pods (fieldSelector spec.nodeName)', () => {
    const table = r.agent.handler.pods!;
    assert.deepEqual(table.views.map((v) => `${v.record.namespace}/${v.record.name}`).sort(), ['app/client', 'other/client']);
    assert.equal(attributed('127.9.9.9'), undefined, 'a pod of another node is not kept');
    const podRequests = api.requests.filter((q) => q.path === '/api/v1/pods');
    assert.ok(podRequests.length >= 2, 'a list and a watch');
    assert.ok(podRequests.every((q) => q.query.fieldSelector === 'spec.nodeName=node-a'), JSON.stringify(podRequests));
    assert.deepEqual(attributed(podA)!.path!.search, ['app.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.test']);
  });
});

describe('search completion', () => {
  it('answers an external name asked through the first search domain with a CNAME and the records', async () => {
    up.clear();
    const a = await ask(podA, `${A_ONLY}.app.svc.cluster.local`);
    assert.equal(short(a), `NOERROR CNAME=${A_ONLY}. A=192.0.2.10`);
    assert.equal(a.answers[0].name, `${A_ONLY}.app.svc.cluster.local.`);
    // a name with A and no AAAA: AAAA gets the CNAME and NODATA, never NXDOMAIN
    const aaaa = await ask(podA, `${A_ONLY}.app.svc.cluster.local`, 'AAAA');
    assert.equal(short(aaaa), `NOERROR CNAME=${A_ONLY}.`);
    assert.equal(aaaa.authority[0]?.type, 'SOA', 'NODATA carries the SOA of the target');
    // each name of the path reached the upstream once per type
    for (const n of [`${A_ONLY}.app.svc.cluster.local`, `${A_ONLY}.svc.cluster.local`, `${A_ONLY}.cluster.local`, `${A_ONLY}.corp.test`, A_ONLY]) {
      assert.equal(up.count({ name: n, type: 'A' }), 1, `${n} A`);
      assert.equal(up.count({ name: n, type: 'AAAA' }), 1, `${n} AAAA`);
    }
    assert.equal(attributed(podA)!.counters.completions, 2);
  });

  it('completes cluster Services and names of a host search domain', async () => {
    assert.equal(short(await ask(podA, 'kubernetes.default.app.svc.cluster.local')), 'NOERROR CNAME=kubernetes.default.svc.cluster.local. A=10.96.0.1');
    assert.equal(short(await ask(podA, 'web.corp.app.svc.cluster.local')), 'NOERROR CNAME=web.corp.corp.test. A=192.0.2.20');
  });

  it('answers NXDOMAIN as today when no name of the path exists', async () => {
    assert.equal(short(await ask(podA, 'nothing.example.app.svc.cluster.local')), 'NXDOMAIN');
  });

  it('never completes a single label: svc.<ns>.svc.<domain> is also the full name of a Service', async () => {
    // gone.corp.test exists; gone.app.svc.cluster.local (a deleted Service, asked by its full name) must stay NXDOMAIN
    assert.equal(short(await ask(podA, 'gone.app.svc.cluster.local')), 'NXDOMAIN');
    assert.equal(short(await ask(podA, 'web.app.svc.cluster.local')), 'NXDOMAIN');
  });

  it('does not complete when A and AAAA disagree on a name, or when the name has neither', async () => {
    assert.equal(short(await ask(podA, 'split.example.com.app.svc.cluster.local')), 'NXDOMAIN');
    assert.equal(short(await ask(podA, 'split.example.com.app.svc.cluster.local', 'AAAA')), 'NXDOMAIN');
    assert.equal(short(await ask(podA, 'txtonly.example.com.app.svc.cluster.local')), 'NXDOMAIN');
  });

  it('answers as today for an unknown address, another namespace\'s domain, DNSSEC, other types and trailing names', async () => {
    const name = `${A_ONLY}.app.svc.cluster.local`;
    assert.equal(short(await ask(stranger, name)), 'NXDOMAIN', 'not a pod');
    assert.equal(short(await ask(podB, name)), 'NXDOMAIN', 'a pod of namespace other: not its first search domain');
    assert.equal(short(await ask(podB, `${A_ONLY}.other.svc.cluster.local`)), `NOERROR CNAME=${A_ONLY}. A=192.0.2.10`);
    assert.equal(short(await ask(podA, name, 'TXT')), 'NXDOMAIN');
    assert.equal(short(await dig({ server: r.ep, name, source: podA, dnssec: true, timeoutSec: 5, tries: 1 })), 'NXDOMAIN');
    // the completed answer was never cached: the stranger still gets NXDOMAIN after the pods' completions
    assert.equal(short(await ask(stranger, `${A_ONLY}.other.svc.cluster.local`)), 'NXDOMAIN');
  });

  it('counts per pod: queries, NXDOMAIN, completions and the top names', () => {
    const c = attributed(podA)!.counters;
    assert.ok(c.queries >= 10 && c.nxdomain >= 5, `queries ${c.queries} nxdomain ${c.nxdomain}`);
    assert.equal(c.servfail, 0);
    assert.ok(c.top(3).length > 0 && c.top(3)[0].count >= 1);
    assert.equal(attributed(stranger), undefined);
  });
});

describe('pods change', () => {
  it('an address reused by a pod of another namespace never gets the old namespace\'s path', async () => {
    const ip = freeAddress();
    api.put(podObject('alpha', 'old', { ips: [ip] }));
    await waitUntil('alpha/old known', () => (attributed(ip)?.record.namespace === 'alpha' ? true : undefined), PATIENCE_MS);
    assert.equal(short(await ask(ip, `dual.example.com.alpha.svc.cluster.local`)), 'NOERROR CNAME=dual.example.com. A=192.0.2.11');
    // the new pod shows up before the old one is gone: the address is contested, nobody is attributed
    api.put(podObject('beta', 'new', { ips: [ip] }));
    await waitUntil('contested', () => (r.agent.handler.pods!.contested.some((c) => c.ip === ip) ? true : undefined), PATIENCE_MS);
    assert.equal(short(await ask(ip, `dual.example.com.alpha.svc.cluster.local`)), 'NXDOMAIN');
    assert.equal(short(await ask(ip, `dual.example.com.beta.svc.cluster.local`)), 'NXDOMAIN');
    // the old pod ends (Succeeded releases the address), then is deleted
    api.put(podObject('alpha', 'old', { ips: [ip], phase: 'Succeeded' }));
    await waitUntil('beta/new holds it', () => (attributed(ip)?.record.namespace === 'beta' ? true : undefined), PATIENCE_MS);
    assert.equal(short(await ask(ip, `dual.example.com.alpha.svc.cluster.local`)), 'NXDOMAIN');
    assert.equal(short(await ask(ip, `dual.example.com.beta.svc.cluster.local`)), 'NOERROR CNAME=dual.example.com. A=192.0.2.11');
    api.remove('Pod', 'alpha', 'old');
    api.remove('Pod', 'beta', 'new');
    await waitUntil('address released', () => (attributed(ip) === undefined ? true : undefined), PATIENCE_MS);
    assert.equal(short(await ask(ip, `dual.example.com.beta.svc.cluster.local`)), 'NXDOMAIN');
  });

  it('a pod being deleted gives its address to the live pod that reuses it', async () => {
    const ip = freeAddress();
    api.put(podObject('gamma', 'old', { ips: [ip], deleting: true }));
    api.put(podObject('delta', 'new', { ips: [ip] }));
    await waitUntil('delta/new holds it', () => (attributed(ip)?.record.namespace === 'delta' ? true : undefined), PATIENCE_MS);
  });

  it('hostNetwork pods, custom dnsConfig and other dnsPolicies are attributed or not, and never completed', async () => {
    const [h, s, n, p, ok5] = [freeAddress(), freeAddress(), freeAddress(), freeAddress(), freeAddress()];
    api.put(podObject('app', 'hostnet', { ips: [h], hostNetwork: true }));
    api.put(podObject('app', 'searches', { ips: [s], dnsConfig: { searches: ['extra.test'] } }));
    api.put(podObject('app', 'ndots2', { ips: [n], dnsConfig: { options: [{ name: 'ndots', value: '2' }] } }));
    api.put(podObject('app', 'dflt', { ips: [p], dnsPolicy: 'Default' }));
    api.put(podObject('app', 'ndots5', { ips: [ok5], dnsConfig: { options: [{ name: 'ndots', value: '5' }, { name: 'timeout', value: '2' }] } }));
    await waitUntil('pods known', () => (attributed(ok5) && attributed(p) ? true : undefined), PATIENCE_MS);
    assert.equal(attributed(h), undefined, 'hostNetwork pods share the node address: never attributed');
    for (const ip of [s, n, p]) {
      assert.equal(attributed(ip)!.path, undefined, attributed(ip)!.reason);
      assert.equal(short(await ask(ip, `${A_ONLY}.app.svc.cluster.local`)), 'NXDOMAIN');
    }
    assert.match(attributed(s)!.reason!, /dnsConfig\.searches/);
    assert.match(attributed(n)!.reason!, /ndots:2/);
    assert.match(attributed(p)!.reason!, /dnsPolicy Default/);
    assert.equal(short(await ask(ok5, `${A_ONLY}.app.svc.cluster.local`)), `NOERROR CNAME=${A_ONLY}. A=192.0.2.10`);
  });

  for (const style of ['event', 'http'] as const) {
    it(`410 Gone (${style}) lists again: a pod added while the watch was away is seen`, async () => {
      const ip = freeAddress();
      const lists = () => api.requests.filter((q) => q.path === '/api/v1/pods' && q.query.watch === undefined).length;
      const before = lists();
      api.goneStyle = style;
      api.compact();
      api.closeWatches();
      api.put(podObject('epsilon', `late-${style}`, { ips: [ip] }));
      api.compact();
      await waitUntil('a pod added while the watch was away', () => (attributed(ip) ? true : undefined), PATIENCE_MS);
      assert.ok(lists() > before, 'expected a new list after 410');
    });
  }

  it('an API server that fails keeps the last pods, and completion goes on', async () => {
    const ip = attributed([...r.agent.handler.pods!.byIp.keys()].find((k) => attributed(k)?.record.namespace === 'epsilon')!)!.record.ips[0];
    // the API server now fails every pods request for a while: the last state stays
    api.failNext('/api/v1/pods', 500, 1000);
    api.closeWatches();
    await waitUntil('the pods watch noticed', () => (r.logs.some((l) => String(l.msg).startsWith('watching pods of node node-a failed')) ? true : undefined), PATIENCE_MS);
    assert.ok(attributed(ip), 'the last known pods stay in use');
    assert.equal(short(await ask(ip, `${A_ONLY}.epsilon.svc.cluster.local`)), `NOERROR CNAME=${A_ONLY}. A=192.0.2.10`);
  });
});

/** A rig of its own: a fault server with `records`, a host resolv.conf, pods (name -> address) of namespace app, completion on. */
async function podRig(mine: Cleanups, o: { records: Record<string, { type: string; data: string; ttl: number }[]>; hostResolv: string;
  pods: Record<string, string>; args: string[]; handler?: Parameters<typeof startFaultServer>[0]['handler'] }): Promise<KubeRig> {
  const server = await startFaultServer({ records: o.records as never, negativeSoa: { zone: 'test', ttl: 30 }, handler: o.handler });
  mine.push(() => server.stop());
  const hr = makeHostRoot({ [RESOLV_CONF]: o.hostResolv });
  mine.push(() => hr.cleanup());
  const fake = await startFakeApiServer();
  mine.push(() => fake.close());
  for (const [name, ip] of Object.entries(o.pods)) fake.put(podObject('app', name, { ips: [ip] }));
  const rig = await startKubeRig(mine, {
    api: fake, upstreamArgs: ['--upstream', hostPort(server), '--cluster-dns', hostPort(server), '--host-root', hr.dir],
    args: ['--search-completion', '--no-watch-kube-dns-configmap', ...o.args],
  });
  await waitUntil('pods known', () => (Object.values(o.pods).every((ip) => rig.agent.handler.pods?.byIp.get(ip)?.path) ? true : undefined), PATIENCE_MS);
  return rig;
}

describe('the name as typed, asked last', () => {
  // With a one-label cluster domain the first search domain (app.svc.k8s) has two dots, so a
  // typed name with a dot in it can end in it and still have fewer dots than ndots: the pod
  // asks it last, after its whole search path.
  const mine: Cleanups = [];
  let rig: KubeRig;
  const podC = freeAddress();
  const podD = freeAddress();
  after(async () => { for (const c of mine.splice(0).reverse()) await c(); });

  it('is answered as today after its search path came out empty, not completed to a later domain', async () => {
    rig = await podRig(mine, { records: { 'gone.x.corp.test': [{ type: 'A', data: '192.0.2.40', ttl: 60 }] },
      hostResolv: 'nameserver 192.0.2.53\nsearch corp.test\n', pods: { c: podC, d: podD }, args: ['--cluster-domain', 'k8s'] });
    const q = (from: string, name: string) => dig({ server: rig.ep, name, source: from, timeoutSec: 5, tries: 1 }).then(short);
    // the pod looks up gone.x.app.svc.k8s (fewer than 5 dots): its search path first…
    assert.equal(await q(podC, 'gone.x.app.svc.k8s.app.svc.k8s'), 'NXDOMAIN');
    for (const s of ['svc.k8s', 'k8s', 'corp.test']) assert.equal(await q(podC, `gone.x.app.svc.k8s.${s}`), 'NXDOMAIN');
    // …then the name itself, which is in its first search domain: completing it would answer gone.x.corp.test
    assert.equal(await q(podC, 'gone.x.app.svc.k8s'), 'NXDOMAIN');
    // a pod that asks it first is completed, as the first search name of gone.x
    assert.equal(await q(podD, 'gone.x.app.svc.k8s'), 'NOERROR CNAME=gone.x.corp.test. A=192.0.2.40');
  });
});

describe('walks in flight per pod', () => {
  const mine: Cleanups = [];
  after(async () => { for (const c of mine.splice(0).reverse()) await c(); });

  it('are bounded (--search-completion-walks): more are answered as without completion', async () => {
    const pod = freeAddress();
    const rig = await podRig(mine, {
      records: { 'b2.example.com': [{ type: 'A', data: '192.0.2.50', ttl: 60 }] }, hostResolv: 'nameserver 192.0.2.53\n', pods: { p: pod },
      args: ['--search-completion-walks', '1', '--query-timeout', '10s'],
      // the first walk hangs on its first name of the path
      handler: (q) => (q.name.toLowerCase().startsWith('a1.example.com.svc.') ? { rcode: 'NXDOMAIN', delayMs: 8000 } : undefined),
    });
    const view = () => rig.agent.handler.pods!.byIp.get(pod)!;
    const q = (name: string) => dig({ server: rig.ep, name, source: pod, timeoutSec: 15, tries: 1 }).then(short);
    const first = q('a1.example.com.app.svc.cluster.local');
    await waitUntil('the first walk under way', () => (view().counters.walking === 1 ? true : undefined), PATIENCE_MS);
    assert.equal(await q('b2.example.com.app.svc.cluster.local'), 'NXDOMAIN', 'a second walk at once is not started');
    await first;
    assert.equal(view().counters.walking, 0);
    assert.equal(await q('b2.example.com.app.svc.cluster.local'), 'NOERROR CNAME=b2.example.com. A=192.0.2.50');
  });
});

describe('memory', () => {
  const mine: Cleanups = [];
  after(async () => { for (const c of mine.splice(0).reverse()) await c(); });

  it('keeps at most --pod-max pods, the newest, and says so', async () => {
    const fake = await startFakeApiServer();
    mine.push(() => fake.close());
    const ips = [freeAddress(), freeAddress(), freeAddress()];
    ips.forEach((ip, i) => fake.put(podObject('app', `p${i}`, { ips: [ip], created: `2026-12-0${i + 1}T00:00:00Z` })));
    const rig = await startKubeRig(mine, { api: fake, args: ['--pod-max', '2', '--no-watch-kube-dns-configmap'] });
    await waitUntil('pods known', () => rig.agent.handler.pods?.views.length, PATIENCE_MS);
    assert.deepEqual(rig.agent.handler.pods!.views.map((v) => v.record.name).sort(), ['p1', 'p2']);
    assert.ok(rig.logs.some((l) => String(l.msg).includes('more pods than --pod-max (2)')));
  });
});
