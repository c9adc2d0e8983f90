// The miss path: one upstream query per distinct question in flight (coalescing),
// the answer stored, and stale answers when every upstream fails (RFC 8767).
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { AnswerCache } from '../cache/answer-cache';
import type { Config } from '../config/types';
import { makeEntry, type Entry } from '../cache/entry';
import type { UpstreamError } from '../forward/errors';
import type { Answer, AnswerSink } from '../forward/pool';
import type { Stats } from '../observe/stats';
import { HEADER_LEN, QR, RA, RCODE } from '../wire/constants';
import type { Route, Router } from './router';
import { clockNow, monotonicMs } from '../cache/clock';

export interface Outcome {
  entry: Entry;
  stale: boolean;
  route: Route;
  upstream?: string;
  latencyMs: number;
  error?: string; // why upstreams gave no answer
}

export interface ResolverLimits {
  maxInflight: number;
  queryTimeoutMs: number;
  /** RFC 8767 client-response timer: a stale answer after this long upstream (0 = only when every try failed) */
  staleClientTimeoutMs: number;
}

export function resolverLimits(c: Config): ResolverLimits {
  return { maxInflight: c.maxInflight, queryTimeoutMs: c.queryTimeoutMs, staleClientTimeoutMs: c.staleClientTimeoutMs };
}

/** An answer with no records (SERVFAIL when upstreams fail), never cached. */
export function failureEntry(question: Buffer, rcode: number): Entry {
  const wire = Buffer.alloc(HEADER_LEN + question.length);
  wire[2] = QR | 0x01;
  wire[3] = RA | rcode;
  wire.writeUInt16BE(1, 4);
  question.copy(wire, HEADER_LEN);
  return {
    wire, qnameEnd: wire.length - 4, arcount: 0, ttlOffsets: '', nameOffsets: '', ttl: 0,
    storedAt: 0, expiresAt: 0, rcode, negative: true, hits: 0, prefetching: false, usedAt: -1, key: '',
    older: undefined, newer: undefined, slab: undefined,
  };
}

/** What hears of an outcome, as a method: the handler's record for a client's miss, so a miss makes no closure. */
export interface Waiter {
  settle(o: Outcome): void;
}

export class Resolver {
  /** The clients waiting on each question in flight upstream. */
  private readonly inflight = new Map<string, Flight>();

  constructor(private readonly cache: AnswerCache, public router: Router, public limits: ResolverLimits,
    private readonly stats: Stats, private readonly log: Logger) {}

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * `question` is the name (any case), type and class bytes, unchanged until `done` hears (the
   * flight asks it again on a retry); `name` the lower-case text.
   * `done` hears once, perhaps at once (overload, no servers); it must not throw.
   * `stored` is what the cache holds under `key` (AnswerCache.current), which the caller has
   * just looked up: the client-response timer's stale candidate.
   */
  resolve(key: string, question: Buffer, name: string, cd: boolean, dnssecOk: boolean, done: Waiter, stored: Entry | undefined): void {
    const waiting = this.inflight.get(key);
    if (waiting) {
      this.stats.coalesced++;
      if (waiting.stale) done.settle(waiting.stale); // the client-response timer already fired for this question
      else waiting.add(done);
      return;
    }
    const route = this.router.route(name);
    if (this.inflight.size >= this.limits.maxInflight) {
      this.stats.overload++;
      done.settle({ entry: failureEntry(question, RCODE.SERVFAIL), stale: false, route, latencyMs: 0, error: `--max-inflight (${this.limits.maxInflight}) queries already waiting upstream` });
      return;
    }
    const f = new Flight(this, key, question, route, done);
    this.inflight.set(key, f);
    f.timer = this.staleTimer(route, f, stored);
    if (route.pool.upstreams.length === 0) {
      f.onAnswer(new Error(route.kind === 'cluster'
        ? 'no cluster DNS address known: set --cluster-dns, or KUBE_DNS_UPSTREAM_SERVICE_HOST, or enable --kube-api'
        : `no servers for zone "${route.zone || '.'}"`));
      return;
    }
    route.pool.exchange(f.question, cd, dnssecOk, f.started + this.limits.queryTimeoutMs, f);
  }

  /**
   * RFC 8767 §5: with an expired answer in the stale window, the clients get it after
   * --stale-answer-client-timeout (at once when every upstream of the zone is marked down)
   * while the upstream query goes on and refreshes the cache if it answers.
   */
  private staleTimer(route: Route, w: Flight, e: Entry | undefined): NodeJS.Timeout | undefined {
    const cfg = this.cache.config;
    if (e === undefined) return undefined; // most misses: nothing stored, and no clock read for them
    if (cfg.staleWindow <= 0 || (this.limits.staleClientTimeoutMs <= 0 && route.pool.upstreams.some((u) => u.healthy))) return undefined;
    const now = clockNow();
    if (e.expiresAt > now || now > e.expiresAt + cfg.staleWindow * 1000) return undefined; // fresh (a refresh ahead of expiry), or past the window
    const started = monotonicMs();
    const allDown = route.pool.upstreams.length > 0 && route.pool.upstreams.every((u) => !u.healthy);
    const fire = () => {
      w.stale = { entry: e, stale: true, route, latencyMs: monotonicMs() - started, error: allDown ? 'every upstream of the zone is marked down' : `no answer within --stale-answer-client-timeout (${this.limits.staleClientTimeoutMs}ms)` };
      w.served(w.stale);
    };
    const t = setTimeout(fire, allDown ? 0 : this.limits.staleClientTimeoutMs);
    t.unref();
    return t;
  }

  /** The same as a promise: for the client's answer (src/serve/handler.ts says why) and diagnostics. */
  resolveAsync(key: string, question: Buffer, name: string, cd: boolean, dnssecOk: boolean): Promise<Outcome> {
    return new Promise((resolve) => this.resolve(key, question, name, cd, dnssecOk, { settle: resolve }, this.cache.current(key)));
  }

  /** What an exchange's end gives the clients: the answer stored, a stale one, or SERVFAIL. */
  outcome(f: Flight, err: Error | null, a: Answer | undefined): Outcome {
    const { key, question, route, started } = f;
    try {
      if (err && (err as UpstreamError).kind === 'fds') {
        this.stats.overload++;
        this.stats.guard.fdRefused++;
      }
      return err ? this.failed(key, question, route, started, err.message) : this.answered(key, question, route, started, a!);
    } catch (e) {
      // a bug, never an upstream failure: every waiter still gets an answer
      this.log.error({ err: (e as Error).stack }, 'unexpected error storing an answer; please report it');
      return { entry: failureEntry(question, RCODE.SERVFAIL), stale: false, route, latencyMs: monotonicMs() - started, error: (e as Error).message };
    }
  }

  /** The flight of `key` has landed: later clients start a new one. */
  landed(key: string): void {
    this.inflight.delete(key);
  }

  private answered(key: string, question: Buffer, route: Route, started: number, a: Answer): Outcome {
    const entry = makeEntry(a.response, HEADER_LEN + question.length - 4, route.policy, clockNow(), this.cache.arena);
    if (entry && entry.rcode !== RCODE.SERVFAIL) {
      this.cache.store(key, entry);
      return { entry, stale: false, route, upstream: a.upstream.address, latencyMs: a.latencyMs };
    }
    const error = entry ? `${a.upstream.address} answered SERVFAIL` : `${a.upstream.address} sent a malformed answer`;
    if (!entry) return this.failed(key, question, route, started, error);
    const stale = this.staleOutcome(key, route, started, error);
    if (stale) return stale;
    this.cache.store(key, entry); // SERVFAIL, briefly (--servfail-ttl)
    return { entry, stale: false, route, upstream: a.upstream.address, latencyMs: a.latencyMs };
  }

  /** No usable answer: a stale one if there is one, else SERVFAIL. */
  private failed(key: string, question: Buffer, route: Route, started: number, error: string): Outcome {
    return this.staleOutcome(key, route, started, error) ??
      { entry: failureEntry(question, RCODE.SERVFAIL), stale: false, route, latencyMs: monotonicMs() - started, error };
  }

  private staleOutcome(key: string, route: Route, started: number, error: string): Outcome | undefined {
    if (this.cache.config.staleWindow <= 0) return undefined;
    const e = this.cache.stale(key, clockNow());
    if (!e) return undefined;
    this.log.debug({ zone: route.zone || '.', err: error }, 'upstreams failed; serving a stale answer');
    return { entry: e, stale: true, route, latencyMs: monotonicMs() - started, error };
  }
}

/**
 * One question in flight upstream: the record the pool reports to (AnswerSink), with the
 * clients waiting on it and the stale answer they got meanwhile.
 */
class Flight implements AnswerSink {
  readonly started = monotonicMs();
  /** The client-response timer (RFC 8767), if one runs. */
  timer: NodeJS.Timeout | undefined = undefined;
  /** Set once the stale answer went out: later clients get it at once. */
  stale: Outcome | undefined = undefined;
  /** Waiters after the first: most questions have one client. */
  private more: Waiter[] | undefined = undefined;

  constructor(private readonly resolver: Resolver, readonly key: string, readonly question: Buffer, readonly route: Route,
    private first: Waiter | undefined) {}

  add(w: Waiter): void {
    (this.more ??= []).push(w);
  }

  /** Tells every waiter so far, who then waits no more. */
  served(o: Outcome): void {
    const first = this.first;
    const more = this.more;
    this.first = undefined;
    this.more = undefined;
    if (first !== undefined) first.settle(o);
    if (more !== undefined) for (const w of more) w.settle(o);
  }

  onAnswer(err: Error | null, a?: Answer): void {
    const o = this.resolver.outcome(this, err, a);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.resolver.landed(this.key);
    this.served(o);
  }
}
