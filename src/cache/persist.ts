// Warm restart: the cache is written on a clean stop and read back at start. The file is
// untrusted input: read in bounded chunks, refused above a size the cache could hold,
// every line checksummed, every entry re-validated as an upstream reply is
// (src/wire/validate.ts), its key matched to its question, timestamps from the future
// refused and TTLs re-capped by the current configuration. A damaged entry costs that
// entry, never a wrong answer.
import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import type { Logger } from 'pino';
import type { AnswerCache } from './answer-cache';
import { makeEntry, type TtlPolicy } from './entry';
import { cacheKey, keyFlags, questionName } from '../wire/query';
import { Check, checkReply, REASONS } from '../wire/validate';

// node:zlib only where a cache file is used (--cache-file is off by default): a process
// without one never loads it.
let zlib: typeof import('node:zlib') | undefined;
const crc32 = (text: string): number => (zlib ??= require('node:zlib') as typeof import('node:zlib')).crc32(text);

const MAGIC = 'nodedns-cache/2';
/** Bytes of file per entry of capacity: a file larger than the full cache could be is refused unread. */
export const FILE_BYTES_PER_ENTRY = 4096;
/** The longest line a 64 KiB answer makes (base64 of wire and key, the JSON around them, the checksum). */
const MAX_LINE = 90_000;
const CHUNK = 1 << 20;

interface Saved {
  k: string; // key, base64 of its latin1 bytes
  w: string; // wire, base64
  q: number; // qnameEnd
  t: number; // ttl
  s: number; // storedAt (ms since epoch)
}

/** A line: the CRC-32 of the JSON (8 hex digits), a space, the JSON. */
function line(s: Saved): string {
  const json = JSON.stringify(s);
  return crc32(json).toString(16).padStart(8, '0') + ' ' + json;
}

export function saveCache(cache: AnswerCache, path: string, now: number): number {
  const lines: string[] = [MAGIC];
  for (const [k, e] of cache.entries()) {
    if (now > e.expiresAt + cache.config.staleWindow * 1000) continue;
    lines.push(line({ k: Buffer.from(k, 'latin1').toString('base64'), w: e.wire.toString('base64'), q: e.qnameEnd, t: e.ttl, s: e.storedAt }));
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

/** The TTL caps that apply to a name now (the router's policy for its zone). */
export type PolicyFor = (name: string) => TtlPolicy;

type Damage = 'checksum' | 'format' | 'key' | 'future' | 'too-long' | Exclude<(typeof REASONS)[number], 'ok'>;

/** One line to an entry in the cache, or why not; 'expired' is not damage. */
function loadLine(cache: AnswerCache, text: string, now: number, policyFor: PolicyFor): Damage | 'expired' | undefined {
  const sp = text.indexOf(' ');
  const json = text.slice(sp + 1);
  if (sp !== 8 || parseInt(text.slice(0, 8), 16) !== crc32(json)) return 'checksum';
  let s: Saved;
  try {
    s = JSON.parse(json) as Saved;
  } catch {
    return 'format';
  }
  if (typeof s.k !== 'string' || typeof s.w !== 'string' || !Number.isInteger(s.q) || !Number.isInteger(s.t) || !Number.isFinite(s.s) || s.t <= 0) return 'format';
  if (s.s > now) return 'future';
  const wire = Buffer.from(s.w, 'base64');
  if (s.q < 13 || s.q + 4 > wire.length) return 'format';
  const c = checkReply(wire, undefined, s.q + 4, false);
  if (c !== Check.OK) return REASONS[c] as Damage;
  const key = Buffer.from(s.k, 'base64').toString('latin1');
  // The key must be this wire's own question, or a damaged file could answer one name with another's records.
  if (key.length < 6 || key !== cacheKey(wire, s.q, keyFlags(key))) return 'key';
  const p = policyFor(questionName(wire, s.q));
  const e = makeEntry(wire, s.q, { successCap: Math.min(p.successCap, s.t), denialCap: Math.min(p.denialCap, s.t), servfailTtl: Math.min(p.servfailTtl, s.t) }, s.s, cache.arena);
  if (!e) return 'format';
  if (e.ttl <= 0 || now > e.expiresAt + cache.config.staleWindow * 1000) return 'expired';
  cache.store(key, e);
  return undefined;
}

/** Returns how many entries were loaded; logs and returns 0 for a missing, oversized or foreign file. */
export function loadCache(cache: AnswerCache, path: string, now: number, log: Logger, policyFor: PolicyFor): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') log.info({ path }, 'no cache file yet; starting with an empty cache');
    else log.warn({ path, err: String(e) }, 'cannot read the cache file; starting with an empty cache');
    return 0;
  }
  try {
    const capacity = cache.config.positiveSize + cache.config.negativeSize;
    const maxBytes = Math.max(capacity, 1) * FILE_BYTES_PER_ENTRY;
    const size = fstatSync(fd).size;
    if (size > maxBytes) {
      log.warn({ path, bytes: size, maxBytes }, `the cache file is larger than ${FILE_BYTES_PER_ENTRY} bytes per entry of --cache-size and --negative-cache-size; ignoring it unread (it is rewritten at the next clean stop)`);
      return 0;
    }
    return readLines(fd, size, (text, first) => {
      if (first) return text === MAGIC;
      return loadLine(cache, text, now, policyFor);
    }, path, log);
  } finally {
    closeSync(fd);
  }
}

/** Streams the file line by line: memory is one chunk and one line, whatever the file holds. */
function readLines(fd: number, size: number, each: (text: string, first: boolean) => boolean | Damage | 'expired' | undefined, path: string, log: Logger): number {
  const chunk = Buffer.allocUnsafe(CHUNK);
  let carry = '';
  let skipping = false; // inside a line longer than MAX_LINE
  let first = true;
  let loaded = 0;
  const damaged: Partial<Record<Damage, number>> = {};
  let read = 0;
  const take = (text: string): boolean => {
    const r = each(text, first);
    if (first) {
      first = false;
      if (r !== true) {
        log.warn({ path }, 'the cache file is not a nodedns cache file (or from another version); ignoring it, it is rewritten at the next clean stop');
        return false;
      }
      return true;
    }
    if (r === undefined) loaded++;
    else if (r !== 'expired' && typeof r === 'string') damaged[r] = (damaged[r] ?? 0) + 1;
    return true;
  };
  while (read < size) {
    const n = readSync(fd, chunk, 0, Math.min(CHUNK, size - read), read);
    if (n <= 0) break;
    read += n;
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      const end = nl < 0 || nl >= n ? n : nl;
      if (!skipping) {
        if (carry.length + (end - from) > MAX_LINE) {
          skipping = true;
          carry = '';
          damaged['too-long'] = (damaged['too-long'] ?? 0) + 1;
        } else {
          carry += chunk.toString('latin1', from, end);
        }
      }
      if (end === n) break;
      if (!skipping && carry !== '' && !take(carry)) return 0;
      carry = '';
      skipping = false;
      from = end + 1;
    }
  }
  if (!skipping && carry !== '' && !take(carry)) return 0;
  if (first) log.warn({ path }, 'the cache file is empty; starting with an empty cache');
  const bad = Object.values(damaged).reduce((a, b) => a + b, 0);
  if (bad > 0) log.warn({ path, bad, loaded, damaged }, 'skipped damaged entries in the cache file; each cost only itself');
  log.info({ path, loaded }, 'cache restored from file');
  return loaded;
}
