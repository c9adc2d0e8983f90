// With --workers N, /metrics and /ready are served by the supervisor from snapshots that
// every worker sends over the IPC channel. Two real worker processes (each a real Agent),
// real queries, and the sums, readiness and failure cases as the supervisor sees them.
import { strict as assert } from 'node:assert';
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import { createLogger } from '../src/observe/log';
import { startObservability } from '../src/observe/observability';
import { workerSource, type WorkerHandle } from '../src/observe/source';
import { query } from './helpers/dns-query';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { freeAddress, freePort, hostPort, type Endpoint } from './helpers/ports';
import { scrape, sum, value } from './e2e/observe-scrape';

const log = createLogger('warn');

interface TestWorker { child: ChildProcess; ep: Endpoint; handle: WorkerHandle }

async function forkWorker(n: number, upstream: FaultServer): Promise<TestWorker> {
  const ip = freeAddress();
  const port = await freePort(ip);
  const argv = ['--local-ip', ip, '--port', String(port), '--no-setup-interface', '--firewall', 'none', '--upstream', hostPort(upstream),
    '--cluster-dns', hostPort(upstream), '--metrics-addr', '', '--health-addr', '', '--control-socket', ''];
  const child = fork(join(__dirname, 'observe-worker.fixture.ts'), [], {
    execArgv: ['--import', 'tsx'], env: { ...process.env, OBSERVE_WORKER_ARGV: JSON.stringify(argv) }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker ${n} exited with ${code} before it served`)));
    child.on('message', (m) => { if ((m as { type?: string }).type === 'fixture-up') resolve(); });
  });
  const handle: WorkerHandle = {
    name: `worker ${n}`,
    send: (m) => child.connected && child.send(m as never),
    on: (e, l) => child.on(e, l),
    off: (e, l) => child.off(e, l),
  };
  return { child, ep: { address: ip, port }, handle };
}

describe('metrics and readiness summed over worker processes', () => {
  let up: FaultServer;
  let w1: TestWorker;
  let w2: TestWorker;
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  const kill = (w: TestWorker) => async () => { if (w.child.exitCode === null && w.child.signalCode === null) { w.child.kill('SIGKILL'); await new Promise((r) => w.child.once('exit', r)); } };

  before(async () => {
    up = await startFaultServer({ records: { 'a.obs.test': [{ type: 'A', data: '192.0.2.1', ttl: 300 }] } });
    cleanup.push(() => up.stop());
    w1 = await forkWorker(1, up);
    cleanup.push(kill(w1));
    w2 = await forkWorker(2, up);
    cleanup.push(kill(w2));
  });

  it('sums every worker\'s counters and calls the node ready when every worker is', async () => {
    for (let i = 0; i < 3; i++) await query(w1.ep, 'a.obs.test', 'A'); // 1 miss, 2 hits
    await query(w2.ep, 'a.obs.test', 'A'); // its own cache: 1 miss
    await query(w2.ep, 'b.obs.test', 'AAAA', { transport: 'tcp' }); // 1 miss (NXDOMAIN)

    const source = workerSource(() => [w1.handle, w2.handle], () => 2);
    const s = await source();
    assert.deepEqual(s.missing, []);
    assert.equal(s.ready, true);
    assert.equal(s.snapshot.processes, 2);
    assert.equal(s.snapshot.cacheHits.success, 2);
    assert.equal(s.snapshot.cacheMisses, 3);
    const root = s.snapshot.upstreams.find((u) => u.zone === '.')!;
    assert.equal(root.queries, 3, 'one upstream, summed over both workers');
    assert.equal(root.healthy, 1);

    // the supervisor's /metrics, served from the same source
    const ip = freeAddress();
    const { config } = loadConfig(['--local-ip', ip, '--metrics-addr', `${ip}:${await freePort(ip)}`, '--health-addr', `${ip}:${await freePort(ip)}`,
      '--upstream', hostPort(up), '--no-setup-interface', '--firewall', 'none'], {});
    const obs = await startObservability({ config, log, source });
    cleanup.push(() => obs.stop());
    const m = await scrape(`http://${config.metricsAddr}/metrics`);
    assert.equal(value(m, 'nodedns_serving_processes'), 2);
    assert.equal(sum(m, 'coredns_dns_requests_total'), 5);
    assert.equal(sum(m, 'coredns_dns_requests_total', { proto: 'tcp', type: 'AAAA' }), 1);
    assert.equal(sum(m, 'coredns_cache_hits_total'), 2);
    assert.equal(sum(m, 'coredns_cache_entries', { type: 'success' }), 2, 'each worker has its own cache');
    assert.equal(value(m, 'nodedns_cache_capacity', { type: 'success' }), 2 * 9984);
    assert.equal(value(m, 'nodedns_upstream_queries_total', { zone: '.', to: hostPort(up) }), 3);
    assert.equal(value(m, 'nodedns_ready'), 1);
    assert.ok(value(m, 'process_resident_memory_bytes') > 3 * 20e6, 'three processes (two workers and this one) of at least 20 MB each');
    const ready = await fetch(`http://${config.healthAddr}/ready`);
    assert.equal(ready.status, 200);
  });

  it('is not ready when a worker is stuck, or gone, and its counters never go backwards', async () => {
    let list = [w1.handle, w2.handle];
    const source = workerSource(() => list, () => 2, 300);
    const total = (s: Awaited<ReturnType<typeof source>>) => s.snapshot.requestsByType.reduce((a, b) => a + b, 0);
    const both = await source();
    assert.equal(both.ready, true, both.missing.join('; '));
    const requests = total(both);
    assert.equal(requests, 5);
    assert.equal(both.snapshot.upstreams.find((u) => u.zone === '.')!.healthy, 1);

    w2.child.kill('SIGSTOP');
    try {
      const s = await source();
      assert.equal(s.ready, false);
      assert.deepEqual(s.missing, ['worker 2 did not answer within 300 ms (busy or stuck)']);
      assert.equal(s.snapshot.processes, 1, 'only the answering worker serves');
      assert.equal(total(s), requests, 'the stuck worker still counts with its last snapshot');
      assert.equal(s.snapshot.cacheEntries.success, 1, 'but its gauges do not');
      assert.equal(s.snapshot.upstreams.find((u) => u.zone === '.')!.healthy, 1, 'health is the answering workers\' view');
    } finally {
      w2.child.kill('SIGCONT');
    }
    await kill(w2)();
    const gone = await source();
    assert.equal(gone.ready, false);
    assert.deepEqual(gone.missing, ['worker 2 is not connected']);
    list = [w1.handle]; // the supervisor no longer lists it
    await query(w1.ep, 'a.obs.test', 'A');
    const after = await source();
    assert.deepEqual(after.missing, ['1 of 2 workers not running (restarting?)']);
    assert.equal(total(after), requests + 1, 'the dead worker\'s counts are kept: no counter reset for Prometheus');
    assert.equal(after.snapshot.cacheHits.success, 3);
    assert.equal(after.snapshot.processes, 1);
  });

  it('shares one round of requests between concurrent callers', async () => {
    let sent = 0;
    const counting: WorkerHandle = { ...w1.handle, send: (m) => { sent++; return w1.handle.send!(m); } };
    const source = workerSource(() => [counting], () => 1);
    const [a, b, c] = await Promise.all([source(), source(), source()]);
    assert.equal(sent, 1);
    assert.equal(a, b);
    assert.equal(b, c);
    assert.equal(a.ready, true, a.missing.join('; '));
  });
});

describe('which process this is', () => {
  // The default is one process: it must not pay for node:cluster (issue 16, load only what is used).
  const loadsCluster = (env: NodeJS.ProcessEnv) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e',
      "const w = require('./src/observe/cluster-worker'); console.log(JSON.stringify([w.isClusterWorker(), w.clusterWorkerId() ?? null, process.moduleLoadList.includes('NativeModule cluster')]))"],
    { cwd: join(__dirname, '..'), env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim()) as [boolean, number | null, boolean];
  };

  it('a process the supervisor did not fork is no worker, and never loads node:cluster to find out', () => {
    assert.deepEqual(loadsCluster({ NODEDNS_WORKER_SLOT: undefined }), [false, null, false]);
    // the variable alone (set by hand) does not make a worker: cluster has the last word
    assert.deepEqual(loadsCluster({ NODEDNS_WORKER_SLOT: '0' }), [false, null, true]);
  });
});
