// `make bench`: dnsperf against nodedns, Unbound, dnsmasq, a bare Node.js responder (the
// ceiling) and a bare Node.js caching forwarder (the forwarder; in mixed also its shared-socket
// twin, forwarder-shared), same backend, same query
// files, servers on CPU 0 and client on CPU 1. Ceiling, forwarder and nodedns, whose ratios
// are the targets, take turns in interleaved rounds, and in each round also run together, all
// at once on CPU 0: this VM's throughput drifts by ±15-25% between runs minutes apart, and
// even same-round ratios in turns move by ±10%; together, the ratio of QPS per CPU-second
// holds within about ±2% (two copies of one server measure 0.99-1.02 of each other).
// Writes the table to stdout and to bench/results/. Every process it starts, it stops.
import { spawnSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { HelpRequested, parseBenchArgs, resultsName, USAGE, type BenchOptions } from './args';
import { dnsperfArgs, parseStats, parseVerboseLatencies, summarizeLatencies, type DnsperfRun, type DnsperfStats, type LatencySummary } from './dnsperf';
import { CLK_TCK, cpuBusyTicks, cpuStealTicks, cpuTicksOf, memoryOf, Processes, reapOrphans, statCpuTicks } from './procs';
import { cacheCounters } from './cache-counters';
import { measureFootprint } from './footprint';
import { settle } from './settle';
import {
  costPercent, evaluateTargets, forwarderContext, renderMarkdown, TOGETHER_WORKLOADS, togetherCost,
  type FixedRate, type Measurement, type MemoryFill, type Results, type TypicalLoad, type Workload,
} from './report';
import {
  CLIENT_CPU, SERVER_CPU, inNetns, nodednsMissing, REPO, startKnot, startServer, tail, versions,
  type Addr, type Server, type ServerName,
} from './servers';
import { fillNegativeQueries, fillPositiveQueries, freshHitName, freshNdotsQueries, hitQueries, mixedQueries, ndotsQueries, newRunId } from './workloads';

const log = (msg: string) => console.log(`bench: ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number) => kib / 1024;
/** CPU 0's busy ticks, then the steal ticks of CPU 0 and CPU 1 (the larger share is what a run lost to the host). */
const cpuSample = () => {
  const t = fs.readFileSync('/proc/stat', 'utf8');
  return [cpuBusyTicks(t, SERVER_CPU), cpuStealTicks(t, SERVER_CPU), cpuStealTicks(t, CLIENT_CPU)];
};

/** CPU use over a run: the server's own (its process tree) and all of CPU 0's, in percent of one CPU. */
interface CpuUse {
  serverPct: number;
  cpu0Pct: number;
  clientPct: number; // dnsperf's own, sampled until just before it exits: near 100 means the client limited the run
  stealPct: number; // the larger of CPU 0's and CPU 1's steal over the run
}

/** Loopback addresses, one per process, all on one port free for UDP and TCP. */
const BASE = '127.0.77.';
const ADDR_OF: Record<ServerName | 'knot', string> = {
  knot: BASE + 1, ceiling: BASE + 2, nodedns: BASE + 3, unbound: BASE + 4, dnsmasq: BASE + 5, forwarder: BASE + 6,
  'forwarder-shared': BASE + 7,
};
/** The set that runs together (Bench.startTogether): the same servers again, on addresses of their own. */
const TOGETHER_ADDR_OF = Object.fromEntries(Object.entries(ADDR_OF).map(([k, ip]) => [k, ip.replace(BASE, '127.0.76.')])) as typeof ADDR_OF;
/**
 * After this long, every name stored so far that nodedns will refresh has been refreshed: at a
 * random point 27-28.5 s after it was stored (a 30 s TTL, --prefetch-percent 10), and a burst of
 * 8,000 at --prefetch-max-inflight 64 takes well under the rest.
 */
const REFRESHED_WITHIN_MS = 31_000;
/** The second nodedns of the metrics comparison, beside the first (metrics off) on ADDR_OF.nodedns. */
const METRICS_ON_IP = BASE + 8;
/** Measured side by side in paired rounds (all up at once: an idle server costs nothing); the peers run alone. */
const PAIRED: readonly ServerName[] = ['ceiling', 'forwarder', 'forwarder-shared', 'nodedns'];
/** Whose CPU at a typical rate is compared: nodedns and the servers an operator would pick instead. */
const TYPICAL: readonly ServerName[] = ['nodedns', 'unbound', 'dnsmasq'];
/** Only where misses happen in the measured run: elsewhere it is the forwarder, to the byte. */
const MIXED_ONLY: readonly ServerName[] = ['forwarder-shared'];

function bindable(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => { u.close(); resolve(false); });
    u.bind(port, ip, () => {
      const t = http.createServer();
      t.once('error', () => { u.close(); resolve(false); });
      t.listen({ port, host: ip, exclusive: true }, () => t.close(() => { u.close(); resolve(true); }));
    });
  });
}

async function freePort(ips: string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    let ok = true;
    for (const ip of ips) if (!(ok = (await bindable(ip, port)) && (await bindable(ip, port + 1)))) break;
    if (ok) return port;
  }
  throw new Error(`no port free on all of ${ips.join(', ')} after 50 tries; is another benchmark running?`);
}

function preflight(): void {
  const missing = ['taskset', 'dnsperf', 'knotd', 'unbound', 'dnsmasq'].filter((c) => spawnSync('sh', ['-c', `command -v ${c}`]).status !== 0);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run "make test-deps" (or apt-get install dnsperf knot unbound dnsmasq util-linux)`);
  if (os.cpus().length < 2) throw new Error('the benchmark pins the server to CPU 0 and dnsperf to CPU 1: this machine has only one CPU');
}

function machine(): Results['machine'] {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  return {
    cpu: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1].trim() ?? os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    kernel: os.release(),
    versions: versions(),
    loadAvgStart: os.loadavg()[0],
    loadAvgEnd: NaN,
  };
}

class Bench {
  readonly results: Results;
  private files: Record<'hits' | 'ndots' | 'fillPos' | 'fillNeg', string>;
  private maxHitQps = 0;
  private clientLimited: string[] = []; // one note for all, not one a run: with rounds they are many
  private port = 0;
  private backend!: Addr;
  private readonly runId = newRunId();
  /** When the set together last stored names it will refresh (REFRESHED_WITHIN_MS). */
  private storedAt = 0;
  /** Servers of the set together filled (10,000 positive and 10,000 negative answers) before their first mixed or ndots round. */
  private readonly filled = new Set<Server>();
  /** Sets of fresh hit names used so far (freshHitName). */
  private freshSets = 0;

  constructor(private o: BenchOptions, private procs: Processes, private workDir: string) {
    this.results = {
      startedAt: new Date().toISOString(),
      machine: machine(),
      settings: { quick: o.quick, durationS: o.durationS, rounds: o.rounds, outstanding: o.outstanding, fixedRateQps: o.fixedRateQps, hitNames: o.hitNames, verboseLatency: o.verbose },
      measurements: [], together: [], fixedRate: [], memory: [], skipped: [], notes: [],
    };
    const write = (name: string, text: string) => { const f = path.join(workDir, name); fs.writeFileSync(f, text); return f; };
    this.files = {
      hits: write('hits.txt', hitQueries(o.hitNames)),
      ndots: write('ndots.txt', ndotsQueries(o.hitNames)),
      fillPos: write('fill-positive.txt', fillPositiveQueries(10_000)),
      fillNeg: write('fill-negative.txt', fillNegativeQueries(10_000)),
    };
  }

  async run(): Promise<void> {
    this.port = await freePort([...Object.values(ADDR_OF), ...Object.values(TOGETHER_ADDR_OF), METRICS_ON_IP]);
    this.backend = { ip: ADDR_OF.knot, port: this.port };
    log(`Knot backend on ${this.backend.ip}:${this.port} (CPU ${CLIENT_CPU})`);
    await startKnot(this.procs, this.backend, this.workDir, this.o.hitNames);

    let servers = this.o.atRestOnly ? ['nodedns' as const] : this.o.servers;
    const why = servers.includes('nodedns') ? nodednsMissing() : undefined;
    if (why) {
      this.results.skipped.push({ server: 'nodedns', reason: why });
      servers = servers.filter((s) => s !== 'nodedns');
      log(`nodedns skipped: ${why}`);
    }
    if (this.o.atRestOnly) {
      if (!why) await this.footprint();
      this.results.machine.loadAvgEnd = os.loadavg()[0];
      return;
    }
    const paired = servers.filter((s) => PAIRED.includes(s));
    if (paired.length) await this.measurePaired(paired);
    for (const s of servers) if (!PAIRED.includes(s)) await this.measureServer(s);
    const measured = (s: ServerName) => servers.includes(s) && !this.results.skipped.some((k) => k.server === s);
    if (this.o.fixedRate) for (const s of TYPICAL) if (measured(s)) await this.typical(s);
    if (this.o.memory && measured('nodedns')) await this.footprint();
    if (this.o.memory && measured('unbound')) await this.memoryFill('unbound');
    if (this.o.metricsCost && measured('nodedns')) await this.metricsCost();
    if (this.clientLimited.length) {
      this.results.notes.push(`dnsperf used more than 90% of CPU ${CLIENT_CPU} in ${this.clientLimited.join(', ')}: ` +
        'the client, not the server, may have limited these runs; their QPS is a lower bound');
    }
    this.results.machine.loadAvgEnd = os.loadavg()[0];
  }

  private async start(name: ServerName, label: string, metricsAddr = '', ip = ADDR_OF[name]): Promise<Server> {
    return startServer(this.procs, name, {
      listen: { ip, port: this.port }, backend: this.backend, workDir: this.workDir, cacheEntries: 10_000, metricsAddr,
    }, label);
  }

  private metricsAddr(): string {
    return `${ADDR_OF.nodedns}:${this.port + 1}`;
  }

  /** Runs dnsperf on CPU 1 to completion; bounded by a watchdog in case a server stops answering. */
  private async dnsperf(label: string, run: Omit<DnsperfRun, 'server' | 'port'>, server: Server): Promise<{ stats: DnsperfStats; latency?: LatencySummary; cpu: CpuUse }> {
    const out = path.join(this.workDir, `dnsperf-${label}.out`);
    const full: DnsperfRun = { ...run, server: server.listen.ip, port: server.listen.port };
    const t0 = process.hrtime.bigint();
    const server0 = cpuTicksOf(server.proc.pid);
    const before = cpuSample();
    // beside the server's clients: in its network namespace when it runs in one
    const p = this.procs.spawn(`dnsperf-${label}`, ...inNetns(server.netns, 'taskset', dnsperfArgs(full, CLIENT_CPU)), { stdoutFile: out });
    let clientTicks = 0;
    const sampler = setInterval(() => {
      try { clientTicks = statCpuTicks(fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8')); } catch { /* exiting */ }
    }, 100);
    const limitS = (run.durationS ?? 60) + (run.timeoutS ?? 2) + 15;
    const watchdog = setTimeout(() => { log(`dnsperf ${label} ran past ${limitS} s: stopping it`); void this.procs.stop(p); }, limitS * 1000);
    const code = await p.exited;
    clearTimeout(watchdog);
    clearInterval(sampler);
    const ticks = (Number(process.hrtime.bigint() - t0) / 1e9) * CLK_TCK;
    const after = cpuSample();
    const cpu: CpuUse = {
      serverPct: ((cpuTicksOf(server.proc.pid) - server0) / ticks) * 100,
      cpu0Pct: ((after[0] - before[0]) / ticks) * 100,
      clientPct: (clientTicks / ticks) * 100,
      stealPct: (Math.max(after[1] - before[1], after[2] - before[2]) / ticks) * 100,
    };
    const text = fs.readFileSync(out, 'utf8');
    fs.rmSync(out, { force: true });
    if (code !== 0) throw new Error(`dnsperf (${label}) exited with ${code}: ${tail(p.logFile)}\n${text.slice(-500)}`);
    if (server.proc.exitCode() !== undefined) {
      throw new Error(`${server.label} exited (code ${server.proc.exitCode()}) during ${label}; its log ${server.proc.logFile}:\n${tail(server.proc.logFile)}`);
    }
    const stats = parseStats(text);
    const latency = run.verbose ? summarizeLatencies(parseVerboseLatencies(text)) : undefined;
    return { stats, latency, cpu };
  }

  /** One pass through a file at a modest rate, so that the measured run starts warm. */
  private async warm(server: Server, file: string, label: string): Promise<void> {
    await this.dnsperf(`${label}-warm`, { file, maxRuns: 1, outstanding: 20 }, server);
  }

  /**
   * A mixed file with names none of the servers that read it has seen (they are separate
   * processes: they may share it), `tag` telling it from the run's other mixed files.
   * The caller deletes it: at 6 s it can be a million lines.
   */
  private writeMixedFile(tag: string, lines?: number, hit?: (i: number) => string): string {
    // Read once (-n 1) so every tenth name is new to the server: sized for 150,000 QPS or
    // 2.5 times the fastest hit rate seen so far, so that the run ends on time, not on the file.
    const perS = Math.max(150_000, this.maxHitQps * 2.5);
    const total = lines ?? Math.min(3_000_000, Math.max(200_000, Math.ceil(perS * this.o.durationS)));
    const file = path.join(this.workDir, `mixed-${tag}.txt`);
    fs.writeFileSync(file, mixedQueries(this.o.hitNames, total, `${this.runId}-${tag}`, hit));
    return file;
  }

  /**
   * The run's file for the set together, with names none of its servers has seen: fresh hit
   * names (set `n`, freshHitName) for hits and mixed, written to togetherHitsPath(tag) as well for
   * the warm-up; ndots' own. `tag` tells the files from the run's others; the caller deletes them.
   */
  private writeTogetherFile(w: Workload, tag: string, n: number): string {
    if (w === 'ndots') {
      const file = path.join(this.workDir, `together-${tag}.txt`);
      fs.writeFileSync(file, freshNdotsQueries(this.o.hitNames, `${this.runId}-${tag}`));
      return file;
    }
    fs.writeFileSync(this.togetherHitsPath(tag), hitQueries(this.o.hitNames, freshHitName(n)));
    return w === 'hits' ? this.togetherHitsPath(tag) : this.writeMixedFile(tag, undefined, freshHitName(n));
  }

  private togetherHitsPath(tag: string): string {
    return path.join(this.workDir, `together-hits-${tag}.txt`);
  }

  private fileFor(w: Workload, tag: string): string {
    return w === 'mixed' ? this.writeMixedFile(tag) : this.files[w];
  }

  /** Before a workload's runs. Mixed warms with the hit names: they may have expired (TTL 30 s) since the hits runs. */
  private async warmFor(server: Server, w: Workload): Promise<void> {
    await this.warm(server, w === 'ndots' ? this.files.ndots : this.files.hits, `${server.label}-${w}`);
  }

  /** One max-throughput run; `together`: one of several at once on CPU 0 (no per-query latencies: dnsperf -v costs the shared client CPU). */
  private async maxRun(server: Server, w: Workload, file: string, round?: number, together = false): Promise<Measurement> {
    const label = `${server.label}-${w}${round === undefined ? '' : `-r${round}`}${together ? '-together' : ''}`;
    const { stats, latency, cpu } = await this.dnsperf(label, {
      file, durationS: this.o.durationS, outstanding: this.o.outstanding, verbose: this.o.verbose && !together,
      maxRuns: w === 'mixed' ? 1 : undefined,
    }, server);
    if (w === 'hits' && !together) this.maxHitQps = Math.max(this.maxHitQps, stats.qps);
    if (w === 'mixed' && stats.runTimeS < this.o.durationS * 0.9) {
      this.results.notes.push(`${label}: the query file (read once) ran out after ${stats.runTimeS.toFixed(1)} s; QPS is over that time`);
    }
    const mem = server.memory();
    const m: Measurement = {
      server: server.label, workload: w, ...(round === undefined ? {} : { round }), qps: stats.qps, avgMs: stats.avgLatencyMs, p99Ms: latency?.p99Ms ?? NaN,
      sent: stats.sent, lost: stats.lost, rcodes: stats.rcodes, rssMiB: MiB(mem.rssKiB), hwmMiB: MiB(mem.hwmKiB), runTimeS: stats.runTimeS,
      serverCpuPct: cpu.serverPct, cpu0BusyPct: cpu.cpu0Pct, clientCpuPct: cpu.clientPct, stealPct: cpu.stealPct,
    };
    if (cpu.clientPct > 90) this.clientLimited.push(`${label} ${cpu.clientPct.toFixed(0)}%`);
    (together ? this.results.together! : this.results.measurements).push(m);
    log(`${server.label.padEnd(9)} ${w.padEnd(6)} ${round === undefined ? '  ' : `r${round}`}${together ? ' together' : ''} ${Math.round(m.qps).toString().padStart(7)} QPS  avg ${m.avgMs.toFixed(3)} ms  ` +
      `p99 ${m.p99Ms.toFixed(3)} ms  lost ${m.lost}  RSS ${m.rssMiB.toFixed(1)} MiB  ` +
      `CPU ${m.serverCpuPct.toFixed(0)}% (CPU 0 ${m.cpu0BusyPct.toFixed(0)}%, dnsperf ${cpu.clientPct.toFixed(0)}%, steal ${cpu.stealPct.toFixed(0)}%)  ${JSON.stringify(m.rcodes)}`);
    return m;
  }

  private async fixedRun(server: Server): Promise<void> {
    await this.warm(server, this.files.hits, `${server.label}-fixed`);
    const { stats, latency } = await this.dnsperf(`${server.label}-fixed`, {
      file: this.files.hits, durationS: this.o.fixedDurationS, outstanding: 100, rateQps: this.o.fixedRateQps, verbose: true,
    }, server);
    const f: FixedRate = {
      server: server.label, targetQps: this.o.fixedRateQps, qps: stats.qps, avgMs: stats.avgLatencyMs,
      p50Ms: latency!.p50Ms, p99Ms: latency!.p99Ms, lost: stats.lost,
    };
    this.results.fixedRate.push(f);
    if (stats.qps < this.o.fixedRateQps * 0.95) {
      this.results.notes.push(`${server.label} reached only ${Math.round(stats.qps)} of the fixed ${this.o.fixedRateQps} QPS: its p99 is a saturated one`);
    }
    log(`${server.label.padEnd(9)} fixed ${Math.round(f.qps)} QPS  avg ${f.avgMs.toFixed(3)} ms  p50 ${f.p50Ms.toFixed(3)} ms  p99 ${f.p99Ms.toFixed(3)} ms  lost ${f.lost}`);
  }

  /**
   * CPU at a typical rate: the mixed workload (every tenth name new) at a fixed --typical-rate,
   * after a warm-up with the hit names. What a node pays on an ordinary day, beside the peers.
   */
  private async typicalRun(server: Server): Promise<void> {
    await this.warm(server, this.files.hits, `${server.label}-typical`);
    const rate = this.o.typicalQps;
    const file = this.writeMixedFile(`q${server.name.slice(0, 3)}`, Math.ceil(rate * this.o.fixedDurationS * 1.5) + 1000);
    try {
      const { stats, cpu } = await this.dnsperf(`${server.label}-typical`, {
        file, durationS: this.o.fixedDurationS, outstanding: 100, rateQps: rate, maxRuns: 1,
      }, server);
      const t: TypicalLoad = { server: server.name, targetQps: rate, qps: stats.qps, serverCpuPct: cpu.serverPct, lost: stats.lost };
      (this.results.typical ??= []).push(t);
      log(`${server.name.padEnd(9)} typical ${Math.round(t.qps)} QPS mixed  CPU ${t.serverCpuPct.toFixed(1)}%  lost ${t.lost}`);
    } finally {
      fs.rmSync(file, { force: true });
    }
  }

  /**
   * A fresh server for the typical-rate run: one that ran the ndots workload would still be
   * refreshing its thousands of 5-second NXDOMAINs on a clock (nodedns), which is not the
   * cost of this workload.
   */
  private async typical(name: ServerName): Promise<void> {
    let server: Server;
    try {
      server = await this.start(name, `${name}-typical`);
      log(`${name} pid ${server.proc.pid} on ${server.listen.ip}:${server.listen.port} (typical rate)`);
    } catch (e) {
      this.results.notes.push(`${name} did not start for the typical-rate run: ${(e as Error).message.split('\n')[0]}`);
      return;
    }
    try {
      await this.typicalRun(server);
    } catch (e) {
      this.results.notes.push(`${name} typical-rate run failed: ${(e as Error).message.split('\n')[0]}`);
    } finally {
      await this.procs.stop(server.proc);
    }
  }

  /** Starts a server to measure, or records why it did not start. */
  private async startMeasured(name: ServerName, ip = ADDR_OF[name]): Promise<Server | undefined> {
    const metrics = name === 'nodedns' && this.o.nodednsMetrics ? `${ip}:${this.port + 1}` : '';
    try {
      const server = await this.start(name, name, metrics, ip);
      log(`${name} pid ${server.proc.pid} on ${server.listen.ip}:${server.listen.port}${metrics ? ` (metrics on ${metrics})` : ''}`);
      return server;
    } catch (e) {
      this.results.skipped.push({ server: name, reason: `did not start: ${(e as Error).message.split('\n')[0]}` });
      log(`${name} did not start: ${(e as Error).message}`);
      return undefined;
    }
  }

  private failed(name: ServerName, e: unknown): void {
    this.results.skipped.push({ server: name, reason: `failed during the run: ${(e as Error).message.split('\n')[0]}` });
    log(`${name} failed: ${(e as Error).message}`);
  }

  /**
   * Ceiling, forwarder and nodedns up at once; per workload, rounds of one warmed run
   * each in turns, order reversed every other round (A B C, C B A, …) so that drift hits
   * all alike, then one run of them together. One that fails is stopped and dropped; the others go on.
   */
  private async measurePaired(names: ServerName[]): Promise<void> {
    let live = (await Promise.all(names.map((n) => this.startMeasured(n)))).filter((s): s is Server => Boolean(s));
    let pack = this.o.together && live.length > 1 ? await this.startTogether(live.map((s) => s.name)) : []; // together needs two
    const each = async (servers: Server[], fn: (s: Server) => Promise<void>) => {
      for (const s of servers) {
        if (!live.includes(s)) continue;
        try {
          await fn(s);
        } catch (e) {
          this.failed(s.name, e);
          live = live.filter((x) => x !== s);
          await this.procs.stop(s.proc);
        }
      }
    };
    const here = (w: Workload) => live.filter((s) => w === 'mixed' || !MIXED_ONLY.includes(s.name));
    try {
      for (const w of this.o.workloads) {
        for (let round = 0; round < this.o.rounds; round++) {
          const file = this.fileFor(w, `r${round}`); // mixed: new names for every round
          try {
            // Warmed right before each run, as a peer is: the ndots NXDOMAINs live 5 s, and a
            // warm-up taken before the others' runs would have expired by a server's turn.
            const servers = here(w);
            await each(round % 2 ? [...servers].reverse() : servers, async (s) => {
              await this.warmFor(s, w);
              await this.maxRun(s, w, file, round);
            });
          } finally {
            if (w === 'mixed') fs.rmSync(file, { force: true });
          }
          const together = pack.filter((s) => w === 'mixed' || !MIXED_ONLY.includes(s.name));
          if (TOGETHER_WORKLOADS.includes(w) && together.length > 1) {
            for (const [s, e] of await this.together(together, w, round)) {
              this.failed(s.name, e);
              pack = pack.filter((x) => x !== s);
              await this.procs.stop(s.proc);
            }
          }
        }
      }
      const nodedns = live.find((s) => s.name === 'nodedns');
      if (nodedns && this.o.fixedRate) await each([nodedns], (s) => this.fixedRun(s));
    } finally {
      await Promise.all([...live, ...pack].map((s) => this.procs.stop(s.proc)));
    }
  }

  /**
   * The servers that run together: a second set of the paired servers, on addresses of their
   * own, that runs nothing else. nodedns refreshes each popular name 27-28.5 s after storing it
   * (--prefetch-percent 10 of a 30 s TTL), on a clock; the forwarder (no TTLs) and the ceiling never
   * do. The set in turns keeps the hit names popular all through, so their refreshes came due
   * every 28 s whatever ran, and with the same processes the names of a round together were
   * refreshed in a later one (ndots: 8,000 names, about 2 s of CPU). This set asks names new to all
   * in every round (stored by the warm-up right before it) and waits out the refreshes of the last
   * round's before the next (together()). Long-lived, as the set in turns: servers started anew
   * before each round measured their start-up (compilation, the heap growing) in it. Its code is
   * compiled by three passes of the hit names (two hits each: none reaches --prefetch-hits).
   * Before its first mixed or ndots round each is filled with 10,000 positive and 10,000 negative
   * answers, so that those run on full caches (nodedns evicts on every store of mixed), as they
   * did on the set in turns after its own mixed runs; hits, the first workload, on a cache of
   * little more than its names, as before.
   */
  private async startTogether(names: ServerName[]): Promise<Server[]> {
    const pack: Server[] = [];
    for (const n of names) {
      const s = await this.startMeasured(n, TOGETHER_ADDR_OF[n]);
      if (!s) continue;
      try {
        await this.dnsperf(`${s.label}-together-warm`, { file: this.files.hits, maxRuns: 3, outstanding: 20 }, s);
        pack.push(s);
      } catch (e) {
        this.failed(n, e);
        await this.procs.stop(s.proc);
      }
    }
    this.storedAt = Date.now();
    return pack;
  }

  /**
   * The round's servers all at once on CPU 0, each warmed with names new to all of them (every
   * workload), then each driven by its own dnsperf. The kernel shares the core among them, and
   * what the host takes from it, it takes from all. nodedns' cache counters around the runs
   * (Measurement.refreshes) show that no refresh fell in them. Returns the servers that failed, with why.
   */
  private async together(servers: Server[], w: Workload, round: number): Promise<[Server, unknown][]> {
    // the names nodedns stored last (the last round's) are refreshed by now: none of them in this round
    const wait = this.storedAt + REFRESHED_WITHIN_MS - Date.now();
    if (wait > 0 && servers.some((s) => s.name === 'nodedns')) await sleep(wait);
    const tag = `t${round}${w[0]}`;
    const file = this.writeTogetherFile(w, tag, this.freshSets++);
    const failed: [Server, unknown][] = [];
    try {
      for (const s of servers) {
        try {
          if (w !== 'hits' && !this.filled.has(s)) {
            await this.dnsperf(`${s.label}-together-fill-positive`, { file: this.files.fillPos, maxRuns: 1, outstanding: 50 }, s);
            await this.dnsperf(`${s.label}-together-fill-negative`, { file: this.files.fillNeg, maxRuns: 1, outstanding: 50 }, s);
            this.filled.add(s);
          }
        } catch (e) { failed.push([s, e]); }
      }
      for (const s of servers) {
        if (failed.some(([f]) => f === s)) continue;
        try {
          // hits and mixed: three passes of their hit names, stored and then hit (compiled, popular); ndots: its names, stored
          if (w === 'ndots') await this.warm(s, file, `${s.label}-${w}-t${round}`);
          else await this.dnsperf(`${s.label}-${w}-t${round}-warm`, { file: this.togetherHitsPath(tag), maxRuns: 3, outstanding: 20 }, s);
        } catch (e) { failed.push([s, e]); }
      }
      this.storedAt = Date.now();
      const ok = servers.filter((s) => !failed.some(([f]) => f === s));
      const counted = ok.filter((s) => s.name === 'nodedns');
      const before = await Promise.all(counted.map((s) => cacheCounters(s.listen.ip, s.listen.port)));
      const runs = await Promise.allSettled(ok.map((s) => this.maxRun(s, w, file, round, true)));
      const after = await Promise.all(counted.map((s) => cacheCounters(s.listen.ip, s.listen.port)));
      counted.forEach((s, i) => {
        const run = runs[ok.indexOf(s)];
        if (run.status !== 'fulfilled') return;
        const [b, a] = [before[i], after[i]];
        if (!b || !a) {
          this.results.notes.push(`${run.value.server} ${w} r${round} together: its cache counters (CH TXT cache.nodedns) did not answer; the refreshes in the run are not known`);
          return;
        }
        run.value.refreshes = a.refreshes - b.refreshes;
        run.value.misses = a.misses - b.misses;
      });
      runs.forEach((x, i) => { if (x.status === 'rejected') failed.push([ok[i], x.reason]); });
      const client = runs.reduce((t, x) => t + (x.status === 'fulfilled' ? x.value.clientCpuPct : 0), 0);
      if (client > 90) this.clientLimited.push(`${w}-r${round}-together (all dnsperfs) ${client.toFixed(0)}%`);
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(this.togetherHitsPath(tag), { force: true });
    }
    return failed;
  }

  /** A peer (Unbound, dnsmasq) on its own: one run per workload. */
  private async measureServer(name: ServerName): Promise<void> {
    const server = await this.startMeasured(name);
    if (!server) return;
    try {
      for (const w of this.o.workloads) {
        await this.warmFor(server, w);
        const file = this.fileFor(w, 'p');
        try {
          await this.maxRun(server, w, file);
        } finally {
          if (w === 'mixed') fs.rmSync(file, { force: true });
        }
      }
      if (this.o.fixedRate && name === 'unbound') await this.fixedRun(server);
    } catch (e) {
      this.failed(name, e);
    } finally {
      await this.procs.stop(server.proc);
    }
  }

  /** nodedns as a DaemonSet runs it (defaults, node setup on, the Kubernetes API on): RSS idle and full, idle CPU. */
  private async footprint(): Promise<void> {
    const f = await measureFootprint({
      procs: this.procs, workDir: this.workDir, hitNames: this.o.hitNames, idleS: this.o.idleS, netns: this.o.atRestNetns, log,
      loopback: { listen: { ip: ADDR_OF.nodedns, port: this.port }, backend: this.backend },
      fill: async (server) => {
        const s = { ...server, name: 'nodedns' as const, label: 'nodedns-footprint', memory: () => memoryOf(server.proc.pid) };
        const pos = await this.dnsperf('nodedns-fill-positive', { file: this.files.fillPos, maxRuns: 1, outstanding: 50 }, s);
        const neg = await this.dnsperf('nodedns-fill-negative', { file: this.files.fillNeg, maxRuns: 1, outstanding: 50 }, s);
        return { positive: pos.stats.rcodes.NOERROR ?? 0, negative: neg.stats.rcodes.NXDOMAIN ?? 0 };
      },
    });
    this.results.footprint = f;
    if (f.positive < 9_900 || f.negative < 9_900) {
      this.results.notes.push(`nodedns footprint fill: expected ~10,000 NOERROR and ~10,000 NXDOMAIN, got ${f.positive} and ${f.negative}; its full figure is not of full caches`);
    }
    if (f.nodeSetup && !f.nodeSetup.on) {
      this.results.notes.push(`nodedns at rest was measured with node setup OFF (${f.nodeSetup.why}): the memory and idle CPU budget is for node setup on, ` +
        'which costs more (its address and rules, and the iptables its resync runs every 10 s)');
    }
    log(`nodedns  footprint (${f.processes} process${f.processes > 1 ? 'es' : ''}, node setup ${f.nodeSetup?.on ? 'on' : 'off'}, Kubernetes API on): ` +
      `idle ${f.idleMiB.toFixed(1)} MiB, full ${f.fullMiB.toFixed(1)} MiB; idle CPU ${f.idleCpuPct.toFixed(2)}% over ${f.idleCpuS.toFixed(0)} s (${f.apiRequests} API requests)`);
  }

  /** RSS idle, then after 10,000 distinct positive and 10,000 distinct negative answers. */
  private async memoryFill(name: 'nodedns' | 'unbound'): Promise<void> {
    const server = await this.start(name, `${name}-memory`);
    try {
      await sleep(1000);
      const idle = server.memory();
      const pos = await this.dnsperf(`${name}-fill-positive`, { file: this.files.fillPos, maxRuns: 1, outstanding: 50 }, server);
      const neg = await this.dnsperf(`${name}-fill-negative`, { file: this.files.fillNeg, maxRuns: 1, outstanding: 50 }, server);
      await sleep(1000);
      const filled = server.memory();
      const ok = (pos.stats.rcodes.NOERROR ?? 0) >= 9_900 && (neg.stats.rcodes.NXDOMAIN ?? 0) >= 9_900;
      if (!ok) {
        this.results.notes.push(`${name} memory fill: expected ~10,000 NOERROR and ~10,000 NXDOMAIN, got ` +
          `${JSON.stringify(pos.stats.rcodes)} and ${JSON.stringify(neg.stats.rcodes)}; its figure is not of a full cache`);
      }
      const f: MemoryFill = {
        server: name, positive: 10_000, negative: 10_000, idleMiB: MiB(idle.rssKiB), filledMiB: MiB(filled.rssKiB), peakMiB: MiB(filled.hwmKiB),
        bytesPerEntry: ((filled.rssKiB - idle.rssKiB) * 1024) / 20_000,
      };
      this.results.memory.push(f);
      log(`${name.padEnd(8)} memory idle ${f.idleMiB.toFixed(1)} MiB, filled ${f.filledMiB.toFixed(1)} MiB, ${Math.round(f.bytesPerEntry)} bytes/entry`);
    } finally {
      await this.procs.stop(server.proc);
    }
  }

  /**
   * Hit QPS with metrics off and on. Together (the default): both at once on CPU 0, each
   * with its own dnsperf, once per round. Else alternating (off on on off …) so drift hits both alike.
   */
  private async metricsCost(): Promise<void> {
    if (!this.o.together) return this.metricsCostInTurns();
    const off = await this.start('nodedns', 'nodedns-metrics-off');
    const on = await this.start('nodedns', 'nodedns-metrics-on', this.metricsAddr(), METRICS_ON_IP).catch(async (e) => { await this.procs.stop(off.proc); throw e; });
    const qps: Record<'off' | 'on', number[]> = { off: [], on: [] };
    const perCpu: Record<'off' | 'on', number[]> = { off: [], on: [] };
    try {
      await this.noteIfNoMetrics();
      for (let round = 0; round < this.o.metricsRounds; round++) {
        for (const s of [off, on]) await this.warm(s, this.files.hits, s.label);
        const [a, b] = await Promise.all([off, on].map((s) => this.dnsperf(`${s.label}-${round}`, {
          file: this.files.hits, durationS: this.o.durationS, outstanding: this.o.outstanding,
        }, s)));
        for (const [k, x] of [['off', a], ['on', b]] as const) {
          qps[k].push(x.stats.qps);
          perCpu[k].push((x.stats.qps * 100) / x.cpu.serverPct);
          log(`nodedns-metrics-${k.padEnd(3)} r${round} together ${Math.round(x.stats.qps)} QPS  CPU ${x.cpu.serverPct.toFixed(0)}%`);
        }
      }
    } finally {
      await Promise.all([off, on].map((s) => this.procs.stop(s.proc)));
    }
    this.results.metricsCost = {
      offQps: qps.off, onQps: qps.on, costPercent: costPercent(qps.off, qps.on),
      offQpsPerCpu: perCpu.off, onQpsPerCpu: perCpu.on, costPerCpuPercent: costPercent(perCpu.off, perCpu.on),
      togetherCostPercent: togetherCost(perCpu.off, perCpu.on),
    };
  }

  /** The "on" nodedns must really serve /metrics, or the comparison measures only the flag. */
  private async noteIfNoMetrics(): Promise<void> {
    if (await scrape(`http://${this.metricsAddr()}/metrics`)) return;
    this.results.notes.push(`nodedns with --metrics-addr ${this.metricsAddr()} served no /metrics: the comparison shows only the flag's cost`);
  }

  private async metricsCostInTurns(): Promise<void> {
    const offQps: number[] = [];
    const onQps: number[] = [];
    const offPerCpu: number[] = [];
    const onPerCpu: number[] = [];
    for (let round = 0; round < this.o.metricsRounds; round++) {
      const order = round % 2 === 0 ? [false, true] : [true, false];
      for (const on of order) {
        const label = `nodedns-metrics-${on ? 'on' : 'off'}`;
        const server = await this.start('nodedns', label, on ? this.metricsAddr() : '');
        try {
          await this.warm(server, this.files.hits, label);
          const { stats, cpu } = await this.dnsperf(`${label}-${round}`, {
            file: this.files.hits, durationS: this.o.durationS, outstanding: this.o.outstanding, verbose: this.o.verbose,
          }, server);
          (on ? onQps : offQps).push(stats.qps);
          (on ? onPerCpu : offPerCpu).push((stats.qps * 100) / cpu.serverPct);
          log(`${label.padEnd(19)} ${Math.round(stats.qps)} QPS  CPU ${cpu.serverPct.toFixed(0)}%`);
          if (on && round === 0) await this.noteIfNoMetrics();
        } finally {
          await this.procs.stop(server.proc);
        }
      }
    }
    this.results.metricsCost = {
      offQps, onQps, costPercent: costPercent(offQps, onQps),
      offQpsPerCpu: offPerCpu, onQpsPerCpu: onPerCpu, costPerCpuPercent: costPercent(offPerCpu, onPerCpu),
    };
  }
}

function scrape(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

function writeResults(r: Results, o: BenchOptions): string[] {
  const dir = path.resolve(REPO, o.outDir);
  fs.mkdirSync(dir, { recursive: true });
  const md = renderMarkdown(r) + '\n';
  const json = JSON.stringify({ ...r, targets: evaluateTargets(r), context: forwarderContext(r) }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n';
  const base = resultsName(o);
  const written = [path.join(dir, `${base}.md`), path.join(dir, `${base}.json`)];
  fs.writeFileSync(written[0], md);
  fs.writeFileSync(written[1], json);
  if (base === 'latest') {
    const stamped = path.join(dir, `${r.startedAt.replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(stamped, json);
    written.push(stamped);
  }
  return written;
}

async function main(): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof HelpRequested) { console.log(USAGE); return 0; }
    console.error(`bench: ${(e as Error).message}`);
    return 2;
  }
  preflight();
  for (const r of reapOrphans()) log(`stopped a process left by an earlier run that was killed: ${r}`);
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nodedns-bench-'));
  const procs = new Processes(workDir);
  let failed = false;

  // Ctrl-C, SIGTERM, SIGHUP: stop everything, then leave. A second signal or a stuck stop: SIGKILL.
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    const code = 128 + (os.constants.signals[sig] ?? 1);
    if (stopping) { procs.killAllSync(); process.exit(code); }
    stopping = true;
    log(`${sig}: stopping every process the benchmark started`);
    setTimeout(() => { procs.killAllSync(); process.exit(code); }, 5000).unref();
    void procs.stopAll().finally(() => { fs.rmSync(workDir, { recursive: true, force: true }); process.exit(code); });
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  process.on('exit', () => procs.killAllSync());

  if (o.settleS > 0) await settle({ load: () => os.loadavg()[0], sleep: async (ms) => { await sleep(ms); }, log }, o.settleS * 1000);
  const bench = new Bench(o, procs, workDir);
  try {
    log(o.atRestOnly
      ? `nodedns at rest only: idle CPU over ${o.idleS} s; work dir ${workDir}`
      : `${o.quick ? 'quick run' : 'full run'}: servers ${o.servers.join(', ')}; workloads ${o.workloads.join(', ')}; ${o.durationS} s each; work dir ${workDir}`);
    await bench.run();
  } catch (e) {
    failed = true;
    console.error(`bench: ${(e as Error).message}`);
  } finally {
    await procs.stopAll();
  }
  if (bench.results.measurements.length === 0 && !bench.results.footprint) {
    console.error(`bench: nothing was measured; logs kept in ${workDir}`);
    return 1;
  }
  const written = writeResults(bench.results, o);
  console.log('\n' + renderMarkdown(bench.results));
  log(`results written to ${written.map((f) => path.relative(REPO, f)).join(', ')}`);
  if (failed) {
    log(`logs kept in ${workDir}`);
    return 1;
  }
  fs.rmSync(workDir, { recursive: true, force: true });
  return 0;
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e) => { console.error(`bench: ${(e as Error).stack}`); process.exit(1); });
}
