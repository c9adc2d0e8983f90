// Raw CHAOS TXT replies: the question echoed, one TXT record per group of strings,
// each string at most 255 bytes (longer text is split over several strings).
import { Buffer } from 'node:buffer';
import { emptyReply, optLength, writeOpt, type OptExtras } from '../wire/build';
import { HEADER_LEN, QR, RA, RCODE } from '../wire/constants';
import type { Query } from '../wire/query';

export const TYPE_TXT = 16;
const MAX_STRING = 255;
/** Cap on one reply (the TCP limit, less room for the header, question and OPT). */
export const MAX_REPLY = 65000;

/** Splits text into strings of at most 255 bytes, never inside a UTF-8 sequence. */
export function txtStrings(text: string): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const out: Buffer[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = Math.min(start + MAX_STRING, bytes.length);
    while (end < bytes.length && end > start && (bytes[end] & 0xc0) === 0x80) end--; // not inside a character
    out.push(bytes.subarray(start, end));
    start = end;
  }
  return out;
}

/** One TXT record's rdata: each text becomes one or more <length><bytes> strings. */
export function txtRdata(texts: string[]): Buffer {
  const parts: Buffer[] = [];
  for (const t of texts) for (const s of txtStrings(t)) parts.push(Buffer.from([s.length]), s);
  return Buffer.concat(parts);
}

/**
 * A reply to `query` with one TXT record (class CH, TTL 0, owner = the question's name)
 * per entry of `records`. Records beyond MAX_REPLY bytes are left out and replaced by a
 * last one that says how many. A reply larger than `maxSize` is sent empty with TC set,
 * so the client retries over TCP.
 */
export function chaosTxtReply(query: Buffer, q: Query, records: string[][], maxSize: number, nsid: Buffer | undefined): Buffer {
  const rdatas: Buffer[] = [];
  let size = q.questionEnd;
  for (let i = 0; i < records.length; i++) {
    const r = txtRdata(records[i]);
    if (size + 12 + r.length > MAX_REPLY - 600) {
      rdatas.push(txtRdata([`truncated: ${records.length - i} more records left out of this reply`]));
      break;
    }
    rdatas.push(r);
    size += 12 + r.length;
  }
  const x: OptExtras | undefined = q.edns ? { nsid: q.nsid ? nsid : undefined } : undefined;
  const total = q.questionEnd + rdatas.reduce((n, r) => n + 12 + r.length, 0) + (x ? optLength(x) : 0);
  if (total > maxSize) return emptyReply(query, q, RCODE.NOERROR, { truncated: true, aa: true, nsid: x?.nsid });
  const out = Buffer.alloc(total);
  query.copy(out, 0, 0, q.questionEnd);
  out[2] = QR | (query[2] & 0x79) | 0x04; // opcode and RD from the query, AA
  out[3] = RA;
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(rdatas.length, 6);
  out.writeUInt16BE(0, 8);
  out.writeUInt16BE(x ? 1 : 0, 10);
  let off = q.questionEnd;
  for (const r of rdatas) {
    out.writeUInt16BE(0xc000 | HEADER_LEN, off); // the question's name
    out.writeUInt16BE(TYPE_TXT, off + 2);
    out.writeUInt16BE(q.qclass, off + 4);
    out.writeUInt32BE(0, off + 6); // TTL 0: the state changes
    out.writeUInt16BE(r.length, off + 10);
    r.copy(out, off + 12);
    off += 12 + r.length;
  }
  if (x) writeOpt(out, off, q.dnssecOk, x);
  return out;
}

/** NOERROR with no records (a known name, another type), or REFUSED. */
export function chaosEmptyReply(query: Buffer, q: Query, rcode: number, nsid: Buffer | undefined): Buffer {
  return emptyReply(query, q, rcode, { aa: rcode === RCODE.NOERROR, nsid: q.edns && q.nsid ? nsid : undefined });
}
