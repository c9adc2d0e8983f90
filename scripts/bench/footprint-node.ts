// The node nodedns runs on for the at-rest measurement, and how the benchmark reaches it.
// With root and network namespaces: the node of the node-setup tests (test/helpers/netns.ts),
// namespaces this benchmark creates and deletes: "node" (nodedns, node setup on, its address
// and rules there), "pod" (the clients: dnsperf), "dns" (Knot, the cluster DNS pod). As on
// most nodes, kube-proxy runs in iptables mode: its rules in "node" DNAT the kube-dns
// ClusterIP to the pod, and --firewall auto picks iptables from them, as it would there.
// The in-test API server stays here, reached from "node" through the relay of
// test/helpers/api-relay.ts. Nothing is changed in the machine's own namespace. Without
// namespaces: loopback, node setup off, and the report says so.
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { relayApiServer } from '../../test/helpers/api-relay';
import { NetnsLab, TOPO, kubeProxyIptablesRules, netnsUnavailable, nodeTopology } from '../../test/helpers/netns';
import type { Processes, Proc } from './procs';
import { inNetns, startKnot, waitForDns, type Addr } from './servers';

/** Node setup in the measurement: on, in network namespaces (and the firewall --firewall auto picked); or off, and why. */
export type NodeSetup = { on: true; netns: string; firewall?: string } | { on: false; why: string };

export interface FootprintNode {
  setup: NodeSetup;
  /** where nodedns answers DNS */
  listen: Addr;
  /** the kube-dns Service (the cluster DNS, Knot behind it), also the upstream */
  kubeDns: Addr;
  /** the flags of `run` that set where it listens and what node setup does */
  args: string[];
  /** the namespace nodedns runs in, and the one its clients run in */
  netns?: string;
  clientNetns?: string;
  healthUrl: string;
  metricsUrl: string;
  /** an HTTP GET from where nodedns' metrics and health are reachable */
  get(url: string): Promise<{ status: number; body: string }>;
  waitForDns(name: string, proc: Proc, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface NodeOptions {
  procs: Processes;
  workDir: string;
  apiUrl: string;
  hitNames: number;
  /** loopback only: the address and port to serve on, and the Knot already running there */
  loopback: { listen: Addr; backend: Addr };
  /** false: on loopback even where namespaces work */
  netns: boolean;
}

/** In network namespaces when this machine allows it, else on loopback with node setup off. */
export async function footprintNode(o: NodeOptions): Promise<FootprintNode> {
  const why = o.netns ? netnsUnavailable() : 'asked for with --at-rest-setup-off';
  return why ? loopbackNode(o, why) : namespaceNode(o);
}

function loopbackNode(o: NodeOptions, why: string): FootprintNode {
  const { listen, backend } = o.loopback;
  return {
    setup: { on: false, why },
    listen, kubeDns: backend,
    args: ['--local-ip', listen.ip, '--port', String(listen.port), '--no-setup-interface', '--firewall', 'none',
      '--metrics-addr', `${listen.ip}:${listen.port + 1}`, '--health-addr', `${listen.ip}:${listen.port + 2}`],
    healthUrl: `http://${listen.ip}:${listen.port + 2}/ready`,
    metricsUrl: `http://${listen.ip}:${listen.port + 1}/metrics`,
    get: httpGet,
    waitForDns: (name, proc, ms) => waitForDns(listen, name, proc, ms),
    close: async () => {},
  };
}

// The node's own address serves metrics, as HOST_IP does in the DaemonSet; health is at its
// default, the local address port 8080.
const METRICS_ADDR = `${TOPO.nodePodSide}:9253`;

async function namespaceNode(o: NodeOptions): Promise<FootprintNode> {
  const lab = new NetnsLab((name) => o.procs.adoptNetns(name));
  const names: string[] = [];
  let closeBridge: (() => Promise<void>) | undefined;
  const close = async () => {
    await lab.cleanup();
    for (const n of names) o.procs.releaseNetns(n);
    await closeBridge?.();
  };
  try {
    const t = await nodeTopology(lab, { routableServiceIp: false });
    names.push(t.node.name, t.pod.name, t.dns.name);
    await t.node.ok('iptables-nft-restore', ['--noflush'], { input: kubeProxyIptablesRules(TOPO.serviceIp, [TOPO.endpointIp]) });
    // a node's default route: nodedns' upstream sockets need a route to the ClusterIP before kube-proxy's DNAT
    await t.node.ok('ip', ['route', 'add', 'default', 'via', TOPO.dnsHost]);
    const kubeDns = { ip: TOPO.serviceIp, port: 53 };
    await startKnot(o.procs, { ip: TOPO.endpointIp, port: 53 }, o.workDir, o.hitNames, { label: 'knot-netns', netns: t.dns.name });
    closeBridge = await relayApiServer(t.node, o.apiUrl, o.workDir);
    const listen = { ip: TOPO.localIp, port: 53 };
    return {
      setup: { on: true, netns: t.node.name },
      listen, kubeDns,
      // one nodedns per node: the lock of this node, never the machine's /run/nodedns
      args: ['--metrics-addr', METRICS_ADDR, '--lock-file', path.join(o.workDir, 'owner.sock')],
      netns: t.node.name, clientNetns: t.pod.name,
      healthUrl: `http://${TOPO.localIp}:8080/ready`,
      metricsUrl: `http://${METRICS_ADDR}/metrics`,
      get: (url) => httpGetIn(t.node.name, url),
      waitForDns: (name, proc, ms) => waitForDns(listen, name, proc, ms, t.pod.name),
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}

export function httpGet(url: string): Promise<{ status: number; body: string }> {
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

// The same GET from inside a namespace: the status on the first line, then the body.
const GET_JS = `require('node:http').get(process.argv[1], { timeout: 5000 }, (res) => {
  let b = ''; res.setEncoding('utf8'); res.on('data', (d) => { b += d; });
  res.on('end', () => process.stdout.write(res.statusCode + '\\n' + b));
}).on('error', (e) => { console.error(e.message); process.exit(1); }).on('timeout', () => { console.error('no answer within 5 s'); process.exit(1); });`;

function httpGetIn(netns: string, url: string): Promise<{ status: number; body: string }> {
  const [cmd, args] = inNetns(netns, process.execPath, ['-e', GET_JS, url]);
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${url} (in network namespace ${netns}): ${String(stderr).trim() || err.message}`));
      const nl = stdout.indexOf('\n');
      resolve({ status: Number(stdout.slice(0, nl)), body: stdout.slice(nl + 1) });
    });
  });
}
