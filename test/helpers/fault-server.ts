// A small DNS server inside the test (UDP + TCP, dns-packet; speed is irrelevant) that
// answers from a record map or a handler, and injects the faults real upstreams show:
// silence, delay, a wrong ID, a reply from the wrong port, truncation, SERVFAIL/REFUSED,
// an oversized TXT answer, garbage bytes. It records every query that reaches it.
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { endpointOrFree, type Endpoint } from './ports';
import { PATIENCE_MS, waitUntil } from './process';

export type Transport = 'udp' | 'tcp';

export interface ReceivedQuery {
  id: number;
  name: string; // as received (case kept), no trailing dot
  type: string; // "A", "TXT", "TYPE65280"…
  class: string;
  opcode: string;
  transport: Transport;
  rd: boolean;
  cd: boolean;
  ad: boolean;
  edns: boolean;
  ednsUdpSize?: number;
  do: boolean;
  /** EDNS options by code (3 = NSID, 10 = COOKIE, 15 = EDE…) */
  ednsOptions: { code: number; data: Buffer }[];
  from: Endpoint;
  at: number; // Date.now() on arrival
  size: number; // bytes
  /** set when the bytes did not decode as a DNS message (no reply is sent) */
  malformed?: string;
}

export type Fault =
  | 'drop' // no reply at all
  | 'close' // TCP: close the connection without replying; UDP: drop
  | 'wrong-id' // reply with the query ID + 1
  | 'wrong-port' // UDP: reply from another source port (TCP: normal reply)
  | 'truncate' // UDP: TC=1 and no records; TCP: the full answer
  | 'servfail'
  | 'refused'
  | 'huge-txt' // the answer is a TXT RRset of `hugeTxtBytes` bytes (default 4000)
  | 'garbage'; // random bytes (the first two are the query ID and QR is set, unless garbageKeepsId is false)

/** A record without its name, in dns-packet's shape: { type: 'A', data: '192.0.2.1', ttl: 30 } */
export interface RecordData {
  type: string;
  data: unknown; // dns-packet rdata: a string, a string/Buffer list (TXT), or an object (SRV, SOA, MX…)
  ttl?: number; // default 60
  class?: string;
}
/** name (no trailing dot, any case) -> records */
export type RecordMap = Record<string, RecordData[]>;

export interface Reply {
  rcode?: string; // NOERROR, NXDOMAIN, SERVFAIL…; default from the record map
  answers?: dnsPacket.Answer[];
  authorities?: dnsPacket.Answer[];
  additionals?: dnsPacket.Answer[];
  aa?: boolean; // default true
  ra?: boolean; // default true
  ad?: boolean; // AD, as a validating resolver sets it (default false)
  fault?: Fault;
  delayMs?: number;
  hugeTxtBytes?: number;
  garbageBytes?: number; // default 64
  garbageKeepsId?: boolean; // default true
  /** send UDP answers even when larger than the client's size (512 or its EDNS size) */
  ignoreSize?: boolean;
  /** include an OPT record when the query had one (default true) */
  edns?: boolean;
  ednsUdpSize?: number; // default 1232
  /** Extended DNS Error (RFC 8914) to add to the OPT record */
  ede?: { code: number; text?: string };
  /** NSID returned when the query asks for it */
  nsid?: string;
  /** rewrites the encoded reply bytes before they are sent (malformed replies); undefined = silence */
  mutate?: (reply: Buffer, q: ReceivedQuery) => Buffer | undefined;
}

/** What to reply with; undefined = answer from the record map. */
export type Handler = (q: ReceivedQuery) => Reply | undefined | Promise<Reply | undefined>;

export interface FaultServerOptions {
  address?: string;
  port?: number;
  records?: RecordMap;
  handler?: Handler;
  /** applied over every reply (the handler's and the record map's); change later with set() */
  behaviour?: Reply;
  /** SOA placed in the authority section of NXDOMAIN/NODATA from the record map */
  negativeSoa?: { zone: string; ttl: number };
}

export interface FaultServer extends Endpoint {
  queries: ReceivedQuery[];
  /** queries matching every given field (name compared case-insensitively, trailing dot ignored) */
  count(filter?: { name?: string; type?: string; transport?: Transport }): number;
  clear(): void;
  /** replace the overlay applied to every reply, e.g. set({ fault: 'drop' }); set({}) = normal */
  set(behaviour: Reply): void;
  setHandler(h: Handler | undefined): void;
  records: RecordMap;
  waitForQueries(n: number, timeoutMs?: number): Promise<ReceivedQuery[]>;
  stop(): Promise<void>;
}

const OPT_NSID = 3;
const OPT_EDE = 15;

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

function describe(msg: Buffer, from: Endpoint, transport: Transport): ReceivedQuery {
  const base = { from, transport, at: Date.now(), size: msg.length, ednsOptions: [] as { code: number; data: Buffer }[] };
  let p: dnsPacket.DecodedPacket & { opcode?: string };
  try {
    p = dnsPacket.decode(msg);
  } catch (e) {
    return {
      ...base, id: msg.length >= 2 ? msg.readUInt16BE(0) : 0, name: '', type: '', class: '', opcode: '',
      rd: false, cd: false, ad: false, edns: false, do: false, malformed: (e as Error).message,
    };
  }
  const q = p.questions?.[0];
  const opt = (p.additionals ?? []).find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  return {
    ...base,
    id: p.id ?? 0,
    name: q ? q.name : '',
    type: q ? String(q.type) : '',
    class: q ? String(q.class) : '',
    opcode: String(p.opcode),
    rd: !!p.flag_rd,
    cd: !!p.flag_cd,
    ad: !!p.flag_ad,
    edns: !!opt,
    ednsUdpSize: opt?.udpPayloadSize,
    do: !!opt && ((opt.flags ?? 0) & dnsPacket.DNSSEC_OK) !== 0,
    ednsOptions: (opt?.options ?? []).map((o) => ({ code: o.code, data: Buffer.from((o as { data?: Buffer }).data ?? []) })),
    malformed: q ? undefined : 'no question',
  };
}

const RCODES: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };

function hugeTxt(name: string, bytes: number): dnsPacket.Answer[] {
  const strings: Buffer[] = [];
  for (let left = bytes, i = 0; left > 0; i++) {
    const n = Math.min(255, left);
    strings.push(Buffer.alloc(n, 97 + (i % 26)));
    left -= n + 1;
  }
  // several RRs of up to 16 strings each, as a real server would hold a large TXT RRset
  const out: dnsPacket.Answer[] = [];
  for (let i = 0; i < strings.length; i += 16) out.push({ name, type: 'TXT', ttl: 60, data: strings.slice(i, i + 16) });
  return out;
}

export async function startFaultServer(opts: FaultServerOptions = {}): Promise<FaultServer> {
  const ep = await endpointOrFree(opts);
  const family = net.isIPv6(ep.address) ? 'udp6' : 'udp4';
  const queries: ReceivedQuery[] = [];
  const records: RecordMap = {};
  for (const [k, v] of Object.entries(opts.records ?? {})) records[norm(k)] = v;
  let behaviour: Reply = opts.behaviour ?? {};
  let handler = opts.handler;
  const timers = new Set<NodeJS.Timeout>();

  function fromRecords(q: ReceivedQuery): Reply {
    const rrs = records[norm(q.name)];
    const soa = opts.negativeSoa
      ? [{
          name: opts.negativeSoa.zone, type: 'SOA', ttl: opts.negativeSoa.ttl,
          data: { mname: 'ns1.' + opts.negativeSoa.zone, rname: 'hostmaster.' + opts.negativeSoa.zone, serial: 1,
            refresh: 3600, retry: 600, expire: 86400, minimum: opts.negativeSoa.ttl },
        } as dnsPacket.Answer]
      : [];
    if (!rrs) return { rcode: 'NXDOMAIN', authorities: soa };
    const match = rrs.filter((r) => q.type === 'ANY' || r.type === q.type || r.type === 'CNAME');
    if (match.length === 0) return { rcode: 'NOERROR', authorities: soa };
    return { answers: match.map((r) => ({ ttl: 60, ...r, name: q.name }) as dnsPacket.Answer) };
  }

  function encode(q: ReceivedQuery, r: Reply, tc: boolean): Buffer {
    let rcode = r.rcode ?? 'NOERROR';
    if (r.fault === 'servfail') rcode = 'SERVFAIL';
    if (r.fault === 'refused') rcode = 'REFUSED';
    const flags = (((r.aa ?? true) ? 1 : 0) << 10) | ((tc ? 1 : 0) << 9) | ((q.rd ? 1 : 0) << 8)
      | (((r.ra ?? true) ? 1 : 0) << 7) | ((r.ad ? 1 : 0) << 5) | ((q.cd ? 1 : 0) << 4) | (RCODES[rcode] ?? Number(rcode));
    const additionals = [...(tc ? [] : r.additionals ?? [])];
    if (q.edns && r.edns !== false) {
      const options: { code: number; data: Buffer }[] = [];
      if (r.nsid !== undefined && q.ednsOptions.some((o) => o.code === OPT_NSID)) {
        options.push({ code: OPT_NSID, data: Buffer.from(r.nsid) });
      }
      if (r.ede) {
        const d = Buffer.alloc(2);
        d.writeUInt16BE(r.ede.code);
        options.push({ code: OPT_EDE, data: Buffer.concat([d, Buffer.from(r.ede.text ?? '')]) });
      }
      additionals.push({
        type: 'OPT', name: '.', udpPayloadSize: r.ednsUdpSize ?? 1232, flags: q.do ? dnsPacket.DNSSEC_OK : 0, options,
      } as unknown as dnsPacket.Answer);
    }
    let answers = tc ? [] : r.answers ?? [];
    if (!tc && r.fault === 'huge-txt') answers = hugeTxt(q.name, r.hugeTxtBytes ?? 4000);
    const isError = r.fault === 'servfail' || r.fault === 'refused';
    return dnsPacket.encode({
      type: 'response',
      id: r.fault === 'wrong-id' ? (q.id + 1) & 0xffff : q.id,
      flags,
      questions: [{ name: q.name, type: q.type as dnsPacket.RecordType, class: q.class as dnsPacket.RecordClass }],
      answers: isError ? [] : answers,
      authorities: tc || isError ? [] : r.authorities ?? [],
      additionals,
    });
  }

  /** The bytes to send for a query, or undefined for silence. */
  async function respond(q: ReceivedQuery): Promise<{ bytes?: Buffer; reply: Reply }> {
    const fromHandler = handler ? await handler(q) : undefined;
    const reply: Reply = { ...(fromHandler ?? fromRecords(q)), ...behaviour };
    if (reply.delayMs) {
      await new Promise<void>((res) => {
        const t = setTimeout(() => { timers.delete(t); res(); }, reply.delayMs);
        timers.add(t);
      });
    }
    if (q.malformed || reply.fault === 'drop' || reply.fault === 'close') return { reply };
    if (reply.fault === 'garbage') {
      const g = randomBytes(reply.garbageBytes ?? 64);
      if (reply.garbageKeepsId !== false && g.length >= 2) g.writeUInt16BE(q.id);
      // With the ID it must read as a plain response (QR set, no TC, opcode 0), or clients
      // ignore it or retry over TCP instead of rejecting it; 65535 questions never fit.
      if (reply.garbageKeepsId !== false && g.length >= 6) {
        g[2] = 0x81;
        g[3] = 0x80;
        g.writeUInt16BE(0xffff, 4);
      }
      return { bytes: g, reply };
    }
    const udpTc = q.transport === 'udp' && reply.fault === 'truncate';
    let bytes = encode(q, reply, udpTc);
    const limit = q.edns ? Math.max(512, q.ednsUdpSize ?? 512) : 512;
    if (q.transport === 'udp' && !reply.ignoreSize && bytes.length > limit) bytes = encode(q, reply, true);
    return { bytes: reply.mutate ? reply.mutate(bytes, q) : bytes, reply };
  }

  // --- UDP
  const udp = dgram.createSocket({ type: family });
  const wrongPort = dgram.createSocket({ type: family });
  udp.on('message', (msg, rinfo) => {
    const q = describe(msg, { address: rinfo.address, port: rinfo.port }, 'udp');
    queries.push(q);
    void respond(q).then(({ bytes, reply }) => {
      if (!bytes) return;
      const via = reply.fault === 'wrong-port' ? wrongPort : udp;
      via.send(bytes.subarray(0, 65507), rinfo.port, rinfo.address, () => { /* closed meanwhile */ });
    }).catch(() => { /* socket closed during stop */ });
  });
  await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(ep.port, ep.address, () => res()); });
  await new Promise<void>((res, rej) => { wrongPort.once('error', rej); wrongPort.bind(0, ep.address, () => res()); });

  // --- TCP (RFC 7766 framing; replies as they complete)
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const q = describe(msg, { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }, 'tcp');
        queries.push(q);
        void respond(q).then(({ bytes, reply }) => {
          if (reply.fault === 'close') { sock.destroy(); return; }
          if (!bytes || sock.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(Math.min(bytes.length, 65535));
          sock.write(Buffer.concat([len, bytes.subarray(0, 65535)]));
        }).catch(() => sock.destroy());
      }
    });
  });
  try {
    await new Promise<void>((res, rej) => { tcp.once('error', rej); tcp.listen({ port: ep.port, host: ep.address, exclusive: true }, () => res()); });
  } catch (e) {
    udp.close();
    wrongPort.close();
    throw e;
  }

  const eq = (a: string, b: string) => norm(a) === norm(b);
  const count = (f: { name?: string; type?: string; transport?: Transport } = {}) =>
    queries.filter((q) => (f.name === undefined || eq(q.name, f.name))
      && (f.type === undefined || q.type === f.type) && (f.transport === undefined || q.transport === f.transport)).length;
  let stopped = false;

  return {
    ...ep,
    queries,
    records,
    count,
    clear: () => { queries.length = 0; },
    set: (b) => { behaviour = b; },
    setHandler: (h) => { handler = h; },
    waitForQueries: (n, timeoutMs = PATIENCE_MS) =>
      waitUntil(`${n} queries at the fault server ${ep.address}:${ep.port} (have ${queries.length})`,
        () => (queries.length >= n ? queries.slice() : undefined), timeoutMs, 10),
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => wrongPort.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
}
