// Turns measurements into the results table: ratios against the ceiling and the peers,
// and PASS/MISS against the targets of issue 3. Pure: data in, text out.
// Ceiling, forwarder and nodedns are measured two ways. In turns: interleaved rounds, one
// server at a time; a row is the median of a server's rounds, and a ratio between two of them
// is the median of the per-round ratios. Together: in each round all of them at once on CPU 0,
// each with its own dnsperf, so that whatever the host does to the core it does to all; the
// ratio of their QPS per CPU-second is the steady one, and it is what the targets judge.

import type { Footprint } from './footprint';
import { BUSY_LOAD } from './settle';

export type Workload = 'hits' | 'mixed' | 'ndots';
export const WORKLOADS: Workload[] = ['hits', 'mixed', 'ndots'];
/**
 * Where the servers also run together on one core: a set of their own, every round over names
 * new to all of them (bench.ts startTogether), so that nodedns' clock-driven refreshes of
 * earlier runs' names stay out of the window. In turns, nodedns also refreshes the cluster
 * suffixes' 5-second NXDOMAINs while they are in use (some 1,300 a second whatever the query
 * rate) and the hit names as they come due, which the forwarder (no TTLs) never does; with a
 * third of the core that fixed cost weighs three times what it does on a core of its own. The
 * target judges the work per query; the in-turns ratio beside it includes the refreshes.
 */
export const TOGETHER_WORKLOADS: Workload[] = ['hits', 'mixed', 'ndots'];
export const WORKLOAD_TITLES: Record<Workload, string> = {
  hits: 'cache hits (1,000 names, warm)',
  mixed: 'mixed (90% hits, 10% never-seen names)',
  ndots: 'ndots:5 burst (3 NXDOMAIN search suffixes, then the name; A+AAAA)',
};

export interface Machine {
  cpu: string;
  cores: number;
  kernel: string;
  versions: Record<string, string>;
  loadAvgStart: number; // 1-minute load average before the run
  loadAvgEnd: number;
}

export interface Settings {
  quick: boolean;
  durationS: number;
  rounds: number;
  outstanding: number;
  fixedRateQps: number;
  hitNames: number;
  verboseLatency: boolean;
}

export interface Measurement {
  server: string; // label: ceiling, nodedns, unbound, dnsmasq, …
  workload: Workload;
  round?: number; // 0-based round of the paired phase; absent for a server measured on its own (the peers)
  qps: number;
  avgMs: number;
  p99Ms: number; // NaN when per-query latencies were not recorded
  sent: number;
  lost: number;
  rcodes: Record<string, number>;
  rssMiB: number; // after the workload
  hwmMiB: number; // peak RSS so far
  runTimeS: number;
  serverCpuPct: number; // the server's CPU time over the run, % of one CPU: ~100 when it is the bottleneck
  cpu0BusyPct: number; // all of CPU 0 over the run; above serverCpuPct by other load (and softirq) on it
  clientCpuPct: number; // dnsperf's CPU over the run, % of CPU 1
  stealPct?: number; // time the host took from CPU 0 or CPU 1 (the larger), %; absent in older results
  /** nodedns together: refreshes it started and misses it counted during the run (CH TXT cache.nodedns around it); absent in older results. */
  refreshes?: number;
  misses?: number;
}

export interface FixedRate {
  server: string;
  targetQps: number;
  qps: number;
  avgMs: number;
  p50Ms: number;
  p99Ms: number;
  lost: number;
}

export interface MemoryFill {
  server: string;
  positive: number;
  negative: number;
  idleMiB: number;
  filledMiB: number;
  peakMiB: number;
  bytesPerEntry: number;
}

export interface TypicalLoad {
  server: string;
  targetQps: number;
  qps: number;
  serverCpuPct: number; // % of one core over the run
  lost: number;
}

export interface MetricsCost {
  offQps: number[];
  onQps: number[];
  costPercent: number; // (median off - median on) / median off * 100
  offQpsPerCpu: number[]; // the same runs, QPS per second of the server's CPU time
  onQpsPerCpu: number[];
  costPerCpuPercent: number;
  /**
   * Off and on ran together on one core, round by round (the arrays pair up by index), and
   * this is what is judged: 100 × (1 − the median of the rounds' on ÷ off per CPU-second).
   * Absent in older results and with --no-together (then costPercent is judged).
   */
  togetherCostPercent?: number;
}

/** The cost of metrics from paired together rounds: 1 − median(on ÷ off), in percent. */
export function togetherCost(off: number[], on: number[]): number {
  const n = Math.min(off.length, on.length);
  return (1 - median(Array.from({ length: n }, (_, i) => on[i] / off[i]))) * 100;
}

/** How much slower "on" is than "off", in percent of "off", from the medians. */
export function costPercent(off: number[], on: number[]): number {
  return ((median(off) - median(on)) / median(off)) * 100;
}

export interface Results {
  startedAt: string;
  machine: Machine;
  settings: Settings;
  measurements: Measurement[];
  /** The paired servers' runs all at once on one core (absent in older results and with --no-together). */
  together?: Measurement[];
  fixedRate: FixedRate[];
  memory: MemoryFill[];
  metricsCost?: MetricsCost;
  /** nodedns at defaults with the Kubernetes API: RSS idle and full, idle CPU (absent in older results) */
  footprint?: Footprint;
  /** each server's CPU at a fixed, typical rate of the mixed workload (absent in older results) */
  typical?: TypicalLoad[];
  skipped: { server: string; reason: string }[];
  notes: string[];
}

export type Verdict = 'PASS' | 'MISS' | 'n/a';
export interface TargetResult {
  target: string;
  measured: string;
  verdict: Verdict;
  /** false when other load on the machine can have decided the verdict (throughput and latency on a busy machine) */
  reliable: boolean;
}

export const TARGETS = {
  hitsVsCeiling: 0.9,
  // Under the fresh-port rule (a new random source port per upstream query) the bare Node.js
  // forwarder is the floor of a miss: misses are judged against it, not against the ceiling.
  missesVsForwarder: 0.9,
  p99VsUnbound: 2,
  idleMiB: 72, // RSS of every process of the pod, at defaults, Kubernetes API on
  fullMiB: 96, // the same with both caches full (9,984 + 9,984 entries)
  idleCpuPct: 0.5, // % of one core with no queries
  metricsCostPercent: 5,
};

/** How node setup ran in the at-rest measurement, as the table and the targets say it. */
export function nodeSetupText(f: Footprint): string {
  if (f.nodeSetup === undefined) return 'node setup off';
  if (!f.nodeSetup.on) return 'node setup OFF';
  return `node setup on${f.nodeSetup.firewall ? ` (${f.nodeSetup.firewall})` : ''}, in a network namespace`;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** QPS per second of the server's own CPU time: its one-core capacity, less sensitive to other load. */
export function qpsPerCpu(m: Measurement): number {
  return m.serverCpuPct > 0 ? (m.qps * 100) / m.serverCpuPct : NaN;
}

/** Median share of CPU 0 (in %) that went to something other than the server during the runs. */
export function otherLoadOnServerCpu(r: Results): number {
  return median(r.measurements.map((m) => m.cpu0BusyPct - m.serverCpuPct).filter(Number.isFinite));
}

/** A run in which the hypervisor took more than this share of CPU 0 or 1: its figures are the host's. */
export const STEAL_LIMIT_PCT = 10;

/** Runs the host disturbed (steal time above STEAL_LIMIT_PCT), as "label N%". */
export function disturbedRuns(r: Results): string[] {
  return r.measurements.filter((m) => (m.stealPct ?? 0) > STEAL_LIMIT_PCT)
    .map((m) => `${m.server}-${m.workload}${m.round === undefined ? '' : `-r${m.round}`} ${Math.round(m.stealPct!)}%`);
}

/** Busy: load before the run, more than a quarter of the server's CPU taken by others, or any run the host disturbed. */
export function machineWasBusy(r: Results): boolean {
  return r.machine.loadAvgStart > BUSY_LOAD || otherLoadOnServerCpu(r) > 25 || disturbedRuns(r).length > 0;
}

/** Every run of a server in a workload, in round order (`list`: the runs in turns, or r.together). */
export function runsOf(r: Results, server: string, workload: Workload, list = r.measurements): Measurement[] {
  return list.filter((m) => m.server === server && m.workload === workload).sort((a, b) => (a.round ?? 0) - (b.round ?? 0));
}

export interface Summary {
  runs: Measurement[];
  /** Field by field the median of the runs; sent, lost and answer codes summed (an error in any round shows). */
  med: Measurement;
  perCpu: number; // median of the runs' QPS per CPU-second
}

export function summarize(runs: Measurement[]): Summary | undefined {
  if (runs.length === 0) return undefined;
  const med = (f: (m: Measurement) => number) => median(runs.map(f));
  const sum = (f: (m: Measurement) => number) => runs.reduce((t, m) => t + f(m), 0);
  const rcodes: Record<string, number> = {};
  for (const m of runs) for (const [k, v] of Object.entries(m.rcodes)) rcodes[k] = (rcodes[k] ?? 0) + v;
  const { round: _round, ...first } = runs[0];
  return {
    runs,
    med: {
      ...first, qps: med((m) => m.qps), avgMs: med((m) => m.avgMs), p99Ms: med((m) => m.p99Ms),
      sent: sum((m) => m.sent), lost: sum((m) => m.lost), rcodes,
      rssMiB: med((m) => m.rssMiB), hwmMiB: med((m) => m.hwmMiB), runTimeS: med((m) => m.runTimeS),
      serverCpuPct: med((m) => m.serverCpuPct), cpu0BusyPct: med((m) => m.cpu0BusyPct), clientCpuPct: med((m) => m.clientCpuPct),
    },
    perCpu: med(qpsPerCpu),
  };
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN;
  return a / b;
}

export interface PairedRatio {
  ratio: number; // median over the rounds both servers ran; NaN if none
  perCpu: number; // the same for QPS per CPU-second
  rounds: number[]; // a ÷ b in each round either ran, NaN where the other did not
  perCpuRounds: number[]; // the same for QPS per CPU-second
}

/** a's QPS ÷ b's for two servers measured in the same rounds: the median of the same-round ratios. */
export function pairedRatio(r: Results, a: string, b: string, workload: Workload, list = r.measurements): PairedRatio {
  const as = runsOf(r, a, workload, list).filter((m) => m.round !== undefined);
  const bs = runsOf(r, b, workload, list).filter((m) => m.round !== undefined);
  const rounds = [...new Set([...as, ...bs].map((m) => m.round!))].sort((x, y) => x - y);
  const pairs = rounds.map((k) => [as.find((m) => m.round === k), bs.find((m) => m.round === k)]);
  const both = pairs.filter((p): p is [Measurement, Measurement] => Boolean(p[0] && p[1]));
  const finite = (xs: number[]) => xs.filter(Number.isFinite);
  return {
    ratio: median(finite(both.map(([x, y]) => ratio(x.qps, y.qps)))),
    perCpu: median(finite(both.map(([x, y]) => ratio(qpsPerCpu(x), qpsPerCpu(y))))),
    rounds: pairs.map(([x, y]) => ratio(x?.qps, y?.qps)),
    perCpuRounds: pairs.map(([x, y]) => (x && y ? ratio(qpsPerCpu(x), qpsPerCpu(y)) : NaN)),
  };
}

/** a ÷ b from the runs together on one core: the same-round ratios of QPS and of QPS per CPU-second. */
export function togetherRatio(r: Results, a: string, b: string, workload: Workload): PairedRatio {
  return pairedRatio(r, a, b, workload, r.together ?? []);
}

/**
 * What the targets and the context judge a ratio by: QPS per CPU-second together on one core
 * when those runs were made (each server's cost per query, under the same disturbance),
 * else the QPS ratio of the runs in turns.
 */
export function judgedRatio(r: Results, a: string, b: string, workload: Workload): { value: number; together: boolean; p: PairedRatio } {
  const t = togetherRatio(r, a, b, workload);
  if (Number.isFinite(t.perCpu)) return { value: t.perCpu, together: true, p: t };
  const p = pairedRatio(r, a, b, workload);
  return { value: p.ratio, together: false, p };
}

/** a ÷ b in a workload: paired when both ran in rounds, else from the medians (a peer against the ceiling). */
export function qpsRatio(r: Results, a: string, b: string, workload: Workload): number {
  const p = pairedRatio(r, a, b, workload);
  if (Number.isFinite(p.ratio)) return p.ratio;
  return ratio(summarize(runsOf(r, a, workload))?.med.qps, summarize(runsOf(r, b, workload))?.med.qps);
}

const fmtRatio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
/** "rounds 0.74, –, 0.77" for more than one round, "" for one. */
const fmtRounds = (p: PairedRatio, label = 'rounds') => (p.rounds.length > 1 ? `${label} ${p.rounds.map(fmtRatio).join(', ')}` : '');
const fmtMs = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '–');
const fmtInt = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const fmtMiB = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');

export function evaluateTargets(r: Results): TargetResult[] {
  const steady = !machineWasBusy(r);
  const out: TargetResult[] = [];
  const versus = (w: Workload, other: 'ceiling' | 'forwarder', goal: number) => {
    const j = judgedRatio(r, 'nodedns', other, w);
    const x = j.value;
    const turns = pairedRatio(r, 'nodedns', other, w);
    const inTurns = () => {
      const rounds = fmtRounds(turns);
      return `(${rounds ? `${rounds}; ` : ''}per CPU-second ${fmtRatio(turns.perCpu)})`;
    };
    let measured = 'not measured';
    if (j.together) {
      const rounds = fmtRounds({ ...j.p, rounds: j.p.perCpuRounds });
      // three places: the judged figure must not read 0.90 when it is 0.899 and a MISS
      measured = `${x.toFixed(3)} × ${other} per CPU-second, together on one core (${rounds ? `${rounds}; ` : ''}QPS ${fmtRatio(j.p.ratio)})` +
        (Number.isFinite(turns.ratio) ? `; in turns ${turns.ratio.toFixed(2)} ${inTurns()}` : '');
    } else if (Number.isFinite(x)) {
      measured = `${x.toFixed(2)} × ${other} ${inTurns()}`;
    }
    out.push({
      target: `${w}: nodedns QPS ≥ ${goal.toFixed(2)} × ${other}${other === 'forwarder' ? ' (fresh port per miss)' : ''}`,
      measured,
      verdict: Number.isFinite(x) ? (x >= goal ? 'PASS' : 'MISS') : 'n/a',
      // together, the host's disturbance falls on both alike: the ratio holds on a busy machine too
      reliable: steady || j.together,
    });
  };
  versus('hits', 'ceiling', TARGETS.hitsVsCeiling);
  versus('mixed', 'forwarder', TARGETS.missesVsForwarder);
  versus('ndots', 'forwarder', TARGETS.missesVsForwarder);

  const nd = r.fixedRate.find((f) => f.server === 'nodedns');
  const ub = r.fixedRate.find((f) => f.server === 'unbound');
  const p = ratio(nd?.p99Ms, ub?.p99Ms);
  out.push({
    target: `p99 at ${fmtInt(r.settings.fixedRateQps)} QPS (hits): nodedns ≤ ${TARGETS.p99VsUnbound} × Unbound`,
    measured: Number.isFinite(p) ? `${fmtMs(nd!.p99Ms)} ms vs ${fmtMs(ub!.p99Ms)} ms = ${p.toFixed(2)} ×` : 'not measured',
    verdict: Number.isFinite(p) ? (p <= TARGETS.p99VsUnbound ? 'PASS' : 'MISS') : 'n/a',
    reliable: steady,
  });

  const f = r.footprint;
  const setup = f ? nodeSetupText(f) : '';
  const pod = (x: number) => `${fmtMiB(x)} MiB (${f!.processes} process${f!.processes > 1 ? 'es' : ''}, ${setup}, Kubernetes API on)`;
  out.push({
    target: `memory idle: RSS of every nodedns process ≤ ${TARGETS.idleMiB} MiB at defaults, node setup on`,
    measured: f ? pod(f.idleMiB) : 'not measured',
    verdict: f ? (f.idleMiB <= TARGETS.idleMiB ? 'PASS' : 'MISS') : 'n/a',
    reliable: true, // memory does not depend on other load
  });
  out.push({
    target: `memory full: the same ≤ ${TARGETS.fullMiB} MiB with both caches full`,
    measured: f ? `${pod(f.fullMiB)}, ${fmtInt(f.positive)} + ${fmtInt(f.negative)} answers filled` : 'not measured',
    verdict: f ? (f.fullMiB <= TARGETS.fullMiB ? 'PASS' : 'MISS') : 'n/a',
    reliable: true,
  });
  out.push({
    target: `idle CPU: < ${TARGETS.idleCpuPct} % of a core with no queries, node setup on`,
    measured: f ? `${f.idleCpuPct.toFixed(2)} % over ${fmtInt(f.idleCpuS)} s (${setup})` : 'not measured',
    verdict: f ? (f.idleCpuPct < TARGETS.idleCpuPct ? 'PASS' : 'MISS') : 'n/a',
    reliable: true, // CPU time, not throughput
  });

  const mc = r.metricsCost;
  const judged = mc?.togetherCostPercent ?? mc?.costPercent;
  out.push({
    target: `metrics on costs ≤ ${TARGETS.metricsCostPercent}% of hit QPS`,
    measured: !mc ? 'not measured' : mc.togetherCostPercent !== undefined
      ? `${mc.togetherCostPercent.toFixed(1)}% per CPU-second, together on one core (median of ${Math.min(mc.offQps.length, mc.onQps.length)} rounds; ` +
        `QPS ${fmtInt(median(mc.offQps))} off, ${fmtInt(median(mc.onQps))} on)`
      : `${mc.costPercent.toFixed(1)}% (median ${fmtInt(median(mc.offQps))} off, ${fmtInt(median(mc.onQps))} on; ` +
        `per CPU-second ${mc.costPerCpuPercent.toFixed(1)}%)`,
    verdict: judged !== undefined ? (judged <= TARGETS.metricsCostPercent ? 'PASS' : 'MISS') : 'n/a',
    reliable: steady || mc?.togetherCostPercent !== undefined,
  });
  return out;
}

/**
 * Not targets: where a bare Node.js forwarder (the floor of the fresh-port rule) stands
 * between the ceiling and nodedns, judged as the targets are.
 */
export function forwarderContext(r: Results): string[] {
  const out: string[] = [];
  const line = (w: Workload, what: string, a: string, b: string) => {
    const j = judgedRatio(r, a, b, w);
    if (!Number.isFinite(j.value)) return;
    const rounds = fmtRounds(j.together ? { ...j.p, rounds: j.p.perCpuRounds } : j.p, 'median of rounds') || 'one round';
    out.push(`${w}: ${what}: ${j.value.toFixed(2)}${j.together ? ' per CPU-second, together on one core' : ''} (${rounds})`);
  };
  for (const w of WORKLOADS) {
    line(w, 'forwarder (bare Node.js cache + fresh-port forwarding) ÷ ceiling', 'forwarder', 'ceiling');
    line(w, 'nodedns ÷ forwarder', 'nodedns', 'forwarder');
    line(w, 'forwarder-shared (the same on one shared upstream socket: no fresh port) ÷ ceiling', 'forwarder-shared', 'ceiling');
  }
  return out;
}

/** Servers in table order: nodedns first, then the peers, then the forwarder and the ceiling. */
function serverOrder(list: Measurement[]): string[] {
  const seen = [...new Set(list.map((m) => m.server))];
  const rank = (s: string) => ({ nodedns: 0, forwarder: 2, 'forwarder-shared': 3, ceiling: 4 })[s] ?? 1;
  return seen.sort((a, b) => rank(a) - rank(b));
}

function errorsOf(m: Measurement): string {
  const bad = Object.entries(m.rcodes).filter(([k]) => k !== 'NOERROR' && k !== 'NXDOMAIN');
  return bad.length ? bad.map(([k, v]) => `${k} ${v}`).join(', ') : '';
}

/** The workload's runs together on one core: each server's share and its QPS per CPU-second, and the ratios the targets judge. */
function togetherTable(r: Results, w: Workload, L: string[]): void {
  const list = r.together ?? [];
  const rows = serverOrder(list).map((s) => summarize(runsOf(r, s, w, list))).filter((x): x is Summary => Boolean(x));
  if (rows.length === 0) return;
  L.push(`Together on one core (${rows[0].runs.length} round${rows[0].runs.length > 1 ? 's' : ''}, all at once, each with its own dnsperf):`);
  L.push('');
  L.push('| server | QPS by round | CPU % | QPS per CPU-s | ÷ ceiling per CPU-s | nodedns ÷ this per CPU-s | lost | errors | refreshes, misses by round |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const { runs, med: x, perCpu } of rows) {
    const vsNodedns = x.server === 'nodedns' ? '' : fmtRatio(togetherRatio(r, 'nodedns', x.server, w).perCpu);
    const counted = runs.some((m) => m.refreshes !== undefined)
      ? runs.map((m) => (m.refreshes === undefined ? '?' : `${fmtInt(m.refreshes)}, ${fmtInt(m.misses ?? NaN)}`)).join(' / ') : '';
    L.push(`| ${x.server} | ${runs.map((m) => fmtInt(m.qps)).join(' / ')} | ${fmtInt(x.serverCpuPct)} | ${fmtInt(perCpu)} | ` +
      `${fmtRatio(togetherRatio(r, x.server, 'ceiling', w).perCpu)} | ${vsNodedns} | ${fmtInt(x.lost)} | ${errorsOf(x)} | ${counted} |`);
  }
  L.push('');
}

export function renderMarkdown(r: Results): string {
  const L: string[] = [];
  const m = r.machine;
  const busy = machineWasBusy(r);
  L.push(`# nodedns benchmark${r.settings.quick ? ' (quick mode: short runs, for iterating only)' : ''}`);
  L.push('');
  L.push(`Run ${r.startedAt} by \`make bench\` (scripts/bench/run.sh${r.settings.quick ? ' --quick' : ''}).`);
  if (busy) {
    L.push('');
    L.push(`**Development run on a busy machine** (load average ${m.loadAvgStart.toFixed(2)} at start; ` +
      `other processes took a median ${fmtInt(otherLoadOnServerCpu(r))}% of the server's CPU during the runs` +
      `${disturbedRuns(r).length ? `; the host took more than ${STEAL_LIMIT_PCT}% of a CPU (steal time) in ${disturbedRuns(r).join(', ')}` : ''}): ` +
      'absolute figures and ratios are noisy; the "QPS per CPU-s" column is the steadier one. Take final figures on a quiet machine.');
  }
  L.push('');
  L.push(`- Machine: ${m.cpu}, ${m.cores} cores, Linux ${m.kernel}`);
  L.push(`- Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  L.push(`- Each server pinned to CPU 0, dnsperf (and the Knot backend) to CPU 1; UDP over loopback. ` +
    `Max-throughput runs: ${r.settings.durationS} s, ${r.settings.outstanding} queries outstanding` +
    `${r.settings.verboseLatency ? ', p99 from per-query latencies (dnsperf -v)' : ''}.`);
  if (r.settings.rounds > 1 && r.measurements.some((x) => x.round !== undefined)) {
    L.push(`- Ceiling, forwarder and nodedns take turns, in ${r.settings.rounds} interleaved rounds per workload ` +
      '(order reversed every other round; each mixed round with names none of them has seen), so that drift on the machine hits them alike; ' +
      'the peers run once. A row is the median of its server\'s rounds ("QPS by round" lists each), with "lost" and "errors" summed over them; ' +
      'ratios among ceiling, forwarder and nodedns are medians of same-round ratios.');
  }
  if (r.together?.length) {
    L.push('- Then, in each round of each workload, the servers together (a set of their own, below): all at once on CPU 0, each driven by its own dnsperf on CPU 1, ' +
      'so that the kernel shares the core among them and whatever the host does to it falls on all of them alike. ' +
      'A server\'s QPS per CPU-second there is its cost per query; the ratios of those (medians of same-round ratios) are what ' +
      'the targets and the context lines judge. In turns, one server at a time, a ratio moves with the host from one run to the next. ' +
      'The servers together are a second set of the same servers, on addresses of their own, that runs nothing else, and every round ' +
      'together asks names new to all of them, stored by the warm-up right before it (hits and mixed: 1,000 names under a wildcard, ' +
      '"<set><i>.t.example.com"; ndots: the burst over names that live 30 s); mixed and ndots run on caches filled with 10,000 positive ' +
      'and 10,000 negative answers before the first of them. nodedns refreshes each popular name 27-28.5 s after storing it, on a clock, ' +
      'which the forwarder (no TTLs) and the ceiling never do; a round together starts only once the last round\'s names are refreshed ' +
      '(31 s after they were stored). So none of that clock-driven work falls in the window judged, and the last column, nodedns\' own ' +
      'counters around each run (CH TXT cache.nodedns), shows it: refreshes 0. In turns, nodedns also refreshes the hit names as they come ' +
      'due and the cluster suffixes\' 5-second NXDOMAINs while they are in use: the in-turns ratio includes that clock-driven cost.');
  }
  if (r.measurements.some((x) => x.server === 'forwarder')) {
    L.push('- The forwarder (scripts/bench/forwarder.ts) is the least a Node.js caching forwarder can do with a fresh source port per ' +
      'upstream query (a Map from question bytes to the stored reply, a new socket per miss, no TTLs, LRU or EDNS): ' +
      'a floor of runtime cost that shows how much of a miss is Node\'s socket layer, not a server to compare features with.');
  }
  if (r.measurements.some((x) => x.server === 'forwarder-shared')) {
    L.push('- forwarder-shared is the same forwarder sending every miss on one upstream socket, connected once, as the fresh-port rule ' +
      'forbids: measured in the mixed workload only (elsewhere nothing misses), it shows what the fresh port costs.');
  }
  L.push('- Columns: "÷ ceiling" is QPS over the bare Node.js responder\'s in the same workload; "nodedns ÷ this" is nodedns\' QPS ' +
    'over this server\'s (above 1: nodedns is faster); "CPU %" is the server\'s CPU time over the run (100 = one whole core); ' +
    '"QPS per CPU-s" is QPS divided by that share; "errors" counts answers other than NOERROR and NXDOMAIN.');
  L.push('');

  for (const w of WORKLOADS) {
    const rows = serverOrder(r.measurements).map((s) => summarize(runsOf(r, s, w))).filter((x): x is Summary => Boolean(x));
    if (rows.length === 0) continue;
    const byRound = rows.some((x) => x.runs.length > 1);
    L.push(`## ${WORKLOAD_TITLES[w]}`);
    L.push('');
    L.push(`| server | QPS |${byRound ? ' QPS by round |' : ''} ÷ ceiling | nodedns ÷ this | avg ms | p99 ms | lost | RSS MiB | CPU % | QPS per CPU-s | errors |`);
    L.push(`|---|---:|${byRound ? '---:|' : ''}---:|---:|---:|---:|---:|---:|---:|---:|---|`);
    for (const { runs, med: x, perCpu } of rows) {
      const vsNodedns = x.server === 'nodedns' ? '' : fmtRatio(qpsRatio(r, 'nodedns', x.server, w));
      const rounds = byRound ? ` ${runs.length > 1 ? runs.map((m) => fmtInt(m.qps)).join(' / ') : ''} |` : '';
      L.push(`| ${x.server} | ${fmtInt(x.qps)} |${rounds} ${fmtRatio(qpsRatio(r, x.server, 'ceiling', w))} | ${vsNodedns} | ${fmtMs(x.avgMs)} | ` +
        `${fmtMs(x.p99Ms)} | ${fmtInt(x.lost)} | ${fmtMiB(x.rssMiB)} | ${fmtInt(x.serverCpuPct)} | ${fmtInt(perCpu)} | ${errorsOf(x)} |`);
    }
    L.push('');
    togetherTable(r, w, L);
  }

  if (r.fixedRate.length) {
    L.push(`## Latency at a fixed ${fmtInt(r.settings.fixedRateQps)} QPS (cache hits)`);
    L.push('');
    L.push('| server | QPS reached | avg ms | p50 ms | p99 ms | lost |');
    L.push('|---|---:|---:|---:|---:|---:|');
    for (const f of r.fixedRate) L.push(`| ${f.server} | ${fmtInt(f.qps)} | ${fmtMs(f.avgMs)} | ${fmtMs(f.p50Ms)} | ${fmtMs(f.p99Ms)} | ${fmtInt(f.lost)} |`);
    L.push('');
  }

  if (r.footprint) {
    const f = r.footprint;
    L.push(`## nodedns at rest, as a DaemonSet runs it (defaults, ${nodeSetupText(f)}, Kubernetes API on)`);
    L.push('');
    if (f.nodeSetup?.on === false) {
      L.push(`**Node setup was off** (${f.nodeSetup.why}): the budget is for node setup on, which costs more (its address and rules, ` +
        'and the iptables its resync runs every 10 s). These figures understate it.');
      L.push('');
    }
    const where = f.nodeSetup?.on
      ? 'In network namespaces the benchmark creates and deletes: a node (kube-proxy\'s iptables rules for the kube-dns ClusterIP, so ' +
        '`--firewall auto` picks iptables as on most nodes), a pod where dnsperf runs, and the cluster DNS (Knot) behind the ClusterIP. '
      : '';
    L.push(`${where}\`${f.command}\`, against the in-test Kubernetes API server (list and watch of the kube-dns Services and ConfigMap, this node's pods and, as the shipped DaemonSet has it, nodedns' own ConfigMap with daemonset/base/configmap.yaml's every-setting-at-its-default config.yaml; NODE_OPTIONS from daemonset/base/daemonset.yaml). ` +
      'RSS is summed over every nodedns process (those running node: not the iptables its resync runs for a moment); idle is after start, ' +
      `the first API sync and one /metrics scrape, with no queries; full after ${fmtInt(f.positive)} positive and ${fmtInt(f.negative)} negative answers. ` +
      'Idle CPU is the CPU time over the window of every process of nodedns\' tree and of the children it ran and reaped in it (cutime + cstime: ' +
      `the resync's iptables), in % of one core (${fmtInt(f.apiRequests)} API requests in it).`);
    L.push('');
    L.push('| processes | RSS idle MiB | RSS full MiB | peak MiB | idle CPU % of a core | over |');
    L.push('|---:|---:|---:|---:|---:|---:|');
    L.push(`| ${f.processes} | ${fmtMiB(f.idleMiB)} | ${fmtMiB(f.fullMiB)} | ${fmtMiB(f.peakMiB)} | ${f.idleCpuPct.toFixed(2)} | ${fmtInt(f.idleCpuS)} s |`);
    L.push('');
  }

  if (r.typical?.length) {
    const t = r.typical;
    L.push(`## CPU at ${fmtInt(t[0].targetQps)} QPS of the mixed workload`);
    L.push('');
    L.push('| server | QPS reached | CPU % of a core | CPU ms per 1,000 queries | lost |');
    L.push('|---|---:|---:|---:|---:|');
    for (const x of t) L.push(`| ${x.server} | ${fmtInt(x.qps)} | ${x.serverCpuPct.toFixed(1)} | ${(x.serverCpuPct * 10 / Math.max(x.qps, 1) * 1000).toFixed(1)} | ${fmtInt(x.lost)} |`);
    L.push('');
  }

  if (r.memory.length) {
    L.push('## Memory with 10,000 positive and 10,000 negative entries');
    L.push('');
    L.push('| server | RSS idle MiB | RSS filled MiB | peak MiB | bytes per entry |');
    L.push('|---|---:|---:|---:|---:|');
    for (const x of r.memory) L.push(`| ${x.server} | ${fmtMiB(x.idleMiB)} | ${fmtMiB(x.filledMiB)} | ${fmtMiB(x.peakMiB)} | ${fmtInt(x.bytesPerEntry)} |`);
    L.push('');
  }

  if (r.metricsCost) {
    const mc = r.metricsCost;
    L.push('## Cost of metrics on cache-hit QPS (nodedns)');
    L.push('');
    if (mc.togetherCostPercent !== undefined) {
      L.push(`Together on one core, two nodedns (metrics off, metrics on) at once, each with its own dnsperf, in ${mc.offQps.length} rounds: ` +
        `off ${mc.offQps.map(fmtInt).join(', ')} QPS; on ${mc.onQps.map(fmtInt).join(', ')} QPS. Per CPU-second: off ${mc.offQpsPerCpu.map(fmtInt).join(', ')}; ` +
        `on ${mc.onQpsPerCpu.map(fmtInt).join(', ')}; cost ${mc.togetherCostPercent.toFixed(1)}% (median of the rounds' on ÷ off).`);
    } else {
      L.push(`Alternating runs: metrics off ${mc.offQps.map(fmtInt).join(', ')} QPS; on ${mc.onQps.map(fmtInt).join(', ')} QPS; ` +
        `cost of the medians ${mc.costPercent.toFixed(1)}%. Per CPU-second: off ${mc.offQpsPerCpu.map(fmtInt).join(', ')}; ` +
        `on ${mc.onQpsPerCpu.map(fmtInt).join(', ')}; cost ${mc.costPerCpuPercent.toFixed(1)}%.`);
    }
    L.push('');
  }

  L.push('## Targets');
  L.push('');
  L.push('| target | measured | verdict |');
  L.push('|---|---|---|');
  for (const t of evaluateTargets(r)) {
    const verdict = t.verdict !== 'n/a' && !t.reliable ? `${t.verdict}, unreliable (busy machine)` : t.verdict;
    L.push(`| ${t.target} | ${t.measured} | ${verdict} |`);
  }
  L.push('');
  const context = forwarderContext(r);
  if (context.length) {
    L.push('Context, not targets (the forwarder is the floor of a Node.js forwarder, above):');
    L.push('');
    for (const c of context) L.push(`- ${c}`);
    L.push('');
  }

  if (r.skipped.length || r.notes.length) {
    L.push('## Notes');
    L.push('');
    for (const s of r.skipped) L.push(`- ${s.server} not measured: ${s.reason}`);
    for (const n of r.notes) L.push(`- ${n}`);
    L.push('');
  }
  return L.join('\n');
}
