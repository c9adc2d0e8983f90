// One pass over a client's query: validate it, find the question, the EDNS
// options and hash the cache key, without allocating a decoded message.
import { Buffer } from 'node:buffer';
import { AD, CD, CLASS, EDNS_DO, HEADER_LEN, OPCODE_MASK, OPT_NSID, QR, RCODE, TYPE } from './constants';
import { hashEnd, hashStart, hashStep } from '../cache/key-hash';
import { isLocalReverse, nameAt } from './local-zones';

export const enum Verdict {
  OK = 0,
  DROP = 1, // not even a readable query header, or a response: never answer
  FORMERR = 2,
  NOTIMP = 3,
  BADVERS = 4,
}

export const enum Special {
  NONE = 0,
  LOCALHOST = 1, // localhost. and below (RFC 6761)
  INVALID = 2, // invalid. and below
  REVERSE = 3, // a locally served reverse zone (RFC 6303 §4, the cluster-safe ones: src/wire/local-zones.ts)
}

export interface Query {
  verdict: Verdict;
  id: number;
  qnameEnd: number; // offset just past the name's root label
  questionEnd: number; // offset just past qtype/qclass (0 when unreadable)
  qtype: number;
  qclass: number;
  rd: boolean;
  cd: boolean;
  ad: boolean; // the client asked for AD without DO (RFC 6840 §5.7)
  classAny: boolean; // QCLASS ANY (255): answered with the IN data, as Unbound does; key and upstream use IN
  edns: boolean;
  udpSize: number; // what the client can take over UDP (512 without EDNS)
  dnssecOk: boolean;
  nsid: boolean; // client asked for the name server ID (RFC 5001)
  special: Special;
  key: string; // lower-cased name + type + class + DO/CD: built by queryKey when needed ('' until then)
  hash: number; // keyHash of the key (src/cache/key-hash.ts), from the query's bytes; 0 unless verdict OK
}

// Scratch space for building keys: a name is at most 255 bytes.
const scratch = Buffer.allocUnsafe(512);

function fail(q: Query, verdict: Verdict): Query {
  q.verdict = verdict;
  return q;
}

const LOCALHOST = Buffer.from('localhost');
const INVALID = Buffer.from('invalid');
const ARPA = Buffer.from('arpa');

function labelIs(buf: Buffer, start: number, len: number, word: Buffer): boolean {
  if (len !== word.length) return false;
  for (let i = 0; i < len; i++) if ((buf[start + i] | 0x20) !== word[i]) return false;
  return true;
}

export function newQuery(): Query {
  return {
    verdict: Verdict.OK, id: 0, qnameEnd: 0, questionEnd: 0, qtype: 0, qclass: 0, rd: false, cd: false, ad: false, classAny: false,
    edns: false, udpSize: 512, dnssecOk: false, nsid: false, special: Special.NONE, key: '', hash: 0,
  };
}

/** Scans a query, its key string built. */
export function scanQuery(buf: Buffer): Query {
  const q = scanQueryInto(buf, newQuery());
  if (q.verdict === Verdict.OK) queryKey(buf, q);
  return q;
}

/**
 * scanQuery into an object the caller reuses, without the key string: a cache hit finds its
 * answer by q.hash (src/cache/hot-index.ts), and the string is built only when something
 * needs it (queryKey).
 */
export function scanQueryInto(buf: Buffer, q: Query): Query {
  q.verdict = Verdict.OK; q.id = 0; q.qnameEnd = 0; q.questionEnd = 0; q.qtype = 0; q.qclass = 0; q.rd = false; q.cd = false;
  q.ad = false; q.classAny = false;
  q.edns = false; q.udpSize = 512; q.dnssecOk = false; q.nsid = false; q.special = Special.NONE; q.key = ''; q.hash = 0;
  const len = buf.length;
  if (len < HEADER_LEN) return fail(q, Verdict.DROP);
  const b2 = buf[2];
  if (b2 & QR) return fail(q, Verdict.DROP);
  q.id = (buf[0] << 8) | buf[1];
  q.rd = (b2 & 1) === 1;
  q.cd = (buf[3] & CD) !== 0;
  q.ad = (buf[3] & AD) !== 0;
  const qd = (buf[4] << 8) | buf[5];
  const an = (buf[6] << 8) | buf[7];
  const ns = (buf[8] << 8) | buf[9];
  const ar = (buf[10] << 8) | buf[11];
  // Read the question first so that even NOTIMP and FORMERR replies can echo it.
  let off = HEADER_LEN;
  if (qd === 1) {
    let lastLabel = -1;
    let lastLen = 0;
    let nameLen = 1;
    for (;;) {
      if (off >= len) return fail(q, Verdict.FORMERR);
      const l = buf[off];
      if (l === 0) { off++; break; }
      if (l > 63) return fail(q, Verdict.FORMERR); // compression or extended labels have no place here
      nameLen += l + 1;
      if (nameLen > 255 || off + 1 + l > len) return fail(q, Verdict.FORMERR);
      lastLabel = off + 1;
      lastLen = l;
      off += l + 1;
    }
    if (off + 4 > len) return fail(q, Verdict.FORMERR);
    q.qnameEnd = off;
    q.qtype = (buf[off] << 8) | buf[off + 1];
    q.qclass = (buf[off + 2] << 8) | buf[off + 3];
    off += 4;
    q.questionEnd = off;
    if (lastLabel >= 0) {
      if (labelIs(buf, lastLabel, lastLen, LOCALHOST)) q.special = Special.LOCALHOST;
      else if (labelIs(buf, lastLabel, lastLen, INVALID)) q.special = Special.INVALID;
      else if (labelIs(buf, lastLabel, lastLen, ARPA) && isLocalReverse(buf, off - 4)) q.special = Special.REVERSE;
    }
  } else if (qd !== 0) {
    return fail(q, (b2 & OPCODE_MASK) !== 0 ? Verdict.NOTIMP : Verdict.FORMERR); // cannot find the OPT behind 2+ questions
  }
  // The OPT record is read before any other verdict, so that NOTIMP and FORMERR replies to an
  // EDNS query carry one too (RFC 6891 §7). With records in the answer or authority section the
  // additional section cannot be found without walking them: that query is FORMERR without OPT.
  if (an !== 0 || ns !== 0) return fail(q, (b2 & OPCODE_MASK) !== 0 ? Verdict.NOTIMP : Verdict.FORMERR);
  const ednsVerdict = scanAdditional(buf, off, ar, q);
  if (ednsVerdict !== Verdict.OK) return fail(q, ednsVerdict);
  if ((b2 & OPCODE_MASK) !== 0) return fail(q, Verdict.NOTIMP);
  if (qd !== 1) return fail(q, Verdict.FORMERR);
  if (q.qtype === TYPE.AXFR || q.qtype === TYPE.IXFR || q.qtype === TYPE.OPT) return fail(q, Verdict.NOTIMP);
  // QCLASS ANY shares the IN entry: the data is the same, and render() writes the client's class back.
  q.classAny = q.qclass === CLASS.ANY;
  // the key's bytes, hashed as they are read: the name lower-cased, type, class (IN for ANY), DO/CD
  const qEnd = q.qnameEnd;
  let h = hashStart();
  for (let i = HEADER_LEN; i < qEnd; i++) {
    const c = buf[i];
    h = hashStep(h, c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
  }
  h = hashStep(hashStep(h, buf[qEnd]), buf[qEnd + 1]);
  h = q.classAny ? hashStep(hashStep(h, 0), CLASS.IN) : hashStep(hashStep(h, buf[qEnd + 2]), buf[qEnd + 3]);
  q.hash = hashEnd(hashStep(h, 0x40 | (q.dnssecOk ? 2 : 0) | (q.cd ? 1 : 0)));
  return q;
}

/** The key string of a query scanned OK from `buf`, built once and kept in q.key. */
export function queryKey(buf: Buffer, q: Query): string {
  if (q.key === '') q.key = cacheKey(buf, q.qnameEnd, (q.dnssecOk ? 2 : 0) | (q.cd ? 1 : 0), q.classAny);
  return q.key;
}

/**
 * The additional section: at most one OPT; other records (TSIG, …) are not for a cache.
 * Sets the EDNS fields of `q`; OK, FORMERR or BADVERS.
 */
function scanAdditional(buf: Buffer, off: number, ar: number, q: Query): Verdict {
  const len = buf.length;
  for (let i = 0; i < ar; i++) {
    if (off >= len) return Verdict.FORMERR;
    if (buf[off] !== 0) return Verdict.FORMERR; // OPT owner is the root; we take nothing else
    if (off + 11 > len) return Verdict.FORMERR;
    const type = (buf[off + 1] << 8) | buf[off + 2];
    if (type !== TYPE.OPT || q.edns) return Verdict.FORMERR;
    q.edns = true;
    const size = (buf[off + 3] << 8) | buf[off + 4];
    q.udpSize = size < 512 ? 512 : size;
    const version = buf[off + 6];
    q.dnssecOk = (((buf[off + 7] << 8) | buf[off + 8]) & EDNS_DO) !== 0;
    const rdlen = (buf[off + 9] << 8) | buf[off + 10];
    let o = off + 11;
    const end = o + rdlen;
    if (end > len) return Verdict.FORMERR;
    while (o < end) {
      if (o + 4 > end) return Verdict.FORMERR;
      const code = (buf[o] << 8) | buf[o + 1];
      const olen = (buf[o + 2] << 8) | buf[o + 3];
      if (o + 4 + olen > end) return Verdict.FORMERR;
      if (code === OPT_NSID) q.nsid = true;
      o += 4 + olen;
    }
    off = end;
    if (version !== 0) return Verdict.BADVERS;
  }
  return off === len ? Verdict.OK : Verdict.FORMERR; // trailing bytes
}

/**
 * The cache key: the question with the name lower-cased (label length bytes are
 * below 64, so only letters fall in 'A'..'Z'), then one byte for DO (2) and CD (1).
 */
export function cacheKey(buf: Buffer, qnameEnd: number, doCd: number, classIn = false): string {
  // One JS loop copies and lower-cases: cheaper than Buffer.copy's wrapper for ~30 bytes.
  let j = 0;
  for (let i = HEADER_LEN; i < qnameEnd; i++, j++) {
    const c = buf[i];
    scratch[j] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  }
  scratch[j] = buf[qnameEnd];
  scratch[j + 1] = buf[qnameEnd + 1];
  scratch[j + 2] = buf[qnameEnd + 2];
  scratch[j + 3] = buf[qnameEnd + 3];
  if (classIn) { scratch[j + 2] = 0; scratch[j + 3] = CLASS.IN; }
  scratch[j + 4] = 0x40 | doCd;
  return (scratch as Latin1Buffer).latin1Slice(0, j + 5);
}

/** Node's own Buffer method, called directly to skip toString()'s argument checks. */
interface Latin1Buffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

/** DO and CD as stored in the last byte of a key. */
export function keyFlags(key: string): number {
  return key.charCodeAt(key.length - 1) & 3;
}

/** The question name as text, lower-case, without the trailing dot ('' for the root). */
export const questionName = nameAt;

export function rcodeForVerdict(v: Verdict): number {
  switch (v) {
    case Verdict.FORMERR: return RCODE.FORMERR;
    case Verdict.NOTIMP: return RCODE.NOTIMP;
    case Verdict.BADVERS: return RCODE.BADVERS;
    default: return RCODE.SERVFAIL;
  }
}

