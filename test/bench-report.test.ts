// The benchmark's verdicts and table: ratios, PASS/MISS at the target boundaries, busy labels.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseBenchArgs } from '../scripts/bench/args';
import {
  costPercent, evaluateTargets, machineWasBusy, median, qpsPerCpu, ratio, renderMarkdown,
  type Measurement, type Results, type Workload,
} from '../scripts/bench/report';

function m(server: string, workload: Workload, qps: number, extra: Partial<Measurement> = {}): Measurement {
  return {
    server, workload, qps, avgMs: 1, p99Ms: 2, sent: qps * 10, lost: 0, rcodes: { NOERROR: qps * 10 },
    rssMiB: 50, hwmMiB: 55, runTimeS: 10, serverCpuPct: 100, cpu0BusyPct: 105, clientCpuPct: 60, ...extra,
  };
}

function results(over: Partial<Results> = {}): Results {
  return {
    startedAt: '2026-01-01T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, kernel: '6.1', versions: { node: 'v20', unbound: '1.17' }, loadAvgStart: 0.1, loadAvgEnd: 2 },
    settings: { quick: false, durationS: 10, outstanding: 100, fixedRateQps: 20000, hitNames: 1000, verboseLatency: true },
    measurements: [
      m('ceiling', 'hits', 100_000), m('nodedns', 'hits', 85_000), m('unbound', 'hits', 50_000),
      m('ceiling', 'mixed', 100_000), m('nodedns', 'mixed', 69_999),
      m('ceiling', 'ndots', 100_000), m('nodedns', 'ndots', 70_000),
    ],
    fixedRate: [
      { server: 'nodedns', targetQps: 20000, qps: 20000, avgMs: 0.2, p50Ms: 0.1, p99Ms: 0.8, lost: 0 },
      { server: 'unbound', targetQps: 20000, qps: 20000, avgMs: 0.1, p50Ms: 0.1, p99Ms: 0.4, lost: 0 },
    ],
    memory: [{ server: 'nodedns', positive: 10000, negative: 10000, idleMiB: 40, filledMiB: 79.9, peakMiB: 82, bytesPerEntry: 2045 }],
    metricsCost: { offQps: [100, 102], onQps: [95, 97], costPercent: 5, offQpsPerCpu: [100], onQpsPerCpu: [99], costPerCpuPercent: 1 },
    skipped: [],
    notes: [],
    ...over,
  };
}

const verdicts = (r: Results) => evaluateTargets(r).map((t) => t.verdict);

describe('bench targets', () => {
  it('passes exactly at the boundaries and misses just below them', () => {
    // hits 0.85 PASS, mixed 0.69999 MISS, ndots 0.70 PASS, p99 2.0× PASS, 79.9 MiB PASS, 5% PASS
    assert.deepEqual(verdicts(results()), ['PASS', 'MISS', 'PASS', 'PASS', 'PASS', 'PASS']);
    const worse = results({
      measurements: [m('ceiling', 'hits', 100_000), m('nodedns', 'hits', 84_900)],
      fixedRate: [
        { server: 'nodedns', targetQps: 20000, qps: 20000, avgMs: 0.2, p50Ms: 0.1, p99Ms: 0.81, lost: 0 },
        { server: 'unbound', targetQps: 20000, qps: 20000, avgMs: 0.1, p50Ms: 0.1, p99Ms: 0.4, lost: 0 },
      ],
      memory: [{ server: 'nodedns', positive: 10000, negative: 10000, idleMiB: 40, filledMiB: 80, peakMiB: 82, bytesPerEntry: 2097 }],
      metricsCost: { offQps: [100], onQps: [94.9], costPercent: 5.1, offQpsPerCpu: [100], onQpsPerCpu: [99], costPerCpuPercent: 1 },
    });
    assert.deepEqual(verdicts(worse), ['MISS', 'n/a', 'n/a', 'MISS', 'MISS', 'MISS']);
  });

  it('says n/a, never PASS, for what was not measured', () => {
    const r = results({ measurements: [m('ceiling', 'hits', 1000)], fixedRate: [], memory: [], metricsCost: undefined });
    assert.deepEqual(verdicts(r), ['n/a', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
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
      measurements: [m('ceiling', 'hits', 100_000, { serverCpuPct: 50 }), m('nodedns', 'hits', 60_000, { serverCpuPct: 40 })],
    }))[0];
    assert.equal(perCpu.measured, '0.60 × ceiling (per CPU-second 0.75)');
  });
});

describe('bench table', () => {
  it('shows machine, every server row with its ratios, and the targets', () => {
    const md = renderMarkdown(results());
    assert.match(md, /Machine: Test CPU, 2 cores, Linux 6\.1/);
    assert.match(md, /Versions: node v20, unbound 1\.17/);
    assert.match(md, /\| nodedns \| 85,000 \| 0\.85 \| {2}\| 1\.000 \| 2\.000 \| 0 \| 50\.0 \| 100 \| 85,000 \| {2}\|/);
    assert.match(md, /\| unbound \| 50,000 \| 0\.50 \| 1\.70 \|/);
    assert.match(md, /\| ceiling \| 100,000 \| 1\.00 \| 0\.85 \|/);
    assert.match(md, /\| mixed: nodedns QPS ≥ 0\.70 × ceiling \| 0\.70 × ceiling \(per CPU-second 0\.70\) \| MISS \|/);
    assert.match(md, /\| nodedns \| 40\.0 \| 79\.9 \| 82\.0 \| 2,045 \|/);
    assert.doesNotMatch(md, /busy machine/);
    // nodedns first, then peers, then the ceiling
    const hits = md.slice(md.indexOf('## cache hits'), md.indexOf('## mixed'));
    assert.ok(hits.indexOf('| nodedns') < hits.indexOf('| unbound') && hits.indexOf('| unbound') < hits.indexOf('| ceiling'));
  });

  it('labels a run on a busy machine and lists errors, skips and notes', () => {
    const r = results({
      measurements: [m('nodedns', 'hits', 1000, { serverCpuPct: 40, cpu0BusyPct: 100, rcodes: { NOERROR: 10, SERVFAIL: 3 } })],
      skipped: [{ server: 'dnsmasq', reason: 'did not start' }],
      notes: ['a note'],
    });
    assert.ok(machineWasBusy(r));
    const md = renderMarkdown(r);
    assert.match(md, /Development run on a busy machine/);
    // throughput verdicts are flagged, memory (not load-dependent) is not
    assert.match(md, /\| hits: nodedns QPS ≥ 0\.85 × ceiling \| not measured \| n\/a \|/);
    assert.match(md, /\| p99 at .* \| PASS, unreliable \(busy machine\) \|/);
    assert.match(md, /RSS < 80 MiB .* \| PASS \|/);
    assert.deepEqual(evaluateTargets(r).map((t) => t.reliable), [false, false, false, false, true, false]);
    assert.ok(evaluateTargets(results()).every((t) => t.reliable));
    assert.match(md, /\| SERVFAIL 3 \|/);
    assert.match(md, /- dnsmasq not measured: did not start/);
    assert.match(md, /- a note/);
    assert.ok(machineWasBusy(results({ machine: { ...results().machine, loadAvgStart: 1.5 } })));
  });
});

describe('bench options', () => {
  it('has full and quick defaults', () => {
    const full = parseBenchArgs([]);
    assert.equal(full.durationS, 10);
    assert.equal(full.metricsCost, true);
    assert.deepEqual(full.servers, ['ceiling', 'nodedns', 'unbound', 'dnsmasq']);
    const quick = parseBenchArgs(['--quick']);
    assert.equal(quick.durationS, 2);
    assert.equal(quick.metricsCost, false);
    assert.equal(parseBenchArgs(['--quick', '--metrics-cost']).metricsCost, true);
  });

  it('reads lists in canonical order and rejects what it does not know, saying why', () => {
    assert.deepEqual(parseBenchArgs(['--servers', 'dnsmasq,nodedns']).servers, ['nodedns', 'dnsmasq']);
    assert.deepEqual(parseBenchArgs(['--workloads', 'ndots,hits']).workloads, ['hits', 'ndots']);
    assert.throws(() => parseBenchArgs(['--servers', 'coredns']), /"coredns" is not one of ceiling, nodedns, unbound, dnsmasq/);
    assert.throws(() => parseBenchArgs(['--duration', '0']), /--duration needs a whole number ≥ 1/);
    assert.throws(() => parseBenchArgs(['--duration', '120']), /at most 60 s/);
    assert.throws(() => parseBenchArgs(['--bogus']), /unknown option "--bogus"/);
  });
});
