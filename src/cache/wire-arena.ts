// Where cached answers' bytes live: slabs of their own. From Node's shared Buffer pool, a
// long-lived answer kept its whole 8 KiB pool slab alive with every short-lived buffer
// (replies, upstream queries) cut from it beside the answer: about half of each slab was
// such garbage after a fill, more under hits. Here a slab holds answers only, so it is
// freed once the answers in it are evicted or replaced, which the LRU and refreshes do in
// roughly the order they were stored.
import { Buffer } from 'node:buffer';
const SLAB = 16 * 1024;
/** Larger answers get a buffer of their own: a slab's tail would go to waste. */
const OWN = 2048;

let slab = Buffer.allocUnsafeSlow(SLAB);
let used = 0;

/** `n` uninitialised bytes for an answer that will live in the cache. */
export function arenaBytes(n: number): Buffer {
  if (n > OWN) return Buffer.allocUnsafeSlow(n);
  if (used + n > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    used = 0;
  }
  const b = slab.subarray(used, used + n);
  used += (n + 7) & ~7; // 8-byte aligned starts
  return b;
}
