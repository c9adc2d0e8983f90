// The servers of one zone. Healthy servers are tried in order; a timeout or error
// moves to the next; SERVFAIL and REFUSED move on too while others remain.
import type { Logger } from 'pino';
import type { Endpoint, Transport } from '../config/types';
import type { Stats } from '../observe/stats';
import { RCODE } from '../wire/constants';
import { UpstreamError } from './errors';
import { Upstream, type UpstreamTuning } from './upstream';

export interface Answer {
  response: Buffer;
  upstream: Upstream;
  latencyMs: number;
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

  async exchange(question: Buffer, cd: boolean, dnssecOk: boolean, deadline: number): Promise<Answer> {
    const order = this.upstreams.every((u) => u.healthy) ? this.upstreams : this.healthyFirst();
    // One upstream gets a second try: a single lost datagram must not become SERVFAIL.
    const tries = Math.max(2, order.length);
    let lastAnswer: Answer | undefined;
    let lastError: Error | undefined;
    for (let i = 0; i < tries; i++) {
      const left = deadline - performance.now();
      if (left < 5) break;
      const u = order[i % order.length];
      const started = performance.now();
      try {
        const response = await u.exchange(question, cd, dnssecOk, Math.min(this.tuning.timeoutMs, left));
        const answer = { response, upstream: u, latencyMs: performance.now() - started };
        const rcode = response[3] & 0x0f;
        if ((rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) && i + 1 < order.length) {
          lastAnswer = answer;
          continue;
        }
        return answer;
      } catch (e) {
        lastError = e as Error;
      }
    }
    if (lastAnswer) return lastAnswer;
    throw lastError ?? new UpstreamError('timeout', `no answer from ${this.describe()} in time`);
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
