// The completed reply in raw bytes: the client's header and question, a CNAME from the asked
// name to the target, then the target's records as the cache renders them (TTLs counted
// down). The target's names may be compressed against its own message, so every name is
// written out in full; a record type whose data could hold a name nodedns does not know how
// to expand makes this give up (undefined), and the caller answers as today.
import { Buffer } from 'node:buffer';
import { HEADER_LEN, QR, RA, RD, TYPE } from '../wire/constants';
import { writeOpt } from '../wire/build';
import type { Query } from '../wire/query';

const u16 = (b: Buffer, o: number) => (b[o] << 8) | b[o + 1];

/** Copies the name at `off` of `src` into `out` at `at`, pointers followed; returns [next offset in src, next in out], or undefined. */
function copyName(src: Buffer, off: number, out: Buffer, at: number): [number, number] | undefined {
  let next = -1;
  let total = 0;
  for (let guard = 0; guard < 128; guard++) {
    if (off >= src.length) return undefined;
    const l = src[off];
    if ((l & 0xc0) === 0xc0) {
      if (off + 1 >= src.length) return undefined;
      if (next < 0) next = off + 2;
      off = ((l & 0x3f) << 8) | src[off + 1];
      continue;
    }
    if (l > 63 || off + 1 + l > src.length || (total += l + 1) > 255 || at + 1 + l > out.length) return undefined;
    src.copy(out, at, off, off + 1 + l);
    at += 1 + l;
    off += 1 + l;
    if (l === 0) return [next < 0 ? off : next, at];
  }
  return undefined;
}

/** Data layouts with names inside: [fixed bytes before the name(s), names]. */
const NAME_DATA: Record<number, [number, number]> = {
  [TYPE.CNAME]: [0, 1], [TYPE.NS]: [0, 1], [TYPE.PTR]: [0, 1], 39 /* DNAME */: [0, 1],
  [TYPE.MX]: [2, 1], [TYPE.SRV]: [6, 1], [TYPE.SOA]: [0, 2],
};
const PLAIN_DATA = new Set<number>([TYPE.A, TYPE.AAAA, TYPE.TXT]);

/** Copies `count` records from `src` at `off`; returns [src offset, out offset, smallest TTL], or undefined. */
function copyRecords(src: Buffer, off: number, count: number, out: Buffer, at: number, ttl: number): [number, number, number] | undefined {
  for (let i = 0; i < count; i++) {
    const owner = copyName(src, off, out, at);
    if (!owner || owner[0] + 10 > src.length || owner[1] + 10 > out.length) return undefined;
    [off, at] = owner;
    const type = u16(src, off);
    const rdlen = u16(src, off + 8);
    ttl = Math.min(ttl, src.readUInt32BE(off + 4));
    src.copy(out, at, off, off + 8); // type, class, TTL
    const rdlenAt = at + 8;
    at += 10;
    off += 10;
    const end = off + rdlen;
    if (end > src.length) return undefined;
    const layout = NAME_DATA[type];
    if (layout) {
      const [fixed, names] = layout;
      if (at + fixed > out.length) return undefined;
      src.copy(out, at, off, off + fixed);
      let s = off + fixed;
      let o = at + fixed;
      for (let n = 0; n < names; n++) {
        const r = copyName(src, s, out, o);
        if (!r) return undefined;
        [s, o] = r;
      }
      const tail = end - s; // SOA's five numbers
      if (tail < 0 || o + tail > out.length) return undefined;
      src.copy(out, o, s, end);
      o += tail;
      out.writeUInt16BE(o - at, rdlenAt);
      at = o;
    } else if (PLAIN_DATA.has(type)) {
      if (at + rdlen > out.length) return undefined;
      src.copy(out, at, off, end);
      out.writeUInt16BE(rdlen, rdlenAt);
      at += rdlen;
    } else {
      return undefined;
    }
    off = end;
  }
  return [off, at, ttl];
}

/**
 * `target` is the rendered reply for the target name (as render() gives it, for a plain
 * query of the same type); `ownTtl` how long the asked name's absence still holds.
 */
export function cnameReply(query: Buffer, q: Query, targetWire: Buffer, target: Buffer, ownTtl: number, maxSize: number): Buffer | undefined {
  const out = Buffer.allocUnsafe(Math.min(maxSize, 65535));
  const qEnd = q.questionEnd;
  if (qEnd + 12 + targetWire.length > out.length) return undefined;
  query.copy(out, 0, 0, qEnd);
  out[2] = QR | (query[2] & RD);
  out[3] = RA; // NOERROR
  out.writeUInt16BE(1, 4);
  // the CNAME: owner = the question name (a pointer to it), data = the target name
  let at = qEnd;
  out[at] = 0xc0;
  out[at + 1] = HEADER_LEN;
  out.writeUInt16BE(TYPE.CNAME, at + 2);
  out.writeUInt16BE(1, at + 4);
  const cnameTtlAt = at + 6;
  out.writeUInt16BE(targetWire.length, at + 10);
  targetWire.copy(out, at + 12);
  at += 12 + targetWire.length;
  // the target's question, then its answers (or, for NODATA, its authority: the SOA)
  let off = HEADER_LEN;
  const skipped = copyName(target, off, Buffer.allocUnsafe(256), 0);
  if (!skipped) return undefined;
  off = skipped[0] + 4;
  const an = u16(target, 6);
  const ns = u16(target, 8);
  const answers = copyRecords(target, off, an, out, at, ownTtl);
  if (!answers) return undefined;
  let ttl = answers[2];
  at = answers[1];
  let nscount = 0;
  if (an === 0) {
    const auth = copyRecords(target, answers[0], ns, out, at, ttl);
    if (!auth) return undefined;
    at = auth[1];
    ttl = auth[2];
    nscount = ns;
  }
  out.writeUInt32BE(ttl, cnameTtlAt);
  out.writeUInt16BE(an + 1, 6);
  out.writeUInt16BE(nscount, 8);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  if (q.edns) {
    if (at + 11 > out.length) return undefined;
    at = writeOpt(out, at, false, {});
  }
  return out.subarray(0, at);
}
