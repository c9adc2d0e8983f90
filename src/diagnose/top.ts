// `nodedns top`: which pod of this node sends what. A table refreshed every second from the
// running agent (GET /pods on the control socket): pods by query rate, their NXDOMAIN share,
// SERVFAILs, completed answers and the names they ask most. Printed once when stdout is not
// a terminal or with --once (after one interval, so rates are known); --json for scripts.
import { loadConfig } from '../config/load';
import { parseDuration } from '../config/values';
import type { PodReport, PodsReport } from '../pods/report';
import { ControlClient } from './control-client';
import { paint, table, takeFlags, UsageError, type Paint } from './render';

export const TOP_USAGE = `usage: nodedns top [--once] [--json] [--interval 1s] [--limit 20] [flags]

This node's pods by query rate, with their NXDOMAIN share, SERVFAILs, answers completed
by search completion, and the names each asks most. Needs a running nodedns (its
--control-socket) that watches this node's pods (--kube-api, the default in a pod).

  --once          print one table (after one interval) and exit; the default when stdout is not a terminal
  --json          the same as JSON
  --interval D    refresh every D (default 1s)
  --limit N       pods shown (default 20)
`;

export interface TopRow {
  namespace: string;
  name: string;
  qps: number;
  queries: number;
  nxdomain: number;
  /** NXDOMAIN share of the queries in the last interval (of all its queries when it sent none) */
  nxdomainShare: number;
  servfail: number;
  completions: number;
  completion: boolean;
  reason?: string;
  top: PodReport['top'];
}

/** Rows from two reports `prev` and `next`, busiest first. */
export function topRows(prev: PodsReport, next: PodsReport): TopRow[] {
  const seconds = Math.max(0.001, (next.at - prev.at) / 1000);
  const before = new Map(prev.pods.map((p) => [`${p.namespace}/${p.name}`, p]));
  return next.pods.map((p): TopRow => {
    const b = before.get(`${p.namespace}/${p.name}`);
    const dq = p.queries - (b?.queries ?? 0);
    const dn = p.nxdomain - (b?.nxdomain ?? 0);
    const share = dq > 0 ? dn / dq : p.queries > 0 ? p.nxdomain / p.queries : 0;
    return {
      namespace: p.namespace, name: p.name, qps: Math.round((dq / seconds) * 10) / 10, queries: p.queries, nxdomain: p.nxdomain,
      nxdomainShare: Math.round(share * 1000) / 1000, servfail: p.servfail, completions: p.completions, completion: p.completion,
      reason: p.reason, top: p.top,
    };
  }).sort((a, b) => b.qps - a.qps || b.queries - a.queries || `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

export function renderTop(rows: TopRow[], next: PodsReport, limit: number, intervalMs: number, p: Paint): string {
  const total = rows.reduce((a, r) => a + r.qps, 0);
  const lines = [p.bold(`nodedns top: ${rows.length} pods, ${total.toFixed(1)} queries/s (every ${intervalMs / 1000} s)`)];
  if (!next.known) lines.push(p.yellow('  nodedns does not know this node\'s pods: run it with --kube-api and list/watch on pods (docs/pods.md)'));
  const shown = rows.slice(0, limit);
  lines.push(...table([
    ['POD', 'QPS', 'QUERIES', 'NXDOMAIN', 'SERVFAIL', 'COMPLETED', 'TOP NAMES'],
    ...shown.map((r) => [
      `${r.namespace}/${r.name}`, r.qps.toFixed(1), String(r.queries), `${(r.nxdomainShare * 100).toFixed(0)}%`, String(r.servfail),
      r.completion ? String(r.completions) : '-', r.top.slice(0, 3).map((t) => `${t.name} ${t.count}`).join(', '),
    ]),
  ]));
  if (rows.length > limit) lines.push(p.dim(`  … ${rows.length - limit} more (--limit)`));
  if (next.contested.length > 0) lines.push(p.dim(`  ${next.contested.length} address(es) claimed by more than one pod, not attributed: ${next.contested.map((c) => `${c.ip} (${c.pods.join(', ')})`).join('; ')}`));
  return lines.join('\n') + '\n';
}

export async function topCommand(argv: string[], out = (s: string) => process.stdout.write(s),
  err = (s: string) => process.stderr.write(s), tty = process.stdout.isTTY === true, p: Paint = paint()): Promise<number> {
  let a: ReturnType<typeof takeFlags>;
  let intervalMs: number;
  let limit: number;
  try {
    a = takeFlags(argv, ['interval', 'limit'], ['json', 'once', 'help']);
    if (a.flags.has('help')) { out(TOP_USAGE); return 0; }
    intervalMs = Math.round(parseDuration(a.values.get('interval') ?? '1s', 's') * 1000);
    if (!(intervalMs >= 100 && intervalMs <= 60_000)) throw new UsageError('--interval must be from 100ms to 60s');
    limit = Number(a.values.get('limit') ?? 20);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000');
  } catch (e) {
    err(`nodedns top: ${(e as Error).message}\n\n${TOP_USAGE}`);
    return 2;
  }
  const { config } = loadConfig(a.rest);
  if (!config.controlSocket) { err('nodedns top: the control socket is off (--control-socket ""); top reads the running agent through it\n'); return 1; }
  const client = new ControlClient(config.controlSocket);
  const once = a.flags.has('once') || !tty;
  let prev: PodsReport;
  try {
    prev = await client.pods();
  } catch (e) {
    err(`nodedns top: ${(e as Error).message}; is nodedns running with this --control-socket?\n`);
    return 1;
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    let next: PodsReport;
    try {
      next = await client.pods();
    } catch (e) {
      err(`nodedns top: ${(e as Error).message}\n`);
      return 1;
    }
    const rows = topRows(prev, next);
    if (a.flags.has('json')) out(JSON.stringify({ at: new Date(next.at).toISOString(), intervalMs, known: next.known, pods: rows.slice(0, limit), contested: next.contested }) + '\n');
    else out((once ? '' : '\x1b[H\x1b[2J') + renderTop(rows, next, limit, intervalMs, p));
    if (once) return 0;
    prev = next;
  }
}
