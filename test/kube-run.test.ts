// End to end: the built agent (`node dist/cli.js run --kubeconfig …`) against an in-test
// Kubernetes API server, real Knot DNS servers for the cluster domain and a stub domain,
// dnsperf sending a steady load while the ConfigMap changes, and dig checking answers.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it, after } from 'node:test';
import { parseStats } from '../scripts/bench/dnsperf';
import { startAgent } from './helpers/agent';
import { dig } from './helpers/dig';
import { configMap, dnsService, startFakeApiServer } from './helpers/fake-apiserver';
import { startFaultServer } from './helpers/fault-server';
import { simpleZone, startKnot } from './helpers/knot';
import { hostPort } from './helpers/ports';
import { PATIENCE_MS, waitUntil } from './helpers/process';

const run = promisify(execFile);
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function digA(server: { address: string; port: number }, name: string): Promise<string> {
  const r = await dig({ server, name, type: 'A' });
  return r.answers.find((a) => a.type === 'A')?.data ?? r.status ?? r.error ?? 'no answer';
}

describe('nodedns run with the Kubernetes API', () => {
  it('finds a Service created after it started, and applies ConfigMap changes under load without losing a query', async (t) => {
    const api = await startFakeApiServer({ token: 'e2e-token' });
    cleanups.push(() => api.close());
    const cluster = await startKnot({ zones: { 'cluster.local': simpleZone('cluster.local', 'web.default.svc 30 A 10.0.0.7\n*.default.svc 30 A 10.0.0.8') } });
    cleanups.push(() => cluster.stop());
    const corpA = await startKnot({ zones: { 'corp.example': simpleZone('corp.example', '* 30 A 10.1.0.1') } });
    cleanups.push(() => corpA.stop());
    const corpB = await startKnot({ zones: { 'corp.example': simpleZone('corp.example', '* 30 A 10.1.0.2') } });
    cleanups.push(() => corpB.stop());
    const outside = await startFaultServer({ handler: (q) => ({ rcode: 'NOERROR', answers: [{ name: q.name, type: 'A', ttl: 30, data: '192.0.2.80' }] }) });
    cleanups.push(() => outside.stop());

    const agent = await startAgent({
      upstreams: [outside],
      args: ['--kube-api', '--kubeconfig', api.kubeconfig, '--node-name', 'node-e2e', '--config-map', 'kube-system/nodedns'],
    });
    cleanups.push(async () => { await agent.stop(); });
    await agent.waitForLog('Kubernetes API integration started');

    // no cluster DNS yet: cluster names fail, outside names work
    assert.equal(await digA(agent, 'web.default.svc.cluster.local'), 'SERVFAIL');
    assert.equal(await digA(agent, 'www.example.org'), '192.0.2.80');

    api.put(dnsService('kube-dns', cluster));
    await waitUntil('the cluster DNS Service to be used', async () => ((await digA(agent, 'web.default.svc.cluster.local')) === '10.0.0.7' ? true : undefined), PATIENCE_MS, 100);
    await agent.waitForLog('cluster DNS address changed');

    api.put(configMap('kube-system', 'nodedns', { 'config.yaml': `stub-domain:\n  corp.example: ${hostPort(corpA)}\n` }));
    await waitUntil('the stub domain from the ConfigMap', async () => ((await digA(agent, 'a0.corp.example')) === '10.1.0.1' ? true : undefined), PATIENCE_MS, 100);

    // steady load over cluster, stub and outside names while the ConfigMap changes
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-kube-e2e-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const names: string[] = [];
    for (let i = 0; i < 300; i++) names.push(`p${i}.default.svc.cluster.local A`, `h${i}.corp.example A`, `w${i}.example.org A`);
    writeFileSync(join(dir, 'queries'), names.join('\n') + '\n');
    const perf = run('dnsperf', ['-s', agent.address, '-p', String(agent.port), '-d', join(dir, 'queries'), '-l', '5', '-Q', '400', '-t', '2', '-c', '4'], { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 1000));
    for (const [i, s] of [[1, corpB], [2, corpA], [3, corpB]] as const) {
      api.put(configMap('kube-system', 'nodedns', { 'config.yaml': `# change ${i}\nstub-domain:\n  corp.example: ${hostPort(s)}\n` }));
      const want = s === corpA ? '10.1.0.1' : '10.1.0.2';
      await waitUntil(`change ${i} to be applied`, async () => ((await digA(agent, `c${i}.corp.example`)) === want ? true : undefined), PATIENCE_MS, 100);
      await new Promise((r) => setTimeout(r, 700));
    }
    const { stdout } = await perf;
    const stats = parseStats(stdout);
    t.diagnostic(`dnsperf during 3 ConfigMap changes: sent ${stats.sent}, completed ${stats.completed}, lost ${stats.lost}, max latency ${stats.maxLatencyMs.toFixed(1)} ms`);
    assert.ok(stats.sent > 1000, `dnsperf sent only ${stats.sent} queries`);
    assert.equal(stats.lost, 0, `queries lost during live reconfiguration:\n${stdout}`);
    assert.deepEqual(Object.keys(stats.rcodes), ['NOERROR'], `every answer must be NOERROR:\n${stdout}`);

    // an invalid change is rejected: logged, reported on the Node, old routing kept
    api.put(configMap('kube-system', 'nodedns', { 'config.yaml': 'stub-domain:\n  corp.example: not-an-ip\n' }));
    const line = await agent.waitForLog('configuration change rejected; the previous configuration stays in effect');
    assert.match(String(line.err), /ConfigMap kube-system\/nodedns key config\.yaml: stub-domain: "not-an-ip" is not an IP address/);
    assert.equal(await digA(agent, 'after-reject.corp.example'), '10.1.0.2');
    await api.waitFor(() => api.events.some((e) => e.reason === 'ConfigRejected'), PATIENCE_MS, 'a ConfigRejected event');
    const ev = api.events.find((e) => e.reason === 'ConfigRejected')!;
    assert.deepEqual(ev.involvedObject, { apiVersion: 'v1', kind: 'Node', name: 'node-e2e', uid: 'node-e2e' });
    assert.ok(api.requests.every((q) => q.auth === 'Bearer e2e-token'));

    const status = await agent.stop();
    assert.equal(status.code, 0, agent.tail());
    assert.equal(api.openWatches(), 0, 'watches must be closed when the agent stops');
  });

  it('refuses to start with a kubeconfig it cannot read, saying what to do', async () => {
    const outside = await startFaultServer({});
    cleanups.push(() => outside.stop());
    const agent = await startAgent({ upstreams: [outside], args: ['--kube-api', '--kubeconfig', '/nonexistent/kubeconfig'], probe: false });
    const st = await agent.exited;
    assert.equal(st.code, 2);
    assert.match(agent.text.join('\n'), /cannot load Kubernetes credentials from --kubeconfig \/nonexistent\/kubeconfig: .*pass --kubeconfig FILE, or --no-kube-api/);
  });
});
