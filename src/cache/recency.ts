// One store's entries from least to most recently used: a list through the entries themselves
// (Entry.older, Entry.newer). A store, an eviction and a hit's recency cost a few field writes
// and no lookup: AnswerCache's one index of every entry is the only map, where lru-cache kept
// a map of its own per store, probed again on every set, delete and touch (docs/cache.md).
import type { Entry } from './entry';

export class Recency {
  /** The least recently used: evicted first. */
  oldest: Entry | undefined = undefined;
  newest: Entry | undefined = undefined;
  size = 0;

  constructor(readonly max: number) {}

  get full(): boolean {
    return this.size >= this.max;
  }

  /** Adds `e` (in no list) as the most recently used. */
  push(e: Entry): void {
    const last = this.newest;
    e.older = last;
    e.newer = undefined;
    if (last === undefined) this.oldest = e;
    else last.newer = e;
    this.newest = e;
    this.size++;
  }

  /** Takes `e`, which is in this list, out of it. */
  unlink(e: Entry): void {
    const { older, newer } = e;
    if (older === undefined) this.oldest = newer;
    else older.newer = newer;
    if (newer === undefined) this.newest = older;
    else newer.older = older;
    e.older = undefined;
    e.newer = undefined;
    this.size--;
  }

  /** `e`, in this list, becomes the most recently used. */
  touch(e: Entry): void {
    if (this.newest === e) return;
    this.unlink(e);
    this.push(e);
  }

  /** Empties the list, unlinking every entry so that none keeps the others alive. */
  clear(): void {
    for (let e = this.oldest; e !== undefined;) {
      const next = e.newer;
      e.older = undefined;
      e.newer = undefined;
      e = next;
    }
    this.oldest = undefined;
    this.newest = undefined;
    this.size = 0;
  }

  /** From least to most recently used. */
  *entries(): Generator<Entry> {
    for (let e = this.oldest; e !== undefined; e = e.newer) yield e;
  }
}
