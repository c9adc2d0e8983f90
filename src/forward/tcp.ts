// A reused, pipelined TCP connection to one upstream (RFC 7766): queries are
// written as they come and answers matched by ID, in whatever order they return.
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import type { Endpoint } from '../config/types';
import { Check, checkReply, isUnwanted, REASONS } from '../wire/validate';
import { FD_ADVICE, UpstreamError, networkError } from './errors';
import { randomId } from './ids';
import { upstreamSockets } from './sockets';

interface Pending {
  msg: Buffer;
  questionEnd: number;
  timer: NodeJS.Timeout;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

const MAX_PENDING = 256;

export class TcpChannel {
  private sock: Socket | undefined;
  private pending = new Map<number, Pending>();
  private buf: Buffer = Buffer.alloc(0);
  private idleTimer: NodeJS.Timeout | undefined;
  readonly address: string;

  constructor(private readonly ep: Endpoint, private readonly idleMs = 10_000) {
    this.address = ep.family === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
  }

  /** Sends `msg` (its ID is replaced with a free one) and resolves with the answer. */
  exchange(msg: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer> {
    if (this.pending.size >= MAX_PENDING) {
      return Promise.reject(new UpstreamError('busy', `${this.address}: ${MAX_PENDING} queries already waiting on the TCP connection`));
    }
    if (!(this.sock && !this.sock.destroyed) && !upstreamSockets.acquire()) {
      return Promise.reject(new UpstreamError('fds', `no file descriptor left under --fd-reserve for a TCP connection to ${this.address}: ${FD_ADVICE}`));
    }
    let id = randomId();
    while (this.pending.has(id)) id = randomId();
    msg.writeUInt16BE(id, 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new UpstreamError('timeout', `${this.address} (tcp) did not answer within ${timeoutMs}ms`));
        this.armIdle();
      }, timeoutMs);
      this.pending.set(id, { msg, questionEnd, timer, resolve, reject });
      if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = undefined; }
      const frame = Buffer.allocUnsafe(msg.length + 2);
      frame.writeUInt16BE(msg.length, 0);
      msg.copy(frame, 2);
      this.socket().write(frame);
    });
  }

  /** The connection; a new one has already taken its place in upstreamSockets (exchange). */
  private socket(): Socket {
    if (this.sock && !this.sock.destroyed) return this.sock;
    const s = connect({ host: this.ep.host, port: this.ep.port, noDelay: true });
    s.once('close', () => upstreamSockets.release());
    this.sock = s;
    this.buf = Buffer.alloc(0);
    s.on('data', (d) => this.onData(d));
    s.on('error', (e) => this.failAll(networkError(e, `${this.address} (tcp)`), s));
    s.on('close', () => this.failAll(new UpstreamError('closed', `${this.address} closed the TCP connection`), s));
    return s;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 2) {
      const len = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + len) break;
      const m = this.buf.subarray(2, 2 + len);
      this.buf = this.buf.subarray(2 + len);
      const p = m.length >= 2 ? this.pending.get(m.readUInt16BE(0)) : undefined;
      if (!p) continue;
      // The case of the name is not checked over TCP: a forger cannot inject into the stream.
      const c = checkReply(m, p.msg, p.questionEnd, false);
      if (isUnwanted(c)) continue;
      this.pending.delete(m.readUInt16BE(0));
      clearTimeout(p.timer);
      if (c === Check.OK) p.resolve(Buffer.from(m)); // copy: the chunk may hold other answers
      else p.reject(new UpstreamError('malformed', `${this.address} (tcp) sent an invalid reply (${REASONS[c]})`, c));
    }
    this.armIdle();
  }

  private failAll(err: Error, s: Socket): void {
    if (this.sock !== s) return;
    this.sock = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    s.destroy();
  }

  private armIdle(): void {
    if (this.pending.size > 0 || !this.sock || this.idleTimer) return;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.pending.size === 0) this.sock?.end();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  close(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.sock) this.failAll(new UpstreamError('closed', 'nodedns is stopping'), this.sock);
  }
}
