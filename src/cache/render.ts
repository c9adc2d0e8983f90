// The hot path: an entry's bytes become the client's reply with a copy, the
// client's ID and name spelling, and TTLs rewritten at recorded offsets.
import { Buffer } from 'node:buffer';
import { AD, CD, HEADER_LEN, RD, TC } from '../wire/constants';
import { EDE_STALE, optLength, writeOpt, type OptExtras } from '../wire/build';
import type { Query } from '../wire/query';
import type { Entry } from './entry';
import { Rec } from './record';

export const STALE_TTL = 30; // RFC 8767 §5

/**
 * `maxSize` is what the client can take (its EDNS size over UDP, 512 without EDNS,
 * 65535 over TCP); a larger reply is cut to the whole records that fit (fitRecords).
 * `nsid` is ours, added when the client asked for it.
 */
export function render(e: Entry, query: Buffer, q: Query, now: number, maxSize: number, stale = false, nsid?: Buffer): Buffer {
  const body = e.wire.length;
  let x: OptExtras | undefined;
  let size = body;
  if (q.edns) {
    x = { nsid: q.nsid ? nsid : undefined, ede: stale ? EDE_STALE : undefined };
    size += optLength(x);
  }
  if (size > maxSize) return renderTruncated(e, query, q, now, maxSize, stale, x);
  const out = Buffer.allocUnsafe(size);
  out.set(e.wire, 0); // TypedArray set: no Buffer.copy wrapper on the hot path
  personalise(out, e, query, q, now, stale, e.ttlOffsets.length, e.nameOffsets.length);
  if (x) {
    writeOpt(out, body, q.dnssecOk, x);
    out.writeUInt16BE(e.arcount + 1, 10);
  }
  return out;
}

/**
 * The entry made this client's: its ID, RD, CD, name spelling (0x20) and class, the TTLs
 * counted down, for the first `records` records and `names` owner names.
 */
function personalise(out: Buffer, e: Entry, query: Buffer, q: Query, now: number, stale: boolean, records: number, names: number): void {
  personaliseQuestion(out, query, q);
  const qEnd = q.qnameEnd;
  const nameOffs = e.nameOffsets;
  for (let n = 0; n < names; n++) {
    for (let i = HEADER_LEN, o = nameOffs.charCodeAt(n); i < qEnd; i++, o++) out[o] = query[i];
  }
  const offs = e.ttlOffsets;
  if (stale) {
    for (let i = 0; i < records; i++) writeTtl(out, offs.charCodeAt(i), STALE_TTL);
  } else {
    const elapsed = ((now - e.storedAt) / 1000) | 0;
    const w = e.wire; // its TTL fields hold the capped TTLs (below 2^31: RFC 2181 §8)
    for (let i = 0; i < records; i++) {
      const o = offs.charCodeAt(i);
      const t = ((w[o] << 24) | (w[o + 1] << 16) | (w[o + 2] << 8) | w[o + 3]) - elapsed;
      writeTtl(out, o, t > 0 ? t : 0);
    }
  }
}

/** The client's ID, RD and CD, AD as allowed, and the question as the client spelled it. */
function personaliseQuestion(out: Buffer, query: Buffer, q: Query): void {
  out[0] = query[0];
  out[1] = query[1];
  out[2] = (out[2] & ~RD) | (query[2] & RD);
  // CD is copied from the query (RFC 4035 §3.2.2). AD is the upstream's (nodedns never
  // validates), passed on only when the query had AD or DO (RFC 6840 §5.7; RFC 4035 §3.2.3).
  out[3] = (out[3] & ~(CD | AD)) | (query[3] & CD) | (q.ad || q.dnssecOk ? out[3] & AD : 0);
  const qEnd = q.qnameEnd;
  for (let i = HEADER_LEN; i < qEnd; i++) out[i] = query[i]; // the client's own spelling (0x20)
  if (q.classAny) { out[qEnd + 2] = query[qEnd + 2]; out[qEnd + 3] = query[qEnd + 3]; } // the IN data, asked as ANY
}

/**
 * render() from an entry's record (src/cache/record.ts) at `at` of the hot index's arena `b`
 * (its float64 view `t`), as HotIndex.find left it: the same bytes render() makes from the entry, for an answer that
 * fits whole and is not stale. Undefined when it does not fit: the entry's way truncates it.
 */
export function renderRecord(b: Uint8Array, t: Float64Array, at: number, query: Buffer, q: Query, now: number, maxSize: number, nsid?: Buffer): Buffer | undefined {
  const body = b[at + Rec.WIRE_LEN] | (b[at + Rec.WIRE_LEN + 1] << 8);
  let x: OptExtras | undefined;
  let size = body;
  if (q.edns) {
    x = { nsid: q.nsid ? nsid : undefined, ede: undefined };
    size += optLength(x);
  }
  if (size > maxSize) return undefined;
  const w = at + Rec.HEADER;
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < body; i++) out[i] = b[w + i]; // ~50-150 bytes: a loop, where set() would need a view of the arena
  personaliseQuestion(out, query, q);
  let o = w + body;
  const records = b[at + Rec.TTLS];
  const elapsed = ((now - t[(at >>> 3) + Rec.STORED]) / 1000) | 0;
  for (let i = 0; i < records; i++, o += 2) {
    const p = b[o] | (b[o + 1] << 8);
    const ttl = ((out[p] << 24) | (out[p + 1] << 16) | (out[p + 2] << 8) | out[p + 3]) - elapsed;
    writeTtl(out, p, ttl > 0 ? ttl : 0);
  }
  const names = b[at + Rec.NAMES];
  const qEnd = q.qnameEnd;
  for (let n = 0; n < names; n++, o += 2) {
    for (let i = HEADER_LEN, p = b[o] | (b[o + 1] << 8); i < qEnd; i++, p++) out[p] = query[i];
  }
  if (x) {
    writeOpt(out, body, q.dnssecOk, x);
    out.writeUInt16BE(((b[w + 10] << 8) | b[w + 11]) + 1, 10);
  }
  return out;
}

/** Where record `i` of an entry ends: its TTL offset + TTL (4) + RDLENGTH (2) + RDATA. */
function recordEnd(e: Entry, i: number): number {
  const o = e.ttlOffsets.charCodeAt(i) + 4;
  return o + 2 + ((e.wire[o] << 8) | e.wire[o + 1]);
}

/**
 * A reply too large for the client: the question and as many whole records as fit, in
 * order, answers first (so authority and additional records are the first to go), and the
 * OPT record when the client sent EDNS (RFC 6891 §7). A record is never split, but an RRset
 * may be: like CoreDNS (miekg/dns Msg.Truncate), as many addresses as fit. musl up to 1.2.3
 * never retries over TCP and uses what it got (an empty TC reply left Alpine pods with "Name
 * does not resolve"); glibc, musl >= 1.2.4 and c-ares retry over TCP on TC and get the whole
 * answer, which stays whole in the cache. TC is set when an answer record is dropped, or the
 * authority of an answer with no answer records (a negative answer's SOA, RFC 2308 §5); only
 * additional records missing is no reason for TC (RFC 2181 §9).
 */
function renderTruncated(e: Entry, query: Buffer, q: Query, now: number, maxSize: number, stale: boolean, x: OptExtras | undefined): Buffer {
  const w = e.wire;
  const an = (w[6] << 8) | w[7];
  const ns = (w[8] << 8) | w[9];
  const room = maxSize - (x ? optLength(x) : 0);
  const total = e.ttlOffsets.length;
  let kept = 0;
  let cut = e.qnameEnd + 4;
  while (kept < total) {
    const end = recordEnd(e, kept);
    if (end > room) break;
    cut = end;
    kept++;
  }
  let names = 0;
  while (names < e.nameOffsets.length && e.nameOffsets.charCodeAt(names) < cut) names++;
  const out = Buffer.allocUnsafe(cut + (x ? optLength(x) : 0));
  out.set(w.subarray(0, cut), 0);
  personalise(out, e, query, q, now, stale, kept, names);
  const keptAn = Math.min(kept, an);
  const keptNs = Math.min(kept - keptAn, ns);
  const keptAr = kept - keptAn - keptNs;
  if (keptAn < an || (an === 0 && keptNs < ns)) out[2] |= TC;
  out.writeUInt16BE(keptAn, 6);
  out.writeUInt16BE(keptNs, 8);
  out.writeUInt16BE(keptAr + (x ? 1 : 0), 10);
  if (x) writeOpt(out, cut, q.dnssecOk, x);
  return out;
}

/** Offsets were checked when the entry was made: plain byte stores, no writeUInt32BE range checks. */
function writeTtl(out: Buffer, o: number, t: number): void {
  out[o] = t >>> 24;
  out[o + 1] = (t >>> 16) & 0xff;
  out[o + 2] = (t >>> 8) & 0xff;
  out[o + 3] = t & 0xff;
}
