// What one node pays for nodedns at rest: the RSS of every process of the pod, idle and
// with both caches full, and its CPU with no queries, in the configuration a DaemonSet
// runs (defaults), with the Kubernetes API on: the in-test API server (the real wire
// format, list and watch) stands in for the cluster's, so that the client is loaded and
// its watches stay open as they would. Node setup (interface, firewall rules) needs root
// and a network namespace of its own: here it is off, and `run` is then one process.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { configMap, dnsService, startFakeApiServer, type FakeApiServer } from '../../test/helpers/fake-apiserver';
import { CLK_TCK, cpuTicksOf, memoryOf, processTree, type Processes, type Proc } from './procs';
import { cleanEnv, NODEDNS_V8_FLAGS, REPO, SERVER_CPU, tail, waitForDns, type Addr } from './servers';
import { hitName } from './workloads';


export interface Footprint {
  /** the command line, flags as given (the rest are defaults) */
  command: string;
  processes: number;
  idleMiB: number; // RSS summed over the processes, serving, synced with the API, scraped once, no queries
  fullMiB: number; // the same after filling both caches
  peakMiB: number; // VmHWM summed
  positive: number; // answers filled (NOERROR seen by the client)
  negative: number; // NXDOMAIN seen by the client
  idleCpuS: number; // seconds the idle CPU was measured over
  idleCpuPct: number; // CPU time of every process over that window, % of one core
  apiRequests: number; // requests the API server saw during the idle window (lists, watches, Events)
}

export interface FootprintSetup {
  procs: Processes;
  workDir: string;
  listen: Addr; // nodedns' DNS address; metrics on port+1, health on port+2 of the same IP
  backend: Addr; // Knot: the upstream, and the cluster DNS found through the kube-dns Service
  idleS: number;
  /** fills the caches through `server` (dnsperf); returns the NOERROR and NXDOMAIN counts */
  fill: (server: { listen: Addr; proc: Proc }) => Promise<{ positive: number; negative: number }>;
  log: (msg: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number) => kib / 1024;

export function footprintArgs(listen: Addr, backend: Addr, kubeconfig: string, workDir: string): string[] {
  return ['run', '--local-ip', listen.ip, '--port', String(listen.port),
    '--no-setup-interface', '--firewall', 'none',
    '--kube-api', '--kubeconfig', kubeconfig,
    '--upstream', `${backend.ip}:${backend.port}`,
    '--metrics-addr', `${listen.ip}:${listen.port + 1}`, '--health-addr', `${listen.ip}:${listen.port + 2}`,
    '--control-socket', path.join(workDir, 'control.sock')];
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within 5 s`)));
  });
}

/** Polls `url` until it answers 200, or throws with the last answer after `ms`. */
async function until200(url: string, proc: Proc, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    if (proc.exitCode() !== undefined) throw new Error(`nodedns exited (code ${proc.exitCode()}); its log ${proc.logFile}:\n${tail(proc.logFile)}`);
    try {
      const r = await get(url);
      if (r.status === 200) return;
      last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${ms / 1000} s (last: ${last}); log ${proc.logFile}:\n${tail(proc.logFile)}`);
    await sleep(250);
  }
}

export async function measureFootprint(s: FootprintSetup): Promise<Footprint> {
  const api: FakeApiServer = await startFakeApiServer();
  try {
    // What nodedns watches at defaults: the kube-dns Service (the cluster DNS) and the kube-dns ConfigMap.
    api.put(dnsService('kube-dns', { address: s.backend.ip, port: s.backend.port }));
    api.put(configMap('kube-system', 'kube-dns', {}));
    // In a pod the credentials are the ServiceAccount's files: no kubeconfig, no YAML parser.
    // The in-test server's kubeconfig as JSON (a kubeconfig may be JSON) comes closest.
    const kubeconfig = path.join(s.workDir, 'kubeconfig.json');
    fs.writeFileSync(kubeconfig, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'bench',
      contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench' } }],
      clusters: [{ name: 'bench', cluster: { server: api.url } }],
      users: [{ name: 'bench', user: {} }],
    }));
    const args = footprintArgs(s.listen, s.backend, kubeconfig, s.workDir);
    const env = { ...cleanEnv(), NODE_NAME: 'bench-node' };
    const proc = s.procs.spawn('nodedns-footprint', 'taskset', ['-c', String(SERVER_CPU), process.execPath, ...NODEDNS_V8_FLAGS,
      path.join(REPO, 'dist', 'cli.js'), ...args], { env, cwd: REPO });
    try {
      await waitForDns(s.listen, hitName(0), proc, 30_000);
      const base = `http://${s.listen.ip}:${s.listen.port + 1}`;
      await until200(`http://${s.listen.ip}:${s.listen.port + 2}/ready`, proc, 30_000);
      await api.waitFor(() => api.openWatches() >= 2, 30_000, 'nodedns to watch the kube-dns Service and ConfigMap');
      // Prometheus scrapes every pod: what a scrape loads is part of the idle figure
      const scrape = await get(`${base}/metrics`);
      if (scrape.status !== 200) throw new Error(`${base}/metrics answered HTTP ${scrape.status}`);
      await sleep(2000);
      const idle = memoryOf(proc.pid);
      const requestsBefore = api.requests.length;
      const t0 = process.hrtime.bigint();
      const cpu0 = cpuTicksOf(proc.pid);
      await sleep(s.idleS * 1000);
      const ticks = cpuTicksOf(proc.pid) - cpu0;
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      const apiRequests = api.requests.length - requestsBefore;
      const filled = await s.fill({ listen: s.listen, proc });
      await get(`${base}/metrics`);
      // V8 collects what the fill left behind once allocation slows (its memory reducer, some
      // seconds later): full is the resident size of a full cache, the peak column the most seen
      await sleep(10_000);
      const full = memoryOf(proc.pid);
      if (proc.exitCode() !== undefined) throw new Error(`nodedns exited during the footprint run; log ${proc.logFile}:\n${tail(proc.logFile)}`);
      return {
        command: `node ${NODEDNS_V8_FLAGS.join(' ')} dist/cli.js ${args.join(' ').replaceAll(kubeconfig, '<in-test API server>').replaceAll(s.workDir, '<dir>')}`,
        processes: processTree(proc.pid).length,
        idleMiB: MiB(idle.rssKiB), fullMiB: MiB(full.rssKiB), peakMiB: MiB(full.hwmKiB),
        positive: filled.positive, negative: filled.negative,
        idleCpuS: wallS, idleCpuPct: ((ticks / CLK_TCK) / wallS) * 100, apiRequests,
      };
    } finally {
      await s.procs.stop(proc);
    }
  } finally {
    await api.close();
  }
}
