// Doctor's false alarms and wrong fixes from issue 18: systemd-resolved's "search ." counted as
// a search domain, an upstream that refuses doctor's ". NS" probe but that the agent reports
// healthy, kubelet checks that cannot see kubelet's files inside the nodedns pod, and the
// "no fallback" FAIL's fix.
import { strict as assert } from 'node:assert';
import { mkdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { checkUpstreams } from '../src/diagnose/checks-host';
import { checkKubeletClusterDns, checkKubeletResolvConf, checkPodResolvConf } from '../src/diagnose/checks-kubelet';
import { checkNodeSetup } from '../src/diagnose/checks-serving';
import type { ControlClient } from '../src/diagnose/control-client';
import type { AgentState } from '../src/diagnose/control-types';
import type { DoctorContext } from '../src/diagnose/doctor-types';
import { readKubeletDns } from '../src/diagnose/kubelet-dns';
import { KUBELET_CONFIG, RESOLV_CONF, kubeletConfig, makeHostRoot, resolvConf, type HostRoot } from './helpers/hostroot';
import { startFaultServer } from './helpers/fault-server';
import { hostPort } from './helpers/ports';

const NODEDNS = '169.254.20.10';
const roots: HostRoot[] = [];

function root(files: Record<string, string>): HostRoot {
  const r = makeHostRoot(files);
  mkdirSync(r.path('proc'), { recursive: true }); // no kubelet process from this machine
  roots.push(r);
  return r;
}

function ctx(r: HostRoot, extra: string[] = [], o: Partial<DoctorContext> = {}): DoctorContext {
  const config = loadConfig(['--host-root', r.dir, '--local-ip', NODEDNS, '--cluster-dns', '10.96.0.10', '--control-socket', '', ...extra], {}).config;
  return {
    config, configFrom: 'test', noAgent: 'none in this test', kubelet: readKubeletDns(r.dir, NODEDNS), namespace: 'default', timeoutMs: 1000,
    inspectNode: async () => ({}), ...o,
  };
}

after(() => { for (const r of roots) r.cleanup(); });

describe('doctor: "search ." is no search domain (kubelet drops it)', () => {
  it('systemd-resolved\'s "search .": the pod gets kubelet\'s 3 domains, no empty one', async () => {
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2'], { search: ['.'] }), [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) });
    const c = await checkPodResolvConf(ctx(r));
    assert.equal(c.status, 'PASS', c.evidence);
    assert.match(c.evidence, /3 search domains \(default\.svc\.cluster\.local svc\.cluster\.local cluster\.local\);/);
  });

  it('three host domains and ".": 6 in all, no false WARN about a 7th', async () => {
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2'], { search: ['a.corp', 'b.corp', 'c.corp', '.'] }), [KUBELET_CONFIG]: kubeletConfig([NODEDNS]) });
    const c = await checkPodResolvConf(ctx(r));
    assert.equal(c.status, 'PASS', c.evidence);
  });
});

describe('doctor: an upstream that refuses ". NS"', () => {
  it('is not FAIL when the agent reports it healthy (the agent counts any answer as alive)', async (t) => {
    const up = await startFaultServer({ handler: (q) => (q.name === '.' || q.name === '' ? { rcode: 'REFUSED' } : undefined) });
    t.after(() => up.stop());
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) });
    const state = {
      pid: 1, config: ctx(r).config,
      upstreams: [{ zone: '.', kind: 'upstream', address: hostPort(up), healthy: true, rttMs: 1, queries: 10, failures: 0 }],
    } as unknown as AgentState;
    const c = await checkUpstreams(ctx(r, [], { agent: { client: {} as ControlClient, state } }));
    assert.equal(up.queries.length > 0, true, 'doctor asked the upstream');
    assert.equal(c.status, 'PASS', c.evidence);
    assert.match(c.evidence, /REFUSED .*healthy in the agent/);
  });

  it('is still FAIL when the agent marked it down', async (t) => {
    const up = await startFaultServer({ handler: () => ({ rcode: 'REFUSED' }) });
    t.after(() => up.stop());
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) });
    const state = {
      pid: 1, config: ctx(r).config,
      upstreams: [{ zone: '.', kind: 'upstream', address: hostPort(up), healthy: false, rttMs: 1, queries: 10, failures: 5 }],
    } as unknown as AgentState;
    const c = await checkUpstreams(ctx(r, [], { agent: { client: {} as ControlClient, state } }));
    assert.equal(c.status, 'FAIL', c.evidence);
  });
});

describe('doctor in the nodedns pod: kubelet\'s files are not mounted', () => {
  it('the kubelet checks SKIP with one line saying they need the node', async () => {
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) });
    for (const check of [checkKubeletClusterDns, checkKubeletResolvConf]) {
      const c = await check(ctx(r, [], { inPod: true }));
      assert.equal(c.status, 'SKIP', `${c.id}: ${c.evidence}`);
      assert.match(c.evidence, /^needs the node: .*run "nodedns doctor" on the node/);
    }
  });

  it('on a node without kubelet they still WARN (no false PASS)', async () => {
    const c = await checkKubeletClusterDns(ctx(root({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) })));
    assert.equal(c.status, 'WARN');
  });
});

describe('doctor: "no fallback" FAIL', () => {
  it('gives the fix that helps: the cluster DNS address, not the sync-interval text', async () => {
    const r = root({ [RESOLV_CONF]: resolvConf(['10.0.0.2']) });
    const c = await checkNodeSetup(ctx(r, ['--firewall', 'iptables'], {
      inspectNode: async () => ({
        addresses: { link: 'lo', missing: [], down: false },
        firewall: { backend: 'iptables-nft', missing: [], fallback: [] },
      }),
    }));
    assert.equal(c.status, 'FAIL');
    assert.match(c.evidence, /no fallback/);
    assert.match(c.fix!, /--cluster-dns <kube-dns Service IP>/);
    assert.doesNotMatch(c.fix!, /sync-interval/);
  });
});
