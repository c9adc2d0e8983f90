// scripts/bench/run.sh end to end, kept short (1-second runs, two servers): it writes the
// table, and it leaves no process behind, whether it finishes or is interrupted with Ctrl-C.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { netnsUnavailable } from './helpers/netns';

const REPO = path.resolve(__dirname, '..');
const alive = (pid: number) => { try { process.kill(pid, 0); return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'); } catch { return false; } };

interface Run { code: number | null; signal: NodeJS.Signals | null; out: string }

function runBench(args: string[], onLine?: (line: string, pid: number) => void, limitMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(path.join(REPO, 'scripts/bench/run.sh'), args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let pending = '';
    const take = (d: Buffer) => {
      out += d;
      pending += d;
      const parts = pending.split('\n');
      pending = parts.pop()!;
      for (const l of parts) onLine?.(l, child.pid!);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    const guard = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.on('exit', (code, signal) => { clearTimeout(guard); resolve({ code, signal, out }); });
  });
}

/** Pids the benchmark reported starting ("bench: <name> pid N on …"). */
const startedPids = (out: string) => [...out.matchAll(/ pid (\d+) on /g)].map((m) => Number(m[1]));
const benchProcesses = (workDir: string) =>
  fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try { return fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(workDir); } catch { return false; }
  });

describe('make bench (scripts/bench/run.sh)', () => {
  it('measures, writes the table and stops everything', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const r = await runBench(['--quick', '--duration', '1', '--servers', 'ceiling,dnsmasq', '--workloads', 'hits,ndots',
      '--no-memory', '--no-fixed-rate', '--out', out]);
    assert.equal(r.code, 0, r.out);
    const md = fs.readFileSync(path.join(out, 'quick.md'), 'utf8');
    assert.match(md, /^# nodedns benchmark \(quick mode/);
    assert.match(md, /Machine: .+, \d+ cores, Linux /);
    for (const w of ['## cache hits', '## ndots:5 burst']) assert.ok(md.includes(w), w);
    assert.ok(!md.includes('## mixed'));
    const rows = md.split('\n').filter((l) => /^\| (ceiling|dnsmasq) \| [\d,]+ \|/.test(l));
    assert.equal(rows.length, 4, md);
    assert.match(md, /\| ceiling \| [\d,]+ \| 1\.00 \|/);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    const ndots = json.measurements.find((x: { server: string; workload: string }) => x.server === 'dnsmasq' && x.workload === 'ndots');
    assert.ok(ndots.rcodes.NXDOMAIN > ndots.rcodes.NOERROR * 2, 'three of four names in the burst are NXDOMAIN');
    assert.ok(ndots.qps > 0 && ndots.rssMiB > 0);
    assert.ok(json.targets.some((x: { verdict: string }) => x.verdict === 'n/a'), 'nodedns not run: its targets are n/a');
    // the stdout carries the same table
    assert.ok(r.out.includes('| target | measured | verdict |'));
    const pids = startedPids(r.out);
    assert.equal(pids.length, 2);
    assert.ok(pids.every((p) => !alive(p)), 'servers stopped');
    const workDir = /work dir (\S+)/.exec(r.out)![1];
    assert.equal(fs.existsSync(workDir), false, 'work dir removed');
  });

  it('runs ceiling and forwarder in turns and together in rounds; the forwarder really forwards', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const r = await runBench(['--quick', '--duration', '1', '--rounds', '2', '--servers', 'ceiling,forwarder,forwarder-shared', '--workloads', 'mixed,ndots',
      '--no-memory', '--no-fixed-rate', '--out', out]);
    assert.equal(r.code, 0, r.out);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    type M = { server: string; workload: string; round: number; rcodes: Record<string, number>; qps: number };
    const runs = (s: string, w: string) => (json.measurements as M[]).filter((x) => x.server === s && x.workload === w);
    for (const s of ['ceiling', 'forwarder']) for (const w of ['mixed', 'ndots']) assert.deepEqual(runs(s, w).map((x) => x.round), [0, 1], `${s} ${w}`);
    assert.deepEqual(runs('forwarder-shared', 'mixed').map((x) => x.round), [0, 1]);
    assert.deepEqual(runs('forwarder-shared', 'ndots'), [], 'nothing misses in ndots after the warm-up: not run there');
    for (const m of [...runs('forwarder', 'mixed'), ...runs('forwarder-shared', 'mixed')]) {
      // every answer from Knot through the forwarder (the ceiling answers anything NOERROR too, but never forwards)
      assert.ok(m.rcodes.NOERROR > 1000 && Object.keys(m.rcodes).length === 1, JSON.stringify(m.rcodes));
    }
    for (const m of runs('forwarder', 'ndots')) assert.ok(m.rcodes.NXDOMAIN > m.rcodes.NOERROR * 2, 'Knot\'s NXDOMAINs came through');
    // together: in each round all of them at once, each answered (and its CPU time counted) on its own
    type T = M & { serverCpuPct: number };
    const together = (s: string, w: string) => (json.together as T[]).filter((x) => x.server === s && x.workload === w);
    for (const s of ['ceiling', 'forwarder', 'forwarder-shared']) assert.deepEqual(together(s, 'mixed').map((x) => x.round), [0, 1], `${s} mixed together`);
    for (const s of ['ceiling', 'forwarder']) assert.deepEqual(together(s, 'ndots').map((x) => x.round), [0, 1], `${s} ndots together`);
    assert.deepEqual(together('forwarder-shared', 'ndots'), [], 'nothing misses in ndots after the warm-up: not run there');
    // ndots together asks new long-lived names, denied and answered by Knot through the forwarder
    for (const m of together('forwarder', 'ndots')) assert.ok(m.rcodes.NXDOMAIN > m.rcodes.NOERROR * 2 && m.rcodes.NOERROR > 100, JSON.stringify(m.rcodes));
    for (const m of together('forwarder', 'mixed')) assert.ok(m.rcodes.NOERROR > 300 && Object.keys(m.rcodes).length === 1, JSON.stringify(m.rcodes));
    for (const m of json.together as T[]) assert.ok(m.qps > 0 && m.serverCpuPct > 5 && m.serverCpuPct < 90, `${m.server} shared CPU 0: ${m.serverCpuPct}%`);
    const md = fs.readFileSync(path.join(out, 'quick.md'), 'utf8');
    assert.match(md, /\| forwarder \| [\d,]+ \| [\d,]+ \/ [\d,]+ \| [\d.]+ \|/);
    assert.match(md, /Together on one core \(2 rounds, all at once, each with its own dnsperf\):/);
    assert.match(md, /- mixed: forwarder \(bare Node\.js cache \+ fresh-port forwarding\) ÷ ceiling: [\d.]+ per CPU-second, together on one core \(median of rounds [\d.]+, [\d.]+\)/);
    assert.match(md, /- ndots: forwarder \(bare Node\.js cache \+ fresh-port forwarding\) ÷ ceiling: [\d.]+ per CPU-second, together on one core \(median of rounds [\d.]+, [\d.]+\)/);
    assert.match(md, /- mixed: forwarder-shared \(the same on one shared upstream socket: no fresh port\) ÷ ceiling: [\d.]+/);
    assert.equal(json.context.length, 3, 'nodedns not run: only forwarder ÷ ceiling (mixed, ndots) and forwarder-shared ÷ ceiling');
    assert.ok(startedPids(r.out).every((p) => !alive(p)), 'servers stopped');
    assert.equal(fs.existsSync(/work dir (\S+)/.exec(r.out)![1]), false, 'work dir removed');
  });

  it('runs together a set of its own, over names new to all, with no nodedns refresh in the run', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const r = await runBench(['--quick', '--duration', '1', '--rounds', '1', '--servers', 'ceiling,nodedns', '--workloads', 'ndots',
      '--no-memory', '--no-fixed-rate', '--no-metrics-cost', '--out', out], undefined, 240_000);
    assert.equal(r.code, 0, r.out);
    // two of each: the set in turns on 127.0.77.x, the set together on 127.0.76.x
    for (const [s, n] of [['ceiling', 2], ['nodedns', 3]]) {
      assert.match(r.out, new RegExp(`${s} pid \\d+ on 127\\.0\\.77\\.${n}:`));
      assert.match(r.out, new RegExp(`${s} pid \\d+ on 127\\.0\\.76\\.${n}:`));
    }
    assert.equal(startedPids(r.out).length, 4, r.out);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    type T = { server: string; workload: string; rcodes: Record<string, number>; refreshes?: number; misses?: number };
    const nodedns = (json.together as T[]).filter((x) => x.server === 'nodedns');
    assert.equal(nodedns.length, 1, JSON.stringify(json.together));
    // nodedns' own counters (CH TXT cache.nodedns) around the run: every name stored by the
    // warm-up, none refreshed or fetched in it
    assert.deepEqual([nodedns[0].refreshes, nodedns[0].misses], [0, 0], JSON.stringify(nodedns[0]));
    assert.ok(nodedns[0].rcodes.NXDOMAIN > nodedns[0].rcodes.NOERROR * 2 && nodedns[0].rcodes.NOERROR > 100, JSON.stringify(nodedns[0].rcodes));
    const md = fs.readFileSync(path.join(out, 'quick.md'), 'utf8');
    assert.match(md, /\| nodedns \| [\d,]+ \| .* \| 0, 0 \|$/m);
    assert.ok(startedPids(r.out).every((p) => !alive(p)), 'servers stopped');
  });

  it('measures the cost of metrics with two nodedns together on one core', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const r = await runBench(['--quick', '--duration', '1', '--servers', 'nodedns', '--workloads', 'hits', '--no-memory', '--no-fixed-rate',
      '--metrics-cost', '--metrics-rounds', '2', '--out', out]);
    assert.equal(r.code, 0, r.out);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    const mc = json.metricsCost;
    assert.equal(mc.offQps.length, 2);
    assert.equal(mc.onQps.length, 2);
    for (const x of [...mc.offQpsPerCpu, ...mc.onQpsPerCpu]) assert.ok(x > 1000, `QPS per CPU-second ${x}`);
    assert.equal(typeof mc.togetherCostPercent, 'number');
    assert.match(r.out, /nodedns-metrics-off r1 together \d+ QPS {2}CPU \d+%/);
    assert.match(r.out, /nodedns-metrics-on {2}r1 together \d+ QPS {2}CPU \d+%/);
    assert.ok(!json.notes.some((n: string) => n.includes('served no /metrics')), 'the "on" one served /metrics');
    const target = json.targets.find((x: { target: string }) => x.target.startsWith('metrics on costs'));
    assert.match(target.measured, /% per CPU-second, together on one core \(median of 2 rounds; /);
    assert.ok(startedPids(r.out).every((p) => !alive(p)), 'servers stopped');
    assert.deepEqual(benchProcesses(/work dir (\S+)/.exec(r.out)![1]), [], 'both nodedns of the comparison stopped');
  });

  it('measures nodedns at rest as a DaemonSet runs it (the Kubernetes API on), and CPU at a typical rate beside a peer', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const r = await runBench(['--quick', '--duration', '1', '--servers', 'nodedns,dnsmasq', '--workloads', 'hits', '--fixed-duration', '2',
      '--idle', '2', '--out', out]);
    assert.equal(r.code, 0, r.out);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    const f = json.footprint;
    assert.equal(f.processes, 1, 'one nodedns process at defaults');
    // the shipped DaemonSet's own ConfigMap too (daemonset/base/configmap.yaml)
    assert.match(f.command, /--kube-api --config-map kube-system\/nodedns --kubeconfig <in-test API server>/);
    if (netnsUnavailable()) {
      assert.equal(f.nodeSetup.on, false);
      assert.ok(json.notes.some((n: string) => n.includes('node setup OFF')), 'a run without namespaces says so');
    } else {
      assert.equal(f.nodeSetup.on, true, JSON.stringify(f.nodeSetup));
      assert.match(f.command, /^MALLOC_ARENA_MAX=2 ip netns exec <node namespace> node /);
    }
    assert.ok(f.idleMiB > 20 && f.fullMiB > f.idleMiB, `idle ${f.idleMiB} MiB, full ${f.fullMiB} MiB`);
    // both caches (9,984 each at defaults) filled: most of the 10,000 + 10,000 answers came back
    assert.ok(f.positive > 9_000 && f.negative > 9_000, `${f.positive} NOERROR, ${f.negative} NXDOMAIN`);
    assert.ok(f.idleCpuS >= 2 && f.idleCpuPct >= 0, JSON.stringify(f));
    const mem = (target: string) => json.targets.find((x: { target: string }) => x.target.startsWith(target));
    assert.notEqual(mem('memory idle').verdict, 'n/a');
    assert.notEqual(mem('idle CPU').verdict, 'n/a');
    type T = { server: string; qps: number; serverCpuPct: number; targetQps: number };
    assert.deepEqual((json.typical as T[]).map((x) => x.server).sort(), ['dnsmasq', 'nodedns']);
    for (const x of json.typical as T[]) assert.ok(x.targetQps === 1000 && x.qps > 0 && x.serverCpuPct > 0, JSON.stringify(x));
    assert.match(fs.readFileSync(path.join(out, 'quick.md'), 'utf8'), /## CPU at 1,000 QPS of the mixed workload/);
    assert.equal(startedPids(r.out).length, 4, 'nodedns and dnsmasq measured, then each started afresh for the typical rate');
    assert.ok(startedPids(r.out).every((p) => !alive(p)), 'servers stopped');
    assert.deepEqual(benchProcesses(/work dir (\S+)/.exec(r.out)![1]), [], 'the footprint nodedns stopped too');
  });

  it('says so, never silently, when nodedns at rest runs with node setup off', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    // what a machine without network namespaces gets; --at-rest-setup-off asks for it anywhere
    const r = await runBench(['--quick', '--at-rest-only', '--at-rest-setup-off', '--idle', '2', '--out', out]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /nodedns footprint: node setup OFF \(asked for with --at-rest-setup-off\)/);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    assert.deepEqual(json.footprint.nodeSetup, { on: false, why: 'asked for with --at-rest-setup-off' });
    assert.match(json.footprint.command, /^MALLOC_ARENA_MAX=2 node --max-semi-space-size=2 --no-maglev --expose-gc dist\/cli\.js run --local-ip 127\.0\.77\.3 --port \d+ --no-setup-interface --firewall none /);
    assert.ok(json.notes.some((n: string) => n.startsWith('nodedns at rest was measured with node setup OFF')), json.notes.join('\n'));
    const md = fs.readFileSync(path.join(out, 'quick.md'), 'utf8');
    assert.match(md, /## nodedns at rest, as a DaemonSet runs it \(defaults, node setup OFF, Kubernetes API on\)\n\n\*\*Node setup was off\*\*/);
    assert.match(md, /\| memory idle: [^|]+\| [\d.]+ MiB \(1 process, node setup OFF, Kubernetes API on\) \|/);
  });

  it('stops every process it started on Ctrl-C (SIGINT)', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    let workDir = '';
    let interrupted = false;
    // A full run (not --quick), as make bench starts it, but without the wait for a quiet
    // machine: a test never waits for an idle machine (--settle 0).
    const r = await runBench(['--duration', '20', '--settle', '0', '--servers', 'dnsmasq', '--workloads', 'hits', '--no-memory', '--no-fixed-rate',
      '--no-metrics-cost', '--out', out], (line, pid) => {
      workDir ||= /work dir (\S+)/.exec(line)?.[1] ?? '';
      // dnsmasq is up and its 20 s dnsperf run is starting: interrupt in the middle of it.
      if (!interrupted && / pid \d+ on /.test(line)) {
        interrupted = true;
        setTimeout(() => process.kill(pid, 'SIGINT'), 1500);
      }
    });
    assert.ok(interrupted, r.out);
    assert.equal(r.code, 130, r.out);
    assert.match(r.out, /SIGINT: stopping every process the benchmark started/);
    assert.doesNotMatch(r.out, /waiting up to \d+ s for the load average/, '--settle 0: no wait for a quiet machine');
    assert.ok(workDir);
    assert.deepEqual(benchProcesses(workDir), [], 'no knotd, dnsmasq or dnsperf left');
    assert.ok(startedPids(r.out).every((p) => !alive(p)));
    assert.equal(fs.existsSync(path.join(out, 'latest.md')), false, 'no results from an interrupted run');
  });
});

// The at-rest part as the budget names it: node setup on, in network namespaces the
// benchmark creates, and deletes again whether it finishes or is interrupted, leaving the
// machine's own namespace as it was.
describe('make bench: nodedns at rest with node setup on (network namespaces)', { skip: netnsUnavailable() }, () => {
  const rootNetwork = () => ['addr', 'route', 'rule'].map((what) => spawnSync('ip', ['-o', what, 'show'], { encoding: 'utf8' }).stdout).join('\n');
  const namespaces = () => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  const ours = (out: string) => /in network namespace (ndt-\w+)-node/.exec(out)?.[1];

  it('measures it in a node namespace (iptables through --firewall auto, the fill from a pod namespace) and deletes them after', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    const before = rootNetwork();
    // 12 s idle: at least one resync (every 10 s), whose iptables the idle CPU counts
    const r = await runBench(['--quick', '--at-rest-only', '--idle', '12', '--out', out]);
    assert.equal(r.code, 0, r.out);
    const lab = ours(r.out);
    assert.ok(lab, r.out);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(`${lab}-`)), [], 'node, pod and dns namespaces deleted');
    assert.equal(rootNetwork(), before, 'the machine\'s own addresses, routes and rules untouched');
    const json = JSON.parse(fs.readFileSync(path.join(out, 'quick.json'), 'utf8'));
    const f = json.footprint;
    assert.deepEqual(f.nodeSetup, { on: true, netns: `${lab}-node`, firewall: 'iptables-nft' }, 'auto picks iptables-nft from kube-proxy\'s rules');
    assert.equal(f.processes, 1, 'nodedns alone: the iptables of its resync are not its memory');
    assert.ok(f.idleMiB > 30 && f.fullMiB > f.idleMiB + 5, `idle ${f.idleMiB} MiB, full ${f.fullMiB} MiB`);
    assert.ok(f.positive > 9_900 && f.negative > 9_900, `${f.positive} NOERROR, ${f.negative} NXDOMAIN through the ClusterIP`);
    assert.ok(f.idleCpuS >= 12 && f.idleCpuPct > 0, JSON.stringify(f));
    assert.deepEqual(json.measurements, [], 'only the at-rest part ran');
    const md = fs.readFileSync(path.join(out, 'quick.md'), 'utf8');
    assert.match(md, /## nodedns at rest, as a DaemonSet runs it \(defaults, node setup on \(iptables-nft\), in a network namespace, Kubernetes API on\)/);
    assert.match(md, /`MALLOC_ARENA_MAX=2 ip netns exec <node namespace> node --max-semi-space-size=2 --no-maglev --expose-gc dist\/cli\.js run --metrics-addr 10\.200\.0\.1:9253 --lock-file <dir>\/owner\.sock --kube-api /);
    for (const target of ['memory idle', 'memory full', 'idle CPU']) {
      const x = json.targets.find((y: { target: string }) => y.target.startsWith(target));
      assert.match(x.measured, /node setup on \(iptables-nft\), in a network namespace/, target);
      assert.notEqual(x.verdict, 'n/a', target);
    }
    assert.deepEqual(benchProcesses(/work dir (\S+)/.exec(r.out)![1]), [], 'nodedns, Knot, the relay stopped');
  });

  it('deletes them on Ctrl-C in the middle of the idle window', async (t) => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-run-'));
    t.after(() => fs.rmSync(out, { recursive: true, force: true }));
    let lab: string | undefined;
    let seen: string[] = [];
    const apiDirs = () => fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('nodedns-fakeapi-'));
    const dirsBefore = new Set(apiDirs());
    const r = await runBench(['--quick', '--at-rest-only', '--idle', '60', '--out', out], (line, pid) => {
      if (lab) return;
      lab = ours(line);
      if (lab) setTimeout(() => { seen = namespaces(); process.kill(pid, 'SIGINT'); }, 6000);
    });
    assert.ok(lab, r.out);
    assert.equal(r.code, 130, r.out);
    assert.ok(seen.includes(`${lab}-node`), `the node namespace existed while it ran: ${seen.join(' ')}`);
    assert.deepEqual(namespaces().filter((n) => n.startsWith(`${lab}-`)), [], 'node, pod and dns namespaces deleted');
    assert.deepEqual(benchProcesses(/work dir (\S+)/.exec(r.out)![1]), [], 'nothing left running');
    assert.deepEqual(apiDirs().filter((d) => !dirsBefore.has(d)), [], 'the in-test API server\'s directory removed');
  });
});
