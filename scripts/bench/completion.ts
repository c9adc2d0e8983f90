// `make bench` (after scripts/bench/run.sh): the ndots workload with search completion on
// beside off. A pod of namespace "ns" resolves external names with ndots:5; with completion
// off it sends what glibc sends (each search name, then the name, A and AAAA each: 8 queries
// a lookup); with completion on it sends what glibc sends once the first search name is
// answered with a CNAME (2 queries a lookup). Same Knot backend, the same nodedns (pods
// from an in-test API server, dnsperf sending from the pod's address), server on CPU 0 and
// dnsperf on CPU 1. Reports queries per lookup, lookups per second and nodedns' CPU per lookup.
// Writes bench/results/completion.md. Every process it starts, it stops.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { podObject, startFakeApiServer } from '../../test/helpers/fake-apiserver';
import { dnsperfArgs, parseStats, type DnsperfStats } from './dnsperf';
import { cpuTicksOf, Processes } from './procs';
import { CLIENT_CPU, nodednsArgs, nodednsMissing, REPO, SERVER_CPU, startKnot, waitForDns, type Addr } from './servers';
import { hitName, ndotsQueries, SEARCH_SUFFIXES } from './workloads';

const HIT_NAMES = 2000;
const SECONDS = Number(process.env.NODEDNS_BENCH_COMPLETION_SECONDS ?? 15);
const KNOT: Addr = { ip: '127.0.77.31', port: 5353 };
const NODEDNS: Addr = { ip: '127.0.77.32', port: 5353 };
const POD_IP = '127.0.77.40'; // dnsperf sends from here: the pod the API server lists
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
const log = (m: string) => console.log(`bench completion: ${m}`);

/** What a pod sends per lookup once completion answers its first search name: that name, A and AAAA. */
export function completedQueries(hitNames: number): string {
  const qs: string[] = [];
  for (let i = 0; i < hitNames; i++) qs.push(`${hitName(i)}.${SEARCH_SUFFIXES[0]} A`, `${hitName(i)}.${SEARCH_SUFFIXES[0]} AAAA`);
  return qs.join('\n') + '\n';
}

interface Row { mode: 'off' | 'on'; perLookup: number; stats: DnsperfStats; cpuS: number }

async function main(): Promise<number> {
  const why = nodednsMissing();
  if (why) { console.error(`bench completion: ${why}`); return 1; }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nodedns-bench-completion-'));
  const procs = new Processes(work);
  const api = await startFakeApiServer();
  const stopAll = async () => { await procs.stopAll(); await api.close(); fs.rmSync(work, { recursive: true, force: true }); };
  process.once('SIGINT', () => { procs.killAllSync(); process.exit(130); });
  try {
    api.put(podObject('ns', 'bench', { ips: [POD_IP], node: 'bench-node' }));
    fs.mkdirSync(path.join(work, 'host', 'etc'), { recursive: true });
    fs.writeFileSync(path.join(work, 'host', 'etc', 'resolv.conf'), `nameserver ${KNOT.ip}\n`); // no host search domains
    await startKnot(procs, KNOT, work, HIT_NAMES);
    const files = { off: path.join(work, 'ndots.txt'), on: path.join(work, 'completed.txt') };
    fs.writeFileSync(files.off, ndotsQueries(HIT_NAMES));
    fs.writeFileSync(files.on, completedQueries(HIT_NAMES));
    const rows: Row[] = [];
    for (const mode of ['off', 'on'] as const) {
      const args = [...nodednsArgs({ listen: NODEDNS, backend: KNOT, workDir: work, cacheEntries: 20_000 }),
        '--kube-api', '--kubeconfig', api.kubeconfig, '--node-name', 'bench-node', '--no-watch-kube-dns-configmap',
        '--host-root', path.join(work, 'host'), mode === 'on' ? '--search-completion' : '--no-search-completion',
        // one dnsperf stands for all the pods of a node: it may have as many walks in flight as its queries
        '--search-completion-walks', '1000'];
      const nd = procs.spawn(`nodedns-completion-${mode}`, 'taskset', ['-c', String(SERVER_CPU), process.execPath, ...args], { cwd: REPO });
      await waitForDns(NODEDNS, hitName(0), nd, 20_000);
      const perf = (file: string, extra: { durationS?: number; maxRuns?: number }) => {
        const a = dnsperfArgs({ server: NODEDNS.ip, port: NODEDNS.port, file, outstanding: 100, ...extra }, CLIENT_CPU);
        const r = spawnSync('taskset', [...a, '-a', POD_IP], { encoding: 'utf8', timeout: (SECONDS + 60) * 1000 });
        if (r.status !== 0) throw new Error(`dnsperf failed: ${r.stderr || r.stdout}`);
        return parseStats(r.stdout);
      };
      // the pod is known once a completed answer comes back; then warm every name once
      const until = Date.now() + 30_000;
      while (mode === 'on' && (perf(files.on, { maxRuns: 1 }).rcodes.NXDOMAIN ?? 0) > 0) {
        if (Date.now() > until) throw new Error('nodedns did not start completing within 30 s: is the pod known? (see its log)');
      }
      perf(files[mode], { maxRuns: 1 });
      const before = cpuTicksOf(nd.pid);
      const stats = perf(files[mode], { durationS: SECONDS });
      const cpuS = (cpuTicksOf(nd.pid) - before) / CLK_TCK;
      rows.push({ mode, perLookup: mode === 'on' ? 2 : 2 * (SEARCH_SUFFIXES.length + 1), stats, cpuS });
      await procs.stop(nd);
    }
    const md = render(rows);
    console.log(md);
    fs.mkdirSync(path.join(REPO, 'bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join(REPO, 'bench', 'results', 'completion.md'), md);
    log('written to bench/results/completion.md');
    return 0;
  } finally {
    await stopAll();
  }
}

export function render(rows: Row[]): string {
  const lines = [
    '# ndots:5 workload, search completion off and on',
    '',
    `A pod of namespace "ns" (search ${SEARCH_SUFFIXES.join(' ')}; ndots:5) resolving ${HIT_NAMES} external names, ${SECONDS} s each;`,
    'nodedns on CPU 0, dnsperf on CPU 1 sending from the pod\'s address, Knot behind. Off: every query glibc sends;',
    'on: the first search name, A and AAAA, each answered with a CNAME to the name and its records (NXDOMAIN share: answers',
    'not completed). cluster.local NXDOMAINs live 5 s, so walks are redone during the run, as in a cluster.',
    '',
    '| completion | queries per lookup | queries/s | lookups/s | nodedns CPU per lookup | NXDOMAIN share |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of rows) {
    const lookups = r.stats.qps / r.perLookup;
    const total = Object.values(r.stats.rcodes).reduce((a, b) => a + b, 0) || 1;
    lines.push(`| ${r.mode} | ${r.perLookup} | ${Math.round(r.stats.qps)} | ${Math.round(lookups)} | `
      + `${((r.cpuS / (lookups * r.stats.runTimeS)) * 1e6).toFixed(1)} µs | ${(((r.stats.rcodes.NXDOMAIN ?? 0) / total) * 100).toFixed(0)} % |`);
  }
  return lines.join('\n') + '\n';
}

if (require.main === module) {
  main().then((code) => process.exit(code), (e: Error) => { console.error(`bench completion: ${e.stack ?? e.message}`); process.exit(1); });
}
