// Replacing NodeLocal DNSCache (node-cache) on a running node, in network namespaces this
// test creates: a stand-in node-cache (dnsmasq on 169.254.20.10 and the kube-dns ClusterIP,
// with node-cache's own iptables rules, from kubernetes/dns cmd/node-cache/app/cache_app.go),
// kube-proxy's iptables-mode rules for the ClusterIP, and a pod sending queries to both
// addresses the whole time. Counts lost queries for the documented procedure
// (docs/migrate-from-node-cache.md) and for the naive one, and checks that nodedns removes
// node-cache's leftover rules, whose NOTRACK would keep the fallback from answering.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, kubeProxyIptablesRules, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns, startProbe,
  type Netns, type NodeTopology, type ProbeResult,
} from '../helpers/netns';
import { PATIENCE_MS, waitUntil, type Child } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;
const SVC = TOPO.serviceIp;
const NODE_CACHE_IPS = [L, SVC]; // node-cache in iptables mode: -localip 169.254.20.10,<kube-dns ClusterIP>
const SKIP = 'NodeLocal DNS Cache: skip conntrack';
const ALLOW = 'NodeLocal DNS Cache: allow DNS traffic';

/** node-cache's rules per local IP (dns port 53, health 8080, ready 8181), prepended as it does. */
function nodeCacheRules(ips: string[]): { table: string; chain: string; spec: string }[] {
  const r: { table: string; chain: string; spec: string }[] = [];
  for (const ip of ips) {
    for (const p of ['tcp', 'udp']) r.push({ table: 'raw', chain: 'PREROUTING', spec: `-p ${p} -d ${ip} --dport 53 -j NOTRACK -m comment --comment "${SKIP}"` });
    for (const p of ['tcp', 'udp']) r.push({ table: 'filter', chain: 'INPUT', spec: `-p ${p} -d ${ip} --dport 53 -j ACCEPT -m comment --comment "${ALLOW}"` });
    for (const p of ['tcp', 'udp']) r.push({ table: 'raw', chain: 'OUTPUT', spec: `-p ${p} -s ${ip} --sport 53 -j NOTRACK -m comment --comment "${SKIP}"` });
    for (const p of ['tcp', 'udp']) r.push({ table: 'filter', chain: 'OUTPUT', spec: `-p ${p} -s ${ip} --sport 53 -j ACCEPT -m comment --comment "${ALLOW}"` });
    for (const p of ['tcp', 'udp']) r.push({ table: 'raw', chain: 'OUTPUT', spec: `-p ${p} -d ${ip} --dport 53 -j NOTRACK -m comment --comment "${SKIP}"` });
    for (const port of [8080, 8181]) {
      r.push({ table: 'raw', chain: 'OUTPUT', spec: `-p tcp -d ${ip} --dport ${port} -j NOTRACK -m comment --comment "${SKIP}"` });
      r.push({ table: 'raw', chain: 'OUTPUT', spec: `-p tcp -s ${ip} --sport ${port} -j NOTRACK -m comment --comment "${SKIP}"` });
    }
  }
  return r;
}

const iptables = (ns: Netns, table: string, op: string, chain: string, spec: string) => ns.exec('sh', ['-c', `iptables-nft -t ${table} ${op} ${chain} ${spec}`]);

interface NodeCache { dnsmasq: Child }

/** node-cache starting: addresses (on lo: this kernel has no dummy driver), its server, its rules. */
async function startNodeCache(t: NodeTopology): Promise<NodeCache> {
  for (const ip of NODE_CACHE_IPS) await t.node.ok('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']);
  const dnsmasq = t.node.spawn('node-cache stand-in (dnsmasq)', 'dnsmasq', ['--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces',
    ...NODE_CACHE_IPS.map((a) => `--listen-address=${a}`), '--port=53', '--log-facility=-', '--pid-file=', '--user=root', '--group=root',
    `--server=${TOPO.endpointIp}`, '--txt-record=who.test,nodecache']);
  for (const r of nodeCacheRules(NODE_CACHE_IPS)) {
    const res = await iptables(t.node, r.table, '-I', r.chain, r.spec);
    assert.equal(res.code, 0, res.stderr);
  }
  await waitUntil('node-cache to answer', async () => ((await dig(t.pod, L, 'who.test', 'TXT')) === '"nodecache"' ? true : undefined), PATIENCE_MS, 100);
  return { dnsmasq };
}

/** node-cache stopping: SIGTERM, then (unless -skipteardown) its rules and its interface go. */
async function stopNodeCache(t: NodeTopology, nc: NodeCache, teardown: boolean): Promise<void> {
  await nc.dnsmasq.stop('SIGTERM');
  if (!teardown) return;
  for (const r of nodeCacheRules(NODE_CACHE_IPS)) await iptables(t.node, r.table, '-D', r.chain, r.spec); // gone already: an error, as node-cache logs
  for (const ip of NODE_CACHE_IPS) await t.node.exec('ip', ['addr', 'del', `${ip}/32`, 'dev', 'lo']);
}

async function dig(ns: Netns, server: string, name: string, type = 'A'): Promise<string | undefined> {
  const r = await ns.exec('dig', ['+short', '+time=1', '+tries=1', `@${server}`, name, type]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

// Serving the ClusterIP itself, nodedns forwards to the cluster DNS through another Service
// (kube-dns-upstream, as node-cache does); here its endpoint stands in for it.
const FLAGS = ['--local-ip', NODE_CACHE_IPS.join(','), '--cluster-dns', TOPO.endpointIp, '--upstream', TOPO.endpointIp, '--firewall', 'auto', '--sync-interval', '2s',
  '--metrics-addr', '', '--health-addr', '', '--control-socket', ''];

async function doctorNodeCache(t: NodeTopology): Promise<{ status: string; evidence: string }> {
  const r = await t.node.exec(process.execPath, [CLI, 'doctor', '--json', '--timeout', '500ms', ...FLAGS]);
  const check = (JSON.parse(r.stdout) as { checks: { id: string; status: string; evidence: string }[] }).checks.find((c) => c.id === 'node-cache');
  assert.ok(check, r.stdout + r.stderr);
  return check;
}

async function topology(lab: NetnsLab): Promise<NodeTopology> {
  const t = await nodeTopology(lab, { routableServiceIp: false });
  await t.node.ok('iptables-nft-restore', ['--noflush'], { input: kubeProxyIptablesRules(SVC, [TOPO.endpointIp]) });
  startClusterDns(t.dns, [TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
  await waitUntil('the cluster DNS through kube-proxy', async () => ((await dig(t.pod, SVC, 'who.test', 'TXT')) ? true : undefined), PATIENCE_MS, 100);
  return t;
}

/** Queries from the pod to both addresses while `steps` run; the probes outlast the steps. */
async function measure(t: NodeTopology, steps: () => Promise<void>): Promise<Record<string, ProbeResult>> {
  const durationMs = 40_000;
  const probes = { [L]: startProbe(t.pod, { server: L, name: 'svc.cluster.local', durationMs }), [SVC]: startProbe(t.pod, { server: SVC, name: 'svc.cluster.local', durationMs }) };
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 2000));
  console.log(`# steps start at ${Date.now() - t0} ms`);
  await steps();
  console.log(`# steps done at ${Date.now() - t0} ms`);
  assert.ok(Date.now() - t0 < durationMs - 3000, `the steps took ${Date.now() - t0} ms, longer than the probes run: the count would miss the end of the gap`);
  return { [L]: await probes[L].result, [SVC]: await probes[SVC].result };
}

const summary = (r: Record<string, ProbeResult>) => Object.entries(r).map(([a, p]) =>
  `${a}: ${p.sent} sent, ${p.lost} lost, ${p.sent - p.firstTry} failed their first try (from ${p.failedAt[0] ?? '-'} to ${p.failedAt.at(-1) ?? '-'} ms), longest gap ${p.longestGapMs} ms`).join('; ');

describe('migrating a node from node-cache to nodedns', { skip, timeout: 600_000 }, () => {
  const labs: NetnsLab[] = [];
  after(async () => { for (const l of labs) await l.cleanup(); });
  const fresh = async () => { const lab = new NetnsLab(); labs.push(lab); return topology(lab); };

  it('the documented procedure: nodedns setup, node-cache stops, nodedns run: no query lost', async () => {
    const t = await fresh();
    const nc = await startNodeCache(t);
    const seen = await doctorNodeCache(t);
    assert.equal(seen.status, 'FAIL', seen.evidence);
    assert.match(seen.evidence, new RegExp(`node-cache is running here: dnsmasq pid \\d+ on 169\\.254\\.20\\.10:53.*and ${nodeCacheRules(NODE_CACHE_IPS).length} of its iptables rules`));
    const r = await measure(t, async () => {
      // 1. nodedns setup: standing rules in place, node-cache's rules taken over in the same restore
      const setup = await t.node.exec(process.execPath, [CLI, 'setup', ...FLAGS]);
      assert.equal(setup.code, 0, setup.stderr + setup.stdout);
      // 2. node-cache leaves the node (its DaemonSet no longer selects it): SIGTERM, its teardown
      await stopNodeCache(t, nc, true);
      // 3. nodedns run: addresses back, listeners, NOTRACK
      const nd = spawnNodedns(t.node, CLI, ['run', ...FLAGS]);
      await nd.waitForLog('NOTRACK rules in place');
    });
    console.log(`# documented procedure: ${summary(r)}`);
    assert.equal(r[L].lost, 0, summary(r));
    assert.equal(r[SVC].lost, 0, summary(r));
  });

  it('the naive procedure (node-cache stops, then nodedns starts) loses the queries sent to 169.254.20.10 in between', async () => {
    const t = await fresh();
    const nc = await startNodeCache(t);
    const r = await measure(t, async () => {
      await stopNodeCache(t, nc, true);
      const nd = spawnNodedns(t.node, CLI, ['run', ...FLAGS]);
      await nd.waitForLog('NOTRACK rules in place');
    });
    console.log(`# naive procedure: ${summary(r)}`);
    // at the ClusterIP, only the queries between node-cache's exit and the end of its teardown
    // (NOTRACK still in place, nobody listening); kube-proxy carries it after that
    assert.ok(r[L].lost > 0, `expected a gap at ${L}: ${summary(r)}`);
  });

  it('node-cache stopped without its teardown (-skipteardown, killed): nodedns removes its rules, so the fallback answers', async () => {
    const t = await fresh();
    const nc = await startNodeCache(t);
    await stopNodeCache(t, nc, false);
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), undefined, 'node-cache\'s NOTRACK sends the query to a closed port');
    const left = await doctorNodeCache(t);
    assert.equal(left.status, 'WARN', left.evidence);
    assert.match(left.evidence, new RegExp(`node-cache is not running, but it left ${nodeCacheRules(NODE_CACHE_IPS).length} iptables rules`));
    const setup = await t.node.exec(process.execPath, [CLI, 'setup', ...FLAGS]);
    assert.equal(setup.code, 0, setup.stderr + setup.stdout);
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), '"clusterdns"', 'the fallback takes 169.254.20.10 to the cluster DNS');
    for (const table of ['raw', 'filter']) assert.doesNotMatch(await t.node.ok('iptables-nft-save', ['-t', table]), /NodeLocal DNS Cache/);
    assert.equal(await dig(t.pod, SVC, 'who.test', 'TXT'), '"clusterdns"', 'kube-proxy takes the ClusterIP to the cluster DNS');
    assert.equal((await doctorNodeCache(t)).status, 'PASS');
    assert.match(setup.stderr, /removed node-cache's iptables rules/);
  });
});
