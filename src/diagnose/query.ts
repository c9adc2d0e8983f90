// `nodedns query NAME [TYPE]`: dig through nodedns' own routing, with what happened on the way.
import { loadConfig } from '../config/load';
import type { QueryReport } from './control-types';
import { routeText } from './explain-run';
import { checkName, parseType, shortAnswer, type RecordLine } from './message';
import { openQueryPath } from './query-path';
import { ms, paint, table, takeFlags, UsageError, type Paint } from './render';

export const QUERY_USAGE = `usage: nodedns query NAME [TYPE] [--json] [--direct] [flags]

Asks nodedns one question the way a pod would, and shows the zone it matched, whether
the cache answered, the upstream used and its latency, then the answer like dig.
Uses the running agent (--control-socket) when one answers, else resolves directly.
Exit code: 0 for NOERROR or NXDOMAIN, 1 for anything else (SERVFAIL, REFUSED).
`;

export async function queryCommand(argv: string[], out = (s: string) => process.stdout.write(s),
  err = (s: string) => process.stderr.write(s), p: Paint = paint()): Promise<number> {
  let a: ReturnType<typeof takeFlags>;
  try {
    a = takeFlags(argv, [], ['json', 'direct', 'help']);
    if (a.flags.has('help')) { out(QUERY_USAGE); return 0; }
  } catch (e) {
    err(`nodedns query: ${(e as Error).message}\n\n${QUERY_USAGE}`);
    return 2;
  }
  const { config, positional } = loadConfig(a.rest);
  let name: string;
  let type: string;
  try {
    if (positional.length === 0 || positional.length > 2) throw new UsageError('give NAME and optionally TYPE');
    name = checkName(positional[0]);
    type = parseType(positional[1] ?? 'A');
  } catch (e) {
    err(`nodedns query: ${(e as Error).message}\n\n${QUERY_USAGE}`);
    return 2;
  }
  const path = await openQueryPath(config, { direct: a.flags.has('direct') });
  try {
    const r = await path.query(name, type);
    if (a.flags.has('json')) {
      out(JSON.stringify({ ...r, via: path.mode, viaDescription: path.describe }, null, 2) + '\n');
    } else {
      out(renderQuery(r, path.describe, p));
    }
    return r.summary.rcode === 'NOERROR' || r.summary.rcode === 'NXDOMAIN' ? 0 : 1;
  } finally {
    await path.close();
  }
}

function section(title: string, rrs: RecordLine[]): string[] {
  if (rrs.length === 0) return [];
  return ['', `;; ${title} SECTION:`, ...table(rrs.map((x) => [x.name, String(x.ttl), 'IN', x.type, x.data]), '')];
}

export function renderQuery(r: QueryReport, via: string, p: Paint): string {
  const s = r.summary;
  const ok = s.rcode === 'NOERROR' || s.rcode === 'NXDOMAIN';
  const cache = r.cache === 'hit' ? 'cache hit' : r.cache === 'stale' ? 'stale answer from cache (upstreams failing)' : r.cache === 'local' ? 'answered locally' : 'cache miss';
  const head = `${r.name.replace(/\.$/, '')} ${r.type}: ${shortAnswer(s, r.type)}`;
  const L = [
    (ok ? p.bold : (x: string) => p.bold(p.red(x)))(head) + `  (${cache}, ${ms(r.latencyMs)})`,
    `;; route: ${routeText(r)}; zone ${r.zone} (${r.routeKind})`,
    `;; upstream: ${r.upstream ?? (r.cache === 'hit' ? 'none (from cache)' : r.cache === 'local' ? 'none (nodedns answered)' : 'none')}`,
    `;; via: ${via}`,
  ];
  if (r.error) L.push(p.red(`;; error: ${r.error}`));
  L.push(`;; ->>HEADER<<- status: ${s.rcode}, flags: ${s.flags.join(' ')}; ANSWER: ${s.answers.length}, AUTHORITY: ${s.authority.length}, ADDITIONAL: ${s.additional.length}`);
  L.push('', ';; QUESTION SECTION:', `;${r.name.replace(/\.?$/, '.')}\t\tIN\t${r.type}`);
  L.push(...section('ANSWER', s.answers), ...section('AUTHORITY', s.authority), ...section('ADDITIONAL', s.additional));
  L.push('', `;; Query time: ${ms(r.latencyMs)}`, `;; MSG SIZE  rcvd: ${s.size}`);
  return L.join('\n') + '\n';
}
