// The one structural check for every message nodedns did not write: upstream replies
// before they are cached or served, and cache-file entries before they are loaded.
// One pass on raw bytes, no allocation: it runs once per cache miss.
import { HEADER_LEN, OPCODE_MASK, QR, TYPE } from './constants';

/** Why a message was refused; the index into REASONS (a metric label). */
export const enum Check {
  OK = 0,
  // not ours: the transport keeps waiting for the real reply (a late or forged datagram)
  ID = 1, // wrong ID, no header, or QR clear
  QUESTION = 2, // another question (name, type, class), or QDCOUNT not 1
  CASE = 3, // our question, but not with the letter case we sent (DNS 0x20)
  // ours, but broken: never cached or served
  OPCODE = 4, // not a QUERY reply (UPDATE, NOTIFY…)
  POINTER = 5, // a compression pointer that does not point strictly backwards (loop, forward, past the end)
  NAME = 6, // a label type other than 0/0xC0, or a name over 255 octets
  SHORT = 7, // the counts promise more records than the bytes hold
  TRAILING = 8, // bytes after the records the counts announce
  RDATA = 9, // a record whose data does not fit its type (A not 4 bytes, a name running past RDLENGTH…)
  OPT = 10, // an OPT record outside the additional section, twice, or not owned by the root
}

export const REASONS = ['ok', 'id', 'question', 'case', 'opcode', 'pointer', 'name', 'short', 'trailing', 'rdata', 'opt'] as const;
export type Reason = (typeof REASONS)[number];

/** Whether a refusal means "not the reply to our query" (keep waiting) rather than "a broken reply". */
export function isUnwanted(c: Check): boolean {
  return c === Check.ID || c === Check.QUESTION || c === Check.CASE;
}

/**
 * Offset just past the name at `off`, or -Check. Every pointer must point before itself
 * and every byte read after it must lie before it: the bound shrinks at each jump, so
 * the walk ends (no loop) and never leaves the message. 255 octets at most, RFC 1035 §3.1.
 */
export function checkName(buf: Buffer, off: number, end: number): number {
  let pos = off;
  let limit = end;
  let after = -1;
  let octets = 1;
  for (;;) {
    if (pos >= limit) return after < 0 ? -Check.SHORT : -Check.POINTER;
    const l = buf[pos];
    if (l === 0) return after < 0 ? pos + 1 : after;
    if (l < 0x40) {
      octets += l + 1;
      if (octets > 255) return -Check.NAME;
      pos += l + 1;
      continue;
    }
    if (l < 0xc0) return -Check.NAME; // 0x40 and 0x80: extended and reserved label types
    if (pos + 1 >= limit) return after < 0 ? -Check.SHORT : -Check.POINTER;
    const target = ((l & 0x3f) << 8) | buf[pos + 1];
    if (after < 0) after = pos + 2;
    if (target >= pos || target < HEADER_LEN) return -Check.POINTER;
    limit = pos;
    pos = target;
  }
}

const u16 = (b: Buffer, o: number) => (b[o] << 8) | b[o + 1];

/** RDATA that holds names (RFC 1035 and 2782): they must be valid and fill it exactly. */
function checkRdata(buf: Buffer, type: number, at: number, end: number): Check {
  switch (type) {
    case TYPE.A: return end - at === 4 ? Check.OK : Check.RDATA;
    case TYPE.AAAA: return end - at === 16 ? Check.OK : Check.RDATA;
    case TYPE.NS: case TYPE.CNAME: case TYPE.PTR: case 39 /* DNAME */: return nameFills(buf, at, end);
    case TYPE.MX: return end - at < 3 ? Check.RDATA : nameFills(buf, at + 2, end);
    case TYPE.SRV: return end - at < 7 ? Check.RDATA : nameFills(buf, at + 6, end);
    case TYPE.SOA: {
      const m = checkName(buf, at, end);
      if (m < 0) return nameFault(m);
      const r = checkName(buf, m, end);
      if (r < 0) return nameFault(r);
      return end - r === 20 ? Check.OK : Check.RDATA;
    }
    // Types whose clients read the data field by field rather than by RDLENGTH (dns-packet,
    // for one, reads an HINFO as two strings and the next record from wherever they end):
    // their fields must fill the data exactly, as Unbound's per-type parsing requires.
    case TYPE.TXT: case 99 /* SPF */: return stringsFill(buf, at, end);
    case 13 /* HINFO */: return skipStrings(buf, at, end, 2) === end ? Check.OK : Check.RDATA;
    case 17 /* RP */: {
      const m = checkName(buf, at, end);
      return m < 0 ? nameFault(m) : nameFills(buf, m, end);
    }
    case 35 /* NAPTR */: {
      const o = skipStrings(buf, at + 4, end, 3); // after order and preference: flags, services, regexp
      return o < 0 ? Check.RDATA : nameFills(buf, o, end);
    }
    case 46 /* RRSIG */: {
      if (end - at < 18) return Check.RDATA;
      const n = checkName(buf, at + 18, end); // the signer; the signature is the rest
      return n < 0 ? nameFault(n) : Check.OK;
    }
    case 47 /* NSEC */: {
      const n = checkName(buf, at, end);
      return n < 0 ? nameFault(n) : bitmapsFill(buf, n, end);
    }
    case 50 /* NSEC3 */: {
      if (end - at < 6) return Check.RDATA;
      const salt = at + 4; // after hash algorithm, flags, iterations
      const hash = salt + 1 + buf[salt];
      if (hash >= end) return Check.RDATA;
      const bitmaps = hash + 1 + buf[hash];
      return bitmaps > end ? Check.RDATA : bitmapsFill(buf, bitmaps, end);
    }
    // fixed fields, then the rest: at least the fixed part (RFC 4034, 4255, 6698, 8659)
    case 43 /* DS */: case 59 /* CDS */: return end - at >= 4 ? Check.OK : Check.RDATA;
    case 48 /* DNSKEY */: case 60 /* CDNSKEY */: return end - at >= 4 && buf[at + 2] === 3 ? Check.OK : Check.RDATA; // protocol 3 (RFC 4034 §2.1.2)
    // SSHFP: the fingerprint is as long as its type's digest (RFC 4255, 6594); 0 is reserved and
    // 3-255 unassigned, with no length to hold them to: refused like a wrong length
    case 44 /* SSHFP */: return end - at === 2 + (buf[at + 1] === 1 ? 20 : buf[at + 1] === 2 ? 32 : -1) ? Check.OK : Check.RDATA;
    case 52 /* TLSA */: return end - at >= 3 ? Check.OK : Check.RDATA;
    case 257 /* CAA */: return end - at >= 2 && at + 2 + buf[at + 1] <= end ? Check.OK : Check.RDATA; // flags, tag length, tag, value
    default: return Check.OK;
  }
}

/** Offset past `count` character-strings (a length byte, then that many bytes) from `at`, or -1 when they run past `end`. */
function skipStrings(buf: Buffer, at: number, end: number, count: number): number {
  let o = at;
  for (let k = 0; k < count; k++) {
    if (o >= end) return -1;
    o += 1 + buf[o];
  }
  return o <= end ? o : -1;
}

/** One or more character-strings ending exactly at `end` (TXT). */
function stringsFill(buf: Buffer, at: number, end: number): Check {
  let o = at;
  while (o < end) o += 1 + buf[o];
  return o === end && end > at ? Check.OK : Check.RDATA;
}

/** NSEC/NSEC3 type bitmaps (RFC 4034 §4.1.2): windows in increasing order, 1-32 bytes each, ending exactly at `end`. */
function bitmapsFill(buf: Buffer, at: number, end: number): Check {
  let o = at;
  let last = -1;
  while (o < end) {
    if (o + 2 > end) return Check.RDATA;
    const window = buf[o];
    const len = buf[o + 1];
    if (window <= last || len < 1 || len > 32) return Check.RDATA;
    last = window;
    o += 2 + len;
  }
  return o === end ? Check.OK : Check.RDATA;
}

/** A name that runs past its RDLENGTH is bad data; a bad pointer or label stays what it is. */
const nameFault = (n: number): Check => (n === -Check.SHORT ? Check.RDATA : -n as Check);

function nameFills(buf: Buffer, at: number, end: number): Check {
  const n = checkName(buf, at, end);
  if (n < 0) return nameFault(n);
  return n === end ? Check.OK : Check.RDATA;
}

/**
 * Checks `m` as the reply to our `query` (its question ends at `questionEnd`): ID, QR,
 * the question byte for byte (`exactCase`: letter case too, for DNS 0x20), opcode QUERY,
 * then every record: names and pointers, lengths, data of the types that hold names, the
 * counts against the bytes (nothing after the last record), one OPT in the additional section.
 * `query` undefined: a message already matched (a cache-file entry); only `question` is compared.
 */
export function checkReply(m: Buffer, query: Buffer | undefined, questionEnd: number, exactCase: boolean): Check {
  const len = m.length;
  if (len < HEADER_LEN || (m[2] & QR) === 0) return Check.ID;
  if (query !== undefined && (m[0] !== query[0] || m[1] !== query[1])) return Check.ID;
  if (query !== undefined) {
    if (len < questionEnd || u16(m, 4) !== 1) return Check.QUESTION;
    let caseOnly = false;
    const nameEnd = questionEnd - 4;
    for (let i = HEADER_LEN; i < questionEnd; i++) {
      const x = m[i];
      const y = query[i];
      if (x === y) continue;
      const lx = x | 0x20; // label lengths are below 64: only letters can differ by 0x20 alone
      if (i >= nameEnd || lx !== (y | 0x20) || lx < 0x61 || lx > 0x7a) return Check.QUESTION;
      caseOnly = true;
    }
    if (caseOnly && exactCase) return Check.CASE;
  } else {
    if (u16(m, 4) !== 1) return Check.QUESTION;
    const q = checkName(m, HEADER_LEN, len);
    if (q < 0 || q !== questionEnd - 4 || q + 4 > len) return Check.QUESTION;
  }
  if ((m[2] & OPCODE_MASK) !== 0) return Check.OPCODE;
  return checkRecords(m, questionEnd);
}

function checkRecords(m: Buffer, questionEnd: number): Check {
  const len = m.length;
  let off = questionEnd;
  let opt = false;
  for (let section = 0; section < 3; section++) {
    const count = u16(m, 6 + 2 * section);
    for (let i = 0; i < count; i++) {
      const owner = off;
      off = checkName(m, off, len);
      if (off < 0) return -off as Check;
      if (off + 10 > len) return Check.SHORT;
      const type = u16(m, off);
      const rdata = off + 10;
      const end = rdata + u16(m, off + 8);
      if (end > len) return Check.SHORT;
      if (type === TYPE.OPT) {
        if (section !== 2 || opt || m[owner] !== 0) return Check.OPT;
        opt = true;
        for (let o = rdata; o < end;) { // options: code, length, data
          if (o + 4 > end || o + 4 + u16(m, o + 2) > end) return Check.OPT;
          o += 4 + u16(m, o + 2);
        }
      } else {
        const r = checkRdata(m, type, rdata, end);
        if (r !== Check.OK) return r;
      }
      off = end;
    }
  }
  return off === len ? Check.OK : Check.TRAILING;
}
