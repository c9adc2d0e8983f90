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
import { Buffer } from 'node:buffer';
import type { AnswerCache } from '../cache/answer-cache';
import { clockNow } from '../cache/clock';
import type { Entry } from '../cache/entry';
import { render } from '../cache/render';
import type { Resolver } from '../serve/resolver';
import { HEADER_LEN, RCODE, RD, TYPE } from '../wire/constants';
import { cnameReply } from './cname-reply';
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
export async function complete(cache: AnswerCache, resolver: Resolver, query: Buffer, q: Query, name: string, rest: string[], maxSize: number,
  memo: WalkMemo, pathKey: string): Promise<Completed> {
  const own = await resolvePlain(cache, resolver, name, q.qtype, { query, q });
  if (own.failed || own.entry.rcode !== RCODE.NXDOMAIN) return { own };
  const memoKey = `${pathKey}\0${name}`;
  const other = q.qtype === TYPE.A ? TYPE.AAAA : TYPE.A;
  let until = own.entry.expiresAt;
  for (const candidate of rest) {
    const [same, sibling] = await Promise.all([resolvePlain(cache, resolver, candidate, q.qtype), resolvePlain(cache, resolver, candidate, other)]);
    if (same.failed || sibling.failed) return { own };
    until = Math.min(until, same.entry.expiresAt, sibling.entry.expiresAt);
    const gone = same.entry.rcode === RCODE.NXDOMAIN;
    if (gone !== (sibling.entry.rcode === RCODE.NXDOMAIN)) return { own }; // the two types disagree: not sure
    if (gone) continue;
    // a name with neither A nor AAAA (a namespace's svc.<domain> name, say): resolvers differ on
    // whether NODATA ends the search (musl stops, glibc and Go go on), so the pod decides itself
    if (answerCount(same.entry) === 0 && answerCount(sibling.entry) === 0) return { own };
    const [a, aaaa] = q.qtype === TYPE.A ? [same, sibling] : [sibling, same];
    memo.set(memoKey, { target: candidate, targetWire: domainWire(candidate), until, queries: [a, aaaa] });
    return built(query, q, candidate, own, same, maxSize);
  }
  memo.set(memoKey, { exhausted: true, until, queries: [] });
  return { own, exhausted: true };
}

/**
 * The same answer without walking and without waiting, when the asked name's NXDOMAIN is cached
 * and a walk of the same search list for the same name still holds (the A and AAAA of one
 * lookup, the next lookup of the name, another pod of the namespace). Undefined: walk.
 */
export function fromMemo(cache: AnswerCache, query: Buffer, q: Query, name: string, maxSize: number, memo: WalkMemo, pathKey: string): Completed | undefined {
  const now = clockNow();
  const e = cache.fresh(q.key, now);
  if (e === undefined || e.rcode !== RCODE.NXDOMAIN) return undefined;
  const known = memo.get(`${pathKey}\0${name}`, now);
  if (known === undefined) return undefined;
  const own: Plain = { entry: e, stale: false, failed: false, query, q };
  if (known.exhausted) return { own, exhausted: true };
  const asked = known.queries[q.qtype === TYPE.A ? 0 : 1];
  const found = cache.fresh(asked.q.key, now);
  if (found === undefined) return undefined;
  const out = cnameReply(query, q, known.targetWire!, render(found, asked.query, asked.q, now, 65535), Math.max(0, Math.floor((e.expiresAt - now) / 1000)), maxSize);
  return out ? { out, own, target: known.target } : { own };
}

function built(query: Buffer, q: Query, target: string, own: Plain, found: Plain, maxSize: number): Completed {
  const out = cnameFor(query, q, target, own, found, maxSize);
  return out ? { out, own, target } : { own };
}

interface Walk {
  target?: string;
  targetWire?: Buffer;
  exhausted?: boolean;
  /** the walk holds until the first of the answers it read expires (ms, the cache's clock) */
  until: number;
  /** the target's plain A and AAAA questions, to find their answers in the cache again */
  queries: { query: Buffer; q: Query }[];
}

/**
 * Where the walks of one search list ended, so that a name asked again (the A and the AAAA of
 * one lookup, or the next pod of the namespace) is answered without walking again. Keyed by
 * the search list and the name; an entry lives no longer than the cached answers it was read
 * from, so it can never tell a name exists after the cache stopped saying so. Bounded.
 */
export class WalkMemo {
  private readonly walks = new Map<string, Walk>();

  constructor(private readonly max = 10_000) {}

  get(key: string, now: number): Walk | undefined {
    const w = this.walks.get(key);
    if (w === undefined || w.until > now) return w;
    this.walks.delete(key);
    return undefined;
  }

  set(key: string, w: Walk): void {
    if (w.until <= clockNow()) return;
    if (this.walks.size >= this.max) this.walks.delete(this.walks.keys().next().value!);
    this.walks.set(key, w);
  }

  get size(): number {
    return this.walks.size;
  }
}

const answerCount = (e: Entry) => e.wire.readUInt16BE(6);

/** The reply, built from the asked name's and the target's cached answers as they stand now. */
function cnameFor(query: Buffer, q: Query, target: string, own: Plain, found: Plain, maxSize: number): Buffer | undefined {
  const now = clockNow();
  const ownTtl = Math.max(0, Math.floor((own.entry.expiresAt - now) / 1000));
  return cnameReply(query, q, domainWire(target), render(found.entry, found.query, found.q, now, 65535), ownTtl, maxSize);
}
