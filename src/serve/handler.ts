// The query path: scan -> local answers -> cache -> resolver -> reply.
// A cache hit allocates one reply buffer; nothing is decoded, and no key string is built.
import { Buffer } from 'node:buffer';
import { recencyTick, type AnswerCache } from '../cache/answer-cache';
import { EPOCH, clockNow, monotonicMs } from '../cache/clock';
import { entryQuestion, type Entry } from '../cache/entry';
import { RefreshQueue } from '../cache/refresh-queue';
import type { HotIndex } from '../cache/hot-index';
import { Rec } from '../cache/record';
import { render, renderRecord } from '../cache/render';
import type { Stats } from '../observe/stats';
import { completeForPod, completes } from '../pods/answer';
import type { PodTable, PodView } from '../pods/table';
import { emptyReply } from '../wire/build';
import { CLASS, HEADER_LEN, RCODE } from '../wire/constants';
import { keyFlags, newQuery, queryKey, questionName, rcodeForVerdict, scanQueryInto, Special, Verdict, type Query } from '../wire/query';
import type { LocalAnswers } from './local';
import type { Outcome, Resolver, Waiter } from './resolver';
import { WaitingClients } from './waiting';

/** The question asked in class IN: QCLASS ANY gets the IN data, as from Unbound (the only class a cluster has). */
function inClass(buf: Buffer, q: Query): Buffer {
  const question = Buffer.from(buf.subarray(HEADER_LEN, q.questionEnd));
  question.writeUInt16BE(CLASS.IN, question.length - 2);
  return question;
}

/** Sends `out` to `peer`: one function per listener, so that a query allocates no closure to be answered. */
export type Reply<P> = (out: Buffer, peer: P) => void;

export interface QueryLogEntry {
  name: string;
  type: number;
  client: string;
  transport: 'udp' | 'tcp';
  rcode: number;
  cache: 'hit' | 'miss' | 'stale' | 'local' | 'error' | 'completed';
  upstream?: string; // for 'completed': the name of the pod's search path that answered
  latencyMs: number;
}

export class Handler {
  /** Our NSID (RFC 5001), set by the introspection module; undefined = none. */
  nsid: Buffer | undefined;
  /** CHAOS-class answers (version.bind, …); REFUSED when unset. */
  chaos: ((query: Buffer, q: Query, maxSize: number, client: string) => Buffer | undefined) | undefined;
  /** Unexpected errors on the miss path (logged by the agent). */
  onError: ((e: Error) => void) | undefined;
  /** Per-query log, only when --log-queries asks for it. */
  queryLog: ((e: QueryLogEntry) => void) | undefined;
  /** This node's pods by address (src/pods/), when the API tells us; undefined costs the hit path nothing. */
  pods: PodTable | undefined;
  /** Clients waiting on upstream answers (--max-waiting, --max-waiting-per-client; the agent sets the bounds). */
  readonly waiting = new WaitingClients();
  /** A miss refused at a bound of `waiting` (the agent logs it, sampled). */
  onRefused: ((client: string, perClient: boolean) => void) | undefined;

  private readonly q: Query = newQuery();
  private readonly refreshes = new RefreshQueue((key, e, now) => this.refreshDue(key, e, now), clockNow,
    () => this.cache.config.positiveSize + this.cache.config.negativeSize);

  constructor(public cache: AnswerCache, public resolver: Resolver, public local: LocalAnswers, private readonly stats: Stats) {}

  /** Returns false when the packet is dropped (reply is then never called). */
  handle<P>(buf: Buffer, tcp: boolean, v6: boolean, client: string, reply: Reply<P>, peer: P): boolean {
    const started = monotonicMs();
    const stats = this.stats;
    const q = scanQueryInto(buf, this.q); // reused: copied below before anything async
    const qt = q.qtype;
    stats.requestsByType[(tcp ? 512 : 0) + (v6 ? 256 : 0) + (qt < 256 ? qt : 0)]++;
    if (q.verdict !== Verdict.OK) {
      if (q.verdict === Verdict.DROP) { stats.dropped++; return false; }
      if (q.verdict === Verdict.FORMERR) stats.formerr++;
      const rc = rcodeForVerdict(q.verdict); // BADVERS (16) is counted as itself, not as the NOERROR of its header
      this.send(emptyReply(buf, q, rc), reply, peer, started, rc);
      return true;
    }
    const maxSize = tcp ? 65535 : q.edns ? q.udpSize : 512;
    const now = EPOCH + started; // one clock read for both latency and TTLs
    let e: Entry | undefined;
    if (q.special !== Special.NONE || (q.qclass !== CLASS.IN && !q.classAny) || (this.local.hosts.size > 0 && (e = this.local.host(queryKey(buf, q))))) {
      this.answerLocally(buf, q, e, now, maxSize, tcp, client, reply, peer, started);
      return true;
    }
    const pod = this.pods === undefined ? undefined : this.pods.byIp.get(client);
    if (pod !== undefined) {
      queryKey(buf, q); // its counters and search completion go by key
      if (pod.path !== undefined && completes(this.cache, buf, q, pod.path, now)) {
        completeForPod(this, pod, buf, { ...q }, maxSize, tcp, client, reply, peer, started);
        return true;
      }
    }
    const hot = this.cache.hot;
    if (hot !== undefined && hot.find(buf, q, now) && this.hotHit(hot, buf, q, now, maxSize, tcp, client, reply, peer, started, pod)) return true;
    e = this.cache.fresh(queryKey(buf, q), now);
    if (e !== undefined) {
      if (pod !== undefined) pod.counters.answered(q.key, e.rcode);
      if (e.negative) stats.cacheHits.denial++; else stats.cacheHits.success++;
      this.send(render(e, buf, q, now, maxSize, false, this.nsid), reply, peer, started);
      // just became popular: refresh it before it expires (src/cache/refresh-queue.ts), at once if that time has come
      if (++e.hits === this.cache.prefetchHits) this.refreshes.add(q.key, e, this.cache.refreshAt(e));
      if (this.queryLog) this.log(buf, q, client, tcp, e.rcode, 'hit', undefined, started);
      return true;
    }
    stats.cacheMisses++;
    return this.miss(buf, { ...q }, maxSize, tcp, client, reply, peer, started, pod);
  }

  /**
   * A hit on the record HotIndex.find matched: answered from the record alone, as the entry
   * would answer it. False when the answer does not fit whole (the entry's way truncates it).
   */
  private hotHit<P>(hot: HotIndex, buf: Buffer, q: Query, now: number, maxSize: number, tcp: boolean, client: string,
    reply: Reply<P>, peer: P, started: number, pod: PodView | undefined): boolean {
    const b = hot.bytes;
    const at = hot.at;
    const t = hot.times;
    const out = renderRecord(b, t, at, buf, q, now, maxSize, this.nsid);
    if (out === undefined) return false;
    const rcode = out[3] & 0x0f;
    if (pod !== undefined) pod.counters.answered(q.key, rcode);
    if (b[at + Rec.NEGATIVE] === 1) this.stats.cacheHits.denial++; else this.stats.cacheHits.success++;
    const f = at >>> 3;
    // the LRU hears of a hit once per recency tick (src/cache/answer-cache.ts RECENCY_MS says why)
    const tick = recencyTick(now);
    if (t[f + Rec.USED] !== tick) {
      t[f + Rec.USED] = tick;
      this.cache.touch(hot.owner());
    }
    const popular = ++t[f + Rec.HITS] === this.cache.prefetchHits ? hot.owner() : undefined;
    this.send(out, reply, peer, started);
    if (popular !== undefined) this.refreshes.add(popular.key, popular, this.cache.refreshAt(popular));
    if (this.queryLog) this.log(buf, q, client, tcp, rcode, 'hit', undefined, started);
    return true;
  }

  /** `q` is this query's own copy: the shared one is reused by the next packet. */
  private miss<P>(buf: Buffer, q: Query, maxSize: number, tcp: boolean, client: string, reply: Reply<P>, peer: P, started: number, pod?: PodView): boolean {
    if (!this.waiting.enter(client)) {
      this.stats.overload++;
      this.onRefused?.(client, this.waiting.total < this.waiting.max);
      this.send(emptyReply(buf, q, RCODE.SERVFAIL), reply, peer, started);
      if (this.queryLog) this.log(buf, q, client, tcp, RCODE.SERVFAIL, 'error', undefined, started);
      return true;
    }
    const m = new ClientMiss(this, buf, q, maxSize, tcp, client, reply, peer, started, pod);
    try {
      const question = q.classAny ? inClass(buf, q) : buf.subarray(HEADER_LEN, q.questionEnd);
      // fresh() just found nothing fresh under q.key: what it found is the stale candidate
      this.resolver.resolve(q.key, question, questionName(buf, q.qnameEnd), q.cd, q.dnssecOk, m, this.cache.expired);
    } catch (err) {
      m.fail(err as Error); // a bug: the client still gets an answer, and the listener keeps serving
    }
    return true;
  }

  /** A client's miss has its outcome: answer it (ClientMiss.settle). */
  answerMiss<P>(m: ClientMiss<P>, o: Outcome): void {
    const { buf, q } = m;
    if (o.stale) this.stats.cacheServedStale++;
    if (m.pod !== undefined) m.pod.counters.answered(q.key, o.entry.rcode);
    this.send(render(o.entry, buf, q, clockNow(), m.maxSize, o.stale, this.nsid), m.reply, m.peer, m.started);
    if (this.queryLog) this.log(buf, q, m.client, m.tcp, o.entry.rcode, o.stale ? 'stale' : o.error ? 'error' : 'miss', o.upstream, m.started);
  }

  /** Answering a miss threw: a bug, never an upstream failure (those become outcomes). Answer, and keep serving. */
  missFailed<P>(m: ClientMiss<P>, err: Error): void {
    this.onError?.(err);
    this.send(emptyReply(m.buf, m.q, RCODE.SERVFAIL), m.reply, m.peer, m.started);
  }

  private answerLocally<P>(buf: Buffer, q: Query, e: Entry | undefined, now: number, maxSize: number, tcp: boolean,
    client: string, reply: Reply<P>, peer: P, started: number): void {
    this.stats.localAnswers++;
    if (q.qclass === CLASS.CH) {
      const out = this.chaos?.(buf, q, maxSize, client) ?? emptyReply(buf, q, RCODE.REFUSED);
      this.send(out, reply, peer, started);
      if (this.queryLog) this.log(buf, q, client, tcp, out[3] & 0x0f, 'local', undefined, started);
      return;
    }
    if (q.qclass !== CLASS.IN && !q.classAny) {
      this.send(emptyReply(buf, q, RCODE.REFUSED), reply, peer, started);
      return;
    }
    const entry = e ?? this.local.special(questionName(buf, q.qnameEnd), q.qtype, q.special);
    entry.storedAt = now; // static answers do not count down
    this.send(render(entry, buf, q, now, maxSize, false, this.nsid), reply, peer, started);
    if (this.queryLog) this.log(buf, q, client, tcp, entry.rcode, 'local', undefined, started);
  }

  /** Sends a reply built elsewhere on the query path (src/pods/answer.ts), counted as every reply is. */
  send<P>(out: Buffer, reply: Reply<P>, peer: P, started: number, rc = out[3] & 0x0f): void {
    this.stats.responses[rc]++;
    this.stats.requestDuration.observe((monotonicMs() - started) / 1000);
    reply(out, peer);
  }

  /** Starts the refresh of a due entry; false when --prefetch-max-inflight are already out. */
  private refreshDue(key: string, e: Entry, now: number): boolean {
    const cache = this.cache;
    // replaced, evicted or expired meanwhile (a miss fetches it again), or a reconfiguration swapped the cache
    if (e.prefetching || e.expiresAt <= now || cache.current(key) !== e) return true;
    if (cache.prefetchesInflight >= cache.config.prefetchMaxInflight) return false;
    this.prefetch(key, e);
    return true;
  }

  private prefetch(key: string, e: Entry): void {
    e.prefetching = true;
    this.stats.cachePrefetch++;
    const cache = this.cache; // the one counted, even if a reconfiguration swaps it meanwhile
    cache.prefetchesInflight++;
    const flags = keyFlags(key);
    const question = entryQuestion(e); // a stored answer's bytes never change, evicted or not
    this.resolver.resolve(key, question, questionName(e.wire, e.qnameEnd), (flags & 1) !== 0, (flags & 2) !== 0, {
      settle: () => { cache.prefetchesInflight--; },
    }, e); // stored and fresh (refreshDue): no stale answer to time
  }

  /** Stops refreshing: the agent is stopping. */
  close(): void {
    this.refreshes.clear();
  }

  log(buf: Buffer, q: Query, client: string, tcp: boolean, rcode: number, cache: QueryLogEntry['cache'],
    upstream: string | undefined, started: number): void {
    this.queryLog!({
      name: questionName(buf, q.qnameEnd) + '.', type: q.qtype, client, transport: tcp ? 'tcp' : 'udp', rcode, cache, upstream,
      latencyMs: Math.round((monotonicMs() - started) * 1000) / 1000,
    });
  }
}

/**
 * A client waiting on a miss: everything its answer needs, in one record the resolver holds
 * among the question's waiters, where a promise, its reactions and a closure were (docs/cache.md).
 */
class ClientMiss<P> implements Waiter {
  private answered = false;

  constructor(private readonly handler: Handler, readonly buf: Buffer, readonly q: Query, readonly maxSize: number, readonly tcp: boolean,
    readonly client: string, readonly reply: Reply<P>, readonly peer: P, readonly started: number, readonly pod: PodView | undefined) {}

  settle(o: Outcome): void {
    if (this.answered) return;
    this.answered = true;
    this.handler.waiting.leave(this.client);
    try {
      this.handler.answerMiss(this, o);
    } catch (err) {
      this.handler.missFailed(this, err as Error);
    }
  }

  /** Unless answered already: SERVFAIL, and the error to the log. */
  fail(err: Error): void {
    if (this.answered) return;
    this.answered = true;
    this.handler.waiting.leave(this.client);
    this.handler.missFailed(this, err);
  }
}
