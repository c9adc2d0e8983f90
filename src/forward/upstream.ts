// One upstream server: how to reach it and whether it is healthy. Marked down after
// repeated failures, then probed until it answers again.
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { Endpoint, Transport } from '../config/types';
import { Histogram, RCODE_NAMES, type GuardCounters, type Stats, type UpstreamStats } from '../observe/stats';
import { upstreamQuery } from '../wire/build';
import { HEADER_LEN, TC } from '../wire/constants';
import { UpstreamError } from './errors';
import { randomId, randomizeCase } from './ids';
import { upstreamWarnings } from './log-sample';
import { TcpChannel } from './tcp';
import { endpointAddress, exchangeUdp, queryUdp, type ReplyGuard, type ReplySink } from './udp';
import { monotonicMs, msUntil } from '../cache/clock';

// ". IN NS": what a health probe asks (as CoreDNS forward does)
const PROBE_QUESTION = Buffer.from([0, 0, 2, 0, 1]);

export interface UpstreamTuning {
  timeoutMs: number;
  maxFails: number;
  healthCheckIntervalMs: number;
  caseRandomization: boolean;
  unwantedReplyThreshold: number;
}

/** Replies without our 0x20 case, each asked again without it, before the upstream is queried without 0x20 for good. */
const CASE_STRIKES = 3;

export class Upstream {
  readonly address: string;
  readonly stats: UpstreamStats;
  private readonly tcp: TcpChannel;
  private fails = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  healthy = true;
  /** DNS 0x20 on this upstream's UDP queries: off once it is seen not to echo the case. */
  mixCase: boolean;
  private caseStrikes = 0;
  private readonly guard: GuardCounters;
  private readonly exactGuard: ReplyGuard;
  private readonly plainGuard: ReplyGuard;

  constructor(readonly ep: Endpoint, readonly zone: string, readonly transport: Transport, private tuning: UpstreamTuning,
    stats: Stats, private readonly log: Logger) {
    this.address = endpointAddress(ep);
    this.tcp = new TcpChannel(ep);
    this.stats = stats.upstream(zone, this.address);
    this.stats.healthy = true;
    this.mixCase = tuning.caseRandomization;
    this.guard = stats.guard;
    this.exactGuard = { exactCase: true, unwantedLimit: tuning.unwantedReplyThreshold, counts: stats.guard.replies };
    this.plainGuard = { ...this.exactGuard, exactCase: false };
  }

  /**
   * One exchange: UDP (retried over TCP when truncated or forged at) or TCP, per the transport.
   * `done` (the pool's record) hears once.
   */
  query(question: Buffer, cd: boolean, dnssecOk: boolean, timeoutMs: number, done: ReplySink): void {
    const msg = upstreamQuery(randomId(), question, cd, dnssecOk);
    this.stats.queries++;
    const q = new Exchange(this, question, msg, timeoutMs, done);
    if (this.transport === 'tcp') {
      this.overTcp(q, timeoutMs);
      return;
    }
    const mixed = this.mixCase;
    if (mixed) randomizeCase(msg, HEADER_LEN, q.questionEnd - 4);
    this.overUdp(q, mixed);
  }

  /** Over UDP from a fresh port; `q` hears of the reply (Exchange.onReply), and comes back here for what follows. */
  overUdp(q: Exchange, mixed: boolean): void {
    q.mixed = mixed;
    queryUdp(this.ep, q.msg, q.questionEnd, q.left(), q, mixed ? this.exactGuard : this.plainGuard, this.address);
  }

  /** What a UDP try's end means: the answer, TCP after TC, a second try without 0x20, TCP after a forgery, or the error. */
  afterUdp(q: Exchange, err: Error | null, res: Buffer | undefined): void {
    if (!err) {
      if (q.mixed) this.caseStrikes = 0;
      if ((res![2] & TC) !== 0 && this.transport === 'prefer-udp') this.overTcp(q, q.left());
      else q.finish(null, res);
      return;
    }
    const kind = (err as UpstreamError).kind;
    if (kind === 'case') {
      // Unbound's caps fallback: the same question without 0x20, from a new port with a new ID.
      this.guard.caseFallbacks++;
      this.caseMismatch();
      q.msg.writeUInt16BE(randomId(), 0);
      q.question.copy(q.msg, HEADER_LEN);
      this.overUdp(q, false);
    } else if (kind === 'spoofed') {
      this.guard.spoofed++;
      this.warn('spoofed', err.message, 'replies forged at this query (Unbound\'s unwanted-reply-threshold); its socket was dropped and the query asked again over TCP. Look for a process on this node sending DNS replies');
      this.overTcp(q, q.left());
    } else {
      q.finish(err);
    }
  }

  /** The end of one exchange, before its caller hears of it: the upstream's health. */
  ended(err: Error | null, res: Buffer | undefined, ms: number): void {
    if (err) this.failed(err);
    else this.succeeded(ms, res![3] & 0x0f);
  }

  private caseMismatch(): void {
    if (++this.caseStrikes < CASE_STRIKES || !this.mixCase) return;
    this.mixCase = false;
    this.log.warn({ upstream: this.address, zone: this.zone || '.' },
      `upstream did not echo the letter case of ${CASE_STRIKES} queries in a row (DNS 0x20); it is asked without case randomisation from now on, so only the ID and port protect its UDP answers. Prefer an upstream that preserves case, or --upstream-transport tcp`);
  }

  /** A warning the upstream (or a forger) can cause per packet: sampled. */
  private warn(kind: string, err: string, msg: string): void {
    const skipped = upstreamWarnings.take(`${kind}|${this.address}`);
    if (skipped !== undefined) this.log.warn({ upstream: this.address, zone: this.zone || '.', err, skipped }, msg);
  }

  private overTcp(q: Exchange, timeoutMs: number): void {
    this.tcp.exchange(q.msg, q.questionEnd, timeoutMs).then((res) => q.finish(null, res), (e: Error) => q.finish(e));
  }

  private succeeded(ms: number, rcode: number): void {
    this.fails = 0;
    this.stats.rttMs = this.stats.rttMs === 0 ? ms : this.stats.rttMs * 0.8 + ms * 0.2;
    const name = RCODE_NAMES[rcode] ?? String(rcode);
    let h = this.stats.durations.get(name);
    if (!h) { h = new Histogram(); this.stats.durations.set(name, h); }
    h.observe(ms / 1000);
    if (!this.healthy) this.markUp();
  }

  private failed(e: Error): void {
    const kind = (e as UpstreamError).kind;
    if (kind === 'fds') {
      this.warn('fds', e.message, 'upstream query refused: nodedns is short of file descriptors (not a fault of the upstream)');
      return;
    }
    if (kind === 'malformed') this.warn('malformed', e.message, 'invalid reply from the upstream, neither cached nor served; trying the next upstream');
    this.stats.failures++;
    this.fails++;
    if (this.healthy && this.fails >= this.tuning.maxFails) this.markDown(e);
  }

  private markDown(e: Error): void {
    this.healthy = false;
    this.stats.healthy = false;
    this.stats.brokenTotal++;
    this.log.warn({ upstream: this.address, zone: this.zone || '.', err: e.message },
      'upstream marked down after repeated failures; probing it until it answers. Check that the server is up and reachable from this node');
    this.scheduleProbe();
  }

  private markUp(): void {
    this.healthy = true;
    this.stats.healthy = true;
    this.fails = 0;
    if (this.probeTimer) { clearTimeout(this.probeTimer); this.probeTimer = undefined; }
    this.log.info({ upstream: this.address, zone: this.zone || '.' }, 'upstream answers again; back in use');
  }

  private scheduleProbe(): void {
    if (this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      if (this.healthy) return;
      const msg = upstreamQuery(randomId(), PROBE_QUESTION, false, false);
      const send = this.transport === 'tcp'
        ? this.tcp.exchange(msg, HEADER_LEN + PROBE_QUESTION.length, this.tuning.timeoutMs)
        : exchangeUdp(this.ep, msg, HEADER_LEN + PROBE_QUESTION.length, this.tuning.timeoutMs);
      send.then(() => this.markUp(), () => this.scheduleProbe());
    }, this.tuning.healthCheckIntervalMs);
    this.probeTimer.unref();
  }

  close(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    this.tcp.close();
  }
}


/** One exchange with one upstream: the record every try of it reports to (ReplySink), not a closure per layer. */
class Exchange implements ReplySink {
  readonly questionEnd: number;
  readonly started = monotonicMs();
  private readonly deadline: number;
  mixed = false;

  constructor(private readonly upstream: Upstream, readonly question: Buffer, readonly msg: Buffer, timeoutMs: number,
    private readonly done: ReplySink) {
    this.questionEnd = HEADER_LEN + question.length;
    this.deadline = this.started + timeoutMs;
  }

  /** What is left of the timeout, and at least 50 ms for a try. */
  left(): number {
    return Math.max(msUntil(this.deadline), 50);
  }

  onReply(err: Error | null, res?: Buffer): void {
    this.upstream.afterUdp(this, err, res);
  }

  finish(err: Error | null, res?: Buffer): void {
    this.upstream.ended(err, res, monotonicMs() - this.started);
    this.done.onReply(err, res);
  }
}
