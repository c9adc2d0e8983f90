// Warm restart: the cache is written on a clean stop and read back at start.
// Entries are re-walked on load, so a damaged file can cost entries, never correctness.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AnswerCache } from './answer-cache';
import { makeEntry } from './entry';
import { cacheKey, keyFlags } from '../wire/query';

const MAGIC = 'nodedns-cache/1';

interface Saved {
  k: string; // key, base64 of its latin1 bytes
  w: string; // wire, base64
  q: number; // qnameEnd
  t: number; // ttl
  s: number; // storedAt (ms since epoch)
}

export function saveCache(cache: AnswerCache, path: string, now: number): number {
  const lines: string[] = [MAGIC];
  for (const [k, e] of cache.entries()) {
    if (now > e.expiresAt + cache.config.staleWindow * 1000) continue;
    const s: Saved = { k: Buffer.from(k, 'latin1').toString('base64'), w: e.wire.toString('base64'), q: e.qnameEnd, t: e.ttl, s: e.storedAt };
    lines.push(JSON.stringify(s));
  }
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, lines.join('\n') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return lines.length - 1;
}

/** Returns how many entries were loaded; logs and returns 0 for a missing or corrupt file. */
export function loadCache(cache: AnswerCache, path: string, now: number, log: Logger): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') log.info({ path }, 'no cache file yet; starting with an empty cache');
    else log.warn({ path, err: String(e) }, 'cannot read the cache file; starting with an empty cache');
    return 0;
  }
  const lines = text.split('\n');
  if (lines[0] !== MAGIC) {
    log.warn({ path }, 'the cache file is not a nodedns cache file (or from another version); ignoring it, it is rewritten at the next clean stop');
    return 0;
  }
  let loaded = 0;
  let bad = 0;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    try {
      const s = JSON.parse(line) as Saved;
      const wire = Buffer.from(s.w, 'base64');
      if (typeof s.t !== 'number' || typeof s.s !== 'number' || !(s.t > 0) || typeof s.q !== 'number' || s.q < 13 || s.q + 4 > wire.length) {
        throw new Error('bad fields');
      }
      // Re-walk the bytes; the TTL policy is the saved TTL itself.
      const e = makeEntry(wire, s.q, { successCap: s.t, denialCap: s.t, servfailTtl: Math.min(s.t, 5) }, s.s);
      if (!e || e.ttl === 0) throw new Error('bad wire');
      const key = Buffer.from(s.k, 'base64').toString('latin1');
      // The key must be this wire's own question, or a damaged file could answer one name with another's records.
      if (key !== cacheKey(wire, s.q, keyFlags(key))) throw new Error('key does not match the answer');
      e.ttl = s.t;
      e.expiresAt = s.s + s.t * 1000;
      if (now > e.expiresAt + cache.config.staleWindow * 1000) continue;
      cache.store(key, e);
      loaded++;
    } catch {
      bad++;
    }
  }
  if (bad > 0) log.warn({ path, bad, loaded }, 'skipped damaged entries in the cache file');
  log.info({ path, loaded }, 'cache restored from file');
  return loaded;
}
