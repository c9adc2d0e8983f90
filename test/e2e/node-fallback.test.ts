// The fallback and supervision (--workers 2) for real, in network namespaces this test creates:
//   - one worker killed with SIGKILL under load: nothing lost, the other worker holds the
//     shared socket and answers what was queued;
//   - every worker killed with SIGKILL: pod queries keep getting answers (fallback, then
//     the restarted workers), and NOTRACK comes back;
//   - the supervisor killed with SIGKILL (an OOM kill): its workers remove NOTRACK on the
//     way out, so DNS falls back instead of into a closed socket;
//   - kube-proxy in iptables mode, where a DNAT to the ClusterIP goes nowhere: the fallback
//     uses the endpoints from kube-proxy's rules (and the ClusterIP as a local address gets
//     no DNAT of its own); kube-proxy in nftables mode likewise.
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, kubeProxyIptablesRules, netnsUnavailable, nodeTopology, parseDnsperf, spawnNodedns, startClusterDns, startProbe,
  type Netns, type NodeTopology, type NodednsInNs,
} from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;

async function dig(ns: Netns, server: string, name: string, type = 'A', tcp = false): Promise<string | undefined> {
  const r = await ns.exec('dig', ['+short', '+time=1', '+tries=1', ...(tcp ? ['+tcp'] : []), `@${server}`, name, type]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

function runArgs(flag: string, extra: string[] = []): string[] {
  return ['run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--upstream', TOPO.serviceIp, '--firewall', flag,
    '--sync-interval', '2s', '--host', 'only.nodedns=10.9.9.9', '--metrics-addr', '', '--health-addr', '', '--control-socket', '', ...extra];
}

async function notrackPresent(node: Netns): Promise<boolean> {
  const out = await node.ok('iptables-nft-save', ['-t', 'raw']);
  return out.includes('-A NODEDNS-NOTRACK-PRE');
}

describe('supervised workers (--workers 2) and the fallback', { skip, timeout: 180_000 }, () => {
  const lab = new NetnsLab();
  let t: NodeTopology;
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-fallback-'));
  const queries = join(dir, 'queries.txt');

  before(async () => {
    writeFileSync(queries, ['only.nodedns A', 'svc.cluster.local A', 'who.test TXT'].join('\n') + '\n');
    t = await nodeTopology(lab, { routableServiceIp: true });
    startClusterDns(t.dns, [TOPO.serviceIp, TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
    await waitUntil('the cluster DNS', async () => ((await dig(t.pod, TOPO.serviceIp, 'who.test', 'TXT')) ? true : undefined), PATIENCE_MS, 100);
  });
  after(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--workers 2, every worker killed with SIGKILL (the supervisor lives): answers continue (fallback, then the restarted workers)', async (tc) => {
    const nd = spawnNodedns(t.node, CLI, runArgs('iptables', ['--workers', '2']));
    try {
      await nd.waitForLog('NOTRACK rules in place');
      await waitUntil('two ready workers', async () => (nd.count('worker ready') >= 2 ? true : undefined), PATIENCE_MS, 50);
      const pids = nd.logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.worker));
      const perf = t.pod.spawn('dnsperf', 'dnsperf', ['-s', L, '-d', queries, '-Q', '300', '-l', '6', '-t', '2', '-c', '4']);
      const probe = startProbe(t.pod, { server: L, name: 'svc.cluster.local', durationMs: 6000 });
      await new Promise((r) => setTimeout(r, 1000));
      for (const pid of pids) process.kill(pid, 'SIGKILL');
      await waitUntil('both deaths seen', async () => (nd.count('worker died') >= 2 ? true : undefined), PATIENCE_MS, 50);
      await nd.waitForLog((l) => typeof l.msg === 'string' && l.msg.includes('NOTRACK rules removed'));
      await waitUntil('new workers', async () => (nd.count('worker ready') >= 4 ? true : undefined), PATIENCE_MS, 50);
      await waitUntil('NOTRACK back', async () => ((await notrackPresent(t.node)) ? true : undefined), PATIENCE_MS, 50);
      const r = await probe.result;
      assert.equal((await perf.exited).code, 0, perf.tail());
      const d = parseDnsperf(perf.lines.join('\n'));
      tc.diagnostic(`every worker SIGKILL: dnsperf ${d.sent} sent, ${d.lost} lost; ${r.sent} probes, ${r.firstTry} answered first try, ${r.answered} with one retry, lost ${r.lost}, longest gap ${r.longestGapMs} ms, failed first tries at ${JSON.stringify(r.failedAt)} ms`);
      // lost: what the dead workers had read and what sat in the shared socket when cluster
      // closed it (see node-kill.test.ts); half a second of traffic bounds it
      assert.ok(d.lost <= 150, `dnsperf lost ${d.lost}`);
      assert.equal(r.lost, 0, 'every query answered (at most one retry)');
      const span = r.failedAt.length ? Math.max(...r.failedAt) - Math.min(...r.failedAt) : 0;
      assert.ok(span <= 500, `first tries fail only in the moment the workers die, not after (failures over ${span} ms)`);
      assert.equal(await dig(t.pod, L, 'only.nodedns'), '10.9.9.9', 'nodedns (the new workers) serves again');
    } finally {
      await nd.child.stop('SIGTERM', 15_000);
    }
  });

  it('--workers 2, the supervisor killed with SIGKILL: its workers hand DNS to the fallback on the way out', async () => {
    const nd = spawnNodedns(t.node, CLI, runArgs('iptables', ['--workers', '2']));
    await nd.waitForLog('NOTRACK rules in place');
    await waitUntil('two ready workers', async () => (nd.count('worker ready') >= 2 ? true : undefined), PATIENCE_MS, 50);
    const workerPids = nd.logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.worker));
    assert.equal(await dig(t.pod, L, 'only.nodedns'), '10.9.9.9');
    await nd.child.stop('SIGKILL');
    await waitUntil('the workers to exit', () => (workerPids.some((p) => { try { process.kill(p, 0); return true; } catch { return false; } }) ? undefined : true), PATIENCE_MS, 50);
    assert.equal(await notrackPresent(t.node), false, 'NOTRACK removed by the worker');
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), '"clusterdns"', 'the fallback answers');
    // a new start over the leftovers puts everything back in order
    const again = spawnNodedns(t.node, CLI, runArgs('iptables'), 'nodedns again');
    try {
      await again.waitForLog('NOTRACK rules in place');
      assert.equal(await dig(t.pod, L, 'only.nodedns'), '10.9.9.9');
    } finally {
      await again.child.stop('SIGTERM', 15_000);
    }
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), '"clusterdns"');
    const td = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L]);
    assert.equal(td.code, 0, td.stderr);
  });

  it('--workers 2: one worker killed under load: the other holds the shared socket and answers its queue, NOTRACK stays', async (tc) => {
    const nd = spawnNodedns(t.node, CLI, runArgs('iptables', ['--workers', '2']));
    try {
      await waitUntil('two ready workers', async () => (nd.count('worker ready') >= 2 ? true : undefined), PATIENCE_MS, 50);
      await nd.waitForLog('NOTRACK rules in place');
      const pids = nd.logs.filter((l) => l.msg === 'worker ready').map((l) => Number(l.worker));
      const perf = t.pod.spawn('dnsperf', 'dnsperf', ['-s', L, '-d', queries, '-Q', '300', '-l', '5', '-t', '2', '-c', '4']);
      const probe = startProbe(t.pod, { server: L, name: 'only.nodedns', durationMs: 5000 });
      await new Promise((r) => setTimeout(r, 1500));
      process.kill(pids[0], 'SIGKILL');
      await nd.waitForLog('worker died');
      const r = await probe.result;
      assert.equal((await perf.exited).code, 0, perf.tail());
      const d = parseDnsperf(perf.lines.join('\n'));
      tc.diagnostic(`one of two workers SIGKILLed under load: dnsperf ${d.sent} sent, ${d.lost} lost; probe ${r.sent} sent, lost ${r.lost}, ${r.sent - r.firstTry} failed first tries, longest gap ${r.longestGapMs} ms`);
      // What the killed worker had already read from the shared socket dies with it: libuv
      // takes at most 32 datagrams per read. What was still queued, the other worker answers.
      assert.ok(d.lost <= 32, `dnsperf lost ${d.lost}: more than one read batch of the dead worker`);
      assert.equal(r.lost, 0);
      assert.equal(nd.count('NOTRACK rules removed'), 0, 'no fallback needed while a worker serves');
      assert.equal(await notrackPresent(t.node), true);
      await waitUntil('the replacement', async () => (nd.count('worker ready') >= 3 ? true : undefined), PATIENCE_MS, 50);
    } finally {
      await nd.child.stop('SIGTERM', 15_000);
      await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L]);
    }
  });
});

describe('fallback when kube-proxy runs in iptables mode (ClusterIP not routable)', { skip, timeout: 120_000 }, () => {
  const lab = new NetnsLab();
  let t: NodeTopology;
  let nd: NodednsInNs;

  before(async () => {
    t = await nodeTopology(lab, { routableServiceIp: false });
    await t.node.ok('iptables-nft-restore', ['--noflush'], { input: kubeProxyIptablesRules(TOPO.serviceIp, [TOPO.endpointIp]) });
    startClusterDns(t.dns, [TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
    await waitUntil('the cluster DNS through kube-proxy', async () => ((await dig(t.pod, TOPO.serviceIp, 'who.test', 'TXT')) ? true : undefined), PATIENCE_MS, 100);
  });
  after(() => lab.cleanup());

  it('auto picks iptables-nft and takes the fallback target from kube-proxy\'s endpoints', async () => {
    // node-cache's iptables-mode layout: the link-local address and the ClusterIP itself
    nd = spawnNodedns(t.node, CLI, runArgs('auto', ['--local-ip', `${L},${TOPO.serviceIp}`]));
    await nd.waitForLog('NOTRACK rules in place');
    assert.match(String((await nd.waitForLog('firewall rules go through')).msg), /iptables-nft: kubelet\/kube-proxy hint chains/);
    assert.match(String((await nd.waitForLog('fallback while nodedns is not serving')).msg), new RegExp(`kube-proxy \\(iptables mode\\) uses for ${TOPO.serviceIp}: udp ${TOPO.endpointIp}:53, tcp ${TOPO.endpointIp}:53`));
    const nat = await t.node.ok('iptables-nft-save', ['-t', 'nat']);
    assert.match(nat, new RegExp(`-A NODEDNS-FALLBACK-PRE -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.endpointIp}:53`));
    assert.doesNotMatch(nat, new RegExp(`-A NODEDNS-FALLBACK-\\S+ -d ${TOPO.serviceIp}/32`), 'no DNAT for the ClusterIP itself');
    assert.match(await t.node.ok('iptables-nft-save', ['-t', 'raw']), new RegExp(`-A NODEDNS-NOTRACK-PRE -d ${TOPO.serviceIp}/32 -p udp`), 'but it is NOTRACKed');
    for (const server of [L, TOPO.serviceIp]) assert.equal(await dig(t.pod, server, 'only.nodedns'), '10.9.9.9', `nodedns answers on ${server}`);
  });

  it('once stopped, both addresses are answered by the cluster DNS pod', async () => {
    assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0);
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), '"clusterdns"', 'the link-local address via the copied endpoint');
    assert.equal(await dig(t.pod, L, 'svc.cluster.local', 'A', true), '10.0.0.1', 'over TCP too');
    assert.equal(await dig(t.pod, TOPO.serviceIp, 'who.test', 'TXT'), '"clusterdns"', 'the ClusterIP via kube-proxy\'s own rules');
  });

  it('(the trap) a DNAT to the ClusterIP itself would get no answer here', async () => {
    await t.node.ok('iptables-nft-restore', ['--noflush'], {
      input: `*nat\n:NODEDNS-FALLBACK-PRE - [0:0]\n-A NODEDNS-FALLBACK-PRE -d ${L}/32 -p udp -m udp --dport 53 -j DNAT --to-destination ${TOPO.serviceIp}:53\nCOMMIT\n`,
    });
    await t.node.exec('conntrack', ['-F']);
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), undefined, 'kube-proxy does not translate an address our DNAT produced');
    const td = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', `${L},${TOPO.serviceIp}`]);
    assert.equal(td.code, 0, td.stderr);
    assert.doesNotMatch(await t.node.ok('iptables-nft-save', []), /NODEDNS/);
    assert.match(await t.node.ok('iptables-nft-save', ['-t', 'nat']), /KUBE-SVC-TCOU7JCQXEZGVUNU/, 'kube-proxy\'s rules untouched');
  });
});

const KUBE_PROXY_NFT = (svc: string, ep: string) => {
  const lines = [
    'add table ip kube-proxy',
    'add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }',
    'add chain ip kube-proxy services',
    'add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips',
    'add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }',
    'add rule ip kube-proxy nat-prerouting jump services',
    'add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }',
    'add rule ip kube-proxy nat-output jump services',
  ];
  for (const [proto, port] of [['udp', 'dns'], ['tcp', 'dns-tcp']]) {
    const service = `service-ULMVA6XW-kube-system/kube-dns/${proto}/${port}`;
    const endpoint = `endpoint-5OJB2KTY-kube-system/kube-dns/${proto}/${port}__${ep}/53`;
    lines.push(
      `add chain ip kube-proxy ${endpoint}`,
      `add rule ip kube-proxy ${endpoint} ip saddr ${ep} mark set mark or 0x4000`,
      `add rule ip kube-proxy ${endpoint} meta l4proto ${proto} dnat to ${ep}:53`,
      `add chain ip kube-proxy ${service}`,
      `add rule ip kube-proxy ${service} numgen random mod 1 vmap { 0 : goto ${endpoint} }`,
      `add element ip kube-proxy service-ips { ${svc} . ${proto} . 53 : goto ${service} }`,
    );
  }
  return lines.join('\n') + '\n';
};

describe('fallback when kube-proxy runs in nftables mode', { skip, timeout: 120_000 }, () => {
  const lab = new NetnsLab();
  let t: NodeTopology;

  before(async () => {
    t = await nodeTopology(lab, { routableServiceIp: false });
    await t.node.ok('nft', ['-f', '-'], { input: KUBE_PROXY_NFT(TOPO.serviceIp, TOPO.endpointIp) });
    startClusterDns(t.dns, [TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
    await waitUntil('the cluster DNS through kube-proxy', async () => ((await dig(t.pod, TOPO.serviceIp, 'who.test', 'TXT')) ? true : undefined), PATIENCE_MS, 100);
  });
  after(() => lab.cleanup());

  it('auto picks nftables, DNATs to the endpoints from table ip kube-proxy, and the fallback answers', async () => {
    const nd = spawnNodedns(t.node, CLI, runArgs('auto'));
    try {
      await nd.waitForLog('NOTRACK rules in place');
      assert.match(String((await nd.waitForLog('firewall rules go through')).msg), /nftables: kube-proxy runs in nftables mode/);
      assert.match(String((await nd.waitForLog('fallback while nodedns is not serving')).msg), /kube-proxy \(nftables mode\)/);
      assert.match(await t.node.ok('nft', ['list', 'chain', 'inet', 'nodedns', 'fallback-prerouting']), new RegExp(`ip daddr ${L} udp dport 53 dnat ip to ${TOPO.endpointIp}:53`));
      assert.equal(await dig(t.pod, L, 'only.nodedns'), '10.9.9.9');
    } finally {
      assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0);
    }
    assert.equal(await dig(t.pod, L, 'who.test', 'TXT'), '"clusterdns"');
    assert.equal(await dig(t.pod, L, 'svc.cluster.local', 'A', true), '10.0.0.1');
    const td = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L]);
    assert.equal(td.code, 0, td.stderr);
    const rules = await t.node.ok('nft', ['list', 'ruleset']);
    assert.doesNotMatch(rules, /nodedns/);
    assert.match(rules, /table ip kube-proxy/, 'kube-proxy\'s table untouched');
  });
});
