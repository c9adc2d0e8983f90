// The hot path: an entry's bytes become the client's reply with a copy, the
// client's ID and name spelling, and TTLs rewritten at recorded offsets.
import { HEADER_LEN, RD } from '../wire/constants';
import { EDE_STALE, emptyReply, optLength, writeOpt, type OptExtras } from '../wire/build';
import type { Query } from '../wire/query';
import type { Entry } from './entry';

export const STALE_TTL = 30; // RFC 8767 §5

/**
 * `maxSize` is what the client can take (its EDNS size over UDP, 512 without EDNS,
 * 65535 over TCP); a larger reply becomes an empty truncated one. `nsid` is ours,
 * added when the client asked for it.
 */
export function render(e: Entry, query: Buffer, q: Query, now: number, maxSize: number, stale = false, nsid?: Buffer): Buffer {
  const body = e.wire.length;
  let x: OptExtras | undefined;
  let size = body;
  if (q.edns) {
    x = { nsid: q.nsid ? nsid : undefined, ede: stale ? EDE_STALE : undefined };
    size += optLength(x);
  }
  if (size > maxSize) return emptyReply(query, q, e.rcode, { truncated: true, nsid: x?.nsid });
  const out = Buffer.allocUnsafe(size);
  out.set(e.wire, 0); // TypedArray set: no Buffer.copy wrapper on the hot path
  out[0] = query[0];
  out[1] = query[1];
  out[2] = (out[2] & ~RD) | (query[2] & RD);
  const qEnd = q.qnameEnd;
  for (let i = HEADER_LEN; i < qEnd; i++) out[i] = query[i]; // the client's own spelling (0x20)
  const names = e.nameOffsets;
  for (let n = 0; n < names.length; n++) {
    for (let i = HEADER_LEN, o = names[n]; i < qEnd; i++, o++) out[o] = query[i];
  }
  const offs = e.ttlOffsets;
  const ttls = e.ttls;
  if (stale) {
    for (let i = 0; i < offs.length; i++) writeTtl(out, offs[i], STALE_TTL);
  } else {
    const elapsed = ((now - e.storedAt) / 1000) | 0;
    for (let i = 0; i < offs.length; i++) {
      const t = ttls[i] - elapsed;
      writeTtl(out, offs[i], t > 0 ? t : 0);
    }
  }
  if (x) {
    writeOpt(out, body, q.dnssecOk, x);
    out.writeUInt16BE(e.arcount + 1, 10);
  }
  return out;
}

/** Offsets were checked when the entry was made: plain byte stores, no writeUInt32BE range checks. */
function writeTtl(out: Buffer, o: number, t: number): void {
  out[o] = t >>> 24;
  out[o + 1] = (t >>> 16) & 0xff;
  out[o + 2] = (t >>> 8) & 0xff;
  out[o + 3] = t & 0xff;
}
