// One upstream server: how to reach it and whether it is healthy. Marked down after
// repeated failures, then probed until it answers again.
import type { Logger } from 'pino';
import type { Endpoint, Transport } from '../config/types';
import { Histogram, RCODE_NAMES, type Stats, type UpstreamStats } from '../observe/stats';
import { upstreamQuery } from '../wire/build';
import { HEADER_LEN, TC } from '../wire/constants';
import { randomId } from './ids';
import { TcpChannel } from './tcp';
import { exchangeUdp, queryUdp, type ReplyCallback } from './udp';
import { monotonicMs } from '../cache/clock';

// ". IN NS": what a health probe asks (as CoreDNS forward does)
const PROBE_QUESTION = Buffer.from([0, 0, 2, 0, 1]);

export interface UpstreamTuning {
  timeoutMs: number;
  maxFails: number;
  healthCheckIntervalMs: number;
}

export class Upstream {
  readonly address: string;
  readonly stats: UpstreamStats;
  private readonly tcp: TcpChannel;
  private fails = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  healthy = true;

  constructor(readonly ep: Endpoint, readonly zone: string, readonly transport: Transport, private tuning: UpstreamTuning,
    stats: Stats, private readonly log: Logger) {
    this.address = ep.family === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
    this.tcp = new TcpChannel(ep);
    this.stats = stats.upstream(zone, this.address);
    this.stats.healthy = true;
  }

  /** One exchange: UDP (retried over TCP when truncated) or TCP, per the transport. */
  query(question: Buffer, cd: boolean, dnssecOk: boolean, timeoutMs: number, done: ReplyCallback): void {
    const questionEnd = HEADER_LEN + question.length;
    const msg = upstreamQuery(randomId(), question, cd, dnssecOk);
    const started = monotonicMs();
    this.stats.queries++;
    const finish: ReplyCallback = (err, res) => {
      if (err) this.failed(err);
      else this.succeeded(monotonicMs() - started, res![3] & 0x0f);
      done(err, res);
    };
    if (this.transport === 'tcp') {
      this.overTcp(msg, questionEnd, timeoutMs, finish);
      return;
    }
    queryUdp(this.ep, msg, questionEnd, timeoutMs, (err, res) => {
      if (!err && (res![2] & TC) !== 0 && this.transport === 'prefer-udp') {
        this.overTcp(msg, questionEnd, Math.max(timeoutMs - (monotonicMs() - started), 50), finish);
      } else {
        finish(err, res);
      }
    });
  }

  private overTcp(msg: Buffer, questionEnd: number, timeoutMs: number, finish: ReplyCallback): void {
    this.tcp.exchange(msg, questionEnd, timeoutMs).then((res) => finish(null, res), finish);
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

