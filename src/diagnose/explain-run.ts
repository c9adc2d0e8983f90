// `nodedns explain`: walk the names a pod's resolver tries, ask nodedns each question the
// library would send (live agent or direct), stop where the library stops, then advise.
import type { ResolvConf } from '../config/resolvconf';
import type { DebugClient } from '../serve/agent';
import {
  afterName, candidates, clientConf, glibcPasses, hostsLookup, resends, typesFor, wireFor,
  type Candidate, type ClientConf, type Outcome, type ResolverKind, type WireModel,
} from './client-resolvers';
import type { QueryReport } from './control-types';
import { shortAnswer } from './message';
import type { QueryPath } from './query-path';

export interface SentQuery {
  n: number; // position in the list, from 1
  name: string; // with the trailing dot
  type: string;
  why: string; // which rule of the library produced this name
  rule: string; // the same, short: "search 2/3", "as-is"
  route: string; // where nodedns sent it, in words
  zone: string;
  routeKind: string;
  cache: string;
  upstream?: string;
  rcode?: string; // undefined: no answer
  answer: string; // short text
  answers: number;
  ms: number;
  /** how many times the library sends it (glibc asks again after SERVFAIL/REFUSED) */
  sent: number;
  transport: 'udp' | 'tcp';
  /** the UDP reply had TC set (the answer did not fit the library's UDP size) */
  truncated: boolean;
  error?: string;
}

export interface ExplainResult {
  name: string;
  ask: string; // A+AAAA, A, AAAA, SRV…
  resolver: ResolverKind;
  resolvConf: string;
  resolvOrigin: string;
  conf: ClientConf;
  /** the library's UDP size, EDNS and TC handling, and the versions the model stands for */
  wireModel: WireModel;
  path: string; // live agent or direct
  hostsFile?: { file: string; addresses: string[] };
  queries: SentQuery[];
  /** the exact wire sequence (name, type, transport), repeats included, as a server would log it */
  wire: { name: string; type: string; transport: 'udp' | 'tcp' }[];
  answered: boolean;
  answer: string; // the final result, short
  answeredBy?: number; // query number that held the answer
  stopWhy: string;
  totalQueries: number;
  totalMs: number;
  notes: string[];
  advice: string[];
}

export interface ExplainInput {
  name: string;
  ask: string;
  resolver: ResolverKind;
  rc: ResolvConf;
  resolvConf: string;
  resolvOrigin: string;
  path: QueryPath;
  nodednsIps: string[];
  hosts?: { file: string; text: string };
}

export function routeText(r: Pick<QueryReport, 'routeKind' | 'zone' | 'upstream' | 'cache'>, servers?: string[]): string {
  if (r.routeKind === 'local') {
    const what = r.zone === 'hosts' ? '--host entry' : r.zone === 'invalid' ? 'invalid. (RFC 6761)' : 'localhost (RFC 6761)';
    return `local answer: ${what}`;
  }
  const via = r.upstream ?? servers?.join(', ') ?? '';
  const base = r.routeKind === 'cluster' ? `cluster DNS${via ? ' ' + via : ''}`
    : r.routeKind === 'stub' ? `stub domain ${r.zone}${via ? ' → ' + via : ''}`
      : `upstream${via ? ' ' + via : ''}`;
  if (r.cache === 'hit') return `cache (${r.routeKind === 'upstream' ? 'upstream' : r.routeKind === 'cluster' ? 'cluster DNS' : `stub ${r.zone}`} zone ${r.zone})`;
  if (r.cache === 'stale') return `${base}, stale from cache`;
  return base;
}

async function askAll(path: QueryPath, fqdn: string, types: string[], parallel: boolean, client: DebugClient): Promise<QueryReport[]> {
  if (parallel) return Promise.all(types.map((t) => path.query(fqdn, t, client)));
  const out: QueryReport[] = [];
  for (const t of types) out.push(await path.query(fqdn, t, client));
  return out;
}

/** One name as the library asks it: over UDP at its size, then over TCP for what came back truncated, if it retries. */
async function askName(path: QueryPath, fqdn: string, types: string[], parallel: boolean, wire: WireModel): Promise<{ udp: QueryReport[]; tcp: QueryReport[] }> {
  const udp = await askAll(path, fqdn, types, parallel, { udpSize: wire.udpSize, edns: wire.edns });
  const truncated = udp.filter((r) => r.summary.flags.includes('tc'));
  if (truncated.length === 0 || wire.onTc === 'keep') return { udp, tcp: [] };
  return { udp, tcp: await askAll(path, fqdn, wire.tcpAll ? types : truncated.map((r) => r.type), parallel, {}) };
}

export async function runExplain(inp: ExplainInput): Promise<ExplainResult> {
  const conf = clientConf(inp.rc, inp.resolver);
  const wireModel = wireFor(inp.resolver, conf);
  const cands = candidates(inp.name, conf);
  const res: ExplainResult = {
    name: inp.name, ask: inp.ask, resolver: inp.resolver, resolvConf: inp.resolvConf, resolvOrigin: inp.resolvOrigin, conf, wireModel,
    path: inp.path.describe, queries: [], wire: [], answered: false, answer: '', stopWhy: '', totalQueries: 0, totalMs: 0,
    notes: [...conf.notes], advice: [],
  };
  if (inp.hosts && conf.readsHosts && ['A', 'AAAA', 'A+AAAA'].includes(inp.ask)) {
    const hit = hostsLookup(inp.hosts.text, inp.name);
    if (hit.length > 0) {
      res.hostsFile = { file: inp.hosts.file, addresses: hit };
      res.answered = true;
      res.answer = `${hit.join(', ')} from ${inp.hosts.file}`;
      res.stopWhy = 'found in the hosts file, which every resolver reads before DNS';
      res.advice.push(`${res.name} is in ${inp.hosts.file} (hostAliases end up there): the pod never asks DNS, so nodedns and the cluster DNS never see it`);
      return res;
    }
  }
  if (cands.length === 0) {
    res.stopWhy = 'the Go resolver never sends .onion names';
    res.answer = 'no such host (not sent)';
    return res;
  }
  const types = typesFor(inp.ask, conf);
  const parallel = !conf.singleRequest;
  let i = 0;
  while (i < cands.length) {
    const c = cands[i];
    const { udp, tcp } = await askName(inp.path, c.fqdn, types, parallel, wireModel);
    // what the library goes on with: the TCP answer where it asked again, else the UDP one
    const reports = udp.map((r) => tcp.find((t) => t.type === r.type) ?? r);
    const outcomes: Outcome[] = reports.map((r) => ({ type: r.type, rcode: r.summary.rcode, answers: r.summary.answers.length }));
    const times = resends(inp.resolver, conf, outcomes);
    const final: SentQuery[] = [];
    for (const [r, transport] of [...udp.map((x) => [x, 'udp'] as const), ...tcp.map((x) => [x, 'tcp'] as const)]) {
      const q: SentQuery = {
        n: res.queries.length + 1, name: c.fqdn, type: r.type, why: c.why, rule: ruleTag(c, cands), route: routeText(r), zone: r.zone, routeKind: r.routeKind,
        cache: r.cache, upstream: r.upstream, rcode: r.summary.rcode, answer: shortAnswer(r.summary, r.type), answers: r.summary.answers.length,
        ms: r.latencyMs, sent: transport === 'udp' ? times : 1, transport, truncated: r.summary.flags.includes('tc'), error: r.error,
      };
      res.queries.push(q);
      if (reports.includes(r)) final.push(q);
    }
    for (let k = 0; k < times; k++) for (const t of types) res.wire.push({ name: c.fqdn.replace(/\.$/, ''), type: t, transport: 'udp' });
    for (const r of tcp) res.wire.push({ name: c.fqdn.replace(/\.$/, ''), type: r.type, transport: 'tcp' });
    res.totalQueries += types.length * times + tcp.length;
    const ms = (rs: QueryReport[]) => (rs.length === 0 ? 0 : parallel ? Math.max(...rs.map((r) => r.latencyMs)) : rs.reduce((a, r) => a + r.latencyMs, 0));
    res.totalMs += ms(udp) * times + ms(tcp);
    const step = afterName(inp.resolver, outcomes, c.role === 'as-is-first');
    if (step.next === 'answer') {
      const hit = final.find((q) => q.rcode === 'NOERROR' && q.answers > 0)!;
      res.answered = true;
      res.answeredBy = hit.n;
      res.answer = final.filter((q) => q.answers > 0).map((q) => q.answer).join('; ');
      res.stopWhy = `answered by query ${hit.n} (${hit.name} ${hit.type})`;
      const kept = final.filter((q) => q.truncated && q.transport === 'udp');
      if (kept.length) {
        res.notes.push(`${inp.resolver} keeps the truncated UDP answer (no TCP): only the ${kept.map((q) => q.answers).join(' + ')} records that fit in ${wireModel.udpSize} bytes`);
        res.advice.push('this musl never asks over TCP, so the pod sees only part of the answer: musl 1.2.4 and later (Alpine 3.18+) retry over TCP and get all of it');
      }
      if (wireModel.restartOnOverflow && ['A', 'AAAA', 'A+AAAA'].includes(inp.ask)) restartsForBuffer(res, final);
      break;
    }
    const last = i === cands.length - 1;
    if (step.next === 'stop' || last) {
      res.stopWhy = last && step.next !== 'stop' ? `no more names to try (${step.why})` : step.why;
      res.answer = describeFailure(res.queries);
      break;
    }
    if (step.next === 'as-is') {
      const j = cands.findIndex((x, k) => k > i && x.role === 'as-is-last');
      if (j < 0) {
        res.stopWhy = step.why;
        res.answer = describeFailure(res.queries);
        break;
      }
      res.notes.push(`${step.why}; the bare name is still tried last`);
      i = j;
      continue;
    }
    i++;
  }
  res.advice = [...advise(res, cands, inp), ...res.advice];
  return res;
}

/**
 * glibc getaddrinfo puts the addresses into a 1 KiB buffer and, when they do not fit, runs the
 * whole lookup again (the search list too) with twice the buffer: the wire so far repeats.
 */
function restartsForBuffer(res: ExplainResult, final: SentQuery[]): void {
  const addresses = final.reduce((n, q) => n + (q.type === 'A' || q.type === 'AAAA' ? q.answers : 0), 0);
  const passes = glibcPasses(addresses, final[0].name);
  if (passes === 1) return;
  const once = res.wire.slice();
  for (let p = 1; p < passes; p++) res.wire.push(...once);
  res.totalQueries *= passes;
  res.totalMs *= passes;
  res.notes.push(`${addresses} addresses overflow glibc's getaddrinfo buffer (1 KiB, doubled each time): it runs the whole lookup ${passes} times, the search list included`);
}

function ruleTag(c: Candidate, all: Candidate[]): string {
  if (c.role === 'search') {
    const searched = all.filter((x) => x.role === 'search');
    return `search ${searched.indexOf(c) + 1}/${searched.length}`;
  }
  return c.role === 'rooted' ? 'trailing dot' : c.role === 'as-written' ? 'as written' : c.role === 'as-is-first' ? 'as-is first' : 'as-is';
}

function describeFailure(qs: SentQuery[]): string {
  const rcodes = [...new Set(qs.map((q) => q.rcode ?? 'no answer'))];
  if (rcodes.length === 1 && rcodes[0] === 'NXDOMAIN') return 'NXDOMAIN for every name tried';
  const last = qs[qs.length - 1];
  const answer = last?.answer.startsWith('NODATA') ? 'NODATA' : last?.answer ?? 'nothing';
  return rcodes.length === 1 ? `no answer: ${answer}` : `no answer: ${answer} last (seen ${rcodes.join(', ')})`;
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

function advise(res: ExplainResult, cands: Candidate[], inp: ExplainInput): string[] {
  const out: string[] = [];
  const bare = inp.name.replace(/\.$/, '');
  const dots = (bare.match(/\./g) ?? []).length;
  const ns = inp.rc.nameservers[0];
  if (ns && !inp.nodednsIps.includes(ns)) {
    out.push(`this resolv.conf sends to ${ns}, not to nodedns (${inp.nodednsIps.join(', ')}): the pod bypasses the node cache. `
      + `Point kubelet's clusterDNS at nodedns ("nodedns kubelet set --ip ${inp.nodednsIps[0]}") and recreate the pod`);
  }
  const perName = typesFor(inp.ask, res.conf).length;
  if (res.answered && res.answeredBy !== undefined) {
    const q = res.queries[res.answeredBy - 1];
    const at = cands.findIndex((c) => c.fqdn === q.name);
    const wastedNames = at;
    if (wastedNames <= 0) {
      out.push('answered by the first name tried: nothing to save');
    } else if (cands[at].role === 'as-is-last') {
      const before = res.queries.slice(0, res.queries.findIndex((x) => x.name === q.name));
      const rcodes = [...new Set(before.map((x) => x.rcode ?? 'no answer'))].join('/');
      out.push(`${plural(res.totalQueries - perName, 'query', 'queries')} went to search-list names (${rcodes}) before "${bare}." itself. `
        + `Write the name with a trailing dot ("${bare}.") where the app is configured: ${plural(perName, 'query', 'queries')} instead of ${res.totalQueries}`);
      if (dots > 0) {
        out.push(`or lower ndots for this pod (spec.dnsConfig.options: [{name: ndots, value: "${dots}"}]): names with ${dots} or more dots then go out as-is first; `
          + `short names such as SERVICE.NAMESPACE then cost one extra query`);
      }
    } else {
      out.push(`the answer is ${q.name}: ask for that name (with the trailing dot) to skip ${plural(wastedNames, 'name')} (${wastedNames * perName} queries) tried before it`);
    }
  } else if (!res.answered) {
    const rcodes = new Set(res.queries.map((q) => q.rcode));
    if (res.queries.some((q) => q.rcode === 'SERVFAIL' || q.error)) {
      const bad = res.queries.find((q) => q.rcode === 'SERVFAIL' || q.error)!;
      out.push(`${bad.name} ${bad.type} failed on the way: ${bad.route}${bad.error ? ` (${bad.error})` : ''}. Run "nodedns doctor" to see which server does not answer`);
    }
    if (rcodes.size === 1 && rcodes.has('NXDOMAIN')) {
      out.push(`"${bare}" exists neither as-is nor under any search domain. For a Service in another namespace use SERVICE.NAMESPACE (or the full SERVICE.NAMESPACE.svc.${clusterDomainOf(inp)})`);
      const asIs = res.queries.find((q) => q.name === `${bare}.`);
      if (asIs && asIs.routeKind === 'upstream' && dots >= 1) {
        const zone = bare.split('.').slice(-2).join('.');
        out.push(`if ${zone} is a private zone, forward it to its own servers: --stub-domain ${zone}=IP (or stubDomains in the kube-dns ConfigMap); today it goes to the host's upstreams (${asIs.route})`);
      }
    }
    const nodata = res.resolver.startsWith('musl') && res.stopWhy.startsWith('NODATA');
    if (nodata) out.push('musl stops at the first NODATA: a name that exists without this record type under an earlier search domain hides the real one. Use the full name with a trailing dot');
  }
  if (/(^|\.)localhost\.?$/i.test(bare)) {
    const local = res.queries.find((q) => q.routeKind === 'local');
    if (res.resolver === 'go') {
      out.push(`Go's pure resolver (CGO_ENABLED=0) sends "${bare}" through DNS like any name; only a cgo build, on an image whose /etc/nsswitch.conf has "myhostname", `
        + 'lets glibc answer *.localhost itself' + (local ? `; here nodedns answers it locally at query ${local.n}, after the search list` : ''));
    } else if (local) {
      out.push(`nodedns answers *.localhost itself (127.0.0.1, ::1), but only for the bare name (query ${local.n}); the search-list names before it go to the cluster DNS`);
    }
    out.push('if the app expects another address for this name, .localhost is the wrong name: use hostAliases or a real name (a stub domain)');
  }
  const resent = res.queries.filter((q) => q.sent > 1);
  if (resent.length > 0) {
    out.push(`glibc sent ${resent.length === 1 ? `${resent[0].name} ${resent[0].type}` : `${resent.length} of these queries`} ${resent[0].sent} times each: `
      + `after SERVFAIL or REFUSED it asks every nameserver again, attempts:${res.conf.attempts} rounds. Fix the failing server (nodedns doctor)`);
  }
  return out;
}

function clusterDomainOf(inp: ExplainInput): string {
  return inp.path.config.clusterDomain || 'cluster.local';
}
