// `nodedns explain NAME`: the pod's-eye view of one lookup.
import { readFileSync } from 'node:fs';
import { loadConfig } from '../config/load';
import { parseResolvConf } from '../config/resolvconf';
import { RESOLVER_KINDS, type ResolverKind } from './client-resolvers';
import { runExplain, type ExplainResult } from './explain-run';
import { readKubeletDns } from './kubelet-dns';
import { checkName, parseType } from './message';
import { checkNamespace, podResolvFor } from './pod-resolv';
import { completionView, readPodResolver, type PodResolver } from './explain-pod';
import { openQueryPath } from './query-path';
import { ms, paint, table, takeFlags, UsageError, type Paint } from './render';

export const EXPLAIN_USAGE = `usage: nodedns explain NAME [--type A+AAAA] [--namespace default] [--resolv-conf FILE]
                       [--resolver glibc|musl|musl-1.2.3|go|c-ares] [--hosts FILE] [--pod NS/NAME] [--json] [--direct] [flags]

Lists every query a pod's resolver sends for NAME, in order (search list, ndots, the
library's own rules), where nodedns sends each, the answer and time of each, the total,
and what to change. Uses the running agent (--control-socket) and its cache when one
answers, else resolves directly with the same flags as "nodedns run".

  --type T         A+AAAA (getaddrinfo, the default), A, AAAA, or another type (SRV, TXT, MX…)
  --namespace NS   the pod's namespace, for the resolv.conf kubelet generates (default: default)
  --resolv-conf F  the pod's resolv.conf instead of the generated one
                   (kubectl exec POD -- cat /etc/resolv.conf > F)
  --resolver R     glibc (default: Debian, Ubuntu, RHEL images; Node dns.lookup), musl (Alpine 3.18+),
                   musl-1.2.3 (Alpine 3.17 and older: no TCP after TC), go (CGO_ENABLED=0),
                   c-ares (Node dns.resolve*, dns.promises.Resolver: no search list, no hosts file)
                   Each is asked at its own UDP size, so truncation (TC) and TCP show as on the wire
  --hosts F        the pod's /etc/hosts (hostAliases): a name found there never reaches DNS
  --pod NS/NAME    that pod's real search list and ndots, read from the API (--kubeconfig or
                   in-cluster), and whether search completion would answer (docs/pods.md)
  --json           machine-readable output
  --direct         resolve directly even when an agent runs
`;

export async function explainCommand(argv: string[], out = (s: string) => process.stdout.write(s),
  err = (s: string) => process.stderr.write(s), p: Paint = paint()): Promise<number> {
  let a: ReturnType<typeof takeFlags>;
  let name: string;
  let ask: string;
  let resolver: ResolverKind;
  try {
    a = takeFlags(argv, ['type', 'namespace', 'resolv-conf', 'resolver', 'hosts', 'pod'], ['json', 'direct', 'help']);
    if (a.flags.has('help')) { out(EXPLAIN_USAGE); return 0; }
    const positional = a.rest.filter((x) => !x.startsWith('--'));
    if (positional.length === 0) throw new UsageError('give the NAME to explain');
    name = checkName(positional[0]);
    const t = (a.values.get('type') ?? 'A+AAAA').toUpperCase();
    ask = t === 'A+AAAA' ? t : parseType(t);
    const r = a.values.get('resolver') ?? 'glibc';
    if (!(RESOLVER_KINDS as readonly string[]).includes(r)) throw new UsageError(`--resolver "${r}" is not one of ${RESOLVER_KINDS.join(', ')}`);
    resolver = r as ResolverKind;
    checkNamespace(a.values.get('namespace') ?? 'default');
    checkPodRef(a.values.get('pod'));
  } catch (e) {
    err(`nodedns explain: ${(e as Error).message}\n\n${EXPLAIN_USAGE}`);
    return 2;
  }
  const { config, positional } = loadConfig(a.rest);
  if (positional.length > 1) {
    err(`nodedns explain: one NAME at a time (got ${positional.join(' ')})\n`);
    return 2;
  }
  const path = await openQueryPath(config, { direct: a.flags.has('direct') });
  try {
    const eff = path.config;
    let rcText: string;
    let origin: string;
    const file = a.values.get('resolv-conf');
    const podRef = a.values.get('pod');
    let pod: PodResolver | undefined;
    if (podRef) {
      try {
        pod = await readPodResolver(eff, podRef, eff.localIps[0]);
      } catch (e) {
        err(`nodedns explain: ${(e as Error).message}\n`);
        return 1;
      }
      rcText = pod.resolvConf;
      origin = pod.origin;
    } else if (file) {
      try {
        rcText = readFileSync(file, 'utf8');
      } catch (e) {
        err(`nodedns explain: cannot read --resolv-conf ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
        return 2;
      }
      origin = file;
    } else {
      const kubelet = readKubeletDns(eff.hostRoot, eff.localIps[0]);
      const pod = podResolvFor(eff, a.values.get('namespace') ?? 'default', kubelet.found ? kubelet : undefined, eff.localIps[0]);
      rcText = pod.text;
      origin = pod.origin;
    }
    let hosts: { file: string; text: string } | undefined;
    const hostsFile = a.values.get('hosts');
    if (hostsFile) {
      try {
        hosts = { file: hostsFile, text: readFileSync(hostsFile, 'utf8') };
      } catch (e) {
        err(`nodedns explain: cannot read --hosts ${hostsFile} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})\n`);
        return 2;
      }
    }
    const res = await runExplain({
      name, ask, resolver, rc: parseResolvConf(rcText), resolvConf: rcText, resolvOrigin: origin, path, nodednsIps: eff.localIps, hosts,
    });
    const completion = pod ? completionView(pod, res, eff.searchCompletion) : undefined;
    if (completion) res.notes.unshift(`search completion: ${completion.why}`);
    out(a.flags.has('json') ? JSON.stringify(completion ? { ...res, completion } : res, null, 2) + '\n' : renderExplain(res, p));
    return 0;
  } finally {
    await path.close();
  }
}

const LIBRARY: Record<ResolverKind, string> = {
  glibc: 'glibc getaddrinfo',
  musl: 'musl getaddrinfo',
  'musl-1.2.3': 'musl getaddrinfo',
  go: 'Go pure resolver',
  'c-ares': 'c-ares (Node dns.resolve*)',
};

export function renderExplain(r: ExplainResult, p: Paint): string {
  const L: string[] = [];
  const bare = r.name.replace(/\.$/, '');
  const wasted = r.answeredBy !== undefined ? r.queries.slice(0, r.answeredBy - 1).filter((q) => q.rcode === 'NXDOMAIN').length : 0;
  const verdict = r.hostsFile
    ? `${p.green(bare)}: ${r.answer}, no DNS query at all`
    : r.answered
      ? `${p.green(bare)}: ${r.answer} after ${r.totalQueries} ${r.totalQueries === 1 ? 'query' : 'queries'} in ${ms(r.totalMs)}${wasted ? ` (${wasted} NXDOMAIN on the way)` : ''}`
      : `${p.red(bare)}: ${r.answer}, after ${r.totalQueries} ${r.totalQueries === 1 ? 'query' : 'queries'} in ${ms(r.totalMs)}`;
  L.push(p.bold(verdict), '');
  L.push(`pod resolv.conf (${r.resolvOrigin}):`);
  for (const line of r.resolvConf.split('\n').filter((x) => x.trim() && !x.trim().startsWith('#'))) L.push(`    ${line}`);
  const types = r.ask === 'A+AAAA' ? (r.conf.noAaaa ? 'A only (no-aaaa)' : 'A and AAAA for each name') : `${r.ask} for each name`;
  L.push(`resolver: ${LIBRARY[r.resolver]}, ${types}${r.conf.singleRequest ? ', one after the other (single-request)' : ''}`);
  const w = r.wireModel;
  L.push(`  stands for ${w.versions}`);
  L.push(`  UDP ${w.udpSize} bytes${w.edns ? ' (EDNS)' : ', no EDNS'}; on TC: ${w.onTc === 'tcp' ? 'asks again over TCP' : 'keeps the truncated answer (no TCP)'}`
    + `${w.restartOnOverflow ? '; more addresses than its 1 KiB buffer holds restart the whole lookup' : ''}`);
  L.push(`answers: ${r.path}`, '');
  if (r.queries.length > 0) {
    const rows = [['#', 'name', 'type', 'rule', 'nodedns sent it to', 'answer', 'time']];
    for (const q of r.queries) {
      const ans = q.rcode === 'NOERROR' && q.answers > 0 ? p.green(q.answer) : q.rcode === 'NXDOMAIN' || q.rcode === 'NOERROR' ? q.answer : p.red(q.answer);
      rows.push([String(q.n), q.name, q.type + (q.transport === 'tcp' ? ' (TCP)' : ''), q.rule, q.route, ans + (q.truncated ? ' TC' : ''), ms(q.ms) + (q.sent > 1 ? ` ×${q.sent}` : '')]);
    }
    L.push(...table(rows));
    L.push('', `total: ${r.totalQueries} ${r.totalQueries === 1 ? 'query' : 'queries'}, ${ms(r.totalMs)}; ${r.stopWhy}`);
  }
  if (r.advice.length > 0) {
    L.push('', p.bold('what to do:'));
    for (const x of r.advice) L.push(`  - ${x}`);
  }
  if (r.notes.length > 0) {
    L.push('', 'notes:');
    for (const x of r.notes) L.push(`  - ${x}`);
  }
  return L.join('\n') + '\n';
}

function checkPodRef(ref: string | undefined): void {
  if (ref !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(ref)) {
    throw new UsageError(`--pod "${ref}" is not NAMESPACE/NAME`);
  }
}
