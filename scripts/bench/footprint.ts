// What one node pays for nodedns at rest: the RSS of every process of the pod, idle and
// with both caches full, and its CPU with no queries, in the configuration a DaemonSet
// runs (defaults), with node setup on and the Kubernetes API on: the in-test API server (the
// real wire format, list and watch) stands in for the cluster's, so that the client is
// loaded and its watches stay open as they would. Node setup needs root and a network
// namespace of its own: the benchmark creates them (footprint-node.ts); where it cannot, the
// measurement runs with node setup off and says so.
//
// What is counted. RSS: every process of nodedns' tree that runs its executable (node): with
// the default one worker, one process; the iptables or nft its resync runs for a moment are
// not nodedns' resident memory. Idle CPU: every process of the tree, plus the CPU of the
// children nodedns ran and reaped in the window (cutime + cstime of /proc/PID/stat): the
// rule checks every --sync-interval (10 s) are part of what a node pays for it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { NODE_ENV_DEFAULTS } from '../../src/node-flags';
import { configMap, dnsService, startFakeApiServer, type FakeApiServer } from '../../test/helpers/fake-apiserver';
import { footprintNode, type FootprintNode, type NodeSetup } from './footprint-node';
import { CLK_TCK, cpuTicksOf, memoryOf, type Processes, type Proc } from './procs';
import { inNetns, nodednsEnv, NODEDNS_V8_FLAGS, pinned, REPO, SERVER_CPU, tail, type Addr } from './servers';
import { hitName } from './workloads';


export interface Footprint {
  /** the command line, flags as given (the rest are defaults) */
  command: string;
  /** on (in network namespaces the benchmark created) or off and why; absent in results from before it was measured with setup on */
  nodeSetup?: NodeSetup;
  processes: number; // nodedns processes (its executable) whose RSS is summed
  idleMiB: number; // RSS summed over the processes, serving, synced with the API, scraped once, no queries
  fullMiB: number; // the same after filling both caches
  peakMiB: number; // VmHWM summed
  positive: number; // answers filled (NOERROR seen by the client)
  negative: number; // NXDOMAIN seen by the client
  idleCpuS: number; // seconds the idle CPU was measured over
  idleCpuPct: number; // CPU time of every process and of the children it reaped over that window, % of one core
  apiRequests: number; // requests the API server saw during the idle window (lists, watches, Events)
}

export interface FootprintSetup {
  procs: Processes;
  workDir: string;
  /** where nodedns serves, and the Knot running there, when node setup must be off (no namespaces) */
  loopback: { listen: Addr; backend: Addr };
  /** false: node setup off, on loopback, even where namespaces work */
  netns: boolean;
  hitNames: number;
  idleS: number;
  /** fills the caches through `server` (dnsperf, in `netns` when given); returns the NOERROR and NXDOMAIN counts */
  fill: (server: { listen: Addr; proc: Proc; netns?: string }) => Promise<{ positive: number; negative: number }>;
  log: (msg: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (kib: number) => kib / 1024;

/** What the shipped DaemonSet (daemonset/base/) gives nodedns beyond flags: its ConfigMap's config.yaml and NODE_OPTIONS. */
function shippedManifests(): { configYaml: string; nodeOptions: string } {
  type Manifest = { data?: Record<string, unknown>; spec?: { template?: { spec?: { containers?: { env?: { name: string; value?: string }[] }[] } } } };
  const read = (f: string) => parseYaml(fs.readFileSync(path.join(REPO, 'daemonset', 'base', f), 'utf8')) as Manifest;
  const configYaml = read('configmap.yaml').data?.['config.yaml'];
  const env = read('daemonset.yaml').spec?.template?.spec?.containers?.[0]?.env ?? [];
  const nodeOptions = env.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (typeof configYaml !== 'string' || typeof nodeOptions !== 'string') throw new Error('daemonset/base: no config.yaml in configmap.yaml or no NODE_OPTIONS in daemonset.yaml');
  return { configYaml, nodeOptions };
}

function footprintArgs(node: Pick<FootprintNode, 'args' | 'kubeDns'>, kubeconfig: string, workDir: string): string[] {
  return ['run', ...node.args, '--kube-api', '--config-map', 'kube-system/nodedns', '--kubeconfig', kubeconfig,
    '--upstream', `${node.kubeDns.ip}:${node.kubeDns.port}`, '--control-socket', path.join(workDir, 'control.sock')];
}

/** Polls `url` until it answers 200, or throws with the last answer after `ms`. */
async function until200(node: FootprintNode, url: string, proc: Proc, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = '';
  for (;;) {
    if (proc.exitCode() !== undefined) throw new Error(`nodedns exited (code ${proc.exitCode()}); its log ${proc.logFile}:\n${tail(proc.logFile)}`);
    try {
      const r = await node.get(url);
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
    const node = await footprintNode({ procs: s.procs, workDir: s.workDir, apiUrl: api.url, hitNames: s.hitNames, loopback: s.loopback, netns: s.netns });
    try {
      if (node.setup.on) s.log(`nodedns footprint: node setup on, in network namespace ${node.setup.netns}`);
      else s.log(`nodedns footprint: node setup OFF (${node.setup.why})`);
      return await measureOn(node, api, s);
    } finally {
      await node.close();
    }
  } finally {
    await api.close();
  }
}

async function measureOn(node: FootprintNode, api: FakeApiServer, s: FootprintSetup): Promise<Footprint> {
  // What nodedns watches at defaults: the kube-dns Service (the cluster DNS) and the kube-dns ConfigMap.
  api.put(dnsService('kube-dns', { address: node.kubeDns.ip, port: node.kubeDns.port }));
  api.put(configMap('kube-system', 'kube-dns', {}));
  // and, as the shipped DaemonSet does, its own ConfigMap (every setting at its default) and NODE_OPTIONS
  const shipped = shippedManifests();
  api.put(configMap('kube-system', 'nodedns', { 'config.yaml': shipped.configYaml }));
  // In a pod the credentials are the ServiceAccount's files: no kubeconfig, no YAML parser.
  // The in-test server's kubeconfig as JSON (a kubeconfig may be JSON) comes closest.
  const kubeconfig = path.join(s.workDir, 'kubeconfig.json');
  fs.writeFileSync(kubeconfig, JSON.stringify({
    apiVersion: 'v1', kind: 'Config', 'current-context': 'bench',
    contexts: [{ name: 'bench', context: { cluster: 'bench', user: 'bench' } }],
    clusters: [{ name: 'bench', cluster: { server: api.url } }],
    users: [{ name: 'bench', user: {} }],
  }));
  const args = footprintArgs(node, kubeconfig, s.workDir);
  const env = { ...nodednsEnv(), NODE_NAME: 'bench-node', NODE_OPTIONS: shipped.nodeOptions };
  const nodeArgs = [...NODEDNS_V8_FLAGS, path.join(REPO, 'dist', 'cli.js'), ...args];
  const proc = s.procs.spawn('nodedns-footprint', ...inNetns(node.netns, ...pinned(SERVER_CPU, process.execPath, nodeArgs)), { env, cwd: REPO });
  try {
    await node.waitForDns(hitName(0), proc, 30_000);
    await until200(node, node.healthUrl, proc, 30_000);
    // the kube-dns Services (kube-dns, kube-dns-upstream) and ConfigMap, its own ConfigMap and this node's pods
    await api.waitFor(() => api.openWatches() >= 5, 30_000, 'nodedns to watch the kube-dns Services and ConfigMap, its own ConfigMap and the pods');
    // Prometheus scrapes every pod: what a scrape loads is part of the idle figure
    const scrape = await node.get(node.metricsUrl);
    if (scrape.status !== 200) throw new Error(`${node.metricsUrl} answered HTTP ${scrape.status}`);
    await sleep(2000);
    const idle = memoryOf(proc.pid, { sameExecutable: true });
    const requestsBefore = api.requests.length;
    const t0 = process.hrtime.bigint();
    const cpu0 = cpuTicksOf(proc.pid);
    await sleep(s.idleS * 1000);
    const ticks = cpuTicksOf(proc.pid) - cpu0;
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const apiRequests = api.requests.length - requestsBefore;
    const filled = await s.fill({ listen: node.listen, proc, netns: node.clientNetns });
    await node.get(node.metricsUrl);
    // V8 collects what the fill left behind once allocation slows (its memory reducer, some
    // seconds later): full is the resident size of a full cache, the peak column the most seen
    await sleep(10_000);
    const full = memoryOf(proc.pid, { sameExecutable: true });
    if (proc.exitCode() !== undefined) throw new Error(`nodedns exited during the footprint run; log ${proc.logFile}:\n${tail(proc.logFile)}`);
    const where = node.netns ? `ip netns exec <node namespace> ` : '';
    const firewall = /"firewall":"([^"]+)"/.exec(fs.readFileSync(proc.logFile, 'utf8'))?.[1];
    return {
      command: `${Object.entries(NODE_ENV_DEFAULTS).map(([k, v]) => `${k}=${v} `).join('')}${where}node ${NODEDNS_V8_FLAGS.join(' ')} dist/cli.js ${args.join(' ').replaceAll(kubeconfig, '<in-test API server>').replaceAll(s.workDir, '<dir>')}`,
      nodeSetup: node.setup.on ? { ...node.setup, firewall } : node.setup,
      processes: Math.max(idle.processes, full.processes),
      idleMiB: MiB(idle.rssKiB), fullMiB: MiB(full.rssKiB), peakMiB: MiB(full.hwmKiB),
      positive: filled.positive, negative: filled.negative,
      idleCpuS: wallS, idleCpuPct: ((ticks / CLK_TCK) / wallS) * 100, apiRequests,
    };
  } finally {
    await s.procs.stop(proc, 15_000); // with node setup on, SIGTERM hands the address to the fallback first
  }
}
