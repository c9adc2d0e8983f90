// UDP listener on one local address.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Handler } from './handler';
import { bindError } from './listen-errors';
import { familyLookup } from '../forward/ip-lookup';

const RECV_BUFFER = 4 * 1024 * 1024; // absorbs bursts (a pod's ndots:5 fan-out); capped by net.core.rmem_max

export class UdpListener {
  private sock: Socket | undefined;

  constructor(readonly ip: string, readonly port: number, private readonly handler: () => Handler) {}

  async start(): Promise<void> {
    const v6 = this.ip.includes(':');
    const sock = createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6, lookup: familyLookup[v6 ? 6 : 4] as never }); // replies go to rinfo.address, of the socket's family
    await new Promise<void>((resolve, reject) => {
      sock.once('error', (e) => reject(bindError(e, 'udp', this.ip, this.port)));
      // exclusive: false lets cluster workers share the primary's socket
      sock.bind({ address: this.ip, port: this.port, exclusive: false }, () => resolve());
    });
    try { sock.setRecvBufferSize(RECV_BUFFER); } catch { /* kernel cap; the default still works */ }
    sock.on('error', () => { /* per-datagram send errors (ICMP unreachable): nothing to do */ });
    const reply = (out: Buffer, to: RemoteInfo) => sock.send(out, to.port, to.address);
    sock.on('message', (msg, rinfo) => {
      this.handler().handle(msg, false, v6, rinfo.address, reply, rinfo);
    });
    this.sock = sock;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.sock) return resolve();
      this.sock.close(() => resolve());
      this.sock = undefined;
    });
  }
}
