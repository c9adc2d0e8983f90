// Where a cache hit finds its answer: a record of each entry (src/cache/record.ts) in one
// arena, by the hash of the entry's key, with open addressing and linear probing over flat
// arrays. A hit hashes the query's bytes (scanQueryInto), reads a slot, and checks the question
// against the record: no key string, no Map, no entry object, one place in memory. Through the
// entry, a hit went index -> entry -> wire view -> bytes, each a place the kernel's packet path
// had evicted since the last query for that name (bench/results/HISTORY.md, 2026-12-06 evening).
//
// AnswerCache's string-keyed index stays the truth; this holds a copy of what a hit needs, made
// at an entry's first hit (AnswerCache.fresh), not when it is stored: most misses store a name
// never asked again. An entry without a record here (not hit yet, too large, or no slot within
// MAX_PROBE) is served the string-keyed way, as every entry was before.
import { Buffer } from 'node:buffer';
import type { Query } from '../wire/query';
import { sameQuestion } from '../wire/response';
import type { Entry } from './entry';
import { Rec, recordSize, recordSizeAt, writeRecord } from './record';

/**
 * No probe goes further. Hashes are seeded per process (src/cache/key-hash.ts); names that
 * collide anyway cost a lookup at most this many slots, and an entry that finds no free slot
 * within it is left to the string-keyed index.
 */
export const MAX_PROBE = 16;

/** Larger answers are served the string-keyed way; with this, the arena holds at most about entries x this x 4 bytes. */
export const MAX_RECORD = 512;

const FIRST_ARENA = 64 * 1024;

export class HotIndex {
  /**
   * Two ints a slot, side by side so that a probe reads one place: the key hash, then where the
   * record is (its offset in the arena / 8, plus 1; 0 marks a free slot).
   */
  private readonly slots: Int32Array;
  private readonly owners: (Entry | undefined)[];
  private readonly mask: number;
  /** The arena and its float64 view: records are bump-allocated, and copied into a new arena when it is full. */
  bytes: Buffer;
  times: Float64Array;
  private used = 0;
  private live = 0; // bytes of records still indexed
  size = 0;

  /** Where the record the last find() matched is, and its slot. */
  at = 0;
  slot = -1;

  /** Room for `entries` at a load of at most three quarters. */
  constructor(entries: number) {
    let n = 16;
    while (n * 3 < entries * 4) n *= 2;
    this.slots = new Int32Array(2 * n);
    this.owners = new Array<Entry | undefined>(n).fill(undefined);
    this.mask = n - 1;
    this.bytes = Buffer.allocUnsafeSlow(FIRST_ARENA);
    this.times = new Float64Array(this.bytes.buffer, 0, FIRST_ARENA / 8);
  }

  /**
   * Indexes `e`, stored under e.key whose hash is `h` and whose DO/CD flags are `flags`, hit
   * `hits` times so far; false when it gets no record (too large) or no slot. What was indexed
   * under the key goes.
   */
  add(h: number, e: Entry, flags: number, hits = 0): boolean {
    const size = recordSize(e);
    if (size === 0 || size > MAX_RECORD) return false;
    const mask = this.mask;
    for (let i = h & mask, n = 0; n < MAX_PROBE; i = (i + 1) & mask, n++) {
      const old = this.owners[i];
      if (old === undefined) {
        const at = this.alloc(size);
        writeRecord(this.bytes, this.times, at, e, flags, hits);
        this.slots[2 * i] = h;
        this.slots[2 * i + 1] = (at >>> 3) + 1;
        this.owners[i] = e;
        this.size++;
        return true;
      }
      if (this.slots[2 * i] === h && old.key === e.key) {
        this.remove(h, old); // AnswerCache removes it first; this keeps one record per key regardless
        return this.add(h, e, flags, hits);
      }
    }
    return false;
  }

  /** Removes `e` (indexed under a key whose hash is `h`), if it is indexed. */
  remove(h: number, e: Entry): void {
    const mask = this.mask;
    let i = h & mask;
    for (let n = 0; ; i = (i + 1) & mask, n++) {
      if (n >= MAX_PROBE || this.owners[i] === undefined) return;
      if (this.owners[i] === e) break;
    }
    this.live -= recordSizeAt(this.bytes, (this.slots[2 * i + 1] - 1) << 3);
    this.size--;
    // Backward shift (Knuth 6.4, algorithm R): the rest of the run moves up into the hole, so
    // that no lookup stops early at it, and no slot stays a tombstone.
    for (let j = (i + 1) & mask; this.owners[j] !== undefined; j = (j + 1) & mask) {
      const home = this.slots[2 * j] & mask;
      if (i <= j ? i < home && home <= j : i < home || home <= j) continue; // home in (i, j]: it stays
      this.slots[2 * i] = this.slots[2 * j];
      this.slots[2 * i + 1] = this.slots[2 * j + 1];
      this.owners[i] = this.owners[j];
      i = j;
    }
    this.owners[i] = undefined;
    this.slots[2 * i + 1] = 0;
  }

  /**
   * Finds the fresh record for the query in `buf` (scanned OK), or returns false: then the
   * string-keyed way answers, as it does everything this does not hold. On true, `at` and
   * `slot` say where the record is in `bytes` and `times`.
   */
  find(buf: Buffer, q: Query, now: number): boolean {
    const h = q.hash;
    const mask = this.mask;
    const b = this.bytes;
    const qEnd = q.qnameEnd;
    const flags = (q.dnssecOk ? 2 : 0) | (q.cd ? 1 : 0);
    for (let i = h & mask, n = 0; n < MAX_PROBE; i = (i + 1) & mask, n++) {
      const place = this.slots[2 * i + 1];
      if (place === 0) return false;
      if (this.slots[2 * i] !== h) continue;
      const at = (place - 1) << 3;
      if (b[at + Rec.FLAGS] !== flags || !sameQuestion(buf, b, qEnd + 4, at + Rec.HEADER)) continue;
      if (this.times[(at >>> 3) + Rec.EXPIRES] <= now) return false;
      this.at = at;
      this.slot = i;
      return true;
    }
    return false;
  }

  /** The entry whose record find() matched, for the rare work that needs it (recency, refresh). */
  owner(): Entry {
    return this.owners[this.slot]!;
  }

  clear(): void {
    this.owners.fill(undefined);
    this.slots.fill(0);
    this.size = 0;
    this.used = 0;
    this.live = 0;
    if (this.bytes.length > FIRST_ARENA) this.setArena(Buffer.allocUnsafeSlow(FIRST_ARENA));
  }

  /**
   * `size` bytes at the arena's end. A full arena is first compacted: in place while at most half
   * of it is live, else into one twice as large (or more). Its length stays about two to four
   * times the most bytes its live records have held. Compacting in place at up to three quarters
   * live, for a smaller arena, measured 3 MiB more full RSS (make bench's at-rest run: 93.3-93.8
   * against 90.1-90.5 MiB).
   */
  private alloc(size: number): number {
    if (this.used + size > this.bytes.length) {
      let length = this.bytes.length;
      while ((this.live + size) * 2 > length) length *= 2;
      this.compact(length);
    }
    const at = this.used;
    this.used += size;
    this.live += size;
    return at;
  }

  /**
   * Moves the indexed records, in the order they lie, to the start of an arena of `length`
   * bytes: this one (in place: taken in address order, each record moves down, over nothing
   * still to be moved) or a larger new one.
   */
  private compact(length: number): void {
    const from = this.bytes;
    const to = length === from.length ? from : Buffer.allocUnsafeSlow(length);
    const order: number[] = [];
    for (let i = 0; i <= this.mask; i++) if (this.owners[i] !== undefined) order.push(i);
    order.sort((a, b) => this.slots[2 * a + 1] - this.slots[2 * b + 1]);
    let used = 0;
    for (const i of order) {
      const at = (this.slots[2 * i + 1] - 1) << 3;
      const size = recordSizeAt(from, at);
      if (to === from) from.copyWithin(used, at, at + size);
      else from.copy(to, used, at, at + size);
      this.slots[2 * i + 1] = (used >>> 3) + 1;
      used += size;
    }
    this.used = used;
    if (to !== from) this.setArena(to);
  }

  private setArena(b: Buffer): void {
    this.bytes = b;
    this.times = new Float64Array(b.buffer, b.byteOffset, b.length >>> 3);
  }
}
