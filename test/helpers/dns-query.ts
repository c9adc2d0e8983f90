// A plain DNS client in Node for readiness probes and tests that need raw bytes
// (dns-packet encode/decode; speed is irrelevant here). Real-client checks use dig.ts.
import { randomInt } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Endpoint } from './ports';

export interface QueryOptions {
  transport?: 'udp' | 'tcp';
  timeoutMs?: number; // default 1000
  class?: string; // default IN
  rd?: boolean; // default true
  /** EDNS UDP size to advertise; undefined = no OPT record */
  edns?: number;
  dnssecOk?: boolean;
  cd?: boolean; // checking disabled
  nsid?: boolean; // ask for the NSID (needs edns)
  id?: number;
}

export function buildQuery(name: string, type: string, opts: QueryOptions = {}): Buffer {
  const additionals: dnsPacket.Answer[] = [];
  if (opts.edns !== undefined) {
    additionals.push({
      type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: opts.dnssecOk ? dnsPacket.DNSSEC_OK : 0,
      options: opts.nsid ? [{ code: 3, data: Buffer.alloc(0) }] : [],
    } as unknown as dnsPacket.Answer);
  }
  return dnsPacket.encode({
    type: 'query',
    id: opts.id ?? randomInt(0, 65536),
    flags: (opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED) | (opts.cd ? dnsPacket.CHECKING_DISABLED : 0),
    questions: [{ name, type: type as dnsPacket.RecordType, class: (opts.class ?? 'IN') as dnsPacket.RecordClass }],
    additionals,
  });
}

/** Sends raw bytes and resolves with the first reply whose ID matches (UDP) or the first framed reply (TCP). */
export function exchange(ep: Endpoint, msg: Buffer, transport: 'udp' | 'tcp' = 'udp', timeoutMs = 1000): Promise<Buffer> {
  return transport === 'udp' ? exchangeUdp(ep, msg, timeoutMs) : exchangeTcp(ep, msg, timeoutMs);
}

function exchangeUdp(ep: Endpoint, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket(net.isIPv6(ep.address) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => finish(new Error(`no UDP reply from ${ep.address}:${ep.port} within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    function finish(err: Error | null, reply?: Buffer) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err); else resolve(reply!);
    }
    sock.on('error', (e) => finish(e));
    sock.on('message', (m) => {
      if (m.length >= 2 && m.readUInt16BE(0) === msg.readUInt16BE(0)) finish(null, m);
    });
    sock.send(msg, ep.port, ep.address);
  });
}

function exchangeTcp(ep: Endpoint, msg: Buffer, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: ep.address, port: ep.port });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => finish(new Error(`no TCP reply from ${ep.address}:${ep.port} within ${timeoutMs} ms`)), timeoutMs);
    let done = false;
    function finish(err: Error | null, reply?: Buffer) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err); else resolve(reply!);
    }
    sock.on('error', (e) => finish(e));
    sock.on('close', () => finish(new Error(`${ep.address}:${ep.port} closed the TCP connection without a reply`)));
    sock.on('connect', () => {
      const len = Buffer.alloc(2);
      len.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([len, msg]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) finish(null, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
  });
}

/** A decoded reply: dns-packet's fields plus the rcode and opcode names it sets. */
export type Reply = dnsPacket.DecodedPacket & { rcode: string; opcode: string };

/** Query and decode. Throws on timeout; any rcode is returned. */
export async function query(ep: Endpoint, name: string, type: string, opts: QueryOptions = {}): Promise<Reply> {
  const reply = await exchange(ep, buildQuery(name, type, opts), opts.transport ?? 'udp', opts.timeoutMs ?? 1000);
  return dnsPacket.decode(reply) as Reply;
}
