// One query over UDP from a fresh socket: a new random source port every time, and
// the socket is connected so the kernel drops datagrams from anyone but the upstream.
import { createSocket } from 'node:dgram';
import type { Endpoint } from '../config/types';
import { QR } from '../wire/constants';
import { sameQuestion } from '../wire/response';
import { UpstreamError, networkError } from './errors';
import { ipLookup } from './ip-lookup';

export function exchangeUdp(ep: Endpoint, msg: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createSocket({ type: ep.family === 6 ? 'udp6' : 'udp4', lookup: ipLookup as never });
    let done = false;
    const finish = (err: Error | null, res?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(res!);
    };
    const timer = setTimeout(() => finish(new UpstreamError('timeout', `${ep.host}:${ep.port} did not answer within ${timeoutMs}ms`)), timeoutMs);
    sock.on('error', (e) => finish(networkError(e, `${ep.host}:${ep.port}`)));
    sock.on('message', (m) => {
      // Wrong ID or question: not our answer (late, or spoofed). Keep waiting.
      if (m.length < 12 || m[0] !== msg[0] || m[1] !== msg[1] || (m[2] & QR) === 0) return;
      if (!sameQuestion(msg, m, questionEnd)) return;
      finish(null, m);
    });
    sock.connect(ep.port, ep.host, () => {
      sock.send(msg, (e) => { if (e) finish(networkError(e, `${ep.host}:${ep.port}`)); });
    });
  });
}
