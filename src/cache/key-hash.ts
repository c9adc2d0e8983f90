// A seeded 32-bit hash of a cache key, computed the same from the key string (when an answer
// is stored) and from a query's bytes (when it arrives, without building the string).
import { randomBytes } from 'node:crypto';

// Per process: names chosen to collide cannot be computed from outside (src/cache/hot-index.ts
// bounds what a collision costs anyway).
const SEED = randomBytes(4).readInt32LE(0);

/** FNV-1a from a random start: hashStart, then hashStep per key byte, then hashEnd. */
export function hashStart(): number {
  return SEED ^ 0x811c9dc5;
}

export function hashStep(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193);
}

/** murmur3's fmix32: the low bits, which choose the slot, depend on every byte. */
export function hashEnd(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** The hash of a cache key (src/wire/query.ts cacheKey), as scanQueryInto computes it from the query. */
export function keyHash(key: string): number {
  let h = hashStart();
  for (let i = 0; i < key.length; i++) h = hashStep(h, key.charCodeAt(i));
  return hashEnd(h);
}
