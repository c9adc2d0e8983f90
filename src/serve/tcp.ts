// TCP listener on one local address (RFC 7766): length-framed messages, several
// queries per connection answered as they complete, idle timeout, connection cap.
import { createServer, type Server, type Socket } from 'node:net';
import type { Stats } from '../observe/stats';
import type { Handler } from './handler';
import { bindError } from './listen-errors';

export interface TcpLimits {
  maxConnections: number;
  idleTimeoutMs: number;
  maxQueriesPerConnection: number;
}

export class TcpListener {
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();

  constructor(readonly ip: string, readonly port: number, private readonly handler: () => Handler,
    public limits: TcpLimits, private readonly stats: Stats) {}

  get connections(): number {
    return this.conns.size;
  }

  async start(): Promise<void> {
    const server = createServer({ noDelay: true }, (s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(bindError(e, 'tcp', this.ip, this.port)));
      server.listen({ host: this.ip, port: this.port, exclusive: false, ipv6Only: this.ip.includes(':'), backlog: 511 }, () => resolve());
    });
    server.on('error', () => { /* accept errors (EMFILE): the connection is lost, the server lives */ });
    this.server = server;
  }

  private accept(s: Socket): void {
    if (this.conns.size >= this.limits.maxConnections) {
      this.stats.overload++;
      s.destroy();
      return;
    }
    this.conns.add(s);
    const v6 = this.ip.includes(':');
    const client = s.remoteAddress ?? '';
    let buf: Buffer = Buffer.alloc(0);
    let open = 0;
    s.setTimeout(this.limits.idleTimeoutMs, () => { if (open === 0) s.destroy(); });
    const reply = (out: Buffer) => {
      open--;
      if (s.destroyed) return;
      const frame = Buffer.allocUnsafe(out.length + 2);
      frame.writeUInt16BE(out.length, 0);
      out.copy(frame, 2);
      s.write(frame);
      if (s.isPaused() && open < this.limits.maxQueriesPerConnection) s.resume();
    };
    s.on('error', () => s.destroy());
    s.on('close', () => this.conns.delete(s));
    s.on('data', (chunk) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len === 0) { s.destroy(); return; }
        if (buf.length < 2 + len) break;
        const msg = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        open++;
        if (open >= this.limits.maxQueriesPerConnection) s.pause();
        const answered = this.handler().handle(msg, true, v6, client, reply, undefined);
        if (!answered) open--;
      }
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.conns) s.end();
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server = undefined;
      setTimeout(() => { for (const s of this.conns) s.destroy(); }, 1000).unref();
    });
  }
}
