// The benchmark's verdicts and table: ratios, PASS/MISS at the target boundaries, busy labels,
// the paired rounds (medians of same-round ratios, rows as medians of rounds), and the runs
// together on one core that the targets judge when they were made.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseBenchArgs, resultsName } from '../scripts/bench/args';
import {
  costPercent, disturbedRuns, evaluateTargets, forwarderContext, judgedRatio, machineWasBusy, median, pairedRatio, qpsPerCpu, qpsRatio, ratio, renderMarkdown,
  summarize, togetherCost, togetherRatio,
  type Measurement, type Results, type Workload,
} from '../scripts/bench/report';
import type { Footprint } from '../scripts/bench/footprint';

function m(server: string, workload: Workload, qps: number, extra: Partial<Measurement> = {}): Measurement {
  return {
    server, workload, qps, avgMs: 1, p99Ms: 2, sent: qps * 10, lost: 0, rcodes: { NOERROR: qps * 10 },
    rssMiB: 50, hwmMiB: 55, runTimeS: 10, serverCpuPct: 100, cpu0BusyPct: 105, clientCpuPct: 60, ...extra,
  };
}

/** A run of the paired phase (ceiling, forwarder, nodedns side by side). */
const pm = (server: string, workload: Workload, round: number, qps: number, extra: Partial<Measurement> = {}) =>
  m(server, workload, qps, { round, ...extra });

function results(over: Partial<Results> = {}): Results {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, kernel: '6.1', versions: { node: 'v20', unbound: '1.17' }, loadAvgStart: 0.1, loadAvgEnd: 2 },
    settings: { quick: false, durationS: 10, rounds: 1, outstanding: 100, fixedRateQps: 20000, hitNames: 1000, verboseLatency: true },
    measurements: [
      pm('ceiling', 'hits', 0, 100_000), pm('nodedns', 'hits', 0, 90_000), m('unbound', 'hits', 50_000),
      pm('forwarder', 'mixed', 0, 100_000), pm('nodedns', 'mixed', 0, 89_999),
      pm('forwarder', 'ndots', 0, 100_000), pm('nodedns', 'ndots', 0, 90_000),
    ],
    fixedRate: [
      { server: 'nodedns', targetQps: 20000, qps: 20000, avgMs: 0.2, p50Ms: 0.1, p99Ms: 0.8, lost: 0 },
      { server: 'unbound', targetQps: 20000, qps: 20000, avgMs: 0.1, p50Ms: 0.1, p99Ms: 0.4, lost: 0 },
    ],
    memory: [{ server: 'unbound', positive: 10000, negative: 10000, idleMiB: 16, filledMiB: 26.3, peakMiB: 26.3, bytesPerEntry: 513 }],
    footprint: footprint(),
    metricsCost: { offQps: [100, 102], onQps: [95, 97], costPercent: 5, offQpsPerCpu: [100], onQpsPerCpu: [99], costPerCpuPercent: 1 },
    skipped: [],
    notes: [],
    ...over,
  };
}

function footprint(over: Partial<Footprint> = {}): Footprint {
  return {
    command: 'node dist/cli.js run --kube-api', processes: 1, idleMiB: 72, fullMiB: 96, peakMiB: 97, positive: 10_000, negative: 10_000,
    idleCpuS: 60, idleCpuPct: 0.49, apiRequests: 3, nodeSetup: { on: true, netns: 'ndt-x-node', firewall: 'iptables-nft' }, ...over,
  };
}

/** The target whose text starts with `prefix` (hits, mixed, ndots, p99, memory idle, memory full, idle CPU, metrics). */
const target = (r: Results, prefix: string) => evaluateTargets(r).find((t) => t.target.startsWith(prefix))!;

const verdicts = (r: Results) => evaluateTargets(r).map((t) => t.verdict);

describe('bench targets', () => {
  it('passes exactly at the boundaries and misses just below them', () => {
    // hits 0.90 × ceiling PASS, mixed 0.89999 × forwarder MISS, ndots 0.90 × forwarder PASS, p99 2.0× PASS,
    // 72 MiB idle PASS, 96 MiB full PASS, idle CPU 0.49 % PASS, metrics 5% PASS
    assert.deepEqual(verdicts(results()), ['PASS', 'MISS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
    const worse = results({
      measurements: [pm('ceiling', 'hits', 0, 100_000), pm('nodedns', 'hits', 0, 89_900)],
      fixedRate: [
        { server: 'nodedns', targetQps: 20000, qps: 20000, avgMs: 0.2, p50Ms: 0.1, p99Ms: 0.81, lost: 0 },
        { server: 'unbound', targetQps: 20000, qps: 20000, avgMs: 0.1, p50Ms: 0.1, p99Ms: 0.4, lost: 0 },
      ],
      footprint: footprint({ idleMiB: 72.1, fullMiB: 96.1, idleCpuPct: 0.5 }),
      metricsCost: { offQps: [100], onQps: [94.9], costPercent: 5.1, offQpsPerCpu: [100], onQpsPerCpu: [99], costPerCpuPercent: 1 },
    });
    assert.deepEqual(verdicts(worse), ['MISS', 'n/a', 'n/a', 'MISS', 'MISS', 'MISS', 'MISS', 'MISS']);
  });

  it('says how node setup ran in the at-rest lines and section: on in a namespace, or OFF and why', () => {
    const on = results({ footprint: footprint({ nodeSetup: { on: true, netns: 'ndt-x-node', firewall: 'iptables-nft' } }) });
    for (const prefix of ['memory idle', 'memory full', 'idle CPU']) {
      assert.match(target(on, prefix).measured, /node setup on \(iptables-nft\), in a network namespace/, prefix);
    }
    assert.match(renderMarkdown(on), /## nodedns at rest, as a DaemonSet runs it \(defaults, node setup on \(iptables-nft\), in a network namespace, Kubernetes API on\)/);
    assert.doesNotMatch(renderMarkdown(on), /Node setup was off/);
    const off = results({ footprint: footprint({ nodeSetup: { on: false, why: 'network namespace tests need root' } }) });
    assert.match(target(off, 'memory idle').measured, /node setup OFF/);
    assert.match(renderMarkdown(off), /\*\*Node setup was off\*\* \(network namespace tests need root\): the budget is for node setup on/);
    // results from before the at-rest part ran with node setup on
    assert.match(target(results({ footprint: footprint({ nodeSetup: undefined }) }), 'idle CPU').measured, /node setup off\)/);
  });

  it('says n/a, never PASS, for what was not measured', () => {
    const r = results({ measurements: [m('ceiling', 'hits', 1000)], fixedRate: [], memory: [], footprint: undefined, metricsCost: undefined });
    assert.deepEqual(verdicts(r), ['n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    assert.ok(evaluateTargets(r).every((t) => t.measured === 'not measured'));
  });

  it('computes ratios, medians and per-CPU throughput', () => {
    assert.equal(ratio(3, 2), 1.5);
    assert.ok(Number.isNaN(ratio(3, 0)));
    assert.ok(Number.isNaN(ratio(undefined, 2)));
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.equal(costPercent([100, 90, 110], [95]), 5);
    assert.equal(qpsPerCpu(m('x', 'hits', 30_000, { serverCpuPct: 50 })), 60_000);
    const perCpu = evaluateTargets(results({
      measurements: [pm('ceiling', 'hits', 0, 100_000, { serverCpuPct: 50 }), pm('nodedns', 'hits', 0, 60_000, { serverCpuPct: 40 })],
    }))[0];
    assert.equal(perCpu.measured, '0.60 × ceiling (per CPU-second 0.75)');
  });
});

describe('bench table', () => {
  it('shows machine, every server row with its ratios, and the targets', () => {
    const md = renderMarkdown(results());
    assert.match(md, /Machine: Test CPU, 2 cores, Linux 6\.1/);
    assert.match(md, /Versions: node v20, unbound 1\.17/);
    assert.match(md, /\| nodedns \| 90,000 \| 0\.90 \| {2}\| 1\.000 \| 2\.000 \| 0 \| 50\.0 \| 100 \| 90,000 \| {2}\|/);
    assert.match(md, /\| unbound \| 50,000 \| 0\.50 \| 1\.80 \|/);
    assert.match(md, /\| ceiling \| 100,000 \| 1\.00 \| 0\.90 \|/);
    assert.match(md, /\| mixed: nodedns QPS ≥ 0\.90 × forwarder \(fresh port per miss\) \| 0\.90 × forwarder \(per CPU-second 0\.90\) \| MISS \|/);
    assert.match(md, /\| unbound \| 16\.0 \| 26\.3 \| 26\.3 \| 513 \|/);
    assert.match(md, /## nodedns at rest, as a DaemonSet runs it \(defaults, node setup on \(iptables-nft\), in a network namespace, Kubernetes API on\)\n\nIn network namespaces the benchmark creates and deletes: .*`node dist\/cli\.js run --kube-api`/);
    assert.match(md, /\| 1 \| 72\.0 \| 96\.0 \| 97\.0 \| 0\.49 \| 60 s \|/);
    assert.match(md, /\| memory idle: RSS of every nodedns process ≤ 72 MiB at defaults, node setup on \| 72\.0 MiB \(1 process, node setup on \(iptables-nft\), in a network namespace, Kubernetes API on\) \| PASS \|/);
    assert.match(md, /\| idle CPU: < 0\.5 % of a core with no queries, node setup on \| 0\.49 % over 60 s \(node setup on \(iptables-nft\), in a network namespace\) \| PASS \|/);
    assert.doesNotMatch(md, /busy machine/);
    // nodedns first, then peers, then the ceiling
    const hits = md.slice(md.indexOf('## cache hits'), md.indexOf('## mixed'));
    assert.ok(hits.indexOf('| nodedns') < hits.indexOf('| unbound') && hits.indexOf('| unbound') < hits.indexOf('| ceiling'));
  });

  it('labels a run on a busy machine and lists errors, skips and notes', () => {
    const r = results({
      measurements: [pm('nodedns', 'hits', 0, 1000, { serverCpuPct: 40, cpu0BusyPct: 100, rcodes: { NOERROR: 10, SERVFAIL: 3 } })],
      skipped: [{ server: 'dnsmasq', reason: 'did not start' }],
      notes: ['a note'],
    });
    assert.ok(machineWasBusy(r));
    const md = renderMarkdown(r);
    assert.match(md, /Development run on a busy machine/);
    // throughput verdicts are flagged, memory (not load-dependent) is not
    assert.match(md, /\| hits: nodedns QPS ≥ 0\.90 × ceiling \| not measured \| n\/a \|/);
    assert.match(md, /\| p99 at .* \| PASS, unreliable \(busy machine\) \|/);
    assert.match(md, /≤ 96 MiB with both caches full .* \| PASS \|/);
    assert.deepEqual(evaluateTargets(r).map((t) => t.reliable), [false, false, false, false, true, true, true, false]);
    assert.ok(evaluateTargets(results()).every((t) => t.reliable));
    assert.match(md, /\| SERVFAIL 3 \|/);
    assert.match(md, /- dnsmasq not measured: did not start/);
    assert.match(md, /- a note/);
    assert.ok(machineWasBusy(results({ machine: { ...results().machine, loadAvgStart: 1.5 } })));
  });
});

describe('host disturbance (steal time)', () => {
  it('flags a run the hypervisor took CPU from, names it, and leaves a quiet run alone', () => {
    const quiet = results({ measurements: [pm('ceiling', 'hits', 0, 100_000, { stealPct: 2 }), pm('nodedns', 'hits', 0, 90_000, { stealPct: 10 })] });
    assert.deepEqual(disturbedRuns(quiet), []);
    assert.equal(machineWasBusy(quiet), false);
    const hit = results({ measurements: [pm('ceiling', 'hits', 1, 5_000, { stealPct: 64.4 }), pm('nodedns', 'hits', 1, 40_000, { stealPct: 3 })] });
    assert.deepEqual(disturbedRuns(hit), ['ceiling-hits-r1 64%']);
    assert.ok(machineWasBusy(hit));
    assert.match(renderMarkdown(hit), /the host took more than 10% of a CPU \(steal time\) in ceiling-hits-r1 64%/);
    assert.equal(machineWasBusy(results()), false, 'results from before steal was recorded are not flagged for it');
  });
});

describe('bench options', () => {
  it('has full and quick defaults', () => {
    const full = parseBenchArgs([]);
    assert.equal(full.durationS, 6);
    assert.equal(full.rounds, 3);
    assert.equal(full.metricsCost, true);
    assert.deepEqual(full.servers, ['ceiling', 'forwarder', 'forwarder-shared', 'nodedns', 'unbound', 'dnsmasq']);
    const quick = parseBenchArgs(['--quick']);
    assert.equal(quick.durationS, 2);
    assert.equal(quick.rounds, 1);
    assert.equal(parseBenchArgs(['--quick', '--rounds', '4']).rounds, 4);
    assert.equal(quick.metricsCost, false);
    assert.equal(parseBenchArgs(['--quick', '--metrics-cost']).metricsCost, true);
  });

  it('waits for a quiet machine only in a full run, and only as long as --settle says', () => {
    assert.equal(parseBenchArgs([]).settleS, 120);
    assert.equal(parseBenchArgs(['--quick']).settleS, 0);
    assert.equal(parseBenchArgs(['--settle', '0']).settleS, 0);
    assert.equal(resultsName(parseBenchArgs(['--settle', '0'])), 'latest', 'the wait is not a part of the results');
    assert.throws(() => parseBenchArgs(['--settle', '-1']), /--settle needs a whole number ≥ 0/);
    assert.throws(() => parseBenchArgs(['--settle', '601']), /--settle: at most 600 s/);
  });

  it('runs the paired servers together in each round unless --no-together', () => {
    assert.equal(parseBenchArgs([]).together, true);
    assert.equal(parseBenchArgs(['--quick']).together, true);
    assert.equal(parseBenchArgs(['--no-together']).together, false);
  });

  it('replaces latest.* only with a full run; a run of some pieces writes partial.*', () => {
    assert.equal(resultsName(parseBenchArgs([])), 'latest');
    assert.equal(resultsName(parseBenchArgs(['--rounds', '5', '--duration', '10'])), 'latest', 'longer is still full');
    assert.equal(resultsName(parseBenchArgs(['--quick'])), 'quick');
    for (const part of [['--servers', 'nodedns,ceiling'], ['--workloads', 'hits'], ['--no-memory'], ['--no-fixed-rate'], ['--no-metrics-cost'], ['--no-together'],
      ['--at-rest-only'], ['--at-rest-setup-off']]) {
      assert.equal(resultsName(parseBenchArgs(part)), 'partial', part.join(' '));
    }
  });

  it('reads lists in canonical order and rejects what it does not know, saying why', () => {
    assert.deepEqual(parseBenchArgs(['--servers', 'dnsmasq,nodedns']).servers, ['nodedns', 'dnsmasq']);
    assert.deepEqual(parseBenchArgs(['--workloads', 'ndots,hits']).workloads, ['hits', 'ndots']);
    assert.throws(() => parseBenchArgs(['--servers', 'coredns']), /"coredns" is not one of ceiling, forwarder, forwarder-shared, nodedns, unbound, dnsmasq/);
    assert.throws(() => parseBenchArgs(['--rounds', '0']), /--rounds needs a whole number ≥ 1/);
    assert.throws(() => parseBenchArgs(['--duration', '0']), /--duration needs a whole number ≥ 1/);
    assert.throws(() => parseBenchArgs(['--duration', '120']), /at most 60 s/);
    assert.throws(() => parseBenchArgs(['--bogus']), /unknown option "--bogus"/);
    assert.throws(() => parseBenchArgs(['--at-rest-only', '--no-memory']), /leave nothing to measure/);
  });
});

describe('bench paired rounds', () => {
  // Ceiling QPS drifts 100k → 50k → 80k across rounds; nodedns keeps 0.90, 0.80, 0.70 of it.
  const drifting = () => [
    pm('ceiling', 'mixed', 0, 100_000), pm('nodedns', 'mixed', 0, 90_000, { serverCpuPct: 90 }),
    pm('ceiling', 'mixed', 1, 50_000), pm('nodedns', 'mixed', 1, 40_000, { serverCpuPct: 100 }),
    pm('ceiling', 'mixed', 2, 80_000), pm('nodedns', 'mixed', 2, 56_000, { serverCpuPct: 80 }),
  ];

  /** The same rounds with the forwarder in the ceiling's place: what the mixed target judges. */
  const asForwarder = (ms: Measurement[]) => ms.map((x) => (x.server === 'ceiling' ? { ...x, server: 'forwarder' } : x));

  it('takes the median of same-round ratios, not the ratio of medians (odd number of rounds)', () => {
    const p = pairedRatio(results({ measurements: drifting() }), 'nodedns', 'ceiling', 'mixed');
    assert.deepEqual(p.rounds.map((x) => x.toFixed(2)), ['0.90', '0.80', '0.70']);
    assert.equal(p.ratio, 0.8); // the ratio of the medians would be 56k / 80k = 0.70
    assert.equal(p.perCpu, 0.875); // per CPU-second 1.00, 0.80, 0.875
    const t = target(results({ measurements: asForwarder(drifting()), settings: { ...results().settings, rounds: 3 } }), 'mixed');
    assert.equal(t.measured, '0.80 × forwarder (rounds 0.90, 0.80, 0.70; per CPU-second 0.88)');
    assert.equal(t.verdict, 'MISS');
  });

  it('averages the middle two of an even number of rounds', () => {
    const p = pairedRatio(results({ measurements: drifting().filter((x) => x.round !== 2) }), 'nodedns', 'ceiling', 'mixed');
    assert.ok(Math.abs(p.ratio - 0.85) < 1e-12);
    assert.equal(p.rounds.length, 2);
  });

  it('pairs only rounds both servers ran: a round missing for one is left out and shown as –', () => {
    const r = results({ measurements: drifting().filter((x) => !(x.server === 'ceiling' && x.round === 1)) });
    const p = pairedRatio(r, 'nodedns', 'ceiling', 'mixed');
    assert.ok(Math.abs(p.ratio - 0.8) < 1e-12); // median of 0.90 and 0.70
    assert.ok(Number.isNaN(p.rounds[1]));
    assert.match(target(results({ measurements: asForwarder(r.measurements) }), 'mixed').measured, /^0\.80 × forwarder \(rounds 0\.90, –, 0\.70; per CPU-second /);
    // no round in common: not measured, never PASS
    const apart = results({ measurements: [pm('forwarder', 'mixed', 0, 100), pm('nodedns', 'mixed', 1, 90)] });
    assert.equal(target(apart, 'mixed').verdict, 'n/a');
  });

  it('summarizes a server\'s rounds as medians, summing what must not be hidden', () => {
    const s = summarize([
      pm('nodedns', 'hits', 0, 30, { p99Ms: 5, lost: 1, rcodes: { NOERROR: 10 } }),
      pm('nodedns', 'hits', 1, 10, { p99Ms: 1, lost: 0, rcodes: { NOERROR: 10, SERVFAIL: 2 } }),
      pm('nodedns', 'hits', 2, 20, { p99Ms: 3, lost: 0, rcodes: { NOERROR: 10 } }),
    ])!;
    assert.equal(s.med.qps, 20);
    assert.equal(s.med.p99Ms, 3);
    assert.equal(s.med.lost, 1);
    assert.deepEqual(s.med.rcodes, { NOERROR: 30, SERVFAIL: 2 });
    assert.equal(s.med.round, undefined);
    assert.equal(s.perCpu, 20);
    assert.equal(summarize([]), undefined);
  });

  it('compares a peer, measured alone, with the ceiling\'s median QPS', () => {
    const r = results({ measurements: [...drifting(), m('unbound', 'mixed', 120_000)] });
    assert.equal(qpsRatio(r, 'unbound', 'ceiling', 'mixed'), 1.5);
    assert.equal(qpsRatio(r, 'nodedns', 'unbound', 'mixed'), 56_000 / 120_000);
    assert.equal(qpsRatio(r, 'nodedns', 'ceiling', 'mixed'), 0.8); // paired
  });

  it('renders medians, each round\'s QPS, and the forwarder as context, not a target', () => {
    const fw = [pm('forwarder', 'mixed', 0, 60_000), pm('forwarder', 'mixed', 1, 25_000), pm('forwarder', 'mixed', 2, 40_000)];
    const r = results({
      measurements: [...drifting(), ...fw, m('unbound', 'mixed', 120_000)],
      settings: { ...results().settings, rounds: 3 },
    });
    const md = renderMarkdown(r);
    assert.match(md, /in 3 interleaved rounds per workload/);
    assert.match(md, /The forwarder \(scripts\/bench\/forwarder\.ts\) is the least a Node\.js caching forwarder can do/);
    assert.match(md, /\| server \| QPS \| QPS by round \| ÷ ceiling \| nodedns ÷ this \|/);
    assert.match(md, /\| nodedns \| 56,000 \| 90,000 \/ 40,000 \/ 56,000 \| 0\.80 \| {2}\|/);
    // forwarder ÷ ceiling 0.60, 0.50, 0.50; nodedns ÷ forwarder 1.50, 1.60, 1.40
    assert.match(md, /\| forwarder \| 40,000 \| 60,000 \/ 25,000 \/ 40,000 \| 0\.50 \| 1\.50 \|/);
    assert.match(md, /\| ceiling \| 80,000 \| 100,000 \/ 50,000 \/ 80,000 \| 1\.00 \| 0\.80 \|/);
    assert.match(md, /\| unbound \| 120,000 \| {2}\| 1\.50 \| 0\.47 \|/);
    const mixed = md.slice(md.indexOf('## mixed'), md.indexOf('## Targets'));
    assert.ok(['| nodedns', '| unbound', '| forwarder', '| ceiling'].map((x) => mixed.indexOf(x)).every((i, k, a) => i > 0 && (k === 0 || i > a[k - 1])));
    assert.deepEqual(forwarderContext(r), [
      'mixed: forwarder (bare Node.js cache + fresh-port forwarding) ÷ ceiling: 0.50 (median of rounds 0.60, 0.50, 0.50)',
      'mixed: nodedns ÷ forwarder: 1.50 (median of rounds 1.50, 1.60, 1.40)',
    ]);
    assert.match(md, /Context, not targets .*\n\n- mixed: forwarder \(bare Node\.js cache \+ fresh-port forwarding\) ÷ ceiling: 0\.50/);
    assert.equal(evaluateTargets(r).length, 8, 'the forwarder adds no target');
    // one round: no per-round column, no list of one
    const one = renderMarkdown(results());
    assert.doesNotMatch(one, /QPS by round|interleaved/);
  });

  it('shows the shared-socket forwarder beside the fresh-port one, after it in the table', () => {
    const fw = [pm('forwarder', 'mixed', 0, 40_000), pm('forwarder', 'mixed', 1, 25_000), pm('forwarder', 'mixed', 2, 40_000)];
    const shared = [pm('forwarder-shared', 'mixed', 0, 70_000), pm('forwarder-shared', 'mixed', 1, 30_000), pm('forwarder-shared', 'mixed', 2, 56_000)];
    const r = results({ measurements: [...drifting(), ...shared, ...fw], settings: { ...results().settings, rounds: 3 } });
    // the ceiling's rounds are 100,000, 50,000 and 80,000: 0.70, 0.60, 0.70
    assert.deepEqual(forwarderContext(r).filter((c) => c.includes('forwarder-shared')), [
      'mixed: forwarder-shared (the same on one shared upstream socket: no fresh port) ÷ ceiling: 0.70 (median of rounds 0.70, 0.60, 0.70)',
    ]);
    const md = renderMarkdown(r);
    assert.match(md, /forwarder-shared is the same forwarder sending every miss on one upstream socket/);
    const mixed = md.slice(md.indexOf('## mixed'), md.indexOf('## Targets'));
    assert.ok(['| nodedns', '| forwarder |', '| forwarder-shared', '| ceiling'].map((x) => mixed.indexOf(x)).every((i, k, a) => i > 0 && (k === 0 || i > a[k - 1])));
    assert.equal(evaluateTargets(r).length, 8, 'no target of its own');
  });
});

describe('bench runs together on one core', () => {
  // In turns the host moved the ratio 0.95 → 0.70 → 0.78; together, each server's QPS per
  // CPU-second held: nodedns 0.91 and 0.89 of the ceiling's, the forwarder 0.92 and 0.94.
  const turns = () => [
    pm('ceiling', 'hits', 0, 50_000), pm('nodedns', 'hits', 0, 47_500), pm('forwarder', 'hits', 0, 48_000),
    pm('ceiling', 'hits', 1, 60_000), pm('nodedns', 'hits', 1, 42_000), pm('forwarder', 'hits', 1, 55_000),
  ];
  const together = () => [
    pm('ceiling', 'hits', 0, 20_000, { serverCpuPct: 33 }), pm('nodedns', 'hits', 0, 18_200, { serverCpuPct: 33 }),
    pm('forwarder', 'hits', 0, 18_400, { serverCpuPct: 33 }),
    pm('ceiling', 'hits', 1, 20_000, { serverCpuPct: 30 }), pm('nodedns', 'hits', 1, 19_580, { serverCpuPct: 33 }),
    pm('forwarder', 'hits', 1, 20_680, { serverCpuPct: 33 }),
  ];
  const both = (over: Partial<Results> = {}) => results({ measurements: turns(), together: together(), settings: { ...results().settings, rounds: 2 }, ...over });

  it('judges by QPS per CPU-second together, and shows the QPS ratio and the runs in turns beside it', () => {
    const t = togetherRatio(both(), 'nodedns', 'ceiling', 'hits');
    assert.deepEqual(t.perCpuRounds.map((x) => x.toFixed(2)), ['0.91', '0.89']); // 19,580 / 33 ÷ 20,000 / 30 = 0.89
    assert.deepEqual(t.rounds.map((x) => x.toFixed(3)), ['0.910', '0.979']); // the QPS ratio counts the unequal share too
    const j = judgedRatio(both(), 'nodedns', 'ceiling', 'hits');
    assert.equal(j.together, true);
    assert.ok(Math.abs(j.value - 0.9) < 1e-12);
    const hits = evaluateTargets(both())[0];
    assert.equal(hits.measured, '0.900 × ceiling per CPU-second, together on one core (rounds 0.91, 0.89; QPS 0.94); ' +
      'in turns 0.82 (rounds 0.95, 0.70; per CPU-second 0.82)');
    assert.equal(hits.verdict, 'PASS');
    // just below the line together, PASS in turns: the runs together decide
    const below = both({ together: together().map((x) => (x.server === 'nodedns' && x.round === 1 ? { ...x, qps: 19_540 } : x)) });
    assert.equal(evaluateTargets(below)[0].verdict, 'MISS');
    assert.match(evaluateTargets(below)[0].measured, /^0\.899 × ceiling per CPU-second/, 'never rounded up to the target it misses');
  });

  it('stays reliable on a busy host, where the runs in turns are not', () => {
    const busy = (x: Measurement) => ({ ...x, stealPct: 40 });
    const r = both({ measurements: turns().map(busy), together: together().map(busy) });
    assert.ok(machineWasBusy(r));
    const [hits] = evaluateTargets(r);
    assert.equal(hits.reliable, true);
    assert.match(renderMarkdown(r), /\| hits: nodedns QPS ≥ 0\.90 × ceiling \| 0\.900 × ceiling per CPU-second, together on one core .*\| PASS \|/);
    const inTurnsOnly = results({ measurements: turns().map(busy), settings: { ...results().settings, rounds: 2 } });
    assert.equal(evaluateTargets(inTurnsOnly)[0].reliable, false);
  });

  it('judges the cost of metrics from the rounds off and on ran together', () => {
    // per round, on ÷ off per CPU-second: 0.97, 0.99, 0.90 (a round the "on" one lost): median 0.97
    const mc = { offQps: [20_000, 21_000, 20_000], onQps: [19_400, 20_790, 18_000], costPercent: 5.2,
      offQpsPerCpu: [40_000, 42_000, 40_000], onQpsPerCpu: [38_800, 41_580, 36_000], costPerCpuPercent: 7.5 };
    assert.ok(Math.abs(togetherCost(mc.offQpsPerCpu, mc.onQpsPerCpu) - 3) < 1e-9);
    const r = results({ metricsCost: { ...mc, togetherCostPercent: togetherCost(mc.offQpsPerCpu, mc.onQpsPerCpu) } });
    const t = target(r, 'metrics');
    assert.equal(t.measured, '3.0% per CPU-second, together on one core (median of 3 rounds; QPS 20,000 off, 19,400 on)');
    assert.equal(t.verdict, 'PASS', 'in turns the medians would say 5.2%: a MISS');
    assert.equal(target(results({ metricsCost: mc }), 'metrics').verdict, 'MISS');
    assert.equal(target(results({ metricsCost: { ...mc, togetherCostPercent: 5.01 } }), 'metrics').verdict, 'MISS');
    const busy = results({ metricsCost: { ...mc, togetherCostPercent: 3 }, machine: { ...results().machine, loadAvgStart: 3 } });
    assert.equal(evaluateTargets(busy)[5].reliable, true);
    assert.match(renderMarkdown(r), /Together on one core, two nodedns \(metrics off, metrics on\) at once, each with its own dnsperf, in 3 rounds: off 20,000, 21,000, 20,000 QPS; on 19,400, 20,790, 18,000 QPS\. .*cost 3\.0% \(median of the rounds' on ÷ off\)\./);
  });

  it('falls back to the runs in turns where nothing ran together', () => {
    const r = both({ together: together().filter((x) => x.server !== 'ceiling') });
    const j = judgedRatio(r, 'nodedns', 'ceiling', 'hits');
    assert.equal(j.together, false);
    assert.equal(evaluateTargets(r)[0].measured, '0.82 × ceiling (rounds 0.95, 0.70; per CPU-second 0.82)');
  });

  it('renders a table of the runs together under the workload, and the context from them', () => {
    const md = renderMarkdown(both());
    assert.match(md, /Then, in each round of each workload, the servers together \(a set of their own, below\): all at once on CPU 0/);
    assert.match(md, /every round together asks names new to all of them, .*a round together starts only once the last round's names are refreshed .*the in-turns ratio includes that clock-driven cost\./);
    assert.match(md, /take turns, in 2 interleaved rounds per workload/);
    const hits = md.slice(md.indexOf('## cache hits'), md.indexOf('## Targets'));
    assert.match(hits, /Together on one core \(2 rounds, all at once, each with its own dnsperf\):/);
    assert.match(hits, /\| server \| QPS by round \| CPU % \| QPS per CPU-s \| ÷ ceiling per CPU-s \| nodedns ÷ this per CPU-s \| lost \| errors \| refreshes, misses by round \|/);
    // medians of the rounds' QPS per CPU-s: nodedns 55,152 and 59,333; the ceiling 60,606 and 66,667
    assert.match(hits, /\| nodedns \| 18,200 \/ 19,580 \| 33 \| 57,242 \| 0\.90 \| {2}\| 0 \| {2}\| {2}\|/);
    assert.match(hits, /\| forwarder \| 18,400 \/ 20,680 \| 33 \| 59,212 \| 0\.93 \| 0\.97 \| 0 \| {2}\| {2}\|/);
    assert.match(hits, /\| ceiling \| 20,000 \/ 20,000 \| 32 \| 63,636 \| 1\.00 \| 0\.90 \| 0 \| {2}\| {2}\|/);
    // nodedns' refreshes and misses in each run together, where they were counted ("?" where not)
    const counted = together().map((m) => (m.server !== 'nodedns' ? m : m.round === 0 ? { ...m, refreshes: 0, misses: 0 } : { ...m, refreshes: 1200, misses: 3 }));
    assert.match(renderMarkdown(both({ together: counted })), /\| nodedns \| 18,200 \/ 19,580 \| .* \| 0, 0 \/ 1,200, 3 \|$/m);
    const one = together().map((m) => (m.server === 'nodedns' && m.round === 1 ? { ...m, refreshes: 0, misses: 0 } : m));
    assert.match(renderMarkdown(both({ together: one })), /\| nodedns \| 18,200 \/ 19,580 \| .* \| \? \/ 0, 0 \|$/m);
    assert.ok(hits.indexOf('| nodedns | 18,200') < hits.indexOf('| forwarder | 18,400'));
    assert.deepEqual(forwarderContext(both()), [
      'hits: forwarder (bare Node.js cache + fresh-port forwarding) ÷ ceiling: 0.93 per CPU-second, together on one core (median of rounds 0.92, 0.94)',
      'hits: nodedns ÷ forwarder: 0.97 per CPU-second, together on one core (median of rounds 0.99, 0.95)',
    ]);
    assert.doesNotMatch(renderMarkdown(results()), /Together on one core|together:/, 'nothing about it when it did not run');
  });
});
