// TCP listener on one local address (RFC 7766): length-framed messages, several
// queries per connection answered as they complete. Every connection costs at most its
// bound: reading stops while its unread answers and queries in progress are at their
// limit, a message must arrive whole within a deadline, one address holds a bounded
// share of the slots, and a full listener makes room by closing the connection idle
// the longest (RFC 7766 §6.2.3) rather than refusing newcomers.
import { Buffer } from 'node:buffer';
import { createServer, type Server, type Socket } from 'node:net';
import type { Config } from '../config/types';
import type { Stats } from '../observe/stats';
import type { Handler } from './handler';
import { ClientCounts } from './client-counts';
import { bindError } from './listen-errors';

export interface TcpLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
  idleTimeoutMs: number;
  messageTimeoutMs: number;
  maxQueriesPerConnection: number;
  maxPendingBytes: number; // answers written but not yet taken by the client, plus the queries in progress
  maxPendingTotal: number; // the same, all connections of the listener together
}

export function tcpLimits(c: Config): TcpLimits {
  return {
    maxConnections: c.tcpMaxConnections, maxConnectionsPerClient: c.tcpMaxConnectionsPerClient, idleTimeoutMs: c.tcpIdleTimeoutMs,
    messageTimeoutMs: c.tcpMessageTimeoutMs, maxQueriesPerConnection: c.tcpMaxQueriesPerConnection, maxPendingBytes: c.tcpMaxPendingBytes,
    maxPendingTotal: c.tcpMaxPendingTotal,
  };
}

const EMPTY = Buffer.alloc(0);

/** One client connection: its unparsed bytes, queries in progress and read state. */
class Connection {
  buf: Buffer = EMPTY;
  open = 0; // queries handed to the handler and not yet answered
  held = 0; // bytes of those queries (a miss keeps its message until answered)
  blocked = false; // reading paused by back-pressure
  ended = false; // the client shut down its write side: answer what was asked, then close
  /** What this connection held at its last accounting (TcpListener.held counts the sum). */
  accounted = 0;
  private pumping = false;
  private deadline: NodeJS.Timeout | undefined;
  /** The handler's reply callback; its peer argument is the query's size, so that no closure is made per query. */
  readonly reply: (out: Buffer, querySize: number) => void;
  private readonly written: () => void;

  constructor(readonly s: Socket, readonly client: string, private readonly listener: TcpListener) {
    this.reply = (out, querySize) => this.answer(out, querySize);
    this.written = () => {
      this.listener.touch(this);
      if (this.blocked) this.pump(); else this.account();
    };
  }

  onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    this.pump();
  }

  onEnd(): void {
    this.ended = true;
    this.pump();
  }

  /** Idle (no byte read or written) for the idle timeout: close unless an answer is still coming for a reading client. */
  onIdle(): void {
    if (this.open === 0 || this.blocked) this.s.destroy();
  }

  close(): void {
    this.clearDeadline();
  }

  private answer(out: Buffer, querySize: number): void {
    this.open--;
    this.held -= querySize;
    const s = this.s;
    if (s.destroyed) return;
    // Reading stopped at the bound, but answers to the queries already in progress keep coming:
    // a client that lets them pile up to twice the bound is not reading, and goes.
    if (s.writableLength > 0 && s.writableLength + out.length + 2 > 2 * this.listener.limits.maxPendingBytes) {
      this.listener.stats.overload++;
      s.destroy();
      return;
    }
    const frame = Buffer.allocUnsafe(out.length + 2);
    frame.writeUInt16BE(out.length, 0);
    out.copy(frame, 2);
    s.write(frame, this.written);
    if (!this.pumping) this.pump();
  }

  /** Tells the listener how much this connection holds now: unread answers, queries in progress, bytes not parsed yet. */
  account(): void {
    const s = this.s;
    const now = s.destroyed ? 0 : s.writableLength + this.held + this.buf.length;
    const delta = now - this.accounted;
    this.accounted = now;
    if (delta !== 0) this.listener.charge(delta);
  }

  pump(): void {
    this.handleBuffered();
    this.account();
  }

  /** Handles every whole message in the buffer while the connection is under its bounds, then reads on or pauses. */
  private handleBuffered(): void {
    const s = this.s;
    const limits = this.listener.limits;
    this.pumping = true;
    try {
      while (!s.destroyed) {
        if (this.open >= limits.maxQueriesPerConnection || s.writableLength + this.held >= limits.maxPendingBytes) {
          this.block();
          return;
        }
        if (this.buf.length < 2) break;
        const len = this.buf.readUInt16BE(0);
        if (len === 0) { s.destroy(); return; }
        if (this.buf.length < 2 + len) break;
        const msg = Buffer.from(this.buf.subarray(2, 2 + len));
        this.buf = this.buf.length === 2 + len ? EMPTY : this.buf.subarray(2 + len);
        this.listener.touch(this);
        this.open++;
        this.held += len;
        if (!this.listener.handler().handle(msg, true, this.listener.v6, this.client, this.reply, len)) { this.open--; this.held -= len; }
      }
    } finally {
      this.pumping = false;
    }
    if (s.destroyed) return;
    if (this.blocked) {
      this.blocked = false;
      if (!this.ended) s.resume();
    }
    if (this.ended) {
      // nothing more will come: a partial message is dropped, and the side we write closes after the last answer
      this.clearDeadline();
      if (this.open === 0) s.end();
      return;
    }
    if (this.buf.length === 0) this.clearDeadline();
    else if (this.deadline === undefined) {
      this.deadline = setTimeout(() => { this.listener.stats.overload++; s.destroy(); }, limits.messageTimeoutMs);
      this.deadline.unref();
    }
  }

  private block(): void {
    if (!this.blocked) {
      this.blocked = true;
      this.s.pause();
    }
    this.clearDeadline(); // a paused reader is not the client's delay: the idle timeout covers a client that does not read
  }

  private clearDeadline(): void {
    if (this.deadline !== undefined) {
      clearTimeout(this.deadline);
      this.deadline = undefined;
    }
  }
}

export class TcpListener {
  private server: Server | undefined;
  /** Open connections, least recently active first (a whole message read or an answer taken moves one to the end). */
  private readonly conns = new Map<Socket, Connection>();
  /** Open connections per client address; an address leaves when its last connection closes, so this stays within the global cap. */
  private readonly perClient = new ClientCounts();
  /** Bytes all connections hold together (Connection.accounted summed). */
  private held = 0;
  readonly v6: boolean;

  constructor(readonly ip: string, readonly port: number, readonly handler: () => Handler,
    public limits: TcpLimits, readonly stats: Stats) {
    this.v6 = ip.includes(':');
  }

  get connections(): number {
    return this.conns.size;
  }

  async start(): Promise<void> {
    // allowHalfOpen: a client that shuts down its write side after its queries still gets every answer
    const server = createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(bindError(e, 'tcp', this.ip, this.port)));
      server.listen({ host: this.ip, port: this.port, exclusive: false, ipv6Only: this.v6, backlog: 511 }, () => resolve());
    });
    server.on('error', () => { /* accept errors (EMFILE): the connection is lost, the server lives */ });
    this.server = server;
  }

  /** Adds what one connection holds more (or less) than before; over --tcp-max-pending-total, the biggest holders go. */
  charge(delta: number): void {
    this.held += delta;
    while (this.held > this.limits.maxPendingTotal && this.conns.size > 0) {
      let biggest: Connection | undefined;
      for (const c of this.conns.values()) if (!biggest || c.accounted > biggest.accounted) biggest = c;
      this.drop(biggest!);
    }
  }

  touch(c: Connection): void {
    if (this.conns.delete(c.s)) this.conns.set(c.s, c);
  }

  private accept(s: Socket): void {
    const client = s.remoteAddress ?? '';
    if (!this.perClient.add(client, this.limits.maxConnectionsPerClient)) {
      this.stats.overload++;
      s.destroy();
      return;
    }
    while (this.conns.size >= this.limits.maxConnections) this.evictIdlest();
    const c = new Connection(s, client, this);
    this.conns.set(s, c);
    s.setTimeout(this.limits.idleTimeoutMs, () => c.onIdle());
    s.on('error', () => s.destroy());
    s.on('close', () => { if (this.conns.get(s) === c) this.forget(c); });
    s.on('data', (chunk: Buffer) => c.onData(chunk));
    s.on('end', () => c.onEnd());
  }

  /** Makes room for a newcomer: the connection idle the longest goes, preferring one with no query in progress. */
  private evictIdlest(): void {
    let victim: Connection | undefined;
    for (const c of this.conns.values()) {
      if (c.open === 0) { victim = c; break; }
      victim ??= c;
    }
    if (victim) this.drop(victim);
  }

  /** Closes a connection for a limit, counted as overload. */
  private drop(c: Connection): void {
    this.stats.overload++;
    this.forget(c);
    c.s.destroy();
  }

  /** Drops a connection from the counts at once (its 'close' event comes later). */
  private forget(c: Connection): void {
    c.close();
    this.held -= c.accounted;
    c.accounted = 0;
    this.conns.delete(c.s);
    this.perClient.remove(c.client);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.conns.keys()) s.end();
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server = undefined;
      setTimeout(() => { for (const s of this.conns.keys()) s.destroy(); }, 1000).unref();
    });
  }
}
