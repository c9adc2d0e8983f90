// Doctor checks against temporary host roots that reproduce the seed failures: the
// 127.0.0.53 stub (000), kubelet pointing elsewhere (002, 004), a pod resolv.conf over
// libc's limits (004). No agent runs here; test/e2e/diagnose-doctor.test.ts runs the
// whole doctor against a real agent in a network namespace.
import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { checkHostResolvConf, checkUpstreams } from '../src/diagnose/checks-host';
import { checkKubeletClusterDns, checkKubeletResolvConf, checkPodResolvConf } from '../src/diagnose/checks-kubelet';
import { checkClusterDns, checkNodeSetup } from '../src/diagnose/checks-serving';
import { doctorCommand, renderDoctor, runDoctor } from '../src/diagnose/doctor';
import type { DoctorContext } from '../src/diagnose/doctor-types';
import { readKubeletDns } from '../src/diagnose/kubelet-dns';
import { paint } from '../src/diagnose/render';
import { KUBELET_CONFIG, RESOLV_CONF, RESOLVED_RESOLV_CONF, kubeletConfig, makeHostRoot, resolvConf, systemdResolvedRoot, type HostRoot } from './helpers/hostroot';
import { startFaultServer } from './helpers/fault-server';
import { hostPort } from './helpers/ports';

const NODEDNS = '169.254.20.10';
const roots: HostRoot[] = [];

function root(r: HostRoot): HostRoot {
  mkdirSync(r.path('proc'), { recursive: true }); // an empty /proc: no kubelet process to find on this machine
  roots.push(r);
  return r;
}

function ctx(r: HostRoot, extra: string[] = [], o: Partial<DoctorContext> = {}): DoctorContext {
  const config = loadConfig(['--host-root', r.dir, '--local-ip', NODEDNS, '--cluster-dns', '10.96.0.10', '--control-socket', '', ...extra], {}).config;
  return {
    config, configFrom: 'test', noAgent: 'none in this test', kubelet: readKubeletDns(r.dir, NODEDNS), namespace: 'default', timeoutMs: 500,
    inspectNode: async () => ({}), ...o,
  };
}

after(() => { for (const r of roots) r.cleanup(); });

describe('doctor: the systemd-resolved stub (seed 000)', () => {
  it('names the stub and the real upstreams behind it', async () => {
    const r = root(systemdResolvedRoot(['10.0.2.3'], { [KUBELET_CONFIG]: kubeletConfig([NODEDNS], { resolvConf: '/run/systemd/resolve/resolv.conf' }) }));
    const c = await checkHostResolvConf(ctx(r));
    assert.equal(c.status, 'PASS');
    assert.match(c.evidence, /systemd-resolved stub 127\.0\.0\.53; the real upstreams behind it \(.*run\/systemd\/resolve\/resolv\.conf\): 10\.0\.2\.3/);
    assert.equal((await checkKubeletResolvConf(ctx(r))).status, 'PASS');
  });

  it('FAILs when kubelet hands pods the stub, with the fix', async () => {
    const r = root(systemdResolvedRoot(['10.0.2.3'], { [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) }));
    const c = await checkKubeletResolvConf(ctx(r));
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /resolvConf is \/etc\/resolv\.conf .*systemd-resolved stub 127\.0\.0\.53/);
    assert.match(c.fix!, /resolvConf: \/run\/systemd\/resolve\/resolv\.conf in \/var\/lib\/kubelet\/config\.yaml/);
    assert.match(c.fix!, /restart kubelet/);
  });

  it('FAILs when the stub is all there is to read', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['127.0.0.53']) }));
    const c = await checkHostResolvConf(ctx(r));
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /no usable upstream/);
    assert.match(c.fix!, /mount \/run\/systemd\/resolve|--upstream/);
    assert.equal((await checkUpstreams(ctx(r))).status, 'FAIL');
  });

  it('WARNs about a loopback upstream pods cannot reach', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['127.0.0.1']) }));
    const c = await checkHostResolvConf(ctx(r));
    assert.equal(c.status, 'WARN');
    assert.match(c.evidence, /127\.0\.0\.1 is a loopback address/);
  });

  it('skips nodedns\' own address in the host resolv.conf and says so', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf([NODEDNS, '10.0.0.2']) }));
    const c = await checkHostResolvConf(ctx(r));
    assert.equal(c.status, 'PASS');
    assert.match(c.evidence, /169\.254\.20\.10 is nodedns itself \(skipped\)/);
  });
});

describe('doctor: kubelet clusterDNS (seeds 002, 004)', () => {
  const hosts = { [RESOLV_CONF]: resolvConf(['10.0.0.2']) };
  it('PASS when pods ask nodedns', async () => {
    const c = await checkKubeletClusterDns(ctx(root(makeHostRoot({ ...hosts, [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) }))));
    assert.equal(c.status, 'PASS');
    assert.match(c.evidence, /\[169\.254\.20\.10\] \(from \/var\/lib\/kubelet\/config\.yaml\)/);
  });

  it('WARN when pods go to the cluster DNS Service, bypassing nodedns', async () => {
    const c = await checkKubeletClusterDns(ctx(root(makeHostRoot({ ...hosts, [KUBELET_CONFIG]: kubeletConfig(['10.96.0.10']) }))));
    assert.equal(c.status, 'WARN');
    assert.equal(c.seed, '002');
    assert.match(c.evidence, /cluster DNS Service itself: pods go through kube-proxy's DNAT/);
    assert.match(c.fix!, /nodedns kubelet set --ip 169\.254\.20\.10/);
  });

  it('FAIL when pods go somewhere else entirely', async () => {
    const c = await checkKubeletClusterDns(ctx(root(makeHostRoot({ ...hosts, [KUBELET_CONFIG]: kubeletConfig(['10.99.0.1']) }))));
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /10\.99\.0\.1 is neither nodedns \(169\.254\.20\.10\) nor the cluster DNS \(10\.96\.0\.10\)/);
  });

  it('FAIL when kubelet\'s clusterDomain is not nodedns\' --cluster-domain', async () => {
    const r = root(makeHostRoot({ ...hosts, [KUBELET_CONFIG]: kubeletConfig([NODEDNS], { clusterDomain: 'corp.cluster' }) }));
    const c = await checkClusterDns(ctx(r));
    assert.equal(c.status, 'FAIL');
    assert.match(c.fix!, /--cluster-domain corp\.cluster/);
  });

  it('WARN (not a false PASS) when no kubelet is found', async () => {
    const c = await checkKubeletClusterDns(ctx(root(makeHostRoot(hosts))));
    assert.equal(c.status, 'WARN');
    assert.match(c.evidence, /no kubelet found/);
  });
});

describe('doctor: the pod resolv.conf (seed 004)', () => {
  it('WARNs about 7 search domains, naming the ones old libc drops, and shows ndots', async () => {
    const r = root(makeHostRoot({
      [RESOLV_CONF]: resolvConf(['10.0.0.2'], { search: ['corp.example', 'eu.corp.example', 'lab.corp.example', 'dev.corp.example'] }),
      [KUBELET_CONFIG]: kubeletConfig([NODEDNS]),
    }));
    const c = await checkPodResolvConf(ctx(r, [], { namespace: 'shop' }));
    assert.equal(c.status, 'WARN');
    assert.match(c.evidence, /7 search domains \(kubelet's 3 \+ 4 from \/etc\/resolv\.conf\).*so dev\.corp\.example is lost/);
    assert.match(c.evidence, /ndots:5 .* tries 7 search domains.* costs 16 queries/);
    assert.match(c.fix!, /at most 3 domains/);
    assert.match(c.details![0], /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local corp\.example/);
  });

  it('WARNs that musl ignores a long search line, and about more than 3 nameservers', async () => {
    const long = Array.from({ length: 3 }, (_, i) => `a-rather-long-department-name-${i}.engineering.region-one.corp.example`);
    const r = root(makeHostRoot({
      [RESOLV_CONF]: resolvConf(['10.0.0.2'], { search: long }),
      [KUBELET_CONFIG]: kubeletConfig([NODEDNS, '10.0.0.7', '10.0.0.8', '10.0.0.9']),
    }));
    const c = await checkPodResolvConf(ctx(r));
    assert.equal(c.status, 'WARN');
    assert.match(c.evidence, /4 nameservers: kubelet and libc keep 3, 10\.0\.0\.9 never used/);
    assert.match(c.evidence, /musl \(Alpine images\) ignores the whole search line/);
  });

  it('PASS for the ordinary case, with the ndots cost spelled out', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['10.0.0.2'], { search: ['corp.example'] }), [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) }));
    const c = await checkPodResolvConf(ctx(r));
    assert.equal(c.status, 'PASS');
    assert.match(c.evidence, /4 search domains .*costs 10 queries/);
  });
});

describe('doctor: node setup and output', () => {
  it('FAILs with the fix when NOTRACK rules are missing (the inspection is the node setup\'s own code)', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) }));
    const c = await checkNodeSetup(ctx(r, ['--firewall', 'iptables'], {
      inspectNode: async () => ({
        addresses: { link: 'lo', missing: [], down: false },
        firewall: { backend: 'iptables-nft', missing: ['notrack'], fallback: ['the cluster DNS Service 10.96.0.10:53'] },
      }),
    }));
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /notrack rules missing or different \(iptables-nft\)/);
    assert.match(c.fix!, /without NOTRACK, conntrack and the fallback DNAT send pods' queries to the cluster DNS/);
  });

  it('runs every check, puts FAIL first, exits 1, colours only on a terminal', async () => {
    const up = await startFaultServer({ records: {} });
    try {
      const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['127.0.0.53']), [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) }));
      let out = '';
      const code = await doctorCommand(['--host-root', r.dir, '--local-ip', up.address, '--port', String(up.port), '--control-socket', '',
        '--health-addr', '', '--cluster-dns', hostPort(up), '--timeout', '300ms', '--no-setup-interface', '--firewall', 'none'],
      (s) => { out += s; }, () => {}, paint({ isTTY: false } as NodeJS.WriteStream));
      assert.equal(code, 1);
      assert.match(out, /^nodedns doctor: FAIL: \d+ failed/);
      assert.ok(!out.includes('\x1b['), 'no colour when not a terminal');
      const lines = out.split('\n').filter((l) => /^(PASS|WARN|FAIL|SKIP) /.test(l));
      const order = lines.map((l) => l.slice(0, 4));
      assert.deepEqual(order, [...order].sort((a, b) => ['FAIL', 'WARN', 'SKIP', 'PASS'].indexOf(a) - ['FAIL', 'WARN', 'SKIP', 'PASS'].indexOf(b)));
      assert.ok(lines.some((l) => l.startsWith('FAIL  host-resolv-conf')));
      const report = await runDoctor(ctx(r));
      const tty = renderDoctor(report, paint({ isTTY: true } as NodeJS.WriteStream, {}));
      assert.match(tty, /\x1b\[31mFAIL/);
      assert.ok(!renderDoctor(report, paint({ isTTY: true } as NodeJS.WriteStream, { NO_COLOR: '1' })).includes('\x1b['));
    } finally {
      await up.stop();
    }
  });

  it('--json: every check with status, evidence and fix', async () => {
    const r = root(makeHostRoot({ [RESOLV_CONF]: resolvConf(['127.0.0.53']) }));
    let out = '';
    const code = await doctorCommand(['--json', '--host-root', r.dir, '--control-socket', '', '--health-addr', '', '--timeout', '200ms',
      '--local-ip', '127.0.0.1', '--port', '1', '--no-setup-interface', '--firewall', 'none'], (s) => { out += s; }, () => {});
    const j = JSON.parse(out) as { verdict: string; checks: { id: string; status: string; evidence: string; fix?: string }[] };
    assert.equal(code, 1);
    assert.equal(j.verdict, 'FAIL');
    assert.deepEqual(j.checks.map((c) => c.id), ['host-resolv-conf', 'upstreams', 'loop', 'kubelet-cluster-dns', 'kubelet-resolv-conf',
      'node-cache', 'listening', 'node-setup', 'steering', 'readiness', 'cluster-dns', 'pod-resolv-conf']);
    for (const c of j.checks) {
      assert.ok(c.evidence.length > 0, c.id);
      if (c.status !== 'PASS') assert.ok(c.fix && c.fix.length > 0, `${c.id} has no fix`);
    }
  });

  it('bad usage exits 2 with the usage text', async () => {
    let err = '';
    assert.equal(await doctorCommand(['--timeout', 'soon'], () => {}, (s) => { err += s; }), 2);
    assert.match(err, /usage: nodedns doctor/);
  });
});
