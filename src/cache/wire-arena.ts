// Where cached answers' bytes live: slabs of their own. From Node's shared Buffer pool, a
// long-lived answer kept its whole 8 KiB pool slab alive with every short-lived buffer
// (replies, upstream queries) cut from it beside the answer: about half of each slab was
// such garbage after a fill, more under hits. Here a slab holds answers only, so it is
// freed once the answers in it are evicted or replaced, which the LRU and refreshes do in
// roughly the order they were stored.
//
// Roughly is not always: one answer kept while the others of its slab go keeps the whole
// slab. A client can arrange that on purpose (hit one name per slab, or mix one negative
// answer into each slab's positive ones while the negative store turns over slowly), and
// each answer of about 100 bytes then held 16 KiB: 20,000 of them, 300 MiB, past the pod's
// memory limit. So the arena counts the bytes of the answers the caches hold in each slab
// (held/released), and when the slabs holding them exceed twice those bytes plus
// WASTE_FLOOR, the cache moves the answers out of its sparse slabs (AnswerCache.compact).
// A moved answer gets a new view; whoever still holds the old one (a refresh's question)
// reads the old bytes, which are never written again, and keeps that slab alive until done.
import { Buffer } from 'node:buffer';

const SLAB = 16 * 1024;
/** Larger answers get a buffer of their own: a slab's tail would go to waste. */
const OWN = 2048;
/** Slabs may hold this much more than twice the answers in them before a compaction. */
export const WASTE_FLOOR = 1024 * 1024;

/** One slab and the bytes of the cached answers in it. */
export class Slab {
  used = 0;
  held = 0;
  constructor(readonly bytes: Buffer) {}
}

/** Aligned size an answer of `n` bytes takes in a slab (8-byte aligned starts). */
export const slabBytes = (n: number): number => (n + 7) & ~7;

export class WireArena {
  private slab = new Slab(Buffer.allocUnsafeSlow(SLAB));
  /** Slabs holding at least one cached answer, and the bytes of those answers. */
  slabsHeld = 0;
  bytesHeld = 0;
  /** The slab the last cut() came from; undefined when it was a buffer of its own (freed with its answer). */
  lastSlab: Slab | undefined = undefined;

  /** `n` uninitialised bytes for an answer that may live in a cache. */
  cut(n: number): Buffer {
    if (n > OWN) {
      this.lastSlab = undefined;
      return Buffer.allocUnsafeSlow(n);
    }
    let s = this.slab;
    if (s.used + n > SLAB) this.slab = s = new Slab(Buffer.allocUnsafeSlow(SLAB));
    this.lastSlab = s;
    const b = s.bytes.subarray(s.used, s.used + n);
    s.used += slabBytes(n);
    return b;
  }

  /** A cache now holds an answer of `n` bytes in `s`. */
  held(s: Slab, n: number): void {
    if (s.held === 0) this.slabsHeld++;
    const b = slabBytes(n);
    s.held += b;
    this.bytesHeld += b;
  }

  /** A cache no longer holds that answer. */
  released(s: Slab, n: number): void {
    const b = slabBytes(n);
    s.held -= b;
    this.bytesHeld -= b;
    if (s.held === 0) this.slabsHeld--;
  }

  /** Whether the slabs answers are held in are more than twice those answers and WASTE_FLOOR. */
  get wasteful(): boolean {
    return this.slabsHeld * SLAB > 2 * this.bytesHeld + WASTE_FLOOR;
  }

  /** Whether an answer in `s` should move out at a compaction: its slab is less than half held (and not the one being filled). */
  sparse(s: Slab): boolean {
    return s !== this.slab && s.held * 2 < SLAB;
  }
}

/** The process' arena: every cache of one agent stores its answers here. */
export const wireArena = new WireArena();
