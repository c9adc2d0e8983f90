// Answers that never leave the node: localhost and invalid (RFC 6761), the loopback and
// other cluster-safe reverse zones of RFC 6303 (src/wire/local-zones.ts), and static host
// entries with their PTR records (like the CoreDNS hosts block).
import * as dnsPacket from 'dns-packet';
import { isIP } from 'node:net';
import { makeEntry, type Entry } from '../cache/entry';
import { clockNow } from '../cache/clock';
import { AA, RCODE, TYPE } from '../wire/constants';
import { localReverseZone } from '../wire/local-zones';
import { cacheKey, Special } from '../wire/query';

const LOCAL_TTL = 60;
const FOREVER = { successCap: LOCAL_TTL, denialCap: LOCAL_TTL, servfailTtl: 0 };

function soa(zone: string) {
  return {
    name: zone, type: 'SOA' as const, ttl: LOCAL_TTL, class: 'IN' as const,
    data: { mname: zone || '.', rname: 'nobody.invalid', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: LOCAL_TTL },
  };
}

/** Encodes with the library (local answers are rare), then sets the real qtype in the question. */
function response(name: string, qtype: number, rcode: number, answers: dnsPacket.Answer[], authority: dnsPacket.Answer[] = []): Entry {
  const wire = dnsPacket.encode({
    type: 'response', id: 0, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | rcode,
    questions: [{ name, type: 'A', class: 'IN' }], answers, authorities: authority,
  });
  let qnameEnd = 12;
  while (wire[qnameEnd] !== 0) qnameEnd += wire[qnameEnd] + 1;
  qnameEnd++;
  wire.writeUInt16BE(qtype, qnameEnd);
  const e = makeEntry(wire, qnameEnd, FOREVER, clockNow())!;
  e.wire[2] |= AA; // nodedns is the authority for these names (RFC 6303 §3), unlike for what it caches
  return e;
}

export function reverseName(ip: string): string {
  if (isIP(ip) === 4) return ip.split('.').reverse().join('.') + '.in-addr.arpa';
  const full = expandV6(ip);
  return full.split('').reverse().join('.') + '.ip6.arpa';
}

function expandV6(ip: string): string {
  const [head, tail] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join('');
}

const TYPE_NAMES: Record<number, string> = { [TYPE.A]: 'A', [TYPE.AAAA]: 'AAAA', [TYPE.PTR]: 'PTR' };

export class LocalAnswers {
  /** key (all four DO/CD variants) -> entry; empty when no host entries are configured */
  readonly hosts = new Map<string, Entry>();

  constructor(hosts: Record<string, string[]>) {
    const byName = new Map<string, dnsPacket.Answer[]>();
    const add = (name: string, a: dnsPacket.Answer) => byName.set(name, [...(byName.get(name) ?? []), a]);
    for (const [name, ips] of Object.entries(hosts)) {
      for (const ip of ips) {
        add(name, { name, type: isIP(ip) === 4 ? 'A' : 'AAAA', class: 'IN', ttl: LOCAL_TTL, data: ip } as dnsPacket.Answer);
        const rev = reverseName(ip);
        add(rev, { name: rev, type: 'PTR', class: 'IN', ttl: LOCAL_TTL, data: name } as dnsPacket.Answer);
      }
    }
    for (const [name, answers] of byName) {
      // Every type for a configured name is answered here: the records we have, or NODATA.
      for (const type of [TYPE.A, TYPE.AAAA, TYPE.PTR]) {
        const e = response(name, type, RCODE.NOERROR, answers.filter((a) => a.type === TYPE_NAMES[type]));
        for (let f = 0; f < 4; f++) this.hosts.set(cacheKey(e.wire, e.qnameEnd, f), e);
      }
    }
  }

  host(key: string): Entry | undefined {
    return this.hosts.get(key);
  }

  /** localhost. and names below it, invalid. and names below it, local reverse zones. Built per query: rare. */
  special(name: string, qtype: number, which: Special): Entry {
    if (which === Special.INVALID) return response(name, qtype, RCODE.NXDOMAIN, [], [soa('invalid')]);
    if (which === Special.REVERSE) return reverseAnswer(name, qtype);
    if (qtype === TYPE.A) return response(name, qtype, RCODE.NOERROR, [{ name, type: 'A', class: 'IN', ttl: LOCAL_TTL, data: '127.0.0.1' }]);
    if (qtype === TYPE.AAAA) return response(name, qtype, RCODE.NOERROR, [{ name, type: 'AAAA', class: 'IN', ttl: LOCAL_TTL, data: '::1' }]);
    return response(name, qtype, RCODE.NOERROR, [], [soa('localhost')]);
  }
}

/** The PTR names of the local reverse zones: 127.0.0.1 and ::1 are localhost (RFC 6761 §6.3), as in Unbound. */
const LOCAL_PTRS = [reverseName('127.0.0.1'), reverseName('::1')];

/**
 * A name in a locally served reverse zone (RFC 6303 §3: authoritative, empty but for the SOA
 * and the loopback PTRs). A name above a PTR name is an empty non-terminal: NODATA, not
 * NXDOMAIN (RFC 8020).
 */
function reverseAnswer(name: string, qtype: number): Entry {
  const zone = localReverseZone(name)!;
  if (name === zone && qtype === TYPE.SOA) return response(name, qtype, RCODE.NOERROR, [soa(zone)]);
  const ptr = LOCAL_PTRS.includes(name);
  if (ptr && qtype === TYPE.PTR) return response(name, qtype, RCODE.NOERROR, [{ name, type: 'PTR', class: 'IN', ttl: LOCAL_TTL, data: 'localhost' }]);
  const exists = name === zone || LOCAL_PTRS.some((p) => p === name || p.endsWith('.' + name));
  return response(name, qtype, exists ? RCODE.NOERROR : RCODE.NXDOMAIN, [], [soa(zone)]);
}
