// Which pod sends what: the per-pod counters and their bounds, `nodedns top` against a real
// agent's control socket (pods from the in-test API server, queries sent from the pods'
// addresses), and the per-pod metrics that only --pod-metrics turns on.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { startControlServer } from '../src/diagnose/control-server';
import { topCommand, topRows, type TopRow } from '../src/diagnose/top';
import type { PodReport } from '../src/pods/report';
import { emptyCounters } from '../src/node/counters';
import { createMetricsRegistry } from '../src/observe/metrics';
import { takeSnapshot } from '../src/observe/snapshot';
import { keyName, PodCounters } from '../src/pods/stats';
import { RCODE } from '../src/wire/constants';
import { buildQuery } from './helpers/dns-query';
import { dig } from './helpers/dig';
import { podObject, startFakeApiServer } from './helpers/fake-apiserver';
import { startKubeRig, type Cleanups, type KubeRig } from './helpers/kube-rig';
import { freeAddress } from './helpers/ports';
import { PATIENCE_MS, waitUntil } from './helpers/process';

const key = (name: string) => {
  const q = buildQuery(name, 'A');
  return q.subarray(12, q.length).toString('latin1') + '@';
};

describe('per-pod counters', () => {
  it('keep at most N names per pod (space-saving) and never lose a heavy hitter', () => {
    const c = new PodCounters(4);
    for (let i = 0; i < 5000; i++) {
      c.answered(key('storm.example.com'), RCODE.NXDOMAIN);
      c.answered(key(`n${i}.example.com`), RCODE.NOERROR);
    }
    assert.equal(c.tracked, 4, 'bounded: no more slots than asked for');
    const top = c.top(1)[0];
    assert.equal(keyName(top.key), 'storm.example.com. A');
    assert.ok(top.count >= 5000 && top.count - top.error <= 5000, `count ${top.count} error ${top.error}: an upper bound within its error`);
    assert.equal(c.queries, 10_000);
    assert.equal(c.nxdomain, 5000);
    const none = new PodCounters(0);
    none.answered(key('a.example.com'), RCODE.SERVFAIL);
    assert.equal(none.tracked, 0);
    assert.equal(none.servfail, 1);
  });
});

describe('nodedns top and --pod-metrics', () => {
  const cleanups: Cleanups = [];
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-top-'));
  const sock = join(dir, 'control.sock');
  const noisy = freeAddress();
  const quiet = freeAddress();
  let r: KubeRig;

  before(async () => {
    const api = await startFakeApiServer();
    cleanups.push(() => api.close());
    api.put(podObject('shop', 'noisy', { ips: [noisy] }));
    api.put(podObject('shop', 'quiet', { ips: [quiet] }));
    r = await startKubeRig(cleanups, { api, args: ['--no-watch-kube-dns-configmap', '--pod-metrics', '--pod-top-names', '3'] });
    await waitUntil('pods known', () => (r.agent.handler.pods?.byIp.get(noisy) && r.agent.handler.pods.byIp.get(quiet) ? true : undefined), PATIENCE_MS);
    const control = await startControlServer(r.agent, { ...r.agent.config, controlSocket: sock }, pino({ level: 'silent' }));
    cleanups.push(() => control.close());
  });
  after(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the pods, busiest first, once when stdout is not a terminal, as a table or JSON', async () => {
    await dig({ server: r.ep, name: 'one.example.com', source: quiet, timeoutSec: 5, tries: 1 });
    for (let i = 0; i < 12; i++) await dig({ server: r.ep, name: `x${i % 3}.example.com`, source: noisy, timeoutSec: 5, tries: 1 });
    let out = '';
    assert.equal(await topCommand(['--control-socket', sock, '--interval', '200ms'], (s) => { out += s; }, (s) => { out += s; }, false), 0, out);
    const lines = out.trim().split('\n');
    assert.match(lines[0], /^nodedns top: 2 pods/);
    assert.match(lines[1], /POD\s+QPS\s+QUERIES\s+NXDOMAIN\s+SERVFAIL\s+COMPLETED\s+TOP NAMES/);
    assert.match(lines[2], /^\s+shop\/noisy\s+\d+\.\d\s+12\s+0%\s+0\s+-\s+x[012]\.example\.com\. A 4/, out);
    assert.match(lines[3], /^\s+shop\/quiet\s+\d+\.\d\s+1\s/, out);
    assert.equal(lines.length, 4, 'printed once');

    let json = '';
    assert.equal(await topCommand(['--control-socket', sock, '--json', '--interval', '200ms', '--once'], (s) => { json += s; }, (s) => { json += s; }, true), 0, json);
    const doc = JSON.parse(json) as { pods: TopRow[]; known: boolean };
    assert.equal(doc.known, true);
    const n = doc.pods.find((p) => p.name === 'noisy')!;
    assert.equal(n.queries, 12);
    assert.equal(n.top.length, 3);
    assert.equal(n.completion, false);
    assert.match(n.reason!, /search completion is off/);
  });

  it('computes rates and the NXDOMAIN share over the interval', () => {
    const pod = (name: string, queries: number, nxdomain: number): PodReport => ({ namespace: 'ns', name, ips: [], queries, nxdomain, servfail: 0, completions: 0, completion: true, top: [] });
    const rows = topRows({ at: 0, known: true, contested: [], pods: [pod('a', 100, 0), pod('b', 10, 10)] },
      { at: 2000, known: true, contested: [], pods: [pod('a', 110, 0), pod('b', 50, 40), pod('c', 4, 1)] });
    assert.deepEqual(rows.map((x) => [x.name, x.qps, x.nxdomainShare]), [['b', 20, 0.75], ['a', 5, 0], ['c', 2, 0.25]]);
  });

  it('fails with the reason when no agent answers', async () => {
    let out = '';
    assert.equal(await topCommand(['--control-socket', join(dir, 'nobody.sock'), '--once'], (s) => { out += s; }, (s) => { out += s; }, false), 1);
    assert.match(out, /no agent answers on .*nobody\.sock.*is nodedns running/);
  });

  it('reports per-pod counters on /metrics only with --pod-metrics', async () => {
    const render = (podMetrics: boolean) => {
      const config = { ...r.agent.config, podMetrics };
      const agent = Object.assign(Object.create(Object.getPrototypeOf(r.agent)), r.agent, { config });
      return createMetricsRegistry(config).render({ state: { snapshot: takeSnapshot(agent), ready: true, missing: [] }, node: emptyCounters(), config });
    };
    const on = await render(true);
    assert.match(on, /nodedns_pod_requests_total\{namespace="shop",pod="noisy"\} 12/);
    assert.match(on, /nodedns_pod_nxdomain_total\{namespace="shop",pod="quiet"\} 0/);
    assert.doesNotMatch(await render(false), /nodedns_pod_requests_total\{/);
  });
});
