// `nodedns doctor` against a real agent with real node setup, in network namespaces this
// test creates (node, pod, dns; see test/helpers/netns.ts). The agent runs in "node" with
// its interface address, iptables rules and control socket; the cluster DNS and the
// host's upstream are dnsmasq in "dns"; the host root is a temporary directory. First a
// healthy node must come out all PASS; then each seed failure is reproduced in turn and
// must produce its FAIL or WARN with the fix: kubelet pointing elsewhere (002), the
// 127.0.0.53 stub handed to pods (000), an upstream that forwards back to nodedns (000),
// NOTRACK rules gone (002), the cluster DNS down (004).
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import { KUBELET_CONFIG, RESOLV_CONF, RESOLVED_RESOLV_CONF, kubeletConfig, makeHostRoot, resolvConf, type HostRoot } from '../helpers/hostroot';
import { NetnsLab, TOPO, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns, type NodeTopology, type NodednsInNs } from '../helpers/netns';
import type { Child } from '../helpers/process';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;
const UPSTREAM = TOPO.dnsHost; // the host's resolver, in the dns namespace
const LOOPER = '10.202.0.53'; // a dnsmasq in the node namespace that forwards to nodedns

interface Check { id: string; status: string; evidence: string; fix?: string }
interface Report { verdict: string; checks: Check[]; configFrom: string }

describe('nodedns doctor on a node (network namespaces)', { skip, timeout: 180_000 }, () => {
  const lab = new NetnsLab();
  let t: NodeTopology;
  let root: HostRoot;
  let agent: NodednsInNs;
  let clusterDns: Child;
  let socket: string;
  let backend = '';

  async function doctor(json = true): Promise<{ code: number; report?: Report; text: string }> {
    const r = await t.node.exec(process.execPath, [CLI, 'doctor', ...(json ? ['--json'] : []), '--control-socket', socket, '--timeout', '1s'], { timeoutMs: 30_000 });
    return { code: r.code, text: r.stdout + r.stderr, report: json ? JSON.parse(r.stdout) as Report : undefined };
  }
  const check = (r: Report, id: string) => r.checks.find((c) => c.id === id)!;
  const notPass = (r: Report) => r.checks.filter((c) => c.status !== 'PASS').map((c) => `${c.status} ${c.id}: ${c.evidence}`);

  before(async () => {
    t = await nodeTopology(lab, { routableServiceIp: true });
    clusterDns = startClusterDns(t.dns, [TOPO.serviceIp, TOPO.endpointIp], { records: { 'kubernetes.default.svc.cluster.local': '10.96.0.1' }, who: 'clusterdns' });
    t.dns.spawn('upstream (dnsmasq)', 'dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces', `--listen-address=${UPSTREAM}`, '--port=53',
      '--log-facility=-', '--pid-file=', '--user=root', '--group=root', '--cache-size=0', '--local=/#/',
      '--host-record=www.example.org,93.184.216.34',
    ]);
    await waitUntil('the upstream to answer', async () => ((await t.node.exec('dig', ['+short', '+time=1', '+tries=1', `@${UPSTREAM}`, 'www.example.org'])).stdout.includes('93.184') ? true : undefined), PATIENCE_MS, 100);
    root = makeHostRoot({
      [RESOLV_CONF]: resolvConf([UPSTREAM], { search: ['corp.example'] }),
      [KUBELET_CONFIG]: kubeletConfig([L]),
    });
    mkdirSync(root.path('proc')); // no kubelet process on this machine to find
    socket = join(root.dir, 'run', 'nodedns', 'control.sock');
    agent = spawnNodedns(t.node, CLI, [
      'run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--host-root', root.dir, '--firewall', 'iptables',
      '--sync-interval', '60s', '--metrics-addr', '', '--control-socket', socket,
    ]);
    await agent.waitForLog('NOTRACK rules in place');
    await agent.waitForLog('control socket open');
  });

  after(async () => {
    await lab.cleanup();
    root?.cleanup();
  });

  it('a healthy node: every check PASSes, exit code 0', async (ctx) => {
    const { code, report } = await doctor();
    assert.deepEqual(notPass(report!), []);
    assert.equal(code, 0);
    assert.equal(report!.verdict, 'PASS');
    assert.match(report!.configFrom, /the running agent/);
    const node = check(report!, 'node-setup');
    backend = /\((iptables-\w+)\)/.exec(node.evidence)![1];
    assert.match(node.evidence, /169\.254\.20\.10 on lo/);
    assert.match(check(report!, 'steering').evidence, /^kernel-held steering \(iptables-nft: kernel\)/);
    assert.match(check(report!, 'cluster-dns').evidence, /A 10\.96\.0\.1 .*through nodedns/);
    const text = await doctor(false);
    assert.match(text.text, /^nodedns doctor: PASS: 0 failed, 0 warnings, 12 passed/);
    ctx.diagnostic(`doctor (healthy):\n${text.text}`);
  });

  it('kubelet pointing at the cluster DNS Service: WARN, pods bypass nodedns (seed 002)', async () => {
    root.write(KUBELET_CONFIG, kubeletConfig([TOPO.serviceIp]));
    try {
      const { code, report } = await doctor();
      const c = check(report!, 'kubelet-cluster-dns');
      assert.equal(c.status, 'WARN');
      assert.match(c.fix!, /nodedns kubelet set --ip 169\.254\.20\.10/);
      assert.equal(code, 0, 'a WARN alone does not fail');
    } finally {
      root.write(KUBELET_CONFIG, kubeletConfig([L]));
    }
  });

  it('the 127.0.0.53 stub handed to pods: FAIL with the fix (seed 000)', async (ctx) => {
    root.write(RESOLVED_RESOLV_CONF, resolvConf([UPSTREAM]));
    root.write(RESOLV_CONF, '# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n' + resolvConf(['127.0.0.53'], { options: ['edns0', 'trust-ad'], search: ['corp.example'] }));
    const { code, report } = await doctor();
    assert.equal(code, 1);
    const host = check(report!, 'host-resolv-conf');
    assert.equal(host.status, 'PASS', host.evidence);
    assert.match(host.evidence, /systemd-resolved stub 127\.0\.0\.53; the real upstreams behind it .*: 10\.201\.0\.2/);
    const k = check(report!, 'kubelet-resolv-conf');
    assert.equal(k.status, 'FAIL');
    assert.match(k.fix!, /resolvConf: \/run\/systemd\/resolve\/resolv\.conf/);
    assert.deepEqual(notPass(report!).map((x) => x.split(':')[0]), ['FAIL kubelet-resolv-conf'], 'only that fails');
    ctx.diagnostic(`doctor (stub):\n${(await doctor(false)).text}`);
  });

  it('an upstream that forwards back to nodedns: FAIL loop (seed 000)', async (ctx) => {
    await t.node.ok('ip', ['addr', 'add', `${LOOPER}/32`, 'dev', 'lo']);
    const looper = t.node.spawn('looping dnsmasq', 'dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces', `--listen-address=${LOOPER}`, '--port=53',
      '--log-facility=-', '--pid-file=', '--user=root', '--group=root', '--cache-size=0', `--server=${L}`,
    ]);
    try {
      root.write(RESOLV_CONF, resolvConf([LOOPER]));
      await agent.waitForLog((l) => l.msg === 'host resolv.conf changed; new upstreams in use' && JSON.stringify(l.upstreams).includes(LOOPER), PATIENCE_MS);
      const { code, report } = await doctor();
      assert.equal(code, 1);
      const c = check(report!, 'loop');
      assert.equal(c.status, 'FAIL', c.evidence);
      assert.match(c.evidence, new RegExp(`sent to ${LOOPER.replace(/\./g, '\\.')}:53 \\(zone \\.\\) came back to nodedns`));
      assert.match(c.fix!, new RegExp(`make ${LOOPER.replace(/\./g, '\\.')}:53 forward to a real resolver instead of nodedns \\(169\\.254\\.20\\.10\\)`));
      ctx.diagnostic(`doctor (loop):\n${(await doctor(false)).text}`);
    } finally {
      root.write(RESOLV_CONF, resolvConf([UPSTREAM], { search: ['corp.example'] }));
      await agent.waitForLog((l) => l.msg === 'host resolv.conf changed; new upstreams in use' && JSON.stringify(l.upstreams).includes(UPSTREAM), PATIENCE_MS);
      await looper.stop();
    }
    const { report } = await doctor();
    assert.equal(check(report!, 'loop').status, 'PASS', 'and PASS again once the loop is gone');
  });

  it('NOTRACK rules gone: FAIL node-setup; the probe lands on the fallback instead (seed 002)', async (ctx) => {
    assert.ok(backend, 'the healthy run named the iptables backend');
    await t.node.ok(backend, ['-t', 'raw', '-F', 'NODEDNS-NOTRACK-PRE']);
    await t.node.ok(backend, ['-t', 'raw', '-F', 'NODEDNS-NOTRACK-OUT']);
    const { code, report } = await doctor();
    assert.equal(code, 1);
    const c = check(report!, 'node-setup');
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /notrack rules missing or different/);
    assert.match(c.fix!, /without NOTRACK/);
    // the listening probe itself now takes the fallback: the cluster DNS answers instead of nodedns
    const l = check(report!, 'listening');
    assert.equal(l.status, 'FAIL');
    assert.match(l.evidence, /169\.254\.20\.10:53\/udp answered by "dnsmasq-[\d.]+", not nodedns/);
    assert.match(l.fix!, /see node-setup \(without NOTRACK the fallback DNAT sends them to the cluster DNS\)/);
    ctx.diagnostic(`doctor (NOTRACK gone):\n${(await doctor(false)).text}`);
  });

  it('the cluster DNS down: FAIL cluster-dns (seed 004)', async () => {
    await clusterDns.stop();
    const { code, report } = await doctor();
    assert.equal(code, 1);
    const c = check(report!, 'cluster-dns');
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /kubernetes\.default\.svc\.cluster\.local: 10\.96\.0\.10:53 no answer/);
    assert.match(c.fix!, /kubectl -n kube-system get endpoints kube-dns/);
  });
});
