// Command-line options of `make bench` / scripts/bench/run.sh.
import { SERVER_NAMES, type ServerName } from './servers';
import { WORKLOADS, type Workload } from './report';

export interface BenchOptions {
  quick: boolean;
  durationS: number; // each max-throughput run
  rounds: number; // paired rounds of ceiling, forwarder and nodedns per workload
  together: boolean; // in each round, also all of them at once on one core
  fixedDurationS: number; // the fixed-rate latency run
  outstanding: number; // dnsperf -q
  fixedRateQps: number;
  typicalQps: number; // rate of the typical-load run (mixed workload), for each server's CPU
  servers: ServerName[];
  workloads: Workload[];
  memory: boolean;
  atRestOnly: boolean; // only nodedns at rest (the memory budget and idle CPU)
  atRestNetns: boolean; // nodedns at rest with node setup on, in network namespaces (when the machine allows them)
  fixedRate: boolean;
  metricsCost: boolean;
  metricsRounds: number;
  nodednsMetrics: boolean; // main nodedns runs with metrics on
  verbose: boolean; // per-query latencies (p99) in max-throughput runs
  outDir: string;
  hitNames: number;
  idleS: number; // seconds nodedns' idle CPU is measured over (in the memory part)
  settleS: number; // a full run first waits at most this long for the load average to fall (0: not at all)
}

export const USAGE = `usage: scripts/bench/run.sh [options]        (make bench runs it with none)
  --quick               2 s runs, one round, no metrics-cost rounds: for iterating, results to bench/results/quick.*
                        (a run that leaves out a server, a workload or a part writes partial.*; only a full
                        run replaces latest.* and keeps a stamped copy)
  --duration S          seconds of each max-throughput run (default 6, quick 2)
  --rounds N            interleaved rounds of ceiling, forwarder and nodedns, side by side, per workload;
                        ratios between them are medians of per-round ratios (default 3, quick 1)
  --no-together         skip the run of each round with all of them at once on CPU 0, each
                        with its own dnsperf (the targets are then judged by the runs in turns)
  --fixed-duration S    seconds of the fixed-rate latency run (default 10, quick 2)
  --fixed-rate QPS      rate of the latency run for nodedns and Unbound (default 20000)
  --typical-rate QPS    rate of the mixed workload at which nodedns', Unbound's and dnsmasq's CPU is compared
                        (default 1000; part of the fixed-rate part, as long as --fixed-duration)
  --outstanding N       dnsperf -q, queries in flight (default 100)
  --servers a,b         of ${SERVER_NAMES.join(',')} (default all)
  --workloads a,b       of ${WORKLOADS.join(',')} (default all)
  --no-memory           skip the memory part: nodedns at defaults with the Kubernetes API (RSS idle, idle CPU,
                        RSS with both caches full) and Unbound's 10,000 + 10,000 entry fill
  --idle S              seconds nodedns' idle CPU is measured over (default 60, quick 5)
  --at-rest-only        only nodedns at rest (RSS idle and full, idle CPU, node setup on in a network namespace):
                        no throughput, latency, peers or metrics cost; a couple of minutes with --idle 60
  --at-rest-setup-off   nodedns at rest with node setup off, on loopback, as on a machine without network
                        namespaces (the report says so; the budget is for node setup on)
  --no-fixed-rate       skip the fixed-rate runs (latency at --fixed-rate, CPU at --typical-rate)
  --metrics-cost        nodedns hit QPS with metrics off vs on, alternating (default on, off with --quick)
  --no-metrics-cost     skip it
  --metrics-rounds N    runs of each in the metrics comparison (default 2)
  --nodedns-metrics     run the main nodedns with metrics on (--metrics-addr <ip>:<port>) instead of off
  --no-verbose          no per-query latencies (no p99) in max-throughput runs
  --out DIR             where results go (default bench/results)
  --settle S            a full run first waits up to S seconds for the 1-minute load average to fall to 0.5
                        (default 120; 0 = start at once, as tests do; a busy start is flagged in the table)`;

function positiveInt(flag: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} needs a whole number ≥ ${min}, got "${v ?? ''}"`);
  return n;
}

function list<T extends string>(flag: string, v: string | undefined, allowed: readonly T[]): T[] {
  if (!v) throw new Error(`${flag} needs a comma list of ${allowed.join(',')}`);
  const items = v.split(',').map((s) => s.trim()).filter(Boolean);
  for (const i of items) if (!allowed.includes(i as T)) throw new Error(`${flag}: "${i}" is not one of ${allowed.join(', ')}`);
  return allowed.filter((a) => items.includes(a)); // canonical order
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const o: BenchOptions = {
    quick,
    durationS: quick ? 2 : 6,
    rounds: quick ? 1 : 3,
    together: true,
    fixedDurationS: quick ? 2 : 10,
    outstanding: 100,
    fixedRateQps: 20000,
    typicalQps: 1000,
    servers: [...SERVER_NAMES],
    workloads: [...WORKLOADS],
    memory: true,
    atRestOnly: false,
    atRestNetns: true,
    fixedRate: true,
    metricsCost: !quick,
    metricsRounds: 2,
    nodednsMetrics: false,
    verbose: true,
    outDir: 'bench/results',
    hitNames: 1000,
    idleS: quick ? 5 : 60,
    settleS: quick ? 0 : 120,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    switch (a) {
      case '--quick': break;
      case '--duration': o.durationS = positiveInt(a, next()); break;
      case '--rounds': o.rounds = positiveInt(a, next()); break;
      case '--fixed-duration': o.fixedDurationS = positiveInt(a, next()); break;
      case '--fixed-rate': o.fixedRateQps = positiveInt(a, next(), 100); break;
      case '--typical-rate': o.typicalQps = positiveInt(a, next(), 10); break;
      case '--outstanding': o.outstanding = positiveInt(a, next()); break;
      case '--servers': o.servers = list(a, next(), SERVER_NAMES); break;
      case '--workloads': o.workloads = list(a, next(), WORKLOADS); break;
      case '--no-together': o.together = false; break;
      case '--no-memory': o.memory = false; break;
      case '--at-rest-only': o.atRestOnly = true; break;
      case '--at-rest-setup-off': o.atRestNetns = false; break;
      case '--no-fixed-rate': o.fixedRate = false; break;
      case '--metrics-cost': o.metricsCost = true; break;
      case '--no-metrics-cost': o.metricsCost = false; break;
      case '--metrics-rounds': o.metricsRounds = positiveInt(a, next()); break;
      case '--nodedns-metrics': o.nodednsMetrics = true; break;
      case '--no-verbose': o.verbose = false; break;
      case '--idle': o.idleS = positiveInt(a, next()); break;
      case '--settle': o.settleS = positiveInt(a, next(), 0); break;
      case '--out': {
        const v = next();
        if (!v) throw new Error('--out needs a directory');
        o.outDir = v;
        break;
      }
      case '-h': case '--help': throw new HelpRequested();
      default: throw new Error(`unknown option "${a}"\n${USAGE}`);
    }
  }
  if (o.durationS > 60 || o.fixedDurationS > 60) throw new Error('--duration and --fixed-duration: at most 60 s (the machine is shared; keep load runs short)');
  if (o.atRestOnly && !o.memory) throw new Error('--at-rest-only and --no-memory leave nothing to measure');
  if (o.idleS > 300) throw new Error('--idle: at most 300 s');
  if (o.settleS > 600) throw new Error('--settle: at most 600 s');
  if (o.rounds > 15) throw new Error('--rounds: at most 15 (each round is one run per paired server per workload, and one run of them together)');
  return o;
}

/**
 * Where a run's results go: quick.* for --quick, partial.* for a run that leaves out a
 * server, a workload or a part, latest.* (plus a stamped copy) only for a full run, so that
 * iterating on one piece never replaces the full results the README quotes.
 */
export function resultsName(o: BenchOptions): 'quick' | 'partial' | 'latest' {
  if (o.quick) return 'quick';
  const full = !o.atRestOnly && o.atRestNetns && o.servers.length === SERVER_NAMES.length && o.workloads.length === WORKLOADS.length &&
    o.memory && o.fixedRate && o.metricsCost && o.together;
  return full ? 'latest' : 'partial';
}

export class HelpRequested extends Error {
  constructor() { super(USAGE); }
}
