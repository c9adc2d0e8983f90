// A real dnsmasq for one test: local answers (--address, --host-record, --txt-record,
// --srv-host) and/or forwarding (--server), in the foreground as a child. --log-queries
// goes to its stderr, which is parsed so tests can count what reached it and what it forwarded.
import { endpointOrFree, type Endpoint } from './ports';
import { PATIENCE_MS, spawnChild, type Child } from './process';
import { waitUntilAnswering } from './ready';

/** Readiness probes ask for this name; dnsmasq answers NXDOMAIN itself and it is left out of `queries`. */
export const PROBE_DOMAIN = 'harness-probe.invalid';

export interface DnsmasqQuery {
  name: string; // no trailing dot, lower case
  type: string;
  client: string;
}

export interface DnsmasqOptions {
  address?: string;
  port?: number;
  /** domain -> address for it and every name under it (--address=/domain/ip) */
  addresses?: Record<string, string>;
  /** name -> addresses, with PTRs (--host-record=name,ip,…) */
  hosts?: Record<string, string[]>;
  /** name -> text (--txt-record) */
  txt?: Record<string, string>;
  /** --srv-host values, e.g. '_http._tcp.dm.test,www.dm.test,80,10,5' */
  srv?: string[];
  /** upstreams: an endpoint for everything, or { domain, upstream } for one domain (--server=/d/ip#port) */
  servers?: (Endpoint | { domain: string; upstream: Endpoint })[];
  /** cached answers (default 0: every forwarded query reaches the upstream) */
  cacheSize?: number;
  extraArgs?: string[];
  startTimeoutMs?: number; // default PATIENCE_MS
}

export interface DnsmasqServer extends Endpoint {
  child: Child;
  /** queries received (probes excluded), in order */
  queries: DnsmasqQuery[];
  /** queries it forwarded: name and the upstream "ip#port" */
  forwarded: { name: string; to: string }[];
  count(filter?: { name?: string; type?: string }): number;
  clear(): void;
  stop(): Promise<void>;
}

const hp = (e: Endpoint) => `${e.address}#${e.port}`;
const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

export async function startDnsmasq(opts: DnsmasqOptions = {}): Promise<DnsmasqServer> {
  const ep = await endpointOrFree(opts);
  const args = [
    '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces',
    `--listen-address=${ep.address}`, `--port=${ep.port}`,
    '--log-queries', '--log-facility=-', '--pid-file=', '--user=root', '--group=root',
    `--cache-size=${opts.cacheSize ?? 0}`,
    `--local=/${PROBE_DOMAIN}/`,
    ...Object.entries(opts.addresses ?? {}).map(([d, ip]) => `--address=/${d}/${ip}`),
    ...Object.entries(opts.hosts ?? {}).map(([n, ips]) => `--host-record=${[n, ...ips].join(',')}`),
    ...Object.entries(opts.txt ?? {}).map(([n, t]) => `--txt-record=${n},${t}`),
    ...(opts.srv ?? []).map((s) => `--srv-host=${s}`),
    ...(opts.servers ?? []).map((s) => ('domain' in s ? `--server=/${s.domain}/${hp(s.upstream)}` : `--server=${hp(s)}`)),
    ...(opts.extraArgs ?? []),
  ];
  const queries: DnsmasqQuery[] = [];
  const forwarded: { name: string; to: string }[] = [];
  const probe = (n: string) => norm(n) === PROBE_DOMAIN || norm(n).endsWith('.' + PROBE_DOMAIN);
  const child = spawnChild(`dnsmasq ${ep.address}#${ep.port}`, 'dnsmasq', args, {
    onLine(line) {
      let m = /\bquery\[(\S+)\] (\S+) from (\S+)$/.exec(line);
      if (m && !probe(m[2])) queries.push({ type: m[1], name: norm(m[2]), client: m[3] });
      m = /\bforwarded (\S+) to (\S+)$/.exec(line);
      if (m && !probe(m[1])) forwarded.push({ name: norm(m[1]), to: m[2] });
    },
  });
  const stop = async () => { await child.stop('SIGTERM', 3000); };

  await waitUntilAnswering({
    child, ep, name: PROBE_DOMAIN, type: 'A', timeoutMs: opts.startTimeoutMs ?? PATIENCE_MS, cleanup: stop,
    context: `dnsmasq ${args.join(' ')}`,
  });

  return {
    ...ep,
    child,
    queries,
    forwarded,
    count: (f = {}) => queries.filter((x) => (f.name === undefined || x.name === norm(f.name))
      && (f.type === undefined || x.type === f.type)).length,
    clear: () => { queries.length = 0; forwarded.length = 0; },
    stop,
  };
}
