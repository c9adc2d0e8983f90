// An entry's record in the hot index's arena (src/cache/hot-index.ts): what a cache hit reads,
// in one place, reached from the index slot in one step. A copy of the entry's hot data: the
// entry stays what everything else uses.
//
//   0  stored at (ms, float64)       8  expires at (ms, float64)
//  16  hits (float64)               24  second of the last LRU touch (float64)
//  32  wire length (u16, LE)        34  TTL offsets (u8)   35  name offsets (u8)
//  36  key flags (DO 2, CD 1)       37  negative (1) or not (0)
//  40  the entry's wire bytes, then its TTL offsets and name offsets, 2 bytes each (LE)
// A refresh makes a new entry, so a record's times never change.
import type { Entry } from './entry';

export const enum Rec {
  STORED = 0, // float64 index
  EXPIRES = 1, // float64 index
  HITS = 2, // float64 index
  USED = 3, // float64 index
  WIRE_LEN = 32,
  TTLS = 34,
  NAMES = 35,
  FLAGS = 36,
  NEGATIVE = 37,
  HEADER = 40,
  MAX_OFFSETS = 255, // counts are one byte
}

/** Bytes of e's record (8-byte multiple), or 0 when e gets none (too many offsets for a byte). */
export function recordSize(e: Entry): number {
  const ttls = e.ttlOffsets.length;
  const names = e.nameOffsets.length;
  if (ttls > Rec.MAX_OFFSETS || names > Rec.MAX_OFFSETS) return 0;
  return (Rec.HEADER + e.wire.length + 2 * (ttls + names) + 7) & ~7;
}

/** The size of the record at `at`, from its header. */
export function recordSizeAt(b: Uint8Array, at: number): number {
  return (Rec.HEADER + (b[at + Rec.WIRE_LEN] | (b[at + Rec.WIRE_LEN + 1] << 8)) + 2 * (b[at + Rec.TTLS] + b[at + Rec.NAMES]) + 7) & ~7;
}

/** Writes e's record at `at` (8-aligned) of arena `b`, whose float64 view is `t`; `flags` are its key's DO/CD, `hits` its hits so far. */
export function writeRecord(b: Uint8Array, t: Float64Array, at: number, e: Entry, flags: number, hits: number): void {
  const f = at >>> 3;
  t[f + Rec.STORED] = e.storedAt;
  t[f + Rec.EXPIRES] = e.expiresAt;
  t[f + Rec.HITS] = hits;
  t[f + Rec.USED] = -1;
  const len = e.wire.length;
  b[at + Rec.WIRE_LEN] = len & 0xff;
  b[at + Rec.WIRE_LEN + 1] = len >>> 8;
  b[at + Rec.TTLS] = e.ttlOffsets.length;
  b[at + Rec.NAMES] = e.nameOffsets.length;
  b[at + Rec.FLAGS] = flags;
  b[at + Rec.NEGATIVE] = e.negative ? 1 : 0;
  b.set(e.wire, at + Rec.HEADER);
  let o = at + Rec.HEADER + len;
  for (const offsets of [e.ttlOffsets, e.nameOffsets]) {
    for (let i = 0; i < offsets.length; i++) {
      const v = offsets.charCodeAt(i);
      b[o++] = v & 0xff;
      b[o++] = v >>> 8;
    }
  }
}
