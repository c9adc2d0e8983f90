// `nodedns explain NAME --pod NS/NAME`: the pod's real search list and ndots from the API
// (the in-test API server, through the real client library) and what completion would do,
// resolved directly (--direct) against a fault server.
import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { explainCommand } from '../src/diagnose/explain';
import { paint } from '../src/diagnose/render';
import { podObject, startFakeApiServer, type FakeApiServer } from './helpers/fake-apiserver';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { makeHostRoot, RESOLV_CONF, type HostRoot } from './helpers/hostroot';
import { hostPort } from './helpers/ports';

let api: FakeApiServer;
let up: FaultServer;
let root: HostRoot;

async function explain(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await explainCommand([...args, '--direct', '--upstream', hostPort(up), '--cluster-dns', hostPort(up), '--host-root', root.dir,
    '--kubeconfig', api.kubeconfig, '--control-socket', ''], (s) => { out += s; }, (s) => { out += s; }, paint({ isTTY: false } as NodeJS.WriteStream));
  return { code, out };
}

before(async () => {
  up = await startFaultServer({
    records: { 'api.example.com': [{ type: 'A', data: '192.0.2.10' }], 'kubernetes.default.svc.cluster.local': [{ type: 'A', data: '10.96.0.1' }] },
    negativeSoa: { zone: 'test', ttl: 30 },
  });
  root = makeHostRoot({ [RESOLV_CONF]: 'nameserver 192.0.2.53\nsearch corp.test\n' });
  api = await startFakeApiServer();
  api.put(podObject('shop', 'web', { ips: ['10.244.0.9'] }));
  api.put(podObject('shop', 'custom', { ips: ['10.244.0.10'], dnsConfig: { searches: ['extra.test'], options: [{ name: 'ndots', value: '2' }] } }));
});
after(async () => {
  await api.close();
  await up.stop();
  root.cleanup();
});

describe('explain --pod', () => {
  it('reads the pod\'s search list and says what completion would answer and what the pod would then send', async () => {
    const { code, out } = await explain(['api.example.com', '--pod', 'shop/web', '--search-completion', '--json']);
    assert.equal(code, 0, out);
    const r = JSON.parse(out);
    assert.match(r.resolvConf, /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local corp\.test/);
    assert.match(r.resolvConf, /options ndots:5/);
    assert.match(r.resolvOrigin, /pod shop\/web .*dnsPolicy ClusterFirst/);
    assert.equal(r.totalQueries, 10);
    assert.deepEqual({ applies: r.completion.applies, target: r.completion.target, with: r.completion.queriesWith, without: r.completion.queriesWithout },
      { applies: true, target: 'api.example.com', with: 2, without: 10 });
  });

  it('says completion is off, and why it does not apply to a pod with its own dnsConfig', async () => {
    const off = await explain(['kubernetes.default', '--pod', 'shop/web']);
    assert.equal(off.code, 0, off.out);
    assert.match(off.out, /search completion: nodedns would answer kubernetes\.default\.shop\.svc\.cluster\.local\. A and AAAA with a CNAME to kubernetes\.default\.svc\.cluster\.local\. .* 2 queries instead of 4 \(it is off: --search-completion\)/);
    const custom = await explain(['api.example.com', '--pod', 'shop/custom', '--search-completion', '--json']);
    const r = JSON.parse(custom.out);
    assert.match(r.resolvConf, /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local corp\.test extra\.test/);
    assert.match(r.resolvConf, /ndots:2/);
    assert.equal(r.completion.applies, false);
    assert.match(r.completion.why, /dnsConfig\.searches/);
  });

  it('names the pod and the fix when it cannot be read', async () => {
    const { code, out } = await explain(['api.example.com', '--pod', 'shop/missing']);
    assert.equal(code, 1);
    assert.match(out, /cannot read pod shop\/missing .*HTTP 404.*kubectl get pod -n shop missing/);
    const bad = await explain(['api.example.com', '--pod', 'nonsense']);
    assert.equal(bad.code, 2);
    assert.match(bad.out, /--pod "nonsense" is not NAMESPACE\/NAME/);
  });
});
