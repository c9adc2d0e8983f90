// The servers of one zone. Healthy servers are tried in order; a timeout or error
// moves to the next; SERVFAIL and REFUSED move on too while others remain.
import type { Logger } from 'pino';
import type { Endpoint, Transport } from '../config/types';
import type { Stats } from '../observe/stats';
import { RCODE } from '../wire/constants';
import { UpstreamError } from './errors';
import { Upstream, type UpstreamTuning } from './upstream';
import { monotonicMs, msUntil } from '../cache/clock';

export interface Answer {
  response: Buffer;
  upstream: Upstream;
  latencyMs: number;
}

const isHealthy = (u: Upstream) => u.healthy;

export type AnswerCallback = (err: Error | null, answer?: Answer) => void;

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

  /** Tries the servers in turn until one answers or `deadline` (monotonicMs(), ms) comes. */
  exchange(question: Buffer, cd: boolean, dnssecOk: boolean, deadline: number, done: AnswerCallback): void {
    const order = this.upstreams.every(isHealthy) ? this.upstreams : this.healthyFirst();
    // One upstream gets a second try: a single lost datagram must not become SERVFAIL.
    const tries = Math.max(2, order.length);
    let lastAnswer: Answer | undefined;
    let lastError: Error | null = null;
    let i = 0;
    const next = (): void => {
      const left = msUntil(deadline);
      if (i >= tries || left < 5) {
        if (lastAnswer) done(null, lastAnswer);
        else done(lastError ?? new UpstreamError('timeout', `no answer from ${this.describe()} in time`));
        return;
      }
      const u = order[i % order.length];
      const last = ++i >= order.length;
      const started = monotonicMs();
      u.query(question, cd, dnssecOk, Math.min(this.tuning.timeoutMs, left), (err, response) => {
        if (err) {
          lastError = err;
          if ((err as UpstreamError).kind === 'fds') i = tries; // every other upstream needs a socket too
          next();
          return;
        }
        const answer = { response: response!, upstream: u, latencyMs: monotonicMs() - started };
        const rcode = response![3] & 0x0f;
        if ((rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) && !last) {
          lastAnswer = answer;
          next();
          return;
        }
        done(null, answer);
      });
    };
    next();
  }

  private healthyFirst(): Upstream[] {
    const healthy = this.upstreams.filter((u) => u.healthy);
    if (healthy.length === 0) {
      this.stats.healthcheckBroken++;
      return this.upstreams;
    }
    return healthy.concat(this.upstreams.filter((u) => !u.healthy));
  }

  describe(): string {
    return this.upstreams.map((u) => u.address).join(', ') || '(no servers)';
  }

  close(): void {
    for (const u of this.upstreams) u.close();
  }
}
