// Spawns the built agent (`node dist/cli.js run …`) for an end-to-end test, keeps its
// JSON log lines, waits until it answers DNS, and stops it (also on test failure via stop()).
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { freeAddress, freePort, hostPort, type Endpoint } from './ports';
import { PATIENCE_MS, spawnChild, type Child, type ExitStatus } from './process';
import { waitUntilAnswering } from './ready';

export const REPO_ROOT = resolve(__dirname, '..', '..');
export const CLI = resolve(REPO_ROOT, 'dist', 'cli.js');

/** One pino line: level (number), time, msg, and whatever fields the agent logged. */
export type LogLine = { level: number; msg?: string; time?: string | number } & Record<string, unknown>;

export interface AgentOptions {
  /** addresses to serve on (default: one free random 127.x.y.z) */
  localIps?: string[];
  port?: number; // default: free on the first local IP
  /** --upstream; give this or hostRoot (tests never use the machine's real resolvers) */
  upstreams?: Endpoint[];
  /** --host-root: the agent reads etc/resolv.conf etc. from here */
  hostRoot?: string;
  /** more flags, appended after the defaults (so they win where flags repeat) */
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** time for the first answer (default PATIENCE_MS) */
  readyTimeoutMs?: number;
  /** the readiness query (default localhost. A, answered locally, never forwarded); false = don't wait */
  probe?: { name: string; type: string } | false;
  logLevel?: string; // default info
  cli?: string; // default dist/cli.js of this repo
  nodeFlags?: string[]; // Node.js/V8 flags before the CLI (default none: node as it comes)
}

export interface AgentProcess extends Endpoint {
  child: Child;
  pid: number;
  /** the full argv after `node` */
  argv: string[];
  localIps: string[];
  /** parsed JSON log lines, in order */
  logs: LogLine[];
  /** output lines that are not JSON (stderr messages, stack traces) */
  text: string[];
  exited: Promise<ExitStatus>;
  /** resolves with the first log line (seen or future) for which `match` is true, or whose msg contains it */
  waitForLog(match: string | ((l: LogLine) => boolean), timeoutMs?: number): Promise<LogLine>;
  /** the last output lines, for assertion messages */
  tail(n?: number): string;
  /** sends `signal` (default SIGTERM) and waits for exit; SIGKILL after graceMs (default 10000) */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

const isLoopback = (ip: string) => /^127\./.test(ip) || ip === '::1';

/** The default flags for a test agent: no interface, no firewall, no HTTP or control listeners. */
export function agentArgs(localIps: string[], port: number, o: AgentOptions = {}): string[] {
  const a = [
    'run',
    '--local-ip', localIps.join(','),
    '--port', String(port),
    '--no-setup-interface',
    '--firewall', 'none',
    '--metrics-addr', '',
    '--health-addr', '',
    '--control-socket', '',
    '--log-level', o.logLevel ?? 'info',
    '--loop-check-interval', '0', // tests count upstream queries; loop tests turn it on
  ];
  if (o.upstreams?.length) a.push('--upstream', o.upstreams.map(hostPort).join(','));
  if (o.hostRoot) a.push('--host-root', o.hostRoot);
  return a.concat(o.args ?? []);
}

export async function startAgent(o: AgentOptions = {}): Promise<AgentProcess> {
  const cli = o.cli ?? CLI;
  if (!existsSync(cli)) throw new Error(`${cli} does not exist: run "make build" (or npx tsc -p tsconfig.json) first`);
  const extra = o.args ?? [];
  if (!o.upstreams?.length && !o.hostRoot && !extra.some((x) => /^--(upstream|host-root)\b/.test(x))) {
    throw new Error('startAgent: give upstreams or hostRoot, so that the agent never forwards to this machine\'s real resolvers');
  }
  for (const u of o.upstreams ?? []) {
    if (!isLoopback(u.address)) throw new Error(`startAgent: upstream ${u.address} is not loopback; tests only send traffic to 127.0.0.0/8 and ::1`);
  }
  const localIps = o.localIps ?? [freeAddress()];
  for (const ip of localIps) if (!isIP(ip)) throw new Error(`startAgent: "${ip}" is not an IP address`);
  const port = o.port ?? (await freePort(localIps[0]));
  const argv = [...(o.nodeFlags ?? []), cli, ...agentArgs(localIps, port, o)];

  const logs: LogLine[] = [];
  const text: string[] = [];
  const watchers = new Set<(l: LogLine) => void>();
  const child = spawnChild(`nodedns agent ${localIps[0]}:${port}`, process.execPath, argv, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...o.env },
    onLine(line) {
      if (line.startsWith('{')) {
        try {
          const l = JSON.parse(line) as LogLine;
          logs.push(l);
          for (const w of watchers) w(l);
          return;
        } catch { /* not JSON after all */ }
      }
      if (line.trim()) text.push(line);
    },
  });

  const ep = { address: localIps[0], port };
  const agent: AgentProcess = {
    ...ep,
    child,
    pid: child.pid,
    argv,
    localIps,
    logs,
    text,
    exited: child.exited,
    tail: (n = 30) => child.tail(n),
    waitForLog(match, timeoutMs = PATIENCE_MS) {
      const test = typeof match === 'string' ? (l: LogLine) => typeof l.msg === 'string' && l.msg.includes(match) : match;
      const seen = logs.find(test);
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const done = () => { watchers.delete(w); clearTimeout(timer); };
        const w = (l: LogLine) => { if (test(l)) { done(); res(l); } };
        const timer = setTimeout(() => {
          done();
          rej(new Error(`no agent log line matching ${String(match)} within ${timeoutMs} ms; last output:\n${child.tail()}`));
        }, timeoutMs);
        watchers.add(w);
        void child.exited.then((s) => {
          if (!watchers.has(w)) return;
          done();
          rej(new Error(`agent exited (code ${s.code}, signal ${s.signal}) before logging ${String(match)}; last output:\n${child.tail()}`));
        });
      });
    },
    stop: (signal = 'SIGTERM', graceMs = 10000) => child.stop(signal, graceMs),
  };

  if (o.probe !== false) {
    const probe = o.probe ?? { name: 'localhost.', type: 'A' };
    await waitUntilAnswering({
      child, ep, name: probe.name, type: probe.type, timeoutMs: o.readyTimeoutMs ?? PATIENCE_MS,
      cleanup: () => child.stop('SIGKILL'), context: `node ${argv.join(' ')}`,
    });
  }
  return agent;
}
