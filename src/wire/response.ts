// One pass over an upstream's response: validate its shape, find every TTL and
// the negative-caching TTL, and where the (hop-by-hop) OPT record sits.
import { HEADER_LEN, RCODE_MASK, TC, TYPE } from './constants';

export interface ResponseShape {
  rcode: number; // with the EDNS extended bits
  truncated: boolean;
  answers: number;
  // The lists are filled from index 0 up to their count: a reused shape keeps its arrays' room.
  records: number; // records with a TTL, OPT excluded
  ttlOffsets: number[]; // offset of each one's TTL
  ttls: number[];
  minAnswerTtl: number; // -1 without answers
  negativeTtl: number; // min(SOA TTL, SOA MINIMUM) from the authority section, -1 without SOA
  nameCopies: number[]; // owner names written out in full as the question name (not compressed)
  copies: number; // how many of nameCopies are this response's
  cutAt: number; // where the OPT record starts (everything from here is dropped), or length
  keptAdditional: number; // additional records before the OPT
}

/** Offset just past a (possibly compressed) name, or -1 when it runs out of the buffer. */
export function skipName(buf: Buffer, off: number): number {
  for (let guard = 0; guard < 128; guard++) {
    if (off >= buf.length) return -1;
    const l = buf[off];
    if (l === 0) return off + 1;
    if ((l & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (l > 63) return -1;
    off += l + 1;
  }
  return -1;
}

const u16 = (b: Buffer, o: number) => (b[o] << 8) | b[o + 1];
const u32 = (b: Buffer, o: number) => b.readUInt32BE(o);

/** RFC 2181 §8: a TTL with the top bit set is read as zero. */
const ttlValue = (v: number) => (v > 0x7fffffff ? 0 : v);

/** A shape to fill (walkResponse): the cache reuses one, as it reads each shape at once. */
export function newShape(): ResponseShape {
  return { rcode: 0, truncated: false, answers: 0, records: 0, ttlOffsets: [], ttls: [], minAnswerTtl: -1, negativeTtl: -1, nameCopies: [], copies: 0, cutAt: 0, keptAdditional: 0 };
}

/**
 * Walks a response whose question was already checked into `shape` (its fields all set
 * anew); undefined when malformed.
 */
export function walkResponse(buf: Buffer, questionEnd: number, shape = newShape()): ResponseShape | undefined {
  if (buf.length < HEADER_LEN) return undefined;
  const counts0 = u16(buf, 6);
  const counts2 = u16(buf, 10);
  shape.rcode = buf[3] & RCODE_MASK;
  shape.truncated = (buf[2] & TC) !== 0;
  shape.answers = counts0;
  shape.records = 0;
  shape.minAnswerTtl = -1;
  shape.negativeTtl = -1;
  shape.copies = 0;
  shape.cutAt = buf.length;
  shape.keptAdditional = counts2;
  let off = questionEnd;
  for (let section = 0; section < 3; section++) {
    const count = section === 0 ? counts0 : section === 1 ? u16(buf, 8) : counts2;
    for (let i = 0; i < count; i++) {
      const start = off;
      off = skipName(buf, off);
      if (off - start === questionEnd - 4 - HEADER_LEN && buf[off - 1] === 0 && sameName(buf, start, questionEnd - 4 - HEADER_LEN)) {
        shape.nameCopies[shape.copies++] = start;
      }
      if (off < 0 || off + 10 > buf.length) return undefined;
      const type = u16(buf, off);
      const rdlen = u16(buf, off + 8);
      const rdata = off + 10;
      if (rdata + rdlen > buf.length) return undefined;
      if (type === TYPE.OPT) {
        if (section !== 2 || shape.cutAt !== buf.length) return undefined;
        shape.rcode |= buf[off + 4] << 4;
        shape.cutAt = start;
        shape.keptAdditional = i;
      } else if (shape.cutAt === buf.length) {
        const ttl = ttlValue(u32(buf, off + 4));
        shape.ttlOffsets[shape.records] = off + 4;
        shape.ttls[shape.records++] = ttl;
        if (section === 0) {
          shape.minAnswerTtl = shape.minAnswerTtl < 0 ? ttl : Math.min(shape.minAnswerTtl, ttl);
        } else if (section === 1 && type === TYPE.SOA && rdlen >= 22) {
          // SOA rdata ends with serial, refresh, retry, expire, minimum
          const neg = Math.min(ttl, ttlValue(u32(buf, rdata + rdlen - 4)));
          shape.negativeTtl = shape.negativeTtl < 0 ? neg : Math.min(shape.negativeTtl, neg);
        }
      }
      off = rdata + rdlen;
    }
  }
  if (off !== buf.length) return undefined;
  return shape;
}

/** Whether the literal name at `at` is the question name, ignoring case. */
function sameName(buf: Buffer, at: number, len: number): boolean {
  for (let i = 0; i < len; i++) {
    let x = buf[at + i];
    let y = buf[HEADER_LEN + i];
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/**
 * Same question in message `a` and the message at `bAt` of `b` (a cache record, src/cache/hot-index.ts):
 * the name compared without case, type and class exactly.
 */
export function sameQuestion(a: Buffer, b: Buffer, questionEnd: number, bAt = 0): boolean {
  if (b.length < bAt + questionEnd || u16(b, bAt + 4) !== 1) return false;
  const nameEnd = questionEnd - 4;
  for (let i = HEADER_LEN; i < nameEnd; i++) {
    let x = a[i];
    let y = b[bAt + i];
    if (x !== y) {
      if (x >= 0x41 && x <= 0x5a) x |= 0x20;
      if (y >= 0x41 && y <= 0x5a) y |= 0x20;
      if (x !== y) return false;
    }
  }
  for (let i = nameEnd; i < questionEnd; i++) if (a[i] !== b[bAt + i]) return false;
  return true;
}
