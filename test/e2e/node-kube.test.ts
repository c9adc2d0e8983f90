// `nodedns run` (node setup on, one process, as in the DaemonSet) with the Kubernetes
// API: it learns the cluster DNS Service from the API, and the fallback DNAT follows. The
// in-test API server listens on 127.0.0.1 of this test's namespace, reached from the "node"
// namespace through test/helpers/api-relay.ts.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import { relayApiServer } from '../helpers/api-relay';
import { dnsService, startFakeApiServer, type FakeApiServer } from '../helpers/fake-apiserver';
import { NetnsLab, TOPO, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns, type NodeTopology } from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;

describe('run with the Kubernetes API (one process): the fallback follows the cluster DNS Service', { skip, timeout: 120_000 }, () => {
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-node-kube-'));
  let t: NodeTopology;
  let api: FakeApiServer;
  let closeBridge: (() => Promise<void>) | undefined;

  before(async () => {
    api = await startFakeApiServer();
    t = await nodeTopology(lab, { routableServiceIp: true });
    closeBridge = await relayApiServer(t.node, api.url, dir);
    startClusterDns(t.dns, [TOPO.serviceIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
  });
  after(async () => {
    await lab.cleanup();
    await closeBridge?.();
    await api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts with no cluster DNS (no fallback), then DNATs to the Service the API names', async () => {
    const nd = spawnNodedns(t.node, CLI, ['run', '--local-ip', L, '--upstream', TOPO.serviceIp, '--firewall', 'iptables',
      '--kube-api', '--kubeconfig', api.kubeconfig, '--node-name', 'node-e2e', '--sync-interval', '1s',
      '--metrics-addr', '', '--health-addr', '', '--control-socket', '']);
    try {
      await nd.waitForLog('NOTRACK rules in place');
      await nd.waitForLog('no IPv4 cluster DNS address');
      assert.doesNotMatch(await t.node.ok('iptables-nft-save', ['-t', 'nat']), /-j DNAT/, 'no fallback target yet');
      api.put(dnsService('kube-dns', { address: TOPO.serviceIp, port: 53 }));
      await nd.waitForLog('cluster DNS address changed');
      await waitUntil('the fallback DNAT to the Service', async () => (
        (await t.node.ok('iptables-nft-save', ['-t', 'nat'])).includes(`-A NODEDNS-FALLBACK-PRE -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.serviceIp}:53`)
          ? true : undefined), PATIENCE_MS, 100);
      const dig = await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${L}`, 'svc.cluster.local']);
      assert.equal(dig.stdout.trim(), '10.0.0.1', 'nodedns forwards the cluster domain to the Service from the API');
    } finally {
      assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0, nd.child.tail());
    }
    const fb = await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${L}`, 'who.test', 'TXT']);
    assert.equal(fb.stdout.trim(), '"clusterdns"', 'the fallback goes to the Service the API named');
  });
});
