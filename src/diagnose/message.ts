// DNS messages as the diagnostics show them: decoded with dns-packet (never on the
// serving path) into rcode, flags and one line per record, dig-style.
import { Buffer } from 'node:buffer';
import * as dnsPacket from 'dns-packet';
import { RCODE_NAMES } from '../observe/stats';

export interface RecordLine {
  name: string; // with the trailing dot
  ttl: number;
  type: string;
  data: string;
}

export interface MessageSummary {
  rcode: string; // NOERROR, NXDOMAIN, SERVFAIL…
  flags: string[]; // qr aa tc rd ra ad cd, as dig prints them
  answers: RecordLine[];
  authority: RecordLine[];
  additional: RecordLine[]; // OPT left out
  /** the A/AAAA data among the answers */
  addresses: string[];
  /** the answer holds a record of the asked type (or a CNAME chain ending in one) */
  hasAnswer: boolean;
  size: number;
}

export function rcodeName(n: number): string {
  return RCODE_NAMES[n] ?? `RCODE${n}`;
}

function dataText(a: dnsPacket.Answer): string {
  const d = (a as { data?: unknown }).data;
  switch (a.type) {
    case 'A': case 'AAAA': case 'CNAME': case 'PTR': case 'NS': case 'DNAME':
      return String(d).replace(/\.?$/, a.type === 'A' || a.type === 'AAAA' ? '' : '.');
    case 'MX': {
      const m = d as { preference: number; exchange: string };
      return `${m.preference} ${m.exchange}.`;
    }
    case 'SRV': {
      const s = d as { priority: number; weight: number; port: number; target: string };
      return `${s.priority} ${s.weight} ${s.port} ${s.target}.`;
    }
    case 'TXT': {
      const parts = Array.isArray(d) ? d : [d];
      return parts.map((p) => JSON.stringify(Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join(' ');
    }
    case 'SOA': {
      const s = d as { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
      return `${s.mname}. ${s.rname}. ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minimum}`;
    }
    default:
      return Buffer.isBuffer(d) ? `\\# ${d.length} ${d.toString('hex')}` : JSON.stringify(d);
  }
}

function lines(rrs: dnsPacket.Answer[] | undefined): RecordLine[] {
  return (rrs ?? []).filter((a) => a.type !== 'OPT').map((a) => ({
    name: (a.name || '') + '.', ttl: (a as { ttl?: number }).ttl ?? 0, type: String(a.type), data: dataText(a),
  }));
}

/** Decodes a response; throws with a readable message when the bytes are not a DNS message. */
export function summarize(response: Buffer, qtype?: string): MessageSummary {
  let p: dnsPacket.DecodedPacket;
  try {
    p = dnsPacket.decode(response);
  } catch (e) {
    throw new Error(`unreadable DNS message (${response.length} bytes): ${(e as Error).message}`);
  }
  const f = response.length >= 4 ? response.readUInt16BE(2) : 0;
  const flags: string[] = [];
  if (f & 0x8000) flags.push('qr');
  if (f & 0x0400) flags.push('aa');
  if (f & 0x0200) flags.push('tc');
  if (f & 0x0100) flags.push('rd');
  if (f & 0x0080) flags.push('ra');
  if (f & 0x0020) flags.push('ad');
  if (f & 0x0010) flags.push('cd');
  const answers = lines(p.answers);
  const want = (qtype ?? p.questions?.[0]?.type ?? '').toUpperCase();
  const rcode = rcodeName(f & 0x0f);
  return {
    rcode,
    flags,
    answers,
    authority: lines(p.authorities),
    additional: lines(p.additionals),
    addresses: answers.filter((a) => a.type === 'A' || a.type === 'AAAA').map((a) => a.data),
    hasAnswer: rcode === 'NOERROR' && answers.some((a) => a.type === want || want === 'ANY'),
    size: response.length,
  };
}

/** "NXDOMAIN", "NOERROR, no A records (NODATA)", "A 10.0.0.1, 10.0.0.2", "CNAME x. → A 1.2.3.4" */
export function shortAnswer(s: MessageSummary, qtype: string): string {
  if (s.rcode !== 'NOERROR') return s.rcode;
  if (s.answers.length === 0) return `NODATA (name exists, no ${qtype})`;
  const parts: string[] = [];
  const byType = new Map<string, string[]>();
  for (const a of s.answers) byType.set(a.type, [...(byType.get(a.type) ?? []), a.data]);
  for (const [type, datas] of byType) {
    const shown = datas.slice(0, 3).join(', ') + (datas.length > 3 ? ` (+${datas.length - 3})` : '');
    parts.push(`${type} ${shown}`);
  }
  return parts.join(' → ');
}

/** The bytes of one query (RD, EDNS 1232) and where its question ends. */
export function buildQuery(name: string, type: string, id: number, opts: { rd?: boolean; cls?: string } = {}): { msg: Buffer; questionEnd: number } {
  const qname = name.replace(/\.$/, '');
  const msg = dnsPacket.encode({
    type: 'query', id, flags: opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: qname, type: type.toUpperCase() as dnsPacket.RecordType, class: (opts.cls ?? 'IN') as dnsPacket.RecordClass }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as dnsPacket.Answer],
  });
  let off = 12;
  while (msg[off] !== 0) off += msg[off] + 1;
  return { msg, questionEnd: off + 5 };
}

const KNOWN_TYPES = new Set(['A', 'AAAA', 'CNAME', 'MX', 'NS', 'PTR', 'SOA', 'SRV', 'TXT', 'CAA', 'HINFO', 'NAPTR', 'DS', 'DNSKEY', 'ANY']);

/** Checks a record type the user typed; returns it upper-cased. */
export function parseType(text: string): string {
  const t = text.toUpperCase();
  if (!KNOWN_TYPES.has(t)) throw new Error(`"${text}" is not a record type nodedns can ask for (one of ${[...KNOWN_TYPES].join(', ')})`);
  return t;
}

/** Checks a name the user typed: labels of 1-63 bytes, 253 in all. */
export function checkName(name: string): string {
  const n = name.trim();
  const bare = n.replace(/\.$/, '');
  if (bare === '' || bare.length > 253 || bare.split('.').some((l) => l.length === 0 || l.length > 63) || /\s/.test(bare)) {
    throw new Error(`"${name}" is not a domain name (labels of 1-63 characters separated by dots, 253 in all)`);
  }
  return n;
}
