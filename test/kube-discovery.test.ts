// Cluster DNS discovery through the Kubernetes API: the real client library against
// an in-test API server, a real Agent (in this process) answering real DNS queries,
// and test DNS servers standing in for the cluster DNS Service's address.
import { strict as assert } from 'node:assert';
import { describe, it, afterEach } from 'node:test';
import { dnsService, startFakeApiServer } from './helpers/fake-apiserver';
import { answer, answeringServer, answersFrom as answersIn, startKubeRig, type Cleanups, type KubeRig, type KubeRigOptions } from './helpers/kube-rig';
import { hostPort } from './helpers/ports';
import { PATIENCE_MS, waitUntil } from './helpers/process';

const cleanups: Cleanups = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const CLUSTER = 'default.svc.cluster.local';
const clusterDnsServer = (ip: string) => answeringServer(cleanups, ip);
const rig = (o: KubeRigOptions = {}) => startKubeRig(cleanups, { ...o, args: ['--no-watch-kube-dns-configmap', ...(o.args ?? [])] });
const clusterAnswer = (r: KubeRig) => answer(r, CLUSTER);
const answersFrom = (r: KubeRig, ip: string, what: string) => answersIn(r, CLUSTER, ip, what);

describe('cluster DNS discovery order', () => {
  it('uses kube-system/kube-dns when it is the only Service', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    api.put(dnsService('kube-dns', a));
    const r = await rig({ api });
    await r.kube.synced;
    await answersFrom(r, '10.0.0.1', 'answers through kube-dns');
    assert.deepEqual(r.agent.config.clusterDns, [{ host: a.address, port: a.port, family: 4 }]);
  });

  it('prefers kube-dns-upstream over kube-dns, and falls back when it is deleted', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const b = await clusterDnsServer('10.0.0.2');
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    api.put(dnsService('kube-dns', a));
    api.put(dnsService('kube-dns-upstream', b));
    const r = await rig({ api });
    await r.kube.synced;
    await answersFrom(r, '10.0.0.2', 'answers through kube-dns-upstream');
    api.remove('Service', 'kube-system', 'kube-dns-upstream');
    await answersFrom(r, '10.0.0.1', 'answers through kube-dns after kube-dns-upstream was deleted');
  });

  it('--cluster-dns wins: no Service is watched', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const b = await clusterDnsServer('10.0.0.2');
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    api.put(dnsService('kube-dns', b));
    const r = await rig({ api, args: ['--cluster-dns', hostPort(a)] });
    await r.kube.synced;
    assert.equal(await clusterAnswer(r), '10.0.0.1');
    assert.equal(api.requests.filter((q) => q.path.endsWith('/services')).length, 0, 'no Service requests expected');
  });

  it('$KUBE_DNS_UPSTREAM_SERVICE_HOST is used before kube-dns, and the kube-dns-upstream Service replaces it', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const fromEnv = await clusterDnsServer('10.0.0.3');
    const b = await clusterDnsServer('10.0.0.2');
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    api.put(dnsService('kube-dns', a));
    const r = await rig({ api, env: { KUBE_DNS_UPSTREAM_SERVICE_HOST: fromEnv.address, KUBE_DNS_UPSTREAM_SERVICE_PORT: String(fromEnv.port) } });
    await r.kube.synced;
    assert.equal(await clusterAnswer(r), '10.0.0.3', 'the environment comes before kube-dns');
    api.put(dnsService('kube-dns-upstream', b));
    await answersFrom(r, '10.0.0.2', 'the kube-dns-upstream Service replacing the environment snapshot');
  });

  it('never uses a Service whose ClusterIP is one of its own addresses (a loop), and says so on the Node', async () => {
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    const r = await rig({ api });
    api.put(dnsService('kube-dns', { address: r.ep.address, port: r.ep.port }));
    await api.waitFor(() => api.events.some((e) => e.reason === 'UpstreamLoop'), PATIENCE_MS, 'an UpstreamLoop event');
    assert.deepEqual(r.agent.config.clusterDns, []);
    const ev = api.events.find((e) => e.reason === 'UpstreamLoop')!;
    assert.match(ev.message, /one of nodedns' own --local-ip addresses: forwarding there would loop/);
  });
});

describe('cluster DNS Service changes', () => {
  it('works when the Service is created after nodedns started', async () => {
    const r = await rig();
    await r.kube.synced;
    assert.equal(await clusterAnswer(r), 'SERVFAIL', 'no cluster DNS yet');
    assert.equal(r.agent.readiness().ready, false);
    const a = await clusterDnsServer('10.0.0.1');
    r.api.put(dnsService('kube-dns', a));
    await answersFrom(r, '10.0.0.1', 'answers once the Service exists');
    assert.equal(r.agent.readiness().ready, true);
    await r.api.waitFor(() => r.api.events.some((e) => e.reason === 'ClusterDNSChanged'), PATIENCE_MS, 'a ClusterDNSChanged event');
  });

  it('applies a new ClusterIP without a restart', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const b = await clusterDnsServer('10.0.0.2');
    const r = await rig();
    r.api.put(dnsService('kube-dns', a));
    await answersFrom(r, '10.0.0.1', 'the first ClusterIP');
    r.api.put(dnsService('kube-dns', b));
    await answersFrom(r, '10.0.0.2', 'the new ClusterIP');
  });

  for (const style of ['event', 'http'] as const) {
    it(`lists again after 410 Gone (${style === 'event' ? 'ERROR event in the stream' : 'HTTP 410'}) and catches up`, async () => {
      const a = await clusterDnsServer('10.0.0.1');
      const b = await clusterDnsServer('10.0.0.2');
      const r = await rig();
      r.api.put(dnsService('kube-dns', a));
      await answersFrom(r, '10.0.0.1', 'the first ClusterIP');
      const lists = () => r.api.requests.filter((q) => q.path.endsWith('/services') && !q.query.watch).length;
      const before = lists();
      r.api.goneStyle = style;
      // the server compacts its history and drops the watches; the change made meanwhile
      // can only be seen by listing again
      r.api.compact();
      r.api.closeWatches();
      r.api.put(dnsService('kube-dns', b));
      r.api.compact();
      await answersFrom(r, '10.0.0.2', 'the ClusterIP changed while the watch was gone');
      assert.ok(lists() > before, 'expected a new list after 410');
    });
  }

  it('retries with backoff when the API server fails, keeping the address in use', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const b = await clusterDnsServer('10.0.0.2');
    const r = await rig();
    r.api.put(dnsService('kube-dns', a));
    await answersFrom(r, '10.0.0.1', 'the first ClusterIP');
    r.api.failNext('/api/v1/namespaces/kube-system/services', 503, 6);
    r.api.closeWatches();
    await waitUntil('a retry log line', () => (r.logs.some((l) => l.msg?.startsWith('watching kube-system/kube-dns failed')) ? true : undefined), PATIENCE_MS);
    assert.equal(await clusterAnswer(r), '10.0.0.1', 'the last known address stays in use while the API fails');
    r.api.put(dnsService('kube-dns', b));
    await answersFrom(r, '10.0.0.2', 'the change after the API recovered');
  });

  it('authenticates with the kubeconfig\'s bearer token', async () => {
    const a = await clusterDnsServer('10.0.0.1');
    const r = await rig({ token: 'sekret-token' });
    r.api.put(dnsService('kube-dns', a));
    await answersFrom(r, '10.0.0.1', 'answers through kube-dns');
    assert.ok(r.api.requests.length > 0);
    assert.ok(r.api.requests.every((q) => q.auth === 'Bearer sekret-token'));
  });
});
