// Two servers side by side on CPU 0, each driven by its own dnsperf on CPU 1: the CPU time a
// query costs each, and their ratio. For weighing one change (a saved build against the tree's,
// one flag) or nodedns against the forwarder, where `make bench` moves by ±2 % from run to run.
// In both orders: each order starts both servers afresh, and the second swaps which one starts
// first, on which address, and whose dnsperf starts first. On misses, of two identical nodedns
// the one started second read about 6 % cheaper (bench/results/HISTORY.md, 2026-12-06): one order
// alone shows gains that are not there. The ratio reported is the geometric mean of the two
// orders' ratios, in which that cancels.
// Every round asks names new to both, stored by a warm-up right before it (hits and mixed: 1,000
// fresh hit names, three passes; ndots: the burst over fresh names, one pass; miss: nothing to
// warm), on caches filled with 10,000 positive and 10,000 negative answers (all but hits).
// nodedns runs with --prefetch-hits 0: its refreshes run on a clock, and make bench keeps them
// out of the runs it judges too.
// Usage: node --import tsx scripts/bench/pair.ts [--a SERVER] [--b SERVER] [--workload W] [--rounds N] [--secs S]
//          [--a-script FILE] [--b-script FILE] [--a-args '--flag value …'] [--b-args '…'] [--a-node-flags '…'] [--b-node-flags '…']
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dnsperfArgs, parseStats } from './dnsperf';
import { CLK_TCK, cpuTicksOf, outputOf, type Processes } from './procs';
import { CLIENT_CPU, runsOnNode, SERVER_NAMES, startServer, withKnot, type Addr, type Server, type ServerName } from './servers';
import {
  fillNegativeQueries, fillPositiveQueries, freshHitName, freshNdotsQueries, hitQueries, missQueries, mixedQueries, newRunId,
} from './workloads';

export const PAIR_USAGE = `usage: node --import tsx scripts/bench/pair.ts [options]
  --a SERVER, --b SERVER    the two servers (default nodedns and forwarder), of ${SERVER_NAMES.join(', ')}
  --a-script FILE           nodedns A runs this bundle instead of dist/cli.js (cp dist/cli.js /tmp/before.js
                            before a change, rebuild, then --a-script /tmp/before.js --b nodedns); --b-script alike
  --a-args '…'              more nodedns flags for A; --b-args alike
  --a-node-flags '…'        more Node.js/V8 flags for A (nodedns, forwarder or ceiling), after the shipped ones,
                            e.g. '--no-allocation-site-pretenuring'; --b-node-flags alike
  --workload W              hits, mixed (nine in ten hits), miss or ndots (default mixed)
  --rounds N                rounds in each order (default 3)
  --secs S                  seconds of each round (default 6)
Prints each server's QPS per CPU-second by order, and A's over B's (above 1: A is cheaper).`;

const WORKLOADS = ['hits', 'mixed', 'miss', 'ndots'] as const;
export type PairWorkload = typeof WORKLOADS[number];

export interface Side {
  name: ServerName;
  script?: string;
  args: string[];
  nodeFlags: string[];
}

export interface PairOptions {
  a: Side;
  b: Side;
  workload: PairWorkload;
  rounds: number;
  secs: number;
}

/** The options, or an Error that names the flag and the fix. */
export function parsePairArgs(argv: string[]): PairOptions {
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    if (i < 0) return undefined;
    if (i + 1 >= argv.length) throw new Error(`${flag} needs a value\n${PAIR_USAGE}`);
    return argv[i + 1];
  };
  const known = ['--a', '--b', '--a-script', '--b-script', '--a-args', '--b-args', '--a-node-flags', '--b-node-flags', '--workload', '--rounds', '--secs'];
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.includes(argv[i])) throw new Error(`unknown option "${argv[i]}"\n${PAIR_USAGE}`);
  }
  const side = (k: 'a' | 'b', def: ServerName): Side => {
    const name = (value(`--${k}`) ?? def) as ServerName;
    if (!SERVER_NAMES.includes(name)) throw new Error(`--${k} ${name}: not a server; one of ${SERVER_NAMES.join(', ')}`);
    const script = value(`--${k}-script`);
    const args = (value(`--${k}-args`) ?? '').split(' ').filter(Boolean);
    if ((script || args.length > 0) && name !== 'nodedns') throw new Error(`--${k}-script and --${k}-args are for nodedns, not ${name}`);
    if (script && !fs.existsSync(script)) throw new Error(`--${k}-script ${script}: no such file (save a build with: cp dist/cli.js ${script})`);
    const nodeFlags = (value(`--${k}-node-flags`) ?? '').split(' ').filter(Boolean);
    if (nodeFlags.length > 0 && !runsOnNode(name)) throw new Error(`--${k}-node-flags is for nodedns, forwarder or ceiling, not ${name}`);
    return { name, script: script && path.resolve(script), args, nodeFlags };
  };
  const count = (flag: string, def: number, max: number): number => {
    const v = Number(value(flag) ?? def);
    if (!Number.isInteger(v) || v < 1 || v > max) throw new Error(`${flag} must be a whole number from 1 to ${max}`);
    return v;
  };
  const workload = (value('--workload') ?? 'mixed') as PairWorkload;
  if (!WORKLOADS.includes(workload)) throw new Error(`--workload ${workload}: one of ${WORKLOADS.join(', ')}`);
  return { a: side('a', 'nodedns'), b: side('b', 'forwarder'), workload, rounds: count('--rounds', 3, 100), secs: count('--secs', 6, 120) };
}

/** Queries answered and CPU clock ticks spent on them, summed over rounds. */
export interface Tally {
  queries: number;
  ticks: number;
}

export const perCpuSecond = (t: Tally): number => t.queries / (t.ticks / CLK_TCK);

/** A's queries per CPU-second over B's in each order, and their geometric mean (the position effect cancels). */
export function pairRatio(orders: { a: Tally; b: Tally }[]): { byOrder: number[]; both: number } {
  const byOrder = orders.map((o) => perCpuSecond(o.a) / perCpuSecond(o.b));
  return { byOrder, both: Math.exp(byOrder.reduce((s, r) => s + Math.log(r), 0) / byOrder.length) };
}

const BASE = '127.0.74.';
const log = (msg: string) => console.log(`pair: ${msg}`);
const label = (s: Side, k: string) => `${k} ${s.name}${s.script ? ` (${path.basename(s.script)})` : ''}${s.args.length ? ` ${s.args.join(' ')}` : ''}${s.nodeFlags.length ? ` [node ${s.nodeFlags.join(' ')}]` : ''}`;

async function dnsperf(server: Addr, file: string, o: { maxRuns?: number; durationS?: number; outstanding: number }): Promise<string> {
  const r = await outputOf('taskset', dnsperfArgs({ server: server.ip, port: server.port, file, ...o, timeoutS: 5 }, CLIENT_CPU));
  if (r.code !== 0) throw new Error(`dnsperf against ${server.ip} exited ${r.code}: ${r.out.slice(-300)}`);
  return r.out;
}

/** One order: both servers started afresh (first on .10), filled, then `rounds` runs at once. Returns [first, second]. */
async function runOrder(procs: Processes, dir: string, backend: Addr, port: number, o: PairOptions, sides: Side[], tag: string,
  nextSet: () => number): Promise<Tally[]> {
  const servers: Server[] = [];
  try {
    for (const [i, s] of sides.entries()) {
      servers.push(await startServer(procs, s.name, {
        listen: { ip: BASE + (10 + i), port }, backend, workDir: dir, cacheEntries: 10_000, metricsAddr: '', script: s.script, nodeFlags: s.nodeFlags,
        extraArgs: s.name === 'nodedns' ? ['--prefetch-hits', '0', ...s.args] : [],
      }, `${tag}-${i}-${s.name}`));
    }
    const file = (name: string, text: string) => { const f = path.join(dir, `${tag}-${name}.txt`); fs.writeFileSync(f, text); return f; };
    if (o.workload !== 'hits') {
      const pos = file('fill-positive', fillPositiveQueries(10_000));
      const neg = file('fill-negative', fillNegativeQueries(10_000));
      for (const s of servers) {
        await dnsperf(s.listen, pos, { maxRuns: 1, outstanding: 50 });
        await dnsperf(s.listen, neg, { maxRuns: 1, outstanding: 50 });
      }
    }
    const tallies = sides.map(() => ({ queries: 0, ticks: 0 }));
    for (let r = 0; r < o.rounds; r++) {
      const hit = freshHitName(nextSet());
      const runId = newRunId();
      const hits = file(`r${r}-hits`, hitQueries(1000, hit));
      // Read once where every line must be new (sized past any rate two servers on one core reach), else looped.
      const once = o.workload === 'mixed' || o.workload === 'miss';
      const run = o.workload === 'hits' ? hits
        : o.workload === 'mixed' ? file(`r${r}-mixed`, mixedQueries(1000, 100_000 * o.secs, runId, hit))
          : o.workload === 'miss' ? file(`r${r}-miss`, missQueries(30_000 * o.secs, runId))
            : file(`r${r}-ndots`, freshNdotsQueries(1000, runId));
      for (const s of servers) {
        if (o.workload === 'hits' || o.workload === 'mixed') await dnsperf(s.listen, hits, { maxRuns: 3, outstanding: 20 });
        if (o.workload === 'ndots') await dnsperf(s.listen, run, { maxRuns: 1, outstanding: 20 });
      }
      const before = servers.map((s) => cpuTicksOf(s.proc.pid!));
      const outs = await Promise.all(servers.map((s) => dnsperf(s.listen, run, { durationS: o.secs, maxRuns: once ? 1 : undefined, outstanding: 100 })));
      const after = servers.map((s) => cpuTicksOf(s.proc.pid!));
      servers.forEach((s, i) => {
        const t = { queries: parseStats(outs[i]).completed, ticks: after[i] - before[i] };
        tallies[i].queries += t.queries;
        tallies[i].ticks += t.ticks;
        log(`${tag} round ${r + 1}: ${label(sides[i], i === 0 ? 'first' : 'second')} ${Math.round(perCpuSecond(t)).toLocaleString('en-US')} queries per CPU-second`);
      });
      for (const f of [hits, run]) fs.rmSync(f, { force: true });
    }
    return tallies;
  } finally {
    await Promise.all(servers.map((s) => procs.stop(s.proc)));
  }
}

export function runPair(o: PairOptions): Promise<{ orders: { a: Tally; b: Tally }[]; byOrder: number[]; both: number }> {
  return withKnot('nodedns-pair-', BASE, async ({ procs, dir, backend, port }) => {
    let set = 0;
    const nextSet = () => set++;
    const [a1, b1] = await runOrder(procs, dir, backend, port, o, [o.a, o.b], 'A,B', nextSet);
    const [b2, a2] = await runOrder(procs, dir, backend, port, o, [o.b, o.a], 'B,A', nextSet);
    const orders = [{ a: a1, b: b1 }, { a: a2, b: b2 }];
    const { byOrder, both } = pairRatio(orders);
    log(`${o.workload}, ${o.rounds} rounds of ${o.secs} s in each order: ${label(o.a, 'A')} ÷ ${label(o.b, 'B')} in queries per CPU-second`);
    log(`order A,B ${byOrder[0].toFixed(3)}, order B,A ${byOrder[1].toFixed(3)}; both orders ${both.toFixed(3)}`);
    return { orders, byOrder, both };
  });
}

if (require.main === module) {
  if (process.argv.includes('--help')) {
    console.log(PAIR_USAGE);
    process.exit(0);
  }
  let o: PairOptions;
  try {
    o = parsePairArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`pair: ${(e as Error).message}`);
    process.exit(2);
  }
  runPair(o).then((r) => console.log(JSON.stringify(r)), (e) => { console.error(`pair: ${(e as Error).stack}`); process.exit(1); });
}
