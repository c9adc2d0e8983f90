// A real Knot DNS authoritative server (knotd) for one test: config and zone files in a
// temp dir, knotd in the foreground as a child, ready once it answers the first zone's SOA.
// Queries received are counted with mod-stats (server-wide), read through knotc.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { query } from './dns-query';
import { endpointOrFree, type Endpoint } from './ports';
import { PATIENCE_MS, spawnChild, waitUntil, type Child } from './process';
import { waitUntilAnswering } from './ready';

const run = promisify(execFile);

export interface KnotOptions {
  address?: string; // default: a free random 127.x.y.z
  port?: number; // default: a free port
  /** zone origin -> zone file text (must hold a SOA; see simpleZone) */
  zones: Record<string, string>;
  /** NSID to return (default: knotd's default, the host name) */
  nsid?: string;
  /** more YAML appended under `server:` (indented by you, 4 spaces) */
  serverConfig?: string;
  startTimeoutMs?: number; // default PATIENCE_MS
}

export interface KnotServer extends Endpoint {
  dir: string;
  child: Child;
  /** all mod-stats and server counters, e.g. "mod-stats.query-type[A]" -> 3 */
  stats(): Promise<Record<string, number>>;
  /** queries received since start (or the last resetQueryCount), the readiness probe excluded */
  queryCount(): Promise<number>;
  /** queries of one type (e.g. "A", "TXT") received since start or the last reset */
  queryCountByType(type: string): Promise<number>;
  resetQueryCount(): Promise<void>;
  /** replace a zone's text and reload it; resolves once the new serial is served */
  setZone(origin: string, text: string): Promise<void>;
  stop(): Promise<void>;
}

/** Zone text with $ORIGIN, $TTL, a SOA (serial, negative TTL = `negTtl`) and an NS, then `body`. */
export function simpleZone(origin: string, body: string, o: { ttl?: number; negTtl?: number; serial?: number } = {}): string {
  const fqdn = origin.endsWith('.') ? origin : origin + '.';
  return [
    `$ORIGIN ${fqdn}`,
    `$TTL ${o.ttl ?? 300}`,
    `@ SOA ns1 hostmaster ${o.serial ?? 1} 3600 600 86400 ${o.negTtl ?? 60}`,
    '@ NS ns1',
    'ns1 A 127.0.0.1',
    body,
    '',
  ].join('\n');
}

const fqdn = (z: string) => (z.endsWith('.') ? z : z + '.');
const zoneFile = (origin: string) => `${fqdn(origin).slice(0, -1) || 'root'}.zone`;
const soaSerial = (text: string) => {
  const m = /\bSOA\s+\S+\s+\S+\s+(\d+)/i.exec(text);
  return m ? Number(m[1]) : undefined;
};

export async function startKnot(opts: KnotOptions): Promise<KnotServer> {
  const origins = Object.keys(opts.zones);
  if (origins.length === 0) throw new Error('startKnot: give at least one zone');
  const ep = await endpointOrFree(opts);
  const dir = mkdtempSync(join(tmpdir(), 'knot-'));
  const conf = join(dir, 'knot.conf');
  writeFileSync(conf, [
    'server:',
    `    listen: ${ep.address}@${ep.port}`,
    `    rundir: ${dir}`,
    `    pidfile: ${join(dir, 'knot.pid')}`,
    '    udp-workers: 1',
    '    tcp-workers: 1',
    '    background-workers: 1',
    ...(opts.nsid ? [`    nsid: "${opts.nsid}"`] : []),
    ...(opts.serverConfig ? [opts.serverConfig] : []),
    'control:',
    `    listen: ${join(dir, 'knot.sock')}`,
    'database:',
    `    storage: ${join(dir, 'db')}`,
    'log:',
    '  - target: stderr',
    '    any: info',
    'mod-stats:',
    '  - id: default',
    '    request-protocol: on',
    '    query-type: on',
    '    response-code: on',
    'template:',
    '  - id: default',
    `    storage: ${dir}`,
    '    global-module: mod-stats/default',
    '    zonefile-load: whole',
    '    journal-content: none',
    '    semantic-checks: off',
    'zone:',
    ...origins.flatMap((o) => [`  - domain: ${fqdn(o)}`, `    file: ${zoneFile(o)}`]),
    '',
  ].join('\n'));
  for (const o of origins) writeFileSync(join(dir, zoneFile(o)), opts.zones[o]);
  mkdirSync(join(dir, 'db'));

  const child = spawnChild(`knotd ${ep.address}@${ep.port}`, 'knotd', ['-c', conf]);
  const knotc = async (...args: string[]) => (await run('knotc', ['-c', conf, ...args], { timeout: 5000 })).stdout;
  const stop = async () => {
    await child.stop('SIGTERM', 3000);
    rmSync(dir, { recursive: true, force: true });
  };

  const stats = async () => {
    const out: Record<string, number> = {};
    for (const line of (await knotc('stats')).split('\n')) {
      const m = /^(\S+) = (\d+)$/.exec(line.trim());
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  };
  const sum = (s: Record<string, number>, prefix: string) =>
    Object.entries(s).filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);
  let base: Record<string, number> = {};

  await waitUntilAnswering({
    child, ep, name: fqdn(origins[0]), type: 'SOA', timeoutMs: opts.startTimeoutMs ?? PATIENCE_MS, cleanup: stop,
    accept: (r) => r.rcode === 'NOERROR' && (r.answers ?? []).length > 0,
    fatal() {
      const bad = child.lines.find((l) => /error: \[.*\] (zone loader|failed to parse)/.test(l));
      return bad && `knotd could not load a zone: ${bad.replace(/^\S+ error: /, '')}`;
    },
  });
  try {
    base = await stats();
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    ...ep,
    dir,
    child,
    stats,
    async queryCount() {
      return sum(await stats(), 'mod-stats.request-protocol[') - sum(base, 'mod-stats.request-protocol[');
    },
    async queryCountByType(type: string) {
      const key = `mod-stats.query-type[${type.toUpperCase()}]`;
      return ((await stats())[key] ?? 0) - (base[key] ?? 0);
    },
    async resetQueryCount() {
      base = await stats();
    },
    async setZone(origin: string, text: string) {
      writeFileSync(join(dir, zoneFile(origin)), text);
      await knotc('zone-reload', fqdn(origin));
      const serial = soaSerial(text);
      let probes = 0;
      await waitUntil(`knotd to serve the new ${fqdn(origin)} zone`, async () => {
        probes++;
        const r = await query(ep, fqdn(origin), 'SOA', { timeoutMs: 200 });
        const soa = (r.answers ?? []).find((a) => a.type === 'SOA');
        return soa && (serial === undefined || (soa.data as { serial: number }).serial === serial) ? true : undefined;
      }, 5000, 20);
      // our SOA probes are not queries the test sent: keep them out of the counts
      const udp = ep.address.includes(':') ? 'udp6' : 'udp4';
      base = { ...base };
      base[`mod-stats.request-protocol[${udp}]`] = (base[`mod-stats.request-protocol[${udp}]`] ?? 0) + probes;
      base['mod-stats.query-type[SOA]'] = (base['mod-stats.query-type[SOA]'] ?? 0) + probes;
    },
    stop,
  };
}
