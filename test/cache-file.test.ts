// The warm-restart file reader (src/cache/persist.ts): lines across its 1 MiB chunks,
// lines too long to hold, and the checksum in front of each line.
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { AnswerCache } from '../src/cache/answer-cache';
import { makeEntry } from '../src/cache/entry';
import { loadCache, saveCache } from '../src/cache/persist';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { scanQuery } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';

const POLICY = { successCap: 300, denialCap: 30, servfailTtl: 5 };
const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'nodedns-cache-file-'));

function fill(c: AnswerCache, n: number, now: number, txtBytes = 200): void {
  for (let i = 0; i < n; i++) {
    const name = `e${i}.file.test`;
    const q = buildQuery(name, 'TXT', { id: 0 });
    const r = dnsPacket.encode({ type: 'response', id: 0, flags: 0x8180, questions: [{ name, type: 'TXT', class: 'IN' }],
      answers: [{ name, type: 'TXT', ttl: 300, data: 'x'.repeat(txtBytes) }] });
    c.store(scanQuery(q).key, makeEntry(r, 12 + name.length + 2, POLICY, now)!);
  }
}

describe('cache file reader', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = { ...defaults({}).cache, positiveSize: 20_000 };

  it('reads lines that cross its 1 MiB chunks', () => {
    const now = Date.now();
    const c = new AnswerCache(cfg, new Stats());
    fill(c, 8000, now); // about 3.5 MB of lines
    const file = join(dir, 'big');
    assert.equal(saveCache(c, file, now), 8000);
    assert.ok(readFileSync(file).length > 3 * (1 << 20));
    const d = new AnswerCache(cfg, new Stats());
    assert.equal(loadCache(d, file, now, log, () => POLICY), 8000);
  });

  it('skips a line too long to be an answer, and a line whose checksum does not match, and keeps the rest', () => {
    const now = Date.now();
    const c = new AnswerCache(cfg, new Stats());
    fill(c, 3, now);
    const file = join(dir, 'long');
    saveCache(c, file, now);
    const [magic, a, b, d] = readFileSync(file, 'utf8').trim().split('\n');
    const flipped = b.slice(0, 20) + (b[20] === 'A' ? 'B' : 'A') + b.slice(21);
    writeFileSync(file, [magic, a, 'x'.repeat(3 << 20), flipped, d].join('\n') + '\n');
    const e = new AnswerCache(cfg, new Stats());
    assert.equal(loadCache(e, file, now, log, () => POLICY), 2);
  });

  it('refuses the whole file above 4096 bytes per entry of capacity, unread', () => {
    const now = Date.now();
    const small = { ...cfg, positiveSize: 2, negativeSize: 0 };
    const c = new AnswerCache(cfg, new Stats());
    fill(c, 3, now, 4000);
    const file = join(dir, 'over');
    saveCache(c, file, now);
    assert.ok(readFileSync(file).length > 2 * 4096);
    assert.equal(loadCache(new AnswerCache(small, new Stats()), file, now, log, () => POLICY), 0);
  });
});
