// A real Unbound for one test: local-data answers and/or forwarding to given upstreams,
// in the foreground as a child. Every query it receives is logged (log-queries) and
// parsed, so tests can count what reached it; unbound-control gives its statistics.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { endpointOrFree, type Endpoint } from './ports';
import { PATIENCE_MS, spawnChild, type Child } from './process';
import { waitUntilAnswering } from './ready';

const run = promisify(execFile);

/** The name used to probe readiness; answered NXDOMAIN locally and left out of `queries`. */
export const PROBE_NAME = 'harness-probe.invalid.';

export interface LoggedQuery {
  client: string;
  name: string; // no trailing dot
  type: string;
  class: string;
}

export interface UnboundOptions {
  address?: string;
  port?: number;
  /** zone -> local-zone type (static, transparent, redirect, nodefault…) */
  localZones?: Record<string, string>;
  /** local-data RRs, e.g. 'a.local.test. 60 IN A 192.0.2.7' */
  localData?: string[];
  /** local-data-ptr entries, e.g. '192.0.2.7 a.local.test.' */
  localDataPtr?: string[];
  /** zone ('.' for everything) -> upstreams to forward to */
  forwardZones?: Record<string, Endpoint[]>;
  /** more lines under server:, e.g. ['serve-expired: yes'] */
  serverConfig?: string[];
  startTimeoutMs?: number; // default PATIENCE_MS
}

export interface UnboundServer extends Endpoint {
  dir: string;
  child: Child;
  /** queries received (readiness probes excluded), in order */
  queries: LoggedQuery[];
  count(filter?: { name?: string; type?: string }): number;
  clear(): void;
  /** unbound-control stats_noreset, e.g. "total.num.queries" -> 3 */
  stats(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

const fqdn = (z: string) => (z.endsWith('.') ? z : z + '.');

/** Unbound's built-in local zones (localhost. and invalid. kept: the probe uses invalid.) */
const DEFAULT_ZONES = [
  '127.in-addr.arpa.', `1.${'0.'.repeat(31)}ip6.arpa.`, 'home.arpa.', 'onion.', 'test.',
  '10.in-addr.arpa.', ...Array.from({ length: 16 }, (_, i) => `${16 + i}.172.in-addr.arpa.`), '168.192.in-addr.arpa.',
  '0.in-addr.arpa.', '254.169.in-addr.arpa.', '2.0.192.in-addr.arpa.', '100.51.198.in-addr.arpa.',
  '113.0.203.in-addr.arpa.', '255.255.255.255.in-addr.arpa.',
  ...Array.from({ length: 64 }, (_, i) => `${64 + i}.100.in-addr.arpa.`),
  `${'0.'.repeat(32)}ip6.arpa.`, 'd.f.ip6.arpa.', '8.e.f.ip6.arpa.', '9.e.f.ip6.arpa.', 'a.e.f.ip6.arpa.',
  'b.e.f.ip6.arpa.', '8.b.d.0.1.0.0.2.ip6.arpa.',
];
const under = (name: string, zone: string) => zone === '.' || name === zone || name.endsWith('.' + zone);

/** Lets a forwarded zone through unbound's built-in zones (test., 2.0.192.in-addr.arpa. …). */
function unblock(forwardZones: string[], own: Set<string>): string[] {
  const out = new Set<string>();
  for (const z of forwardZones.map((x) => fqdn(x).toLowerCase())) {
    for (const d of DEFAULT_ZONES) {
      if (own.has(d)) continue;
      if (under(d, z)) out.add(`    local-zone: "${d}" nodefault`);
      else if (under(z, d) && !own.has(z)) out.add(`    local-zone: "${z}" transparent`);
    }
  }
  return [...out];
}
const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');
/** unbound.conf has no escapes: a value with double quotes (TXT data) goes in single quotes */
const q = (s: string) => (s.includes('"') ? `'${s}'` : `"${s}"`);

export async function startUnbound(opts: UnboundOptions = {}): Promise<UnboundServer> {
  const ep = await endpointOrFree(opts);
  const dir = mkdtempSync(join(tmpdir(), 'unbound-'));
  const conf = join(dir, 'unbound.conf');
  const v6 = ep.address.includes(':');
  const lines = [
    'server:',
    `    interface: ${ep.address}@${ep.port}`,
    `    port: ${ep.port}`,
    '    do-daemonize: no',
    '    chroot: ""',
    '    username: ""',
    `    directory: ${q(dir)}`,
    '    pidfile: ""',
    '    use-syslog: no',
    '    logfile: ""',
    '    verbosity: 1',
    '    log-queries: yes',
    `    do-ip6: ${v6 ? 'yes' : 'no'}`,
    '    num-threads: 1',
    '    access-control: 127.0.0.0/8 allow',
    '    access-control: ::1/128 allow',
    '    do-not-query-localhost: no',
    '    module-config: "iterator"',
    '    qname-minimisation: no',
    '    extended-statistics: yes',
    '    statistics-cumulative: yes',
    '    ede: yes',
    ...Object.entries(opts.localZones ?? {}).map(([z, t]) => `    local-zone: ${q(fqdn(z))} ${t}`),
    ...unblock(Object.keys(opts.forwardZones ?? {}), new Set(Object.keys(opts.localZones ?? {}).map((z) => fqdn(z).toLowerCase()))),
    ...(opts.localData ?? []).map((d) => `    local-data: ${q(d)}`),
    ...(opts.localDataPtr ?? []).map((d) => `    local-data-ptr: ${q(d)}`),
    ...(opts.serverConfig ?? []).map((l) => `    ${l}`),
    ...Object.entries(opts.forwardZones ?? {}).flatMap(([z, ups]) => [
      'forward-zone:',
      `    name: ${q(fqdn(z))}`,
      ...ups.map((u) => `    forward-addr: ${u.address}@${u.port}`),
    ]),
    'remote-control:',
    '    control-enable: yes',
    `    control-interface: ${join(dir, 'control.sock')}`,
    '    control-use-cert: no',
    '',
  ];
  writeFileSync(conf, lines.join('\n'));

  const queries: LoggedQuery[] = [];
  // "[1795262724] unbound[5124:0] info: 127.0.0.1 a.local.test. A IN"
  const re = /\binfo: (\S+) (\S+) (\S+) (IN|CH|HS|ANY|CLASS\d+)$/;
  const child = spawnChild(`unbound ${ep.address}@${ep.port}`, 'unbound', ['-d', '-c', conf], {
    onLine(line) {
      const m = re.exec(line);
      if (m && norm(m[2]) !== norm(PROBE_NAME)) queries.push({ client: m[1], name: norm(m[2]), type: m[3], class: m[4] });
    },
  });
  const stop = async () => {
    await child.stop('SIGTERM', 3000);
    rmSync(dir, { recursive: true, force: true });
  };

  await waitUntilAnswering({
    child, ep, name: PROBE_NAME, type: 'A', timeoutMs: opts.startTimeoutMs ?? PATIENCE_MS, cleanup: stop,
    context: `config:\n${lines.join('\n')}`,
  });

  return {
    ...ep,
    dir,
    child,
    queries,
    count: (f = {}) => queries.filter((x) => (f.name === undefined || x.name === norm(f.name))
      && (f.type === undefined || x.type === f.type)).length,
    clear: () => { queries.length = 0; },
    async stats() {
      const { stdout } = await run('unbound-control', ['-c', conf, 'stats_noreset'], { timeout: 5000 });
      const out: Record<string, number> = {};
      for (const l of stdout.split('\n')) {
        const m = /^([^=]+)=([\d.]+)$/.exec(l.trim());
        if (m) out[m[1]] = Number(m[2]);
      }
      return out;
    },
    stop,
  };
}
