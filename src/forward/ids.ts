// Query IDs and 0x20 case bits from the OS CSPRNG, drawn in batches (RFC 5452: IDs must not be guessable).
import { Buffer } from 'node:buffer';
import { randomFillSync } from 'node:crypto';

const pool = Buffer.allocUnsafe(4096);
let at = pool.length;

function take(n: number): number {
  if (at + n > pool.length) {
    randomFillSync(pool);
    at = 0;
  }
  const from = at;
  at += n;
  return from;
}

export function randomId(): number {
  const i = take(2);
  return (pool[i] << 8) | pool[i + 1];
}

/**
 * Flips the letters of the name in msg[from, to) to a random case (DNS 0x20,
 * draft-vixie-dnsext-dns0x20): a forger must now guess one bit per letter as well as the ID.
 * Label length bytes are below 64, so only letters are touched.
 */
export function randomizeCase(msg: Buffer, from: number, to: number): void {
  const i0 = take(((to - from) >> 3) + 1);
  for (let i = from; i < to; i++) {
    const c = msg[i] | 0x20;
    if (c < 0x61 || c > 0x7a) continue;
    const k = i - from;
    msg[i] = (pool[i0 + (k >> 3)] >> (k & 7)) & 1 ? c & ~0x20 : c;
  }
}
