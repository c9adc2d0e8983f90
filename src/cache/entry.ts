// A cached answer: the upstream's wire bytes, normalised once when stored so that
// serving it is a copy plus a few byte writes.
import { AA, HEADER_LEN, RA, RCODE } from '../wire/constants';
import { newShape, walkResponse } from '../wire/response';
import { wireArena, type Slab, type WireArena } from './wire-arena';

export interface Entry {
  wire: Buffer; // ID 0, AA cleared, OPT removed; each record's TTL field capped (what a reply counts down from)
  qnameEnd: number;
  arcount: number;
  // Offsets (each below 65,536) as the char codes of a string: one heap object per list, where an
  // array is two (the array and its elements), so a hit reads one place fewer and an entry is
  // about 40 bytes smaller (side by side on one core: mixed 1.018, hits 1.004 of the cost).
  ttlOffsets: string; // where each record's TTL is
  nameOffsets: string; // owner names spelled out as the question name: get the client's spelling too
  ttl: number; // seconds the entry is fresh (0: serve once, never store)
  storedAt: number; // ms, wall clock (survives a restart through the cache file)
  expiresAt: number; // ms
  rcode: number;
  negative: boolean; // NXDOMAIN, NODATA or SERVFAIL: kept in the negative cache
  hits: number;
  prefetching: boolean;
  usedAt: number; // the recency tick of its last hit the LRU was told of (AnswerCache.fresh); -1: none
  key: string; // the cache key it is stored under ('' until stored)
  // Its store's recency list (src/cache/recency.ts), least recently used first; undefined at the ends and when not stored.
  older: Entry | undefined;
  newer: Entry | undefined;
  /** The arena slab `wire` is cut from, which counts it while a cache holds it; undefined: a buffer of its own. */
  slab: Slab | undefined;
}

export interface TtlPolicy {
  successCap: number;
  denialCap: number;
  servfailTtl: number;
}

/** Every shape is read before the next is walked: one set of arrays, not four objects per miss. */
const scratch = newShape();

/**
 * Builds an entry from a response whose header and question were already matched
 * against our query. Undefined when the records do not parse.
 */
export function makeEntry(response: Buffer, qnameEnd: number, policy: TtlPolicy, now: number, arena: WireArena = wireArena): Entry | undefined {
  const questionEnd = qnameEnd + 4;
  const shape = walkResponse(response, questionEnd, scratch);
  if (!shape) return undefined;
  // A buffer of its own would cost ~400 bytes more per entry; src/cache/wire-arena.ts says why not Node's pool.
  const wire = arena.cut(shape.cutAt);
  response.copy(wire, 0, 0, shape.cutAt);
  wire[0] = 0;
  wire[1] = 0;
  wire[2] &= ~AA; // a cache is not the authority
  wire[3] |= RA; // and it does recurse
  wire.writeUInt16BE(shape.keptAdditional, 10);
  let ttl = 0;
  let negative = false;
  const rcode = shape.rcode;
  if (!shape.truncated) {
    if (rcode === RCODE.NOERROR && shape.answers > 0) {
      ttl = Math.min(shape.minAnswerTtl, policy.successCap);
    } else if ((rcode === RCODE.NOERROR || rcode === RCODE.NXDOMAIN) && shape.negativeTtl >= 0) {
      ttl = Math.min(shape.negativeTtl, policy.denialCap); // RFC 2308: no SOA, no caching
      negative = true;
    } else if (rcode === RCODE.SERVFAIL) {
      ttl = policy.servfailTtl;
      negative = true;
    }
  }
  ttl = Math.floor(ttl);
  // An answer served once without being cached (truncated, no SOA, REFUSED…) gets the caps a cached one would.
  const positive = rcode === RCODE.NOERROR && shape.answers > 0;
  const cap = ttl > 0 || (positive && !shape.truncated) ? ttl : positive ? policy.successCap : policy.denialCap;
  // The capped TTLs go into the copy's TTL fields: one array fewer per entry.
  const offs = shape.ttlOffsets;
  for (let i = 0; i < shape.records; i++) wire.writeUInt32BE(Math.min(shape.ttls[i], cap), offs[i]);
  return {
    wire, qnameEnd, arcount: shape.keptAdditional, ttlOffsets: offsetString(offs, shape.records), nameOffsets: offsetString(shape.nameCopies, shape.copies), ttl, storedAt: now, expiresAt: now + ttl * 1000,
    rcode, negative, hits: 0, prefetching: false, usedAt: -1, key: '', older: undefined, newer: undefined,
    slab: arena.lastSlab,
  };
}

/** The first `n` of `offsets` (each below 65,536: offsets in one DNS message) as a string of char codes. */
function offsetString(offsets: number[], n: number): string {
  // Concatenations shorter than 13 characters are flat strings; longer ones would be trees.
  if (n > 12) return String.fromCharCode.apply(null, offsets.slice(0, n));
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(offsets[i]);
  return s;
}

/** The question bytes (name, type, class) of an entry: what a refresh asks for. */
export function entryQuestion(e: Entry): Buffer {
  return e.wire.subarray(HEADER_LEN, e.qnameEnd + 4);
}
