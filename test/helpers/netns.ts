// Network namespaces for node-setup tests. Everything a test changes (addresses, routes,
// firewall rules, sysctls) happens inside namespaces the test creates with unique names
// and deletes afterwards; nothing here ever runs `ip`, `iptables` or `nft` against the
// machine's own namespace. Veth pairs are created inside a test namespace (`ip -n`), so
// not even their creation touches the root namespace.
import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PATIENCE_MS, spawnChild, waitUntil, type Child, type SpawnChildOptions } from './process';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and resolves with its exit code and output (never rejects on a non-zero exit). */
export function execCmd(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err && code === -1 ? `\n${err.message}` : '') });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/**
 * Whether this machine lets the test create network namespaces (root, iproute2, kernel
 * support). Returns a reason to skip with when it does not.
 */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespace tests need root';
  const name = `ndt-probe-${process.pid}-${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (add.error) return `iproute2 is not installed (${add.error.message})`;
  if (add.status !== 0) return `this machine cannot create network namespaces: ${add.stderr.trim()}`;
  spawnSync('ip', ['netns', 'del', name]);
  return undefined;
}

export class Netns {
  constructor(readonly name: string, private readonly lab: NetnsLab) {}

  /** Runs a command inside this namespace. */
  exec(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
    return execCmd('ip', ['netns', 'exec', this.name, cmd, ...args], opts);
  }

  /** Like exec, but throws with the output when the command fails. */
  async ok(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(cmd, args, opts);
    if (r.code !== 0) throw new Error(`in netns ${this.name}: ${cmd} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /** A shell script inside this namespace (sh -ec). */
  sh(script: string): Promise<string> {
    return this.ok('sh', ['-ec', script]);
  }

  /** A long-running process inside this namespace, stopped by the lab's cleanup at the latest. */
  spawn(label: string, cmd: string, args: string[], opts: SpawnChildOptions = {}): Child {
    const child = spawnChild(`${label} [${this.name}]`, 'ip', ['netns', 'exec', this.name, cmd, ...args], opts);
    this.lab.track(child);
    return child;
  }
}

/** A set of namespaces for one test file; cleanup() deletes them all and every process in them. */
export class NetnsLab {
  readonly id = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  private spaces: Netns[] = [];
  private children: Child[] = [];
  private vethCount = 0;

  /** `beforeAdd` hears each namespace's name before it is created (the benchmark registers it for cleanup). */
  constructor(private readonly beforeAdd?: (name: string) => void) {}

  track(child: Child): void {
    this.children.push(child);
  }

  /** A new namespace named ndt-<id>-<short>, with lo up. */
  async add(short: string): Promise<Netns> {
    const name = `ndt-${this.id}-${short}`;
    this.beforeAdd?.(name);
    const r = await execCmd('ip', ['netns', 'add', name]);
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
    const ns = new Netns(name, this);
    this.spaces.push(ns);
    await ns.ok('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A veth pair between two namespaces with an address on each end (CIDR notation, e.g.
   * 10.200.0.1/24). Returns the interface names (a side, b side).
   */
  async veth(a: Netns, aAddr: string, b: Netns, bAddr: string): Promise<[string, string]> {
    const n = ++this.vethCount;
    const an = `v${this.id.slice(-4)}${n}a`;
    const bn = `v${this.id.slice(-4)}${n}b`;
    // created inside `a`, the peer moved straight into `b`: the root namespace never sees it
    await a.ok('ip', ['link', 'add', an, 'type', 'veth', 'peer', 'name', bn, 'netns', b.name]);
    for (const [ns, dev, addr] of [[a, an, aAddr], [b, bn, bAddr]] as const) {
      await ns.ok('ip', ['addr', 'add', addr, 'dev', dev, ...(addr.includes(':') ? ['nodad'] : [])]);
      await ns.ok('ip', ['link', 'set', dev, 'up']);
    }
    return [an, bn];
  }

  /** Stops every process started in the namespaces and deletes the namespaces. Safe to call twice. */
  async cleanup(): Promise<void> {
    await Promise.all(this.children.map((c) => c.stop('SIGKILL', 1000).catch(() => undefined)));
    this.children = [];
    for (const ns of this.spaces) {
      // anything still running inside (started by a command we ran) goes too
      const pids = await execCmd('ip', ['netns', 'pids', ns.name]);
      for (const pid of pids.stdout.split('\n').map((s) => Number(s.trim())).filter((p) => p > 0)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
      await execCmd('ip', ['netns', 'del', ns.name]);
      rmSync(lockFileFor(ns), { force: true }); // left by a nodedns that was killed
    }
    this.spaces = [];
  }
}

/** The addresses of the node-setup topology. */
export const TOPO = {
  localIp: '169.254.20.10',
  localIp6: 'fd00:20::10',
  nodePodSide: '10.200.0.1',
  pod: '10.200.0.2',
  pod6: 'fd00:200::2',
  nodePodSide6: 'fd00:200::1',
  nodeDnsSide: '10.201.0.1',
  dnsHost: '10.201.0.2',
  nodeDnsSide6: 'fd00:201::1',
  dnsHost6: 'fd00:201::2',
  serviceIp: '10.96.0.10', // the cluster DNS ClusterIP
  serviceIp6: 'fd00:96::10',
  endpointIp: '10.244.1.5', // the cluster DNS pod (what kube-proxy DNATs the ClusterIP to)
} as const;

export interface NodeTopology {
  node: Netns;
  pod: Netns;
  dns: Netns;
}

/**
 * "node" (where nodedns runs, forwarding on), "pod" (a client, default route via the
 * node) and "dns" (the cluster DNS) joined by two veth pairs. In the dns namespace the
 * DNS server's pod address (endpointIp) is always routed from the node; the Service
 * address (serviceIp) only when `routableServiceIp` (as with kube-proxy in IPVS mode,
 * where the ClusterIP is a local address); otherwise only kube-proxy-like DNAT rules
 * can reach it, as in iptables mode.
 */
export async function nodeTopology(lab: NetnsLab, o: { routableServiceIp: boolean; ipv6?: boolean }): Promise<NodeTopology> {
  const [node, pod, dns] = [await lab.add('node'), await lab.add('pod'), await lab.add('dns')];
  const [nodePod] = await lab.veth(node, `${TOPO.nodePodSide}/24`, pod, `${TOPO.pod}/24`);
  const [nodeDns] = await lab.veth(node, `${TOPO.nodeDnsSide}/24`, dns, `${TOPO.dnsHost}/24`);
  await node.ok('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  if (o.ipv6) {
    // the service address is routed to the dns namespace (IPv6 has no kube-proxy stand-in here)
    await node.ok('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    await node.ok('ip', ['addr', 'add', `${TOPO.nodePodSide6}/64`, 'dev', nodePod, 'nodad']);
    await node.ok('ip', ['addr', 'add', `${TOPO.nodeDnsSide6}/64`, 'dev', nodeDns, 'nodad']);
    const podDev = (await pod.ok('ip', ['-o', 'link', 'show', 'type', 'veth'])).split(':')[1].trim().split('@')[0];
    const dnsDev = (await dns.ok('ip', ['-o', 'link', 'show', 'type', 'veth'])).split(':')[1].trim().split('@')[0];
    await pod.ok('ip', ['addr', 'add', `${TOPO.pod6}/64`, 'dev', podDev, 'nodad']);
    await dns.ok('ip', ['addr', 'add', `${TOPO.dnsHost6}/64`, 'dev', dnsDev, 'nodad']);
    await pod.ok('ip', ['-6', 'route', 'add', 'default', 'via', TOPO.nodePodSide6]);
    await dns.ok('ip', ['-6', 'route', 'add', 'default', 'via', TOPO.nodeDnsSide6]);
    await dns.ok('ip', ['addr', 'add', `${TOPO.serviceIp6}/128`, 'dev', 'lo']);
    await node.ok('ip', ['-6', 'route', 'add', `${TOPO.serviceIp6}/128`, 'via', TOPO.dnsHost6]);
  }
  await pod.ok('ip', ['route', 'add', 'default', 'via', TOPO.nodePodSide]);
  await dns.ok('ip', ['route', 'add', 'default', 'via', TOPO.nodeDnsSide]);
  await dns.ok('ip', ['addr', 'add', `${TOPO.endpointIp}/32`, 'dev', 'lo']);
  await node.ok('ip', ['route', 'add', `${TOPO.endpointIp}/32`, 'via', TOPO.dnsHost]);
  if (o.routableServiceIp) {
    await dns.ok('ip', ['addr', 'add', `${TOPO.serviceIp}/32`, 'dev', 'lo']);
    await node.ok('ip', ['route', 'add', `${TOPO.serviceIp}/32`, 'via', TOPO.dnsHost]);
  }
  return { node, pod, dns };
}

/** kube-proxy (iptables mode) rules for the cluster DNS Service, as it writes them, in `ns`. */
export function kubeProxyIptablesRules(serviceIp: string, endpoints: string[]): string {
  const lines = ['*nat', ':KUBE-SERVICES - [0:0]', ':KUBE-MARK-MASQ - [0:0]'];
  const body: string[] = [];
  for (const [proto, port, svc] of [['udp', 'dns', 'KUBE-SVC-TCOU7JCQXEZGVUNU'], ['tcp', 'dns-tcp', 'KUBE-SVC-ERIFXISQEP7F7OF4']] as const) {
    lines.push(`:${svc} - [0:0]`);
    body.push(`-A KUBE-SERVICES -d ${serviceIp}/32 -p ${proto} -m comment --comment "kube-system/kube-dns:${port} cluster IP" -m ${proto} --dport 53 -j ${svc}`);
    endpoints.forEach((ep, i) => {
      const sep = `KUBE-SEP-${proto.toUpperCase()}${i}ABCDEFGHIJK`.slice(0, 25);
      lines.push(`:${sep} - [0:0]`);
      const left = endpoints.length - i;
      const stat = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(11)}` : '';
      body.push(`-A ${svc} -m comment --comment "kube-system/kube-dns:${port} -> ${ep}:53"${stat} -j ${sep}`);
      body.push(`-A ${sep} -s ${ep}/32 -m comment --comment "kube-system/kube-dns:${port}" -j KUBE-MARK-MASQ`);
      body.push(`-A ${sep} -p ${proto} -m comment --comment "kube-system/kube-dns:${port}" -m ${proto} -j DNAT --to-destination ${ep}:53`);
    });
  }
  body.push('-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000');
  body.push('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  body.push('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  return [...lines, ...body, 'COMMIT', '*mangle', ':KUBE-KUBELET-CANARY - [0:0]', 'COMMIT', ''].join('\n');
}

/** A dnsmasq in `ns` answering on `addresses`:53: A records per name, a TXT that names it. */
export function startClusterDns(ns: Netns, addresses: string[], o: { records: Record<string, string>; who: string }): Child {
  return ns.spawn('cluster dns (dnsmasq)', 'dnsmasq', [
    '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces',
    ...addresses.map((a) => `--listen-address=${a}`), '--port=53',
    '--log-facility=-', '--pid-file=', '--user=root', '--group=root', '--cache-size=0',
    ...Object.entries(o.records).map(([n, ip]) => `--host-record=${n},${ip}`),
    `--txt-record=who.test,${o.who}`,
    '--local=/cluster.local/', '--local=/test/',
  ]);
}

export type LogLine = { level: number; msg?: string; pid?: number } & Record<string, unknown>;

export interface NodednsInNs {
  child: Child;
  logs: LogLine[];
  /** the first log line (seen or future) whose msg contains `text` or that `match` accepts */
  waitForLog(match: string | ((l: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  /** how many log lines so far match */
  count(match: string | ((l: LogLine) => boolean)): number;
}

/** The --lock-file the tests give every nodedns in `ns` (the namespace's name makes it unique). */
export function lockFileFor(ns: Netns): string {
  return join(tmpdir(), `${ns.name}.owner.sock`);
}

/** `node dist/cli.js <args>` inside `ns`, JSON log lines parsed; `env` replaces the environment (e.g. a PATH with shims). */
export function spawnNodedns(ns: Netns, cli: string, args: string[], label = 'nodedns', env?: NodeJS.ProcessEnv): NodednsInNs {
  // one lock per node namespace, never the machine's own /run/nodedns
  if (args[0] === 'run' && !args.includes('--lock-file')) args = [...args, '--lock-file', lockFileFor(ns)];
  const logs: LogLine[] = [];
  const watchers = new Set<(l: LogLine) => void>();
  const child = ns.spawn(label, process.execPath, [cli, ...args], {
    env,
    onLine(line) {
      if (!line.startsWith('{')) return;
      try {
        const l = JSON.parse(line) as LogLine;
        logs.push(l);
        for (const w of watchers) w(l);
      } catch { /* not a log line */ }
    },
  });
  const test = (m: string | ((l: LogLine) => boolean)) => (typeof m === 'string' ? (l: LogLine) => typeof l.msg === 'string' && l.msg.includes(m) : m);
  return {
    child,
    logs,
    count: (m) => logs.filter(test(m)).length,
    waitForLog(match, timeoutMs = PATIENCE_MS) {
      const t = test(match);
      const seen = logs.find(t);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const done = () => { watchers.delete(w); clearTimeout(timer); };
        const w = (l: LogLine) => { if (t(l)) { done(); resolve(l); } };
        const timer = setTimeout(() => { done(); reject(new Error(`${label}: no log line matching ${String(match)} within ${timeoutMs} ms; last output:\n${child.tail(40)}`)); }, timeoutMs);
        watchers.add(w);
        void child.exited.then((s) => {
          if (!watchers.has(w)) return;
          done();
          reject(new Error(`${label} exited (code ${s.code}, signal ${s.signal}) before logging ${String(match)}; last output:\n${child.tail(40)}`));
        });
      });
    },
  };
}

/** What a DNS probe run measured (see startProbe). */
export interface ProbeResult {
  sent: number;
  /** answered on the first try */
  firstTry: number;
  /** answered on the first try or on the one retry */
  answered: number;
  lost: number;
  /** longest time between two consecutive queries answered on the first try, in ms */
  longestGapMs: number;
  maxLatencyMs: number;
  /** ms since the start of the probes that failed their first try */
  failedAt: number[];
}

// A steady DNS prober, run with `node` inside a namespace: one query every intervalMs,
// each from a fresh socket (a new source port, as stub resolvers do), one retry after
// retryMs when the first try fails (no answer or ICMP unreachable), a summary as JSON.
const PROBE_JS = String.raw`
const dgram = require('node:dgram');
const [server, port, name, intervalMs, durationMs, timeoutMs, retryMs] = process.argv.slice(1);
const qname = Buffer.concat([...name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
function query(id) {
  const h = Buffer.alloc(12); h.writeUInt16BE(id, 0); h.writeUInt16BE(0x0100, 2); h.writeUInt16BE(1, 4);
  return Buffer.concat([h, qname, Buffer.from([0, 1, 0, 1])]);
}
function ask() {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4'); const id = Math.floor(Math.random() * 65536); const t0 = Date.now();
    const done = (ok) => { clearTimeout(timer); try { s.close(); } catch {} resolve(ok ? Date.now() - t0 : -1); };
    const timer = setTimeout(() => done(false), Number(timeoutMs));
    s.on('message', (m) => { if (m.readUInt16BE(0) === id && (m[3] & 0x0f) === 0) done(true); });
    s.on('error', () => done(false));
    s.connect(Number(port), server, () => s.send(query(id), (e) => { if (e) done(false); }));
  });
}
const start = Date.now(); const results = []; const pending = [];
const tick = setInterval(() => {
  if (Date.now() - start >= Number(durationMs)) { clearInterval(tick); Promise.all(pending).then(report); return; }
  const r = { at: Date.now() - start, first: -1, retry: -1 }; results.push(r);
  pending.push(ask().then(async (ms) => {
    r.first = ms;
    if (ms < 0) { await new Promise((z) => setTimeout(z, Number(retryMs))); r.retry = await ask(); }
  }));
}, Number(intervalMs));
function report() {
  const ok = results.filter((r) => r.first >= 0); let gap = 0;
  for (let i = 1; i < ok.length; i++) gap = Math.max(gap, ok[i].at - ok[i - 1].at);
  const answered = results.filter((r) => r.first >= 0 || r.retry >= 0).length;
  console.log(JSON.stringify({ sent: results.length, firstTry: ok.length, answered, lost: results.length - answered,
    longestGapMs: gap, maxLatencyMs: Math.max(0, ...results.map((r) => Math.max(r.first, r.retry))),
    failedAt: results.filter((r) => r.first < 0).map((r) => r.at) }));
}
`;

export interface Probe {
  result: Promise<ProbeResult>;
  child: Child;
}

/** Starts a prober in `ns` against server:53 for `durationMs` (bounded), resolving with its summary. */
export function startProbe(ns: Netns, o: { server: string; name: string; durationMs: number; intervalMs?: number; timeoutMs?: number; retryMs?: number }): Probe {
  const child = ns.spawn('dns probe', process.execPath, ['-e', PROBE_JS, '--', o.server, '53', o.name,
    String(o.intervalMs ?? 20), String(o.durationMs), String(o.timeoutMs ?? 1000), String(o.retryMs ?? 200)]);
  const result = child.exited.then(() => {
    const line = child.lines.find((l) => l.startsWith('{'));
    if (!line) throw new Error(`the DNS probe printed no summary:\n${child.tail()}`);
    return JSON.parse(line) as ProbeResult;
  });
  return { result, child };
}

export interface DnsperfResult { sent: number; completed: number; lost: number }

/** The counts from dnsperf's summary. */
export function parseDnsperf(out: string): DnsperfResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new Error(`dnsperf output without ${re}:\n${out}`);
    return Number(m[1]);
  };
  return { sent: num(/Queries sent:\s+(\d+)/), completed: num(/Queries completed:\s+(\d+)/), lost: num(/Queries lost:\s+(\d+)/) };
}

/** The node namespace's veths of nodeTopology: [towards the pod, towards the cluster DNS]. */
export async function topologyVeths(node: Netns): Promise<[string, string]> {
  const names = (await node.ok('ip', ['-o', 'link', 'show', 'type', 'veth'])).split('\n').filter(Boolean).map((l) => l.split(':')[1].trim().split('@')[0]);
  return [names[0], names[1]];
}

/**
 * tcpdump of DNS over UDP on `dev` in `ns`, resolved once it captures. Stop it with SIGINT. A
 * tcpdump that cannot start (not installed, no such device) rejects at once with its own words.
 */
export async function captureDns(ns: Netns, dev: string): Promise<Child> {
  const c = ns.spawn(`tcpdump ${dev}`, 'tcpdump', ['-i', dev, '-n', '-tt', '-l', '-B', '8192', 'udp port 53']);
  try {
    await c.waitForLine((l) => l.includes('listening on'), PATIENCE_MS);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n(tcpdump comes with make test-deps, Debian package tcpdump)`);
  }
  return c;
}

/** From a capture: when (epoch seconds) each query from `client` to `server`:53 was sent that got no reply. */
export function unansweredQueries(lines: string[], client: string, server: string): number[] {
  const esc = (s: string) => s.replace(/\./g, '\\.');
  const query = new RegExp(`^(\\d+\\.\\d+) IP ${esc(client)}\\.(\\d+) > ${esc(server)}\\.53: (\\d+)\\D`);
  const reply = new RegExp(`^\\d+\\.\\d+ IP ${esc(server)}\\.53 > ${esc(client)}\\.(\\d+): (\\d+)\\D`);
  const sent = new Map<string, number>();
  const answered = new Set<string>();
  for (const l of lines) {
    const q = query.exec(l);
    if (q) { sent.set(`${q[2]}/${q[3]}`, Number(q[1])); continue; }
    const r = reply.exec(l);
    if (r) answered.add(`${r[1]}/${r[2]}`);
  }
  return [...sent].filter(([k]) => !answered.has(k)).map(([, ts]) => ts);
}

/** From a capture: when (epoch seconds) the first query from `client` to `server`:53 passed, if any. */
export function firstQuery(lines: string[], client: string, server: string): number | undefined {
  const esc = (s: string) => s.replace(/\./g, '\\.');
  const re = new RegExp(`^(\\d+\\.\\d+) IP ${esc(client)}\\.\\d+ > ${esc(server)}\\.53: `);
  for (const l of lines) {
    const m = re.exec(l);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** nodeTopology (Service address routable) with the cluster DNS behind it, answering from the pod. */
export async function topologyWithClusterDns(lab: NetnsLab): Promise<NodeTopology> {
  const t = await nodeTopology(lab, { routableServiceIp: true });
  startClusterDns(t.dns, [TOPO.serviceIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
  await waitUntil('the cluster DNS', async () => ((await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${TOPO.serviceIp}`, 'who.test', 'TXT'])).stdout.includes('clusterdns') ? true : undefined), PATIENCE_MS, 100);
  return t;
}
