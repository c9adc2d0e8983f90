// The miss path: one upstream query per distinct question in flight (coalescing),
// the answer stored, and stale answers when every upstream fails (RFC 8767).
import type { Logger } from 'pino';
import type { AnswerCache } from '../cache/answer-cache';
import { makeEntry, type Entry } from '../cache/entry';
import type { Answer } from '../forward/pool';
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
}

/** An answer with no records (SERVFAIL when upstreams fail), never cached. */
export function failureEntry(question: Buffer, rcode: number): Entry {
  const wire = Buffer.alloc(HEADER_LEN + question.length);
  wire[2] = QR | 0x01;
  wire[3] = RA | rcode;
  wire.writeUInt16BE(1, 4);
  question.copy(wire, HEADER_LEN);
  return {
    wire, qnameEnd: wire.length - 4, arcount: 0, ttlOffsets: [], nameOffsets: [], ttls: [], ttl: 0,
    storedAt: 0, expiresAt: 0, rcode, negative: true, hits: 0, prefetching: false,
  };
}

export type OutcomeCallback = (o: Outcome) => void;

export class Resolver {
  /** The clients waiting on each question in flight upstream. */
  private readonly inflight = new Map<string, OutcomeCallback[]>();

  constructor(private readonly cache: AnswerCache, public router: Router, public limits: ResolverLimits,
    private readonly stats: Stats, private readonly log: Logger) {}

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * `question` is the name (any case), type and class bytes; `name` the lower-case text.
   * `done` is called once, perhaps at once (overload, no servers); it must not throw.
   */
  resolve(key: string, question: Buffer, name: string, cd: boolean, dnssecOk: boolean, done: OutcomeCallback): void {
    const waiting = this.inflight.get(key);
    if (waiting) {
      this.stats.coalesced++;
      waiting.push(done);
      return;
    }
    const route = this.router.route(name);
    if (this.inflight.size >= this.limits.maxInflight) {
      this.stats.overload++;
      done({ entry: failureEntry(question, RCODE.SERVFAIL), stale: false, route, latencyMs: 0, error: `--max-inflight (${this.limits.maxInflight}) queries already waiting upstream` });
      return;
    }
    const waiters = [done];
    this.inflight.set(key, waiters);
    this.fetch(key, Buffer.from(question), route, cd, dnssecOk, (o) => {
      this.inflight.delete(key);
      for (const w of waiters) w(o);
    });
  }

  /** The same as a promise: for the client's answer (src/serve/handler.ts says why) and diagnostics. */
  resolveAsync(key: string, question: Buffer, name: string, cd: boolean, dnssecOk: boolean): Promise<Outcome> {
    return new Promise((resolve) => this.resolve(key, question, name, cd, dnssecOk, resolve));
  }

  private fetch(key: string, question: Buffer, route: Route, cd: boolean, dnssecOk: boolean, done: OutcomeCallback): void {
    const started = monotonicMs();
    if (route.pool.upstreams.length === 0) {
      done(this.failed(key, question, route, started, route.kind === 'cluster'
        ? 'no cluster DNS address known: set --cluster-dns, or KUBE_DNS_UPSTREAM_SERVICE_HOST, or enable --kube-api'
        : `no servers for zone "${route.zone || '.'}"`));
      return;
    }
    route.pool.exchange(question, cd, dnssecOk, started + this.limits.queryTimeoutMs, (err, a) => {
      let o: Outcome;
      try {
        o = err ? this.failed(key, question, route, started, err.message) : this.answered(key, question, route, started, a!);
      } catch (e) {
        // a bug, never an upstream failure: every waiter still gets an answer
        this.log.error({ err: (e as Error).stack }, 'unexpected error storing an answer; please report it');
        o = { entry: failureEntry(question, RCODE.SERVFAIL), stale: false, route, latencyMs: monotonicMs() - started, error: (e as Error).message };
      }
      done(o);
    });
  }

  private answered(key: string, question: Buffer, route: Route, started: number, a: Answer): Outcome {
    const entry = makeEntry(a.response, HEADER_LEN + question.length - 4, route.policy, clockNow());
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
