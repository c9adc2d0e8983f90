// Search completion (CoreDNS autopath's answer form, built around its failures): a pod
// asks `X.<ns>.svc.<domain>`, the first name of its search path; when that name does not
// exist, nodedns walks the rest of the pod's path itself and answers with the first name
// that exists, as a CNAME from the asked name to it followed by its records. The pod's
// resolver then stops after one query per type instead of walking the path itself.
//
// What keeps it correct:
// - Nothing here is cached. Every name of the path is an ordinary question answered and
//   cached as any other (one name, one type, no search list in it); a completed answer is
//   assembled per query from those entries, so an answer built for one pod's search list
//   can never be served to another (coredns#3765, #1139).
// - A and AAAA of one lookup end at the same name: a name "exists" only when both its A
//   and AAAA answers say so (NOERROR, with records or without), and a name for which they
//   disagree, or a failure anywhere on the path, stops completion (coredns#7179). A name
//   with A and no AAAA gives AAAA the CNAME and NODATA, never NXDOMAIN.
// - When no name on the path exists, the pod gets exactly what it gets today for the name
//   it asked (NXDOMAIN), and searches on by itself; the names it asks next are now cached.
import * as dnsPacket from 'dns-packet';
import type { AnswerCache } from '../cache/answer-cache';
import { clockNow } from '../cache/clock';
import type { Entry } from '../cache/entry';
import { render } from '../cache/render';
import type { Resolver } from '../serve/resolver';
import { HEADER_LEN, RCODE, RD, TYPE } from '../wire/constants';
import { scanQuery, type Query } from '../wire/query';
import { domainWire } from './search-path';

/** One plain question's answer, from the cache or the upstreams. */
export interface Plain {
  entry: Entry;
  stale: boolean;
  /** the upstreams gave no usable answer (SERVFAIL, timeout, a stale answer) */
  failed: boolean;
  query: Buffer;
  q: Query;
}

export interface Completed {
  /** the completed reply, or undefined: answer `own` as today */
  out?: Buffer;
  /** the answer to the asked name itself */
  own: Plain;
  /** the name the path ended at, when completed */
  target?: string;
  /** every name of the path was NXDOMAIN */
  exhausted?: boolean;
}

function plainQuery(name: string, qtype: number): { query: Buffer; q: Query } {
  const qname = domainWire(name);
  const query = Buffer.alloc(HEADER_LEN + qname.length + 4);
  query[2] = RD;
  query.writeUInt16BE(1, 4);
  qname.copy(query, HEADER_LEN);
  query.writeUInt16BE(qtype, HEADER_LEN + qname.length);
  query.writeUInt16BE(1, HEADER_LEN + qname.length + 2);
  return { query, q: scanQuery(query) };
}

const failedRcode = (e: Entry) => e.rcode !== RCODE.NOERROR && e.rcode !== RCODE.NXDOMAIN;

/** A question answered through the cache and the resolver, as the pod's own query would be. */
export async function resolvePlain(cache: AnswerCache, resolver: Resolver, name: string, qtype: number, asked?: { query: Buffer; q: Query }): Promise<Plain> {
  const { query, q } = asked ?? plainQuery(name, qtype);
  const e = cache.fresh(q.key, clockNow());
  if (e !== undefined) return { entry: e, stale: false, failed: failedRcode(e), query, q };
  const o = await resolver.resolveAsync(q.key, query.subarray(HEADER_LEN, q.questionEnd), name, false, false);
  return { entry: o.entry, stale: o.stale, failed: o.stale || o.error !== undefined || failedRcode(o.entry), query, q };
}

/**
 * Completes the pod's question `name` (lower-case; the client's query is `query`/`q`, A or
 * AAAA, without DO or CD) along `rest`, the names its resolver would try next.
 */
export async function complete(cache: AnswerCache, resolver: Resolver, query: Buffer, q: Query, name: string, rest: string[], maxSize: number): Promise<Completed> {
  const own = await resolvePlain(cache, resolver, name, q.qtype, { query, q });
  if (own.failed || own.entry.rcode !== RCODE.NXDOMAIN) return { own };
  const other = q.qtype === TYPE.A ? TYPE.AAAA : TYPE.A;
  for (const candidate of rest) {
    const [same, sibling] = await Promise.all([resolvePlain(cache, resolver, candidate, q.qtype), resolvePlain(cache, resolver, candidate, other)]);
    if (same.failed || sibling.failed) return { own };
    const gone = same.entry.rcode === RCODE.NXDOMAIN;
    if (gone !== (sibling.entry.rcode === RCODE.NXDOMAIN)) return { own }; // the two types disagree: not sure
    if (gone) continue;
    // a name with neither A nor AAAA (a namespace's svc.<domain> name, say): resolvers differ on
    // whether NODATA ends the search (musl stops, glibc and Go go on), so the pod decides itself
    if (answerCount(same.entry) === 0 && answerCount(sibling.entry) === 0) return { own };
    const out = cnameReply(query, q, name, candidate, own, same, maxSize);
    return out ? { out, own, target: candidate } : { own };
  }
  return { own, exhausted: true };
}

const answerCount = (e: Entry) => e.wire.readUInt16BE(6);

type Rr = dnsPacket.Answer & { ttl?: number };

/** The reply: the client's header and question, CNAME name -> target, then the target's records. */
function cnameReply(query: Buffer, q: Query, name: string, target: string, own: Plain, found: Plain, maxSize: number): Buffer | undefined {
  const now = clockNow();
  const mine = dnsPacket.decode(render(own.entry, own.query, own.q, now, 65535));
  const theirs = dnsPacket.decode(render(found.entry, found.query, found.q, now, 65535));
  const answers = (theirs.answers ?? []) as Rr[];
  const authorities = answers.length === 0 ? (theirs.authorities ?? []) as Rr[] : [];
  // the alias holds only as long as both the asked name's absence and the target's records do
  const ttl = Math.min(...[...(mine.authorities ?? []) as Rr[], ...answers, ...authorities].map((r) => r.ttl ?? 0), 3600);
  const out = dnsPacket.encode({
    type: 'response', id: q.id, flags: dnsPacket.RECURSION_AVAILABLE | (query[2] & RD ? dnsPacket.RECURSION_DESIRED : 0),
    questions: [{ name, type: q.qtype === TYPE.A ? 'A' : 'AAAA', class: 'IN' }],
    answers: [{ name, type: 'CNAME', class: 'IN', ttl, data: target }, ...answers],
    authorities,
    additionals: q.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer] : [],
  });
  // the client's question bytes as it sent them (its spelling of the name)
  if (out.length > maxSize || q.questionEnd - HEADER_LEN !== domainWire(name).length + 4) return undefined;
  query.copy(out, HEADER_LEN, HEADER_LEN, q.questionEnd);
  return out;
}
