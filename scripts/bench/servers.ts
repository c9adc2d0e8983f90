// The backend (Knot) and the servers under test, each started the same way: its config
// written to the work directory, pinned to its CPU with taskset, ready once it answers.
import { execFile, execFileSync } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { NODE_ENV_DEFAULTS, NODE_FLAGS } from '../../src/node-flags';
import { memoryOf, Processes, reapOrphans, type Memory, type Proc } from './procs';
import { clusterZone, hitName, hitZone, CLUSTER_ZONE, HIT_ZONE } from './workloads';

export const REPO = path.resolve(__dirname, '..', '..');
export const SERVER_CPU = 0;
export const CLIENT_CPU = 1;

export interface Addr {
  ip: string;
  port: number;
}

export type ServerName = 'nodedns' | 'unbound' | 'dnsmasq' | 'ceiling' | 'forwarder' | 'forwarder-shared';
export const SERVER_NAMES: ServerName[] = ['ceiling', 'forwarder', 'forwarder-shared', 'nodedns', 'unbound', 'dnsmasq'];
/** The servers that run on Node.js, and so take StartOptions.nodeFlags. */
export const runsOnNode = (name: ServerName): boolean => name === 'nodedns' || name === 'ceiling' || name.startsWith('forwarder');

export interface StartOptions {
  listen: Addr;
  backend: Addr;
  workDir: string;
  cacheEntries: number; // positive and negative entries each (Unbound: bytes sized to hold them)
  metricsAddr?: string; // nodedns only: '' = metrics off
  /** nodedns only: more flags, after the benchmark's own */
  extraArgs?: string[];
  /** nodedns only: the bundle to run instead of dist/cli.js (a saved build, scripts/bench/pair.ts) */
  script?: string;
  /** Node.js servers (runsOnNode): more Node/V8 flags, after the shipped ones */
  nodeFlags?: string[];
  /** a command the server runs under (e.g. valgrind and its options), after taskset */
  wrapper?: string[];
  startTimeoutMs?: number;
}

export interface Server {
  name: ServerName;
  label: string; // e.g. "nodedns (metrics on)"
  proc: Proc;
  listen: Addr;
  /** the network namespace its clients run in (dnsperf included); absent: this one */
  netns?: string;
  memory(): Memory;
}

/** The first line of a command's output, or why there is none. */
function firstLine(cmd: string, args: string[], pick = (s: string) => s.split('\n')[0]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
    return pick(out).trim();
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    const text = `${err.stdout ?? ''}${err.stderr ?? ''}`;
    return text ? pick(text).trim() : `unknown (${err.message.split('\n')[0]})`;
  }
}

export function versions(): Record<string, string> {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
  return {
    nodedns: pkg.version,
    unbound: firstLine('unbound', ['-V']).replace(/^Version /, ''),
    dnsmasq: firstLine('dnsmasq', ['--version']).replace(/^Dnsmasq version (\S+).*/, '$1'),
    knot: firstLine('knotd', ['--version']).replace(/.*version /, ''),
    dnsperf: firstLine('dnsperf', ['-h'], (s) => /Version (\S+)/.exec(s)?.[1] ?? 'unknown'),
    node: process.version,
  };
}

/** A DNS query for `name` A with recursion desired, built by hand (no parser needed to probe). */
export function probeQuery(name: string, id: number): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const header = Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

// One query from inside a network namespace: exits 0 on any answer within 300 ms.
const ASK_JS = `const [ip, port, hex] = process.argv.slice(1);
const s = require('node:dgram').createSocket(ip.includes(':') ? 'udp6' : 'udp4');
s.on('message', () => process.exit(0)); s.on('error', () => process.exit(1));
s.send(Buffer.from(hex, 'hex'), Number(port), ip); setTimeout(() => process.exit(1), 300);`;

/** `cmd args` inside network namespace `netns` (`ip netns exec` execs it: the pid is the command's); as is without one. */
export function inNetns(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, args];
}

/** Whether `addr` answers one query for `name` from inside `netns`. */
function answersIn(netns: string, addr: Addr, name: string, id: number): Promise<boolean> {
  const [cmd, args] = inNetns(netns, process.execPath, ['-e', ASK_JS, addr.ip, String(addr.port), probeQuery(name, id).toString('hex')]);
  return new Promise((resolve) => execFile(cmd, args, { timeout: 5000 }, (err) => resolve(!err)));
}

/**
 * Waits until `addr` answers a query for `name` (any rcode), or the process dies, or
 * timeoutMs passes. With `netns`, the queries are sent from inside that namespace.
 */
export async function waitForDns(addr: Addr, name: string, proc: Proc | undefined, timeoutMs = 15000, netns?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const sock = dgram.createSocket(addr.ip.includes(':') ? 'udp6' : 'udp4');
  let answered = false;
  sock.on('message', () => { answered = true; });
  sock.on('error', () => { /* ICMP port unreachable while the server starts: retry */ });
  try {
    for (let id = 1; !answered; id++) {
      if (proc && proc.exitCode() !== undefined) {
        throw new Error(`${proc.name} exited (code ${proc.exitCode()}) before answering; its log ${proc.logFile}:\n${tail(proc.logFile)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`${addr.ip}:${addr.port}${netns ? ` (in network namespace ${netns})` : ''} did not answer "${name}" within ${timeoutMs} ms` +
          (proc ? `; log ${proc.logFile}:\n${tail(proc.logFile)}` : ''));
      }
      if (netns) answered = await answersIn(netns, addr, name, id & 0xffff);
      else sock.send(probeQuery(name, id & 0xffff), addr.port, addr.ip);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    sock.close();
  }
}

export function tail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export const pinned = (cpu: number, cmd: string, args: string[]): [string, string[]] => ['taskset', ['-c', String(cpu), cmd, ...args]];

// ---- Knot, the authoritative backend
export function knotConfig(listen: Addr, dir: string): string {
  return `server:
    listen: ${listen.ip}@${listen.port}
    rundir: ${dir}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: ${dir}
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: ${dir}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: ${HIT_ZONE}
    file: ${HIT_ZONE}.zone
  - domain: ${CLUSTER_ZONE}
    file: ${CLUSTER_ZONE}.zone
`;
}

/**
 * A run of a bench tool beside make bench (pair.ts, cost.ts): what a killed run left is reaped,
 * a work directory made, Knot started on `<base>1` at a random port, and on the way out, Ctrl-C
 * or SIGTERM included, every process it started stopped and the directory removed.
 */
export async function withKnot<T>(prefix: string, base: string,
  fn: (r: { procs: Processes; dir: string; backend: Addr; port: number }) => Promise<T>): Promise<T> {
  reapOrphans();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const procs = new Processes(dir);
  const stop = () => { procs.killAllSync(); process.exit(130); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const port = 20000 + Math.floor(Math.random() * 12000);
    const backend = { ip: `${base}1`, port };
    await startKnot(procs, backend, dir, 1000);
    return await fn({ procs, dir, backend, port });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await procs.stopAll();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Knot serving example.com and cluster.local; pinned to the client's CPU so the server under
 * test has CPU 0 alone. `label` names its directory and log; with `netns`, it runs there.
 */
export async function startKnot(procs: Processes, listen: Addr, workDir: string, hitNames: number, o: { label?: string; netns?: string } = {}): Promise<Proc> {
  const label = o.label ?? 'knot';
  const dir = path.join(workDir, label);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${HIT_ZONE}.zone`), hitZone(listen.ip, hitNames));
  fs.writeFileSync(path.join(dir, `${CLUSTER_ZONE}.zone`), clusterZone(listen.ip));
  fs.writeFileSync(path.join(dir, 'knot.conf'), knotConfig(listen, dir));
  const proc = procs.spawn(label, ...inNetns(o.netns, ...pinned(CLIENT_CPU, 'knotd', ['-c', path.join(dir, 'knot.conf')])));
  await waitForDns(listen, hitName(0), proc, 15000, o.netns);
  return proc;
}

// ---- servers under test
export function unboundConfig(o: StartOptions, dir: string): string {
  // ~400 bytes a message entry and ~2 rrsets an answer: sized so that at least cacheEntries
  // positive plus cacheEntries negative answers fit, like the others' entry counts.
  const msgMiB = Math.max(4, Math.ceil((o.cacheEntries * 2 * 512) / (1 << 20)));
  return `server:
    interface: ${o.listen.ip}@${o.listen.port}
    port: ${o.listen.port}
    num-threads: 1
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "${dir}"
    pidfile: "${dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    qname-minimisation: no
    msg-cache-size: ${msgMiB}m
    rrset-cache-size: ${msgMiB * 2}m
    cache-max-ttl: 30
    cache-max-negative-ttl: 30
    # nodedns prefetches popular entries by default (--prefetch-hits 3, 10% of TTL left); so does this.
    prefetch: yes
remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: ${o.backend.ip}@${o.backend.port}
`;
}

/**
 * ceiling.ts or forwarder.ts as plain JS, so it runs on bare node like dist/cli.js does (no
 * loader in its RSS); its imports from src/ point at the built dist/.
 */
function transpileScript(name: 'ceiling' | 'forwarder', dir: string): string {
  const ts = require('typescript') as typeof import('typescript');
  const src = fs.readFileSync(path.join(__dirname, `${name}.ts`), 'utf8');
  const out = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
  if (out.outputText.includes('"../../src/')) {
    const why = nodednsMissing();
    if (why) throw new Error(why);
  }
  const file = path.join(dir, `${name}.js`);
  fs.writeFileSync(file, out.outputText.replaceAll('"../../src/', `"${path.join(REPO, 'dist')}/`));
  return file;
}

/**
 * The V8 flags nodedns ships with: the Dockerfile, make run and the CLI shebang pass them
 * too. The forwarder gets them as well, so that the two compare alike.
 */
export const NODEDNS_V8_FLAGS = NODE_FLAGS;

/** The environment nodedns ships with (its allocator's settings), for nodedns and the forwarder alike. */
export function nodednsEnv(): NodeJS.ProcessEnv {
  return { ...cleanEnv(), ...NODE_ENV_DEFAULTS };
}

export function nodednsArgs(o: StartOptions): string[] {
  const up = `${o.backend.ip}:${o.backend.port}`;
  return [...NODEDNS_V8_FLAGS, ...(o.nodeFlags ?? []), o.script ?? path.join(REPO, 'dist', 'cli.js'), 'run',
    '--local-ip', o.listen.ip, '--port', String(o.listen.port),
    '--no-setup-interface', '--firewall', 'none', '--no-kube-api',
    '--metrics-addr', o.metricsAddr ?? '', '--health-addr', '', '--control-socket', '',
    '--upstream', up, '--cluster-dns', up,
    '--cache-size', String(o.cacheEntries), '--negative-cache-size', String(o.cacheEntries),
    '--log-level', 'warn', ...(o.extraArgs ?? [])];
}

/** The environment minus what would change nodedns' configuration (NODEDNS_*, KUBE*, NODE_OPTIONS). */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('NODEDNS_') || k.startsWith('KUBE') || k === 'NODE_OPTIONS') delete env[k];
  return env;
}

/** Why nodedns cannot be benchmarked in this tree, or undefined if it can be tried. */
export function nodednsMissing(): string | undefined {
  if (!fs.existsSync(path.join(REPO, 'dist', 'cli.js'))) return 'dist/cli.js does not exist: run "make build" first';
  return undefined;
}

export async function startServer(procs: Processes, name: ServerName, o: StartOptions, label = name as string): Promise<Server> {
  const dir = path.join(o.workDir, label.replace(/[^a-z0-9]+/gi, '-'));
  fs.mkdirSync(dir, { recursive: true });
  let cmd: string;
  let args: string[];
  switch (name) {
    case 'nodedns':
      [cmd, args] = pinned(SERVER_CPU, process.execPath, nodednsArgs(o));
      break;
    case 'unbound':
      fs.writeFileSync(path.join(dir, 'unbound.conf'), unboundConfig(o, dir));
      [cmd, args] = pinned(SERVER_CPU, 'unbound', ['-d', '-c', path.join(dir, 'unbound.conf')]);
      break;
    case 'dnsmasq':
      [cmd, args] = pinned(SERVER_CPU, 'dnsmasq', [
        '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--no-poll',
        `--listen-address=${o.listen.ip}`, '--bind-interfaces', `--port=${o.listen.port}`,
        `--server=${o.backend.ip}#${o.backend.port}`,
        // dnsmasq counts positive and negative answers in one cache; negative caching is on (no --no-negcache).
        `--cache-size=${o.cacheEntries}`, '--max-cache-ttl=30', '--dns-forward-max=1000',
        '--user=root', '--pid-file', '--log-facility=-']);
      break;
    case 'ceiling':
      [cmd, args] = pinned(SERVER_CPU, process.execPath, [...(o.nodeFlags ?? []), transpileScript('ceiling', dir), o.listen.ip, String(o.listen.port)]);
      break;
    case 'forwarder':
    case 'forwarder-shared':
      [cmd, args] = pinned(SERVER_CPU, process.execPath, [...NODEDNS_V8_FLAGS, ...(o.nodeFlags ?? []), transpileScript('forwarder', dir),
        o.listen.ip, String(o.listen.port), o.backend.ip, String(o.backend.port), ...(name === 'forwarder-shared' ? ['--shared-socket'] : [])]);
      break;
  }
  if (o.wrapper) args = [...args.slice(0, 2), ...o.wrapper, ...args.slice(2)]; // taskset -c N <wrapper> cmd …
  const env = name === 'nodedns' || name.startsWith('forwarder') ? nodednsEnv() : cleanEnv();
  // a saved bundle outside the tree finds its packages (netlink, …) in the tree's node_modules
  if (o.script) env.NODE_PATH = path.join(REPO, 'node_modules');
  const proc = procs.spawn(label.replace(/[^a-z0-9]+/gi, '-'), cmd, args, { env, cwd: REPO });
  try {
    await waitForDns(o.listen, hitName(0), proc, o.startTimeoutMs ?? (name === 'nodedns' ? 20000 : 15000));
  } catch (e) {
    await procs.stop(proc);
    throw e;
  }
  return { name, label, proc, listen: o.listen, memory: () => memoryOf(proc.pid) };
}
