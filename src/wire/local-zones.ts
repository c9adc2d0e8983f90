// The reverse zones nodedns answers itself (RFC 6303 §4, RFC 6761 §6.3). Only the ones no
// cluster can own: loopback, "this network", the limited broadcast and the two IPv6 special
// addresses. RFC 6303's other zones (§4.1, the rest of §4.2, §4.4-4.6) stay with the cluster DNS, which serves pod and Service PTR
// records from them: RFC 1918 (10/8, 172.16/12, 192.168/16: Pod and Service CIDRs), 100.64/10
// (RFC 6598: pod ranges on EKS custom networking, GKE and others), fd00::/8 (d.f.ip6.arpa: kind's
// and many dual-stack Service ranges), link-local (254.169.in-addr.arpa, fe80::/10: cloud metadata
// and node-local addresses whose names an operator may publish). docs/answers.md has the list.
import { Buffer } from 'node:buffer';
import { HEADER_LEN } from './constants';

const V6_ZERO_NIBBLES = '0.'.repeat(31);
export const LOCAL_REVERSE_ZONES = [
  '127.in-addr.arpa', // RFC 6303 §4.2 (RFC 5735): IPv4 loopback
  '0.in-addr.arpa', // RFC 6303 §4.2 (RFC 5735): "this" network
  '255.255.255.255.in-addr.arpa', // RFC 6303 §4.2 (RFC 5735): limited broadcast
  '1.' + V6_ZERO_NIBBLES + 'ip6.arpa', // RFC 6303 §4.3: ::1, the IPv6 loopback
  '0.' + V6_ZERO_NIBBLES + 'ip6.arpa', // RFC 6303 §4.3: ::, the unspecified address
] as const;

const NAME_TEXT = Buffer.alloc(256);

/**
 * The lower-case question name without the trailing dot ('' for the root). Spelled into one
 * scratch buffer and read out as one string: a label at a time, it was a string per label and
 * per dot (about 400 bytes of garbage per miss, sampled).
 */
export function nameAt(buf: Buffer, qnameEnd: number): string {
  if (qnameEnd - HEADER_LEN > NAME_TEXT.length) return nameByLabels(buf, qnameEnd); // longer than a valid name
  let n = 0;
  let off = HEADER_LEN;
  while (off < qnameEnd - 1) {
    const l = buf[off];
    if (n > 0) NAME_TEXT[n++] = 0x2e;
    for (let i = off + 1, end = off + 1 + l; i < end; i++) {
      const c = buf[i];
      // toLowerCase folds Latin-1 letters (0xc0-0xde) too: names with such bytes keep that way
      if (c >= 0x80) return nameByLabels(buf, qnameEnd);
      NAME_TEXT[n++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
    off += l + 1;
  }
  return NAME_TEXT.toString('latin1', 0, n);
}

function nameByLabels(buf: Buffer, qnameEnd: number): string {
  let out = '';
  let off = HEADER_LEN;
  while (off < qnameEnd - 1) {
    const l = buf[off];
    if (out.length > 0) out += '.';
    out += buf.toString('latin1', off + 1, off + 1 + l);
    off += l + 1;
  }
  return out.toLowerCase();
}

/** The locally served reverse zone `name` falls in, or undefined. */
export function localReverseZone(name: string): string | undefined {
  for (const z of LOCAL_REVERSE_ZONES) if (name === z || name.endsWith('.' + z)) return z;
  return undefined;
}

/** Called only for names ending in "arpa": the allocation stays off the common path. */
export function isLocalReverse(buf: Buffer, qnameEnd: number): boolean {
  return localReverseZone(nameAt(buf, qnameEnd)) !== undefined;
}
