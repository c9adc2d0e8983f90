// What a pod's resolver library sends for one name, and when it stops (seeds 001, 003, 004).
//   glibc (res_search in resolv/res_query.c, glibc 2.26+): as-is first when dots >= ndots or a
//     trailing dot; then each search domain; then as-is if not tried. getaddrinfo sends A and
//     AAAA together per name. A name with answers ends it; NXDOMAIN, NODATA and SERVFAIL move
//     on to the next name; a timeout or REFUSED ends the search list (the bare name is still
//     tried last). SERVFAIL and REFUSED are first asked again of every nameserver, `attempts` times.
//   musl (src/network/lookup_name.c): dots >= ndots or a trailing dot: as-is only, never the
//     search list. Otherwise the search list, then as-is. Only NXDOMAIN moves on: NODATA and
//     SERVFAIL end the lookup. A search line of 255 characters or more is ignored entirely.
//   Go, pure resolver (net/dnsclient_unix.go nameList; CGO_ENABLED=0 or netgo): glibc's order,
//     A and AAAA in parallel, every error moves on. It never consults nsswitch.conf's
//     myhostname, so `*.localhost` goes through DNS and the search list (seed 001).
//   c-ares (Node's dns.resolve*, dns.promises.Resolver): the name exactly as written, no search
//     list, no ndots, no hosts file (only dns.lookup, i.e. getaddrinfo, reads those).
// Over the wire (WIRE below): the UDP size each library asks with and what it does with TC.
import type { ResolvConf } from '../config/resolvconf';
import { ndotsOf } from '../config/resolvconf';
import { MAX_NAMESERVERS, MUSL_MAX_LINE } from './pod-resolv';

export type ResolverKind = 'glibc' | 'musl' | 'musl-1.2.3' | 'go' | 'c-ares';
export const RESOLVER_KINDS: readonly ResolverKind[] = ['glibc', 'musl', 'musl-1.2.3', 'go', 'c-ares'];

/** How a library talks to the server: its UDP size, EDNS, and what it does with a TC reply. */
export interface WireModel {
  /** the resolver versions this model stands for, and what it was checked against */
  versions: string;
  udpSize: number;
  edns: boolean;
  /** 'tcp': asks again over TCP; 'keep': uses the truncated reply as it is */
  onTc: 'tcp' | 'keep';
  /** on TC, glibc asks every type of the name again over TCP (A and AAAA), the others only the truncated one */
  tcpAll: boolean;
  /** glibc getaddrinfo: results go into a 1 KiB buffer; when they do not fit, the whole lookup restarts with twice the buffer */
  restartOnOverflow: boolean;
}

export const WIRE: Record<ResolverKind, WireModel> = {
  glibc: {
    versions: 'glibc 2.26 and later (checked against glibc 2.36, Debian 12): Debian, Ubuntu, RHEL images, Go with cgo, Node dns.lookup',
    udpSize: 512, edns: false, onTc: 'tcp', tcpAll: true, restartOnOverflow: true,
  },
  musl: {
    versions: 'musl 1.2.4 and later: Alpine 3.18 and later (from its source; not checked here, Debian ships 1.2.3)',
    udpSize: 512, edns: false, onTc: 'tcp', tcpAll: false, restartOnOverflow: false,
  },
  'musl-1.2.3': {
    versions: 'musl 1.2.3 and earlier (checked against Debian\'s musl 1.2.3): Alpine 3.17 and earlier; never retries over TCP',
    udpSize: 512, edns: false, onTc: 'keep', tcpAll: false, restartOnOverflow: false,
  },
  go: {
    versions: 'Go pure resolver (CGO_ENABLED=0 / netgo builds), checked against Go 1.19: EDNS 1232, A and AAAA in parallel',
    udpSize: 1232, edns: true, onTc: 'tcp', tcpAll: false, restartOnOverflow: false,
  },
  'c-ares': {
    versions: 'c-ares as bundled with Node.js 24 (checked): dns.resolve*, dns.promises.Resolver; no EDNS',
    udpSize: 512, edns: false, onTc: 'tcp', tcpAll: false, restartOnOverflow: false,
  },
};

/** glibc's EDNS size with "options edns0" (RESOLV_EDNS_BUFFER_SIZE). */
const GLIBC_EDNS_SIZE = 1200;

/** The wire model for a resolv.conf: glibc with "options edns0" asks with EDNS 1200. */
export function wireFor(kind: ResolverKind, c: ClientConf): WireModel {
  const w = WIRE[kind];
  return kind === 'glibc' && c.edns0 ? { ...w, udpSize: GLIBC_EDNS_SIZE, edns: true } : w;
}

/**
 * How many times glibc's getaddrinfo runs the whole lookup for `addresses` results: each
 * result takes a 40-byte struct gaih_addrtuple, the name its length + 1 rounded to 8, in a
 * buffer of 1024 bytes that doubles after each ERANGE (measured against glibc 2.36: 25
 * addresses of web.svc.cluster.local in one pass, 26-50 in two, 51-100 in three).
 */
export function glibcPasses(addresses: number, name: string): number {
  const need = addresses * 40 + Math.ceil((name.replace(/\.$/, '').length + 1) / 8) * 8;
  let passes = 1;
  for (let buf = 1024; need > buf; buf *= 2) passes++;
  return passes;
}

/** musl before and after 1.2.4 search and stop alike; only their TC handling differs. */
const isMusl = (k: ResolverKind) => k === 'musl' || k === 'musl-1.2.3';

export interface ClientConf {
  kind: ResolverKind;
  nameservers: string[];
  search: string[];
  ndots: number;
  attempts: number;
  timeoutS: number;
  singleRequest: boolean;
  noAaaa: boolean;
  edns0: boolean; // glibc "options edns0"
  /** the library reads /etc/hosts (getaddrinfo does; c-ares's resolve* does not) */
  readsHosts: boolean;
  /** what this library ignores or changes in the file */
  notes: string[];
}

const num = (v: string | true | undefined, def: number, max: number) => {
  const n = typeof v === 'string' ? parseInt(v, 10) : NaN;
  return Number.isFinite(n) && n >= 0 ? Math.min(n, max) : def;
};

export function clientConf(rc: ResolvConf, kind: ResolverKind): ClientConf {
  const notes: string[] = [];
  let search = rc.search;
  if (isMusl(kind)) {
    const line = `search ${rc.search.join(' ')}`;
    if (rc.search.length > 0 && line.length > MUSL_MAX_LINE) {
      notes.push(`musl ignores the search line: ${line.length} characters, and it reads at most ${MUSL_MAX_LINE}; names are tried as-is only`);
      search = [];
    }
  }
  if (rc.nameservers.length > MAX_NAMESERVERS) {
    notes.push(`only the first ${MAX_NAMESERVERS} nameservers are used; ${rc.nameservers.slice(MAX_NAMESERVERS).join(', ')} never`);
  }
  const o = rc.options;
  return {
    kind,
    nameservers: rc.nameservers.slice(0, MAX_NAMESERVERS),
    search,
    ndots: ndotsOf(rc),
    attempts: num(o.attempts, 2, isMusl(kind) ? 10 : 5),
    timeoutS: num(o.timeout, 5, isMusl(kind) ? 60 : 30),
    singleRequest: o['single-request'] === true || o['single-request-reopen'] === true,
    noAaaa: kind === 'glibc' && o['no-aaaa'] === true,
    edns0: kind === 'glibc' && o.edns0 === true,
    readsHosts: kind !== 'c-ares',
    notes,
  };
}

export interface Candidate {
  fqdn: string; // with the trailing dot
  /** rooted: the name had a trailing dot; first/last: the bare name before or after the search list */
  role: 'rooted' | 'as-written' | 'as-is-first' | 'search' | 'as-is-last';
  why: string;
}

/** The names tried, in order, before any answer is known. */
export function candidates(name: string, c: ClientConf): Candidate[] {
  const rooted = name.endsWith('.');
  const bare = rooted ? name.slice(0, -1) : name;
  const dots = (name.match(/\./g) ?? []).length;
  const asIs = { fqdn: `${bare}.` };
  if (rooted) return [{ ...asIs, role: 'rooted', why: 'trailing dot: this name only' }];
  if (c.kind === 'c-ares') return [{ ...asIs, role: 'as-written', why: 'c-ares (dns.resolve*): the name as written, no search list' }];
  if (c.kind === 'go' && /\.onion$/i.test(bare)) return [];
  const enough = dots >= c.ndots;
  const searched = c.search
    .map((d, i): Candidate => ({ fqdn: d === '' || d === '.' ? `${bare}.` : `${bare}.${d}.`, role: 'search', why: `search domain ${i + 1} of ${c.search.length} (${d})` }))
    .filter((x) => x.fqdn.length <= 254);
  if (isMusl(c.kind)) {
    if (enough) return [{ ...asIs, role: 'as-is-first', why: `${dots} dot(s) >= ndots:${c.ndots}: as-is only (musl never searches then)` }];
    return [...searched, { ...asIs, role: 'as-is-last', why: `as-is, after the search list (${dots} dot(s) < ndots:${c.ndots})` }];
  }
  if (enough) {
    return [{ ...asIs, role: 'as-is-first', why: `${dots} dot(s) >= ndots:${c.ndots}: as-is first` }, ...searched.filter((s) => s.fqdn !== asIs.fqdn)];
  }
  const list = [...searched];
  if (!list.some((s) => s.fqdn === asIs.fqdn)) list.push({ ...asIs, role: 'as-is-last', why: `as-is, after the search list (${dots} dot(s) < ndots:${c.ndots})` });
  return list;
}

/** The query types sent for one name: `ask` is A+AAAA (getaddrinfo / net.Dial), A, AAAA or any other type. */
export function typesFor(ask: string, c: ClientConf): string[] {
  if (ask === 'A+AAAA') return c.noAaaa ? ['A'] : ['A', 'AAAA'];
  return [ask];
}

export interface Outcome {
  type: string;
  rcode?: string; // undefined: no answer in time
  answers: number; // records in the answer section
}

/** 'as-is': glibc leaves the search list but still tries the bare name at the end (if it has not yet). */
export type Step = { next: 'answer' | 'continue' | 'stop' | 'as-is'; why: string };

/** What the library does after the answers for one name. `asIsFirst`: this was glibc's opening as-is try. */
export function afterName(kind: ResolverKind, outcomes: Outcome[], asIsFirst: boolean): Step {
  if (outcomes.some((o) => o.rcode === 'NOERROR' && o.answers > 0)) return { next: 'answer', why: 'an answer' };
  if (kind === 'go') return { next: 'continue', why: 'no address: the Go resolver tries the next name' };
  if (kind === 'c-ares') return { next: 'stop', why: 'c-ares asks one name only' };
  if (isMusl(kind)) {
    for (const o of outcomes) {
      if (o.rcode === undefined) return { next: 'stop', why: 'no answer in time: musl gives up (EAI_AGAIN)' };
      if (o.rcode === 'SERVFAIL') return { next: 'stop', why: 'SERVFAIL: musl gives up (EAI_AGAIN), it does not try the next name' };
      if (o.rcode === 'NXDOMAIN') return { next: 'continue', why: 'NXDOMAIN: musl tries the next name' };
      if (o.rcode !== 'NOERROR') return { next: 'stop', why: `${o.rcode}: musl gives up (EAI_FAIL)` };
    }
    return { next: 'stop', why: 'NODATA: musl stops here (EAI_NODATA) and never tries the remaining names' };
  }
  // glibc: the first reply's rcode unless it is NOERROR, then the second's
  if (asIsFirst) return { next: 'continue', why: 'no answer as-is: glibc goes on to the search list' };
  if (outcomes.some((o) => o.rcode === undefined)) return { next: 'as-is', why: 'no answer in time (TRY_AGAIN): glibc leaves the search list' };
  const first = outcomes[0]?.rcode;
  const rc = first === 'NOERROR' ? outcomes[1]?.rcode ?? first : first;
  if (rc === 'NXDOMAIN') return { next: 'continue', why: 'NXDOMAIN: next name' };
  if (rc === 'NOERROR') return { next: 'continue', why: 'NODATA: next name' };
  if (rc === 'SERVFAIL') return { next: 'continue', why: 'SERVFAIL (after asking again): next name' };
  return { next: 'as-is', why: `${rc} (NO_RECOVERY): glibc leaves the search list` };
}

/** How many times glibc sends a query whose answer is SERVFAIL/REFUSED/NOTIMP: every nameserver, `attempts` rounds. */
export function resends(kind: ResolverKind, c: ClientConf, outcomes: Outcome[]): number {
  if (kind !== 'glibc') return 1;
  const retryable = (o: Outcome) => o.rcode === 'SERVFAIL' || o.rcode === 'REFUSED' || o.rcode === 'NOTIMP';
  const useful = outcomes.some((o) => o.rcode !== undefined && !retryable(o));
  return outcomes.some(retryable) && !useful ? Math.max(1, c.attempts) * Math.max(1, c.nameservers.length) : 1;
}

/** The hosts-file line for a name, as glibc, musl and Go read /etc/hosts before DNS (seed 003). */
export function hostsLookup(hostsText: string, name: string): string[] {
  const want = name.replace(/\.$/, '').toLowerCase();
  const out: string[] = [];
  for (const line of hostsText.split('\n')) {
    const words = line.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length < 2) continue;
    if (words.slice(1).some((w) => w.toLowerCase() === want)) out.push(words[0]);
  }
  return out;
}
