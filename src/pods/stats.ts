// Per-pod counters and the names a pod asks most, in bounded memory: the top names are
// kept with the space-saving algorithm (Metwally et al.), `capacity` slots per pod. A
// name that enters when the slots are full takes the place of the least counted one and
// inherits its count as the error bound, so a storm from one pod never grows the table.
import { RCODE } from '../wire/constants';

export interface TopName {
  key: string; // a cache key (lower-case wire name, type, class, flags)
  count: number;
  error: number; // count may be over by at most this much
}

/** How long and how many of a pod's empty search paths are remembered (a lookup takes milliseconds; a retry seconds). */
const EXHAUSTED_MS = 30_000;
const EXHAUSTED_MAX = 64;

export class PodCounters {
  queries = 0;
  nxdomain = 0;
  servfail = 0;
  completions = 0;
  /** search paths being walked for this pod right now */
  walking = 0;
  private readonly slots = new Map<string, TopName>();
  /** names whose whole search path was NXDOMAIN lately, with when that stops mattering (ms) */
  private readonly exhausted = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  /** One answered query: its key and the rcode the client got. */
  answered(key: string, rcode: number): void {
    this.queries++;
    if (rcode === RCODE.NXDOMAIN) this.nxdomain++;
    else if (rcode === RCODE.SERVFAIL) this.servfail++;
    if (this.capacity === 0) return;
    const s = this.slots.get(key);
    if (s !== undefined) { s.count++; return; }
    if (this.slots.size < this.capacity) { this.slots.set(key, { key, count: 1, error: 0 }); return; }
    let min: TopName | undefined;
    for (const t of this.slots.values()) if (min === undefined || t.count < min.count) min = t;
    this.slots.delete(min!.key);
    this.slots.set(key, { key, count: min!.count + 1, error: min!.count });
  }

  /**
   * After a path of `typed` came out empty, the pod asks `typed` itself last (when it has fewer
   * dots than ndots). That query must get its own answer, not be completed as the first search
   * name of a shorter name: remember it for a while (bounded).
   */
  noteExhausted(typed: string, now: number): void {
    if (this.exhausted.size >= EXHAUSTED_MAX) {
      for (const [k, until] of this.exhausted) if (until <= now || this.exhausted.size >= EXHAUSTED_MAX) this.exhausted.delete(k);
    }
    this.exhausted.set(typed, now + EXHAUSTED_MS);
  }

  wasExhausted(name: string, now: number): boolean {
    const until = this.exhausted.get(name);
    return until !== undefined && until > now;
  }

  top(n: number): TopName[] {
    return [...this.slots.values()].sort((a, b) => b.count - a.count).slice(0, n).map((t) => ({ ...t }));
  }

  get tracked(): number {
    return this.slots.size;
  }
}

const TYPES: Record<number, string> = { 1: 'A', 28: 'AAAA', 5: 'CNAME', 33: 'SRV', 12: 'PTR', 16: 'TXT', 15: 'MX', 65: 'HTTPS', 64: 'SVCB', 6: 'SOA', 2: 'NS' };

/** A cache key as "name. TYPE" for people. */
export function keyName(key: string): string {
  let out = '';
  let off = 0;
  while (off < key.length) {
    const len = key.charCodeAt(off);
    if (len === 0) break;
    out += key.slice(off + 1, off + 1 + len) + '.';
    off += len + 1;
  }
  const type = (key.charCodeAt(off + 1) << 8) | key.charCodeAt(off + 2);
  return `${out || '.'} ${TYPES[type] ?? `TYPE${type}`}`;
}
