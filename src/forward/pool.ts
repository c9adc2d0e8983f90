// The servers of one zone. Healthy servers are tried in order; a timeout or error
// moves to the next; SERVFAIL and REFUSED move on too while others remain.
import type { Logger } from 'pino';
import type { Endpoint, Transport } from '../config/types';
import type { Stats } from '../observe/stats';
import { RCODE } from '../wire/constants';
import { UpstreamError } from './errors';
import type { ReplySink } from './udp';
import { Upstream, type UpstreamTuning } from './upstream';
import { monotonicMs } from '../cache/clock';

export interface Answer {
  response: Buffer;
  upstream: Upstream;
  latencyMs: number;
}

const isHealthy = (u: Upstream) => u.healthy;

/** What hears of an exchange's end, once, as a method: the resolver's record for a question in flight, so a miss makes no closure. */
export interface AnswerSink {
  onAnswer(err: Error | null, answer?: Answer): void;
}

export class UpstreamPool {
  readonly upstreams: Upstream[];

  constructor(readonly zone: string, endpoints: Endpoint[], transport: Transport, private readonly tuning: UpstreamTuning,
    private readonly stats: Stats, log: Logger) {
    this.upstreams = endpoints.map((ep) => new Upstream(ep, zone, transport, tuning, stats, log));
  }

  /** Same servers and transport: the pool can be kept across a reconfiguration. */
  sameAs(endpoints: Endpoint[], transport: Transport): boolean {
    return this.upstreams.length === endpoints.length &&
      this.upstreams.every((u, i) => u.ep.host === endpoints[i].host && u.ep.port === endpoints[i].port && u.transport === transport);
  }

  /**
   * Tries the servers in turn until one answers or `deadline` (monotonicMs(), ms) comes.
   */
  exchange(question: Buffer, cd: boolean, dnssecOk: boolean, deadline: number, done: AnswerSink): void {
    const order = this.upstreams.every(isHealthy) ? this.upstreams : this.healthyFirst();
    new Attempts(this, order, question, cd, dnssecOk, deadline, done).next();
  }

  private healthyFirst(): Upstream[] {
    const healthy = this.upstreams.filter((u) => u.healthy);
    if (healthy.length === 0) {
      this.stats.healthcheckBroken++;
      return this.upstreams;
    }
    return healthy.concat(this.upstreams.filter((u) => !u.healthy));
  }

  /** The timeout of one try. */
  get timeoutMs(): number {
    return this.tuning.timeoutMs;
  }

  describe(): string {
    return this.upstreams.map((u) => u.address).join(', ') || '(no servers)';
  }

  close(): void {
    for (const u of this.upstreams) u.close();
  }
}

/** One exchange's tries over a pool's servers: the record each upstream's reply comes back to. */
class Attempts implements ReplySink {
  // One upstream gets a second try: a single lost datagram must not become SERVFAIL.
  private readonly tries: number;
  private i = 0;
  private lastAnswer: Answer | undefined = undefined;
  private lastError: Error | null = null;
  private u: Upstream | undefined = undefined;
  private last = false;
  private started = 0;

  constructor(private readonly pool: UpstreamPool, private readonly order: Upstream[], private readonly question: Buffer,
    private readonly cd: boolean, private readonly dnssecOk: boolean, private readonly deadline: number,
    private readonly done: AnswerSink) {
    this.tries = Math.max(2, order.length);
  }

  next(): void {
    const now = monotonicMs();
    const left = Math.ceil(this.deadline - now); // whole ms, as msUntil gives
    if (this.i >= this.tries || left < 5) {
      if (this.lastAnswer) this.done.onAnswer(null, this.lastAnswer);
      else this.done.onAnswer(this.lastError ?? new UpstreamError('timeout', `no answer from ${this.pool.describe()} in time`));
      return;
    }
    const order = this.order;
    const u = order[this.i % order.length];
    this.u = u;
    this.last = ++this.i >= order.length;
    this.started = now;
    u.query(this.question, this.cd, this.dnssecOk, Math.min(this.pool.timeoutMs, left), this);
  }

  onReply(err: Error | null, response?: Buffer): void {
    if (err) {
      this.lastError = err;
      if ((err as UpstreamError).kind === 'fds') this.i = this.tries; // every other upstream needs a socket too
      this.next();
      return;
    }
    const answer: Answer = { response: response!, upstream: this.u!, latencyMs: monotonicMs() - this.started };
    const rcode = response![3] & 0x0f;
    if ((rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) && !this.last) {
      this.lastAnswer = answer;
      this.next();
      return;
    }
    this.done.onAnswer(null, answer);
  }
}
