// `nodedns doctor`: every fact the seed stories took hours to find, checked in seconds.
// Each check: PASS, WARN, FAIL (or SKIP when it cannot run here), one line of evidence,
// and the fix for anything not PASS. Exit code 1 when something FAILs.
import { loadConfig } from '../config/load';
import { checkHostResolvConf, checkLoop, checkSteering, checkUpstreams } from './checks-host';
import { checkKubeletClusterDns, checkKubeletResolvConf, checkPodResolvConf } from './checks-kubelet';
import { checkNodeCache } from './checks-nodecache';
import { checkClusterDns, checkListening, checkNodeSetup, checkReadiness } from './checks-serving';
import { findAgent } from './control-client';
import type { CheckResult, DoctorContext, Status } from './doctor-types';
import { readKubeletDns } from './kubelet-dns';
import { inspectNode } from './node-inspect';
import { checkNamespace } from './pod-resolv';
import { paint, takeFlags, UsageError, type Paint } from './render';
import { parseDuration } from '../config/values';

export const DOCTOR_USAGE = `usage: nodedns doctor [--json] [--namespace default] [--timeout 2s] [--host-root /] [flags]

Checks, on this node: the host resolv.conf and the upstreams behind it, forwarding loops,
kubelet's clusterDNS and resolvConf, NodeLocal DNSCache's traces, nodedns' listeners, node setup and readiness, the
cluster DNS, and the resolv.conf pods get. Each check prints PASS, WARN, FAIL or SKIP,
one line of evidence and, when not PASS, the fix. Uses the running agent's configuration
when one answers on --control-socket; otherwise the flags given (same as "nodedns run").

  --json           machine-readable output
  --namespace NS   the namespace whose pod resolv.conf is checked (default: default)
  --timeout T      how long each probe waits (default 2s)
Exit code: 0 when nothing FAILs, 1 when something does, 2 for bad usage.
`;

export type CheckFn = (ctx: DoctorContext) => Promise<CheckResult>;

/** In the order a person reads them: the host, kubelet, nodedns, the cluster DNS, the pods. */
export const CHECKS: CheckFn[] = [
  checkHostResolvConf, checkUpstreams, checkLoop,
  checkKubeletClusterDns, checkKubeletResolvConf,
  checkNodeCache, checkListening, checkNodeSetup, checkSteering, checkReadiness,
  checkClusterDns, checkPodResolvConf,
];

export interface DoctorReport {
  verdict: 'PASS' | 'WARN' | 'FAIL';
  counts: Record<Status, number>;
  configFrom: string;
  agent: { pid: number; socket: string } | null;
  checks: CheckResult[];
}

export async function runDoctor(ctx: DoctorContext, checks: CheckFn[] = CHECKS): Promise<DoctorReport> {
  const results = await Promise.all(checks.map(async (c) => {
    try {
      return await c(ctx);
    } catch (e) {
      return { id: c.name, title: c.name, seed: '', status: 'FAIL' as Status, evidence: `the check itself failed: ${(e as Error).message}`, fix: 'report this as a nodedns bug, with the output of --json' };
    }
  }));
  const counts: Record<Status, number> = { PASS: 0, WARN: 0, FAIL: 0, SKIP: 0 };
  for (const r of results) counts[r.status]++;
  return {
    verdict: counts.FAIL ? 'FAIL' : counts.WARN ? 'WARN' : 'PASS',
    counts,
    configFrom: ctx.configFrom,
    agent: ctx.agent ? { pid: ctx.agent.state.pid, socket: ctx.agent.client.socketPath } : null,
    checks: results,
  };
}

const ORDER: Record<Status, number> = { FAIL: 0, WARN: 1, SKIP: 2, PASS: 3 };

export function renderDoctor(r: DoctorReport, p: Paint): string {
  const colour = (s: Status) => (s === 'FAIL' ? p.red : s === 'WARN' ? p.yellow : s === 'PASS' ? p.green : p.dim)(s.padEnd(4));
  const parts = [`${r.counts.FAIL} failed`, `${r.counts.WARN} warning${r.counts.WARN === 1 ? '' : 's'}`, `${r.counts.PASS} passed`];
  if (r.counts.SKIP) parts.push(`${r.counts.SKIP} skipped`);
  const L = [p.bold(`nodedns doctor: ${colour(r.verdict).trim()}: ${parts.join(', ')}`), `config: ${r.configFrom}`, ''];
  const sorted = [...r.checks].sort((a, b) => ORDER[a.status] - ORDER[b.status]);
  for (const c of sorted) {
    L.push(`${colour(c.status)}  ${p.bold(c.id)}: ${c.title}`);
    L.push(`      ${c.evidence}`);
    if (c.status !== 'PASS') for (const d of c.details ?? []) if (!c.evidence.includes(d)) L.push(p.dim(`        ${d}`));
    if (c.fix) L.push(`      ${p.bold('fix:')} ${c.fix}`);
  }
  return L.join('\n') + '\n';
}

export async function doctorCommand(argv: string[], out = (s: string) => process.stdout.write(s),
  err = (s: string) => process.stderr.write(s), p: Paint = paint()): Promise<number> {
  let a: ReturnType<typeof takeFlags>;
  let timeoutMs: number;
  try {
    a = takeFlags(argv, ['namespace', 'timeout'], ['json', 'help']);
    if (a.flags.has('help')) { out(DOCTOR_USAGE); return 0; }
    timeoutMs = Math.round(parseDuration(a.values.get('timeout') ?? '2s', 's') * 1000);
    if (timeoutMs < 50 || timeoutMs > 30_000) throw new UsageError('--timeout must be from 50ms to 30s');
    checkNamespace(a.values.get('namespace') ?? 'default');
  } catch (e) {
    err(`nodedns doctor: ${(e as Error).message}\n\n${DOCTOR_USAGE}`);
    return 2;
  }
  const { config: flags, positional } = loadConfig(a.rest);
  if (positional.length) {
    err(`nodedns doctor: unexpected "${positional.join(' ')}"\n\n${DOCTOR_USAGE}`);
    return 2;
  }
  const found = await findAgent(flags.controlSocket);
  const agent = 'reason' in found ? undefined : found;
  const config = agent ? agent.state.config : flags;
  const ctx: DoctorContext = {
    config,
    configFrom: agent
      ? `the running agent (pid ${agent.state.pid}, ${agent.client.socketPath})`
      : `these flags and environment; no running agent (${(found as { reason: string }).reason})`,
    agent,
    noAgent: 'reason' in found ? found.reason : undefined,
    kubelet: readKubeletDns(config.hostRoot, config.localIps[0]),
    namespace: a.values.get('namespace') ?? 'default',
    timeoutMs,
    inspectNode: (c) => inspectNode(c, (agent?.state.config ?? c).clusterDns),
    inPod: process.env.KUBERNETES_SERVICE_HOST !== undefined && config.hostRoot !== '/',
  };
  const report = await runDoctor(ctx);
  out(a.flags.has('json') ? JSON.stringify(report, null, 2) + '\n' : renderDoctor(report, p));
  return report.verdict === 'FAIL' ? 1 : 0;
}
