// Query IDs from the OS CSPRNG, drawn in batches (RFC 5452: IDs must not be guessable).
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let at = pool.length;

export function randomId(): number {
  if (at + 2 > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  const id = (pool[at] << 8) | pool[at + 1];
  at += 2;
  return id;
}
