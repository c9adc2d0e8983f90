// What one query costs a server in user-space instructions, counted by valgrind's callgrind:
// the same count whatever else the machine does, where QPS and CPU time on a shared VM move
// by tens of percent. For each server: start it under callgrind, warm it (so that V8 has
// compiled the hot paths, by invocation counts, not by time), zero the counters, send N
// queries of one kind, dump, and divide. The serving thread is counted apart from V8's helper
// threads: under valgrind's slowdown, optimizing compiles queued by the warm-up and a
// concurrent marking may or may not fall in the window (two runs at the old 3,000-query warm-up
// read 153,129 and 211,581 instructions a miss for the same build), and they swamp the
// query's own. What the kernel does for a query (socket, bind, connect, close, sends and
// receives) is not counted: compare CPU time together on one core (make bench) for that. JIT code has no symbols for callgrind_annotate: attribute with V8's
// --cpu-prof. nodedns runs with --prefetch-hits 0: refreshes run on a clock, not
// per query, and under valgrind's slowdown they would fall inside the counted window.
// Usage: node --import tsx scripts/bench/cost.ts [--servers nodedns,forwarder] [--queries N] [--warm N] [--nodedns-args '--flag value …']
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dnsperfArgs } from './dnsperf';
import { outputOf, type Processes } from './procs';
import { CLIENT_CPU, startServer, withKnot, type Addr, type Server, type ServerName } from './servers';
import { hitQueries } from './workloads';

const log = (msg: string) => console.log(`cost: ${msg}`);
const BASE = '127.0.78.';

/** Unique never-seen names under the miss wildcard (NOERROR from Knot), `tag` keeping them apart. */
function missFile(dir: string, tag: string, n: number): string {
  const f = path.join(dir, `miss-${tag}.txt`);
  fs.writeFileSync(f, Array.from({ length: n }, (_, i) => `c${i}-${tag}.miss.example.com A`).join('\n') + '\n');
  return f;
}

async function runDnsperf(server: Addr, file: string, passes: number): Promise<string> {
  const r = await outputOf('taskset', dnsperfArgs({ server: server.ip, port: server.port, file, maxRuns: passes, outstanding: 4, timeoutS: 20 }, CLIENT_CPU));
  if (r.code !== 0) throw new Error(`dnsperf exited ${r.code}: ${r.out.slice(-300)}`);
  return r.out;
}

/** Sends a callgrind_control command; the server handles it only while it runs, so a few queries wake it. */
async function control(pid: number, flag: string, server: Addr, wake: string): Promise<void> {
  const c = spawn('callgrind_control', [flag, String(pid)], { stdio: 'ignore' });
  const done = new Promise<void>((r) => c.on('exit', () => r()));
  let finished = false;
  void done.then(() => { finished = true; });
  while (!finished) {
    await runDnsperf(server, wake, 1).catch(() => '');
    await new Promise((r) => setTimeout(r, 200));
  }
}

function totalIr(file: string): number {
  const m = /^(?:summary|totals):\s*(\d+)/m.exec(fs.readFileSync(file, 'utf8'));
  if (!m) throw new Error(`${file}: no totals line`);
  return Number(m[1]);
}

async function measure(procs: Processes, dir: string, name: ServerName, backend: Addr, port: number, idx: number, o: { queries: number; warm: number; nodednsArgs: string[] }) {
  const out = path.join(dir, `cg-${name}`);
  const listen = { ip: BASE + (10 + idx), port };
  const server: Server = await startServer(procs, name, {
    listen, backend, workDir: dir, cacheEntries: 100_000,
    // refreshes run on a clock, not per query: off, so that each query's own cost is counted
    extraArgs: ['--prefetch-hits', '0', ...o.nodednsArgs],
    wrapper: ['valgrind', '--tool=callgrind', `--callgrind-out-file=${out}.%p`, '--dump-instr=no', '--separate-threads=yes'], startTimeoutMs: 180_000,
  });
  const pid = server.proc.pid;
  const hits = path.join(dir, 'hits.txt');
  const wake = path.join(dir, 'wake.txt');
  fs.writeFileSync(wake, 'h0.example.com A\n');
  try {
    log(`${name} under callgrind (pid ${pid}): warming with ${o.warm} misses and ${o.warm} hits`);
    await runDnsperf(listen, missFile(dir, `${name}w`, o.warm), 1);
    await runDnsperf(listen, hits, Math.ceil(o.warm / 1000));
    const result: Record<string, number> = {};
    let part = 0; // callgrind numbers its dumps; with --separate-threads each thread has a file per dump
    for (const kind of ['miss', 'hit'] as const) {
      // the hit names again right before (TTL 30 s: they may have expired while misses ran)
      if (kind === 'hit') await runDnsperf(listen, hits, 1);
      await control(pid, '-z', listen, wake);
      const file = kind === 'miss' ? missFile(dir, `${name}m`, o.queries) : hits;
      await runDnsperf(listen, file, kind === 'miss' ? 1 : Math.ceil(o.queries / 1000));
      await control(pid, '-d', listen, wake);
      part++;
      // thread 1 serves; the others are V8's helpers (compiler, GC) and libuv's pool
      const threads = fs.readdirSync(dir).filter((f) => f.startsWith(`cg-${name}.${pid}.${part}-`)).sort();
      if (threads.length === 0) throw new Error(`${name}: no callgrind dump appeared`);
      const n = kind === 'miss' ? o.queries : Math.ceil(o.queries / 1000) * 1000;
      const per = threads.map((f) => totalIr(path.join(dir, f)) / n);
      result[`${kind}Main`] = per[0];
      result[`${kind}Helpers`] = per.slice(1).reduce((a, b) => a + b, 0);
      const fmt = (x: number) => Math.round(x).toLocaleString('en-US');
      log(`${name} ${kind}: ${fmt(per[0])} instructions per query on the serving thread, ${fmt(result[`${kind}Helpers`])} on helper threads (${n} queries)`);
    }
    return result;
  } finally {
    await procs.stop(server.proc, 10_000);
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (flag: string, def: string) => { const i = argv.indexOf(flag); return i >= 0 ? argv[i + 1] : def; };
  const servers = arg('--servers', 'nodedns,forwarder').split(',') as ServerName[];
  const o = { queries: Number(arg('--queries', '3000')), warm: Number(arg('--warm', '30000')), nodednsArgs: arg('--nodedns-args', '').split(' ').filter(Boolean) };
  await withKnot('nodedns-cost-', BASE, async ({ procs, dir, backend, port }) => {
    fs.writeFileSync(path.join(dir, 'hits.txt'), hitQueries(1000));
    const all: Record<string, Record<string, number>> = {};
    for (const [i, s] of servers.entries()) all[s] = await measure(procs, dir, s, backend, port, i, o);
    console.log(JSON.stringify(all));
  });
}

if (require.main === module) main().catch((e) => { console.error(`cost: ${(e as Error).stack}`); process.exit(1); });
