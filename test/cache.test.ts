import { crc32 } from 'node:zlib';
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { AnswerCache, RECENCY_MS } from '../src/cache/answer-cache';
import { makeEntry } from '../src/cache/entry';
import { RefreshQueue, refreshTime, RETRY_MS } from '../src/cache/refresh-queue';
import { loadCache, saveCache } from '../src/cache/persist';
import { render, STALE_TTL } from '../src/cache/render';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { scanQuery } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';

const query = (name: string, type = 'A', o: { id?: number; edns?: boolean } = {}) => buildQuery(name, type, { id: o.id ?? 1, edns: o.edns ? 1232 : undefined });

const POLICY = { successCap: 30, denialCap: 5, servfailTtl: 5 };
const SOA = (ttl: number, minimum: number) => ({ name: 'example', type: 'SOA' as const, ttl, class: 'IN' as const,
  data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum } });

function response(name: string, opts: { rcode?: number; answers?: dnsPacket.Answer[]; soa?: boolean; tc?: boolean; type?: string } = {}): Buffer {
  return dnsPacket.encode({
    type: 'response', id: 99, flags: dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER | (opts.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | (opts.rcode ?? 0),
    questions: [{ name, type: (opts.type ?? 'A') as dnsPacket.RecordType, class: 'IN' }],
    answers: opts.answers ?? [], authorities: opts.soa ? [SOA(600, 300)] : [],
  });
}
const qnameEnd = (name: string) => 12 + name.length + 2;
const A = (name: string, ttl: number, ip = '192.0.2.1'): dnsPacket.Answer => ({ name, type: 'A', class: 'IN', ttl, data: ip });

describe('cache entries', () => {
  it('positive TTL is the smallest answer TTL, capped', () => {
    const e = makeEntry(response('a.example', { answers: [A('a.example', 300), A('a.example', 120, '192.0.2.2')] }), qnameEnd('a.example'), { ...POLICY, successCap: 3600 }, 0)!;
    assert.equal(e.ttl, 120);
    assert.equal(e.negative, false);
    const capped = makeEntry(response('a.example', { answers: [A('a.example', 300)] }), qnameEnd('a.example'), POLICY, 0)!;
    assert.equal(capped.ttl, 30);
  });

  it('negative answers are cached from the SOA, capped, and not at all without one', () => {
    const nx = makeEntry(response('nx.example', { rcode: 3, soa: true }), qnameEnd('nx.example'), { ...POLICY, denialCap: 3600 }, 0)!;
    assert.equal(nx.ttl, 300);
    assert.equal(nx.negative, true);
    const nodata = makeEntry(response('a.example', { soa: true, type: 'AAAA' }), qnameEnd('a.example'), POLICY, 0)!;
    assert.equal(nodata.ttl, 5);
    assert.equal(nodata.negative, true);
    assert.equal(makeEntry(response('nx.example', { rcode: 3 }), qnameEnd('nx.example'), POLICY, 0)!.ttl, 0);
  });

  it('SERVFAIL is cached briefly (0 turns it off); truncated answers never', () => {
    assert.equal(makeEntry(response('a.example', { rcode: 2 }), qnameEnd('a.example'), POLICY, 0)!.ttl, 5);
    assert.equal(makeEntry(response('a.example', { rcode: 2 }), qnameEnd('a.example'), { ...POLICY, servfailTtl: 0 }, 0)!.ttl, 0);
    assert.equal(makeEntry(response('a.example', { tc: true, answers: [A('a.example', 300)] }), qnameEnd('a.example'), POLICY, 0)!.ttl, 0);
  });
});
  it('keeps an answer\'s bytes apart from short-lived buffers, so that a cached answer pins no garbage', () => {
    const entries = [];
    const transient = new Set<ArrayBufferLike>();
    for (let i = 0; i < 200; i++) {
      const name = `n${i}.example`;
      transient.add(Buffer.allocUnsafe(120).buffer); // what a server cuts from Node's pool between misses: replies, queries
      entries.push(makeEntry(response(name, { answers: [A(name, 300)] }), qnameEnd(name), { ...POLICY, successCap: 3600 }, 0)!);
      transient.add(Buffer.allocUnsafe(120).buffer);
    }
    for (const e of entries) assert.ok(!transient.has(e.wire.buffer), 'an entry shares its memory with a short-lived buffer from Node\'s pool');
    const slabs = new Set(entries.map((e) => e.wire.buffer));
    assert.ok(slabs.size <= 2, `200 answers of ~40 bytes spread over ${slabs.size} slabs`);
  });

  it('stores the capped TTLs in the answer\'s bytes and counts them down from there', () => {
    // each record at most the entry's TTL (the smallest, 20), and the cap (30)
    const e = makeEntry(response('t.example', { answers: [A('t.example', 300), A('t.example', 20, '192.0.2.2')] }), qnameEnd('t.example'), POLICY, 0)!;
    assert.deepEqual([...e.ttlOffsets].map((o) => e.wire.readUInt32BE(o.charCodeAt(0))), [20, 20]);
    const out = dnsPacket.decode(render(e, query('t.example'), scanQuery(query('t.example')), 12_000, 512));
    assert.deepEqual(out.answers!.map((a) => a.ttl), [8, 8]);
  });

  it('finds every record\'s TTL, however many, in an entry made after a larger one', () => {
    const many = Array.from({ length: 20 }, (_, i) => A('m.example', 25, `192.0.2.${i + 1}`));
    const big = makeEntry(response('m.example', { answers: many }), qnameEnd('m.example'), POLICY, 0)!;
    const small = makeEntry(response('s.example', { answers: [A('s.example', 9)] }), qnameEnd('s.example'), POLICY, 0)!;
    assert.equal(big.ttlOffsets.length, 20);
    assert.deepEqual([...big.ttlOffsets].map((o) => big.wire.readUInt32BE(o.charCodeAt(0))), new Array(20).fill(25));
    assert.equal(small.ttlOffsets.length, 1);
    assert.equal(small.wire.readUInt32BE(small.ttlOffsets.charCodeAt(0)), 9);
    assert.equal(big.nameOffsets.length, 20); // dns-packet spells every owner name out in full
    assert.equal(small.nameOffsets.length, 1);
  });


describe('render (the hit path)', () => {
  const e = makeEntry(response('www.example.com', { answers: [A('www.example.com', 300)] }), qnameEnd('www.example.com'), POLICY, 1_000_000)!;

  it('sets the client ID and spelling, clears AA, and counts TTLs down', () => {
    const q = query('WwW.eXaMpLe.CoM', 'A', { id: 777 });
    const out = dnsPacket.decode(render(e, q, scanQuery(q), 1_000_000 + 12_500, 512));
    assert.equal(out.id, 777);
    assert.equal(out.questions![0].name, 'WwW.eXaMpLe.CoM');
    assert.equal(out.answers![0].name, 'WwW.eXaMpLe.CoM'); // compressed: points at the question
    assert.equal(out.answers![0].ttl, 30 - 12);
    assert.equal(out.flags! & dnsPacket.AUTHORITATIVE_ANSWER, 0);
    const later = dnsPacket.decode(render(e, q, scanQuery(q), 1_000_000 + 60_000, 512));
    assert.equal(later.answers![0].ttl, 0);
  });

  it('adds our OPT only for EDNS clients; stale answers get TTL 30 and EDE 3', () => {
    const plain = query('www.example.com');
    assert.equal(dnsPacket.decode(render(e, plain, scanQuery(plain), 1_000_000, 512)).additionals!.length, 0);
    const ed = query('www.example.com', 'A', { edns: true });
    const out = render(e, ed, scanQuery(ed), 1_000_000 + 3_600_000, 1232, true);
    const d = dnsPacket.decode(out);
    assert.equal(d.answers![0].ttl, STALE_TTL);
    const opt = d.additionals![0] as unknown as { options: { code: number; data: Buffer }[] };
    assert.deepEqual(opt.options.map((o) => [o.code, o.data.readUInt16BE(0)]), [[15, 3]]);
    const noEdns = dnsPacket.decode(render(e, plain, scanQuery(plain), 0, 512, true));
    assert.equal(noEdns.answers![0].ttl, STALE_TTL);
    assert.equal(noEdns.additionals!.length, 0);
  });

  it('truncates (TC, no records) when the answer does not fit the client', () => {
    const big = makeEntry(response('t.example', { type: 'TXT', answers: [{ name: 't.example', type: 'TXT', class: 'IN', ttl: 60, data: ['x'.repeat(250), 'y'.repeat(250), 'z'.repeat(100)] }] }), qnameEnd('t.example'), POLICY, 0)!;
    const q = query('t.example', 'TXT');
    const d = dnsPacket.decode(render(big, q, scanQuery(q), 0, 512));
    assert.equal(d.flags! & dnsPacket.TRUNCATED_RESPONSE, dnsPacket.TRUNCATED_RESPONSE);
    assert.equal(d.answers!.length, 0);
    assert.equal(dnsPacket.decode(render(big, q, scanQuery(q), 0, 65535)).answers!.length, 1);
  });
});

describe('AnswerCache', () => {
  const cfg = { ...defaults({}).cache, positiveSize: 2, negativeSize: 1, staleWindow: 3600 };
  const key = (n: string) => scanQuery(query(n)).key;

  it('keeps positive and negative entries in stores of their own size, LRU', () => {
    const stats = new Stats();
    const c = new AnswerCache(cfg, stats);
    const pos = (n: string) => makeEntry(response(n, { answers: [A(n, 60)] }), qnameEnd(n), POLICY, 0)!;
    const neg = (n: string) => makeEntry(response(n, { rcode: 3, soa: true }), qnameEnd(n), POLICY, 0)!;
    c.store(key('a.x'), pos('a.x'));
    c.store(key('b.x'), pos('b.x'));
    c.store(key('n1.x'), neg('n1.x'));
    assert.ok(c.fresh(key('a.x'), 1)); // a is now most recent
    c.store(key('c.x'), pos('c.x')); // evicts b
    c.store(key('n2.x'), neg('n2.x')); // evicts n1, not a positive entry
    assert.deepEqual(c.size, { success: 2, denial: 1 });
    assert.equal(c.fresh(key('b.x'), 1), undefined);
    assert.ok(c.fresh(key('a.x'), 1));
    assert.equal(c.fresh(key('n1.x'), 1), undefined);
    assert.deepEqual(stats.cacheEvictions, { success: 1, denial: 1 });
  });

  it('tells the LRU of an entry\'s hits once per recency tick (RECENCY_MS): eviction follows recency to the tick', () => {
    const c = new AnswerCache(cfg, new Stats());
    const pos = (n: string) => makeEntry(response(n, { answers: [A(n, 60)] }), qnameEnd(n), POLICY, 0)!;
    const R = RECENCY_MS;
    c.store(key('a.x'), pos('a.x'));
    c.store(key('b.x'), pos('b.x'));
    assert.ok(c.fresh(key('a.x'), R)); // first hit: a becomes the most recent
    assert.ok(c.fresh(key('b.x'), R * 1.5)); // then b, in the same tick
    assert.ok(c.fresh(key('a.x'), R * 1.9)); // a again in that tick: the LRU is not told
    c.store(key('c.x'), pos('c.x'));
    assert.equal(c.current(key('a.x')), undefined, 'a, last told of before b in that tick, is evicted');
    assert.ok(c.current(key('b.x')));
    assert.ok(c.fresh(key('b.x'), R * 2.1)); // b in a later tick: told again
    assert.ok(c.fresh(key('c.x'), R * 2.2));
    assert.ok(c.fresh(key('b.x'), R * 3)); // and again: b is now the most recent
    c.store(key('d.x'), pos('d.x'));
    assert.equal(c.current(key('c.x')), undefined, 'c is evicted, not b');
    assert.ok(c.current(key('b.x')));
  });

  it('finds either store\'s entries in one lookup, and never one a store has let go', () => {
    const c = new AnswerCache(cfg, new Stats());
    const pos = (n: string) => makeEntry(response(n, { answers: [A(n, 60)] }), qnameEnd(n), POLICY, 0)!;
    const neg = (n: string) => makeEntry(response(n, { rcode: 3, soa: true }), qnameEnd(n), POLICY, 0)!;
    const nx = neg('a.x');
    c.store(key('a.x'), nx);
    assert.equal(c.fresh(key('a.x'), 1), nx);
    const answer = pos('a.x'); // the name now exists: it moves to the positive store
    c.store(key('a.x'), answer);
    assert.equal(c.fresh(key('a.x'), 1), answer);
    assert.deepEqual(c.size, { success: 1, denial: 0 });
    const again = pos('a.x'); // replaced in its own store
    c.store(key('a.x'), again);
    assert.equal(c.current(key('a.x')), again);
    c.store(key('n.x'), neg('n.x'));
    assert.equal(c.stale(key('n.x'), 60_000 + 3_601_000), undefined, 'past the stale window: deleted');
    assert.equal(c.current(key('n.x')), undefined);
    c.store(key('b.x'), pos('b.x'));
    c.reconfigure({ ...cfg, positiveSize: 1 }); // keeps the most recent
    assert.equal(c.current(key('a.x')), undefined);
    assert.ok(c.current(key('b.x')));
    c.reconfigure({ ...cfg, positiveSize: 0 }); // no positive store at all
    assert.equal(c.current(key('b.x')), undefined);
    c.store(key('b.x'), pos('b.x'));
    assert.equal(c.current(key('b.x')), undefined, 'nothing is kept without a store');
    c.store(key('m.x'), neg('m.x'));
    c.clear();
    assert.equal(c.current(key('m.x')), undefined);
    assert.deepEqual(c.size, { success: 0, denial: 0 });
  });

  it('expired entries are misses but stay available stale within the window', () => {
    const c = new AnswerCache(cfg, new Stats());
    const e = makeEntry(response('a.x', { answers: [A('a.x', 10)] }), qnameEnd('a.x'), POLICY, 0)!;
    c.store(key('a.x'), e);
    assert.ok(c.fresh(key('a.x'), 9_999));
    assert.equal(c.fresh(key('a.x'), 10_000), undefined);
    assert.equal(c.stale(key('a.x'), 10_000 + 3_599_000), e);
    assert.equal(c.stale(key('a.x'), 10_000 + 3_601_000), undefined);
  });

  it('refreshes a popular entry in the first half of the last --prefetch-percent of its TTL, at a random point', () => {
    const c = new AnswerCache({ ...cfg, prefetchHits: 2, prefetchPercent: 10 }, new Stats());
    const e = makeEntry(response('a.x', { answers: [A('a.x', 30)] }), qnameEnd('a.x'), POLICY, 1_000)!;
    // expires at 31 s; the window is the last 3 s; refreshed between 28 s and 29.5 s
    const times = Array.from({ length: 200 }, () => c.refreshAt(e));
    assert.ok(times.every((t) => t >= 28_000 && t <= 29_500), `${Math.min(...times)}..${Math.max(...times)}`);
    assert.ok(Math.max(...times) - Math.min(...times) > 750, 'spread, not one instant for names stored together');
    assert.equal(refreshTime(31_000, 3_000, () => 0), 28_000);
    assert.equal(refreshTime(31_000, 3_000, () => 0.5), 28_750);
    assert.ok(Math.abs(refreshTime(31_000, 3_000, () => 0.999999) - 29_500) < 0.01, 'never in the second half of the window');
    c.store(key('a.x'), e);
    assert.equal(c.current(key('a.x')), e);
    assert.equal(c.current(key('b.x')), undefined);
  });
});

describe('refresh queue', () => {
  const entry = (name: string) => makeEntry(response(name, { answers: [A(name, 30)] }), qnameEnd(name), POLICY, 0)!;
  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(ok(), what);
  };

  it('runs each entry once, in the order they fall due, never before its time', async () => {
    const ran: { key: string; late: number }[] = [];
    const t0 = Date.now();
    const due: Record<string, number> = { late: t0 + 120, early: t0 + 30, middle: t0 + 60, now: t0 - 1 };
    const q = new RefreshQueue((key, _e, now) => { ran.push({ key, late: now - due[key] }); return true; }, Date.now, () => 100);
    for (const k of ['late', 'early', 'middle', 'now']) q.add(k, entry(`${k}.x`), due[k]);
    await until('all four ran', () => ran.length === 4);
    assert.deepEqual(ran.map((r) => r.key), ['now', 'early', 'middle', 'late']);
    for (const r of ran) assert.ok(r.late >= 0, `${r.key} ran ${-r.late} ms early`);
    assert.equal(q.size, 0);
  });

  it('holds due entries while refreshes are at their cap, then runs them all', async () => {
    let open = false;
    const ran: string[] = [];
    const q = new RefreshQueue((k) => { if (!open) return false; ran.push(k); return true; }, Date.now, () => 100);
    for (const n of ['a', 'b', 'c']) q.add(n, entry(`${n}.x`), Date.now());
    await new Promise((r) => setTimeout(r, 4 * RETRY_MS));
    assert.deepEqual(ran, [], 'nothing runs at the cap');
    assert.equal(q.size, 3, 'and nothing is dropped');
    open = true;
    await until('the three ran once the cap allowed', () => ran.length === 3);
    assert.deepEqual([...ran].sort(), ['a', 'b', 'c']);
  });

  it('is bounded, and clear() stops it', async () => {
    let runs = 0;
    const q = new RefreshQueue(() => { runs++; return true; }, Date.now, () => 2);
    assert.equal(q.add('a', entry('a.x'), Date.now() + 20), true);
    assert.equal(q.add('b', entry('b.x'), Date.now() + 20), true);
    assert.equal(q.add('c', entry('c.x'), Date.now() + 20), false, 'full');
    q.clear();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(runs, 0);
    assert.equal(q.size, 0);
  });
});

describe('warm restart file', () => {
  const log = pino({ level: 'silent' });
  const cfg = { ...defaults({}).cache, staleWindow: 60 };
  const key = (n: string) => scanQuery(query(n)).key;

  it('keeps remaining TTLs, drops entries past the stale window, survives a restart', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-cache-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'cache');
    const now = Date.now();
    const c = new AnswerCache(cfg, new Stats());
    c.store(key('fresh.x'), makeEntry(response('fresh.x', { answers: [A('fresh.x', 30)] }), qnameEnd('fresh.x'), POLICY, now - 10_000)!);
    c.store(key('stale.x'), makeEntry(response('stale.x', { answers: [A('stale.x', 30)] }), qnameEnd('stale.x'), POLICY, now - 40_000)!);
    c.store(key('gone.x'), makeEntry(response('gone.x', { answers: [A('gone.x', 30)] }), qnameEnd('gone.x'), POLICY, now - 100_000)!);
    assert.equal(saveCache(c, file, now), 2);
    const d = new AnswerCache(cfg, new Stats());
    assert.equal(loadCache(d, file, now, log, () => POLICY), 2);
    const hit = d.fresh(key('fresh.x'), now)!;
    const q = query('fresh.x');
    assert.equal(dnsPacket.decode(render(hit, q, scanQuery(q), now, 512)).answers![0].ttl, 20);
    assert.equal(d.fresh(key('stale.x'), now), undefined);
    assert.ok(d.stale(key('stale.x'), now));
    assert.equal(d.stale(key('gone.x'), now), undefined);
  });

  it('ignores a missing or corrupt file and never loads an answer under another name', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-cache-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const c = new AnswerCache(cfg, new Stats());
    assert.equal(loadCache(c, join(dir, 'missing'), Date.now(), log, () => POLICY), 0);
    writeFileSync(join(dir, 'garbage'), '\x00\x01binary junk');
    assert.equal(loadCache(c, join(dir, 'garbage'), Date.now(), log, () => POLICY), 0);
    // a valid file whose key was swapped to another name
    const now = Date.now();
    const src = new AnswerCache(cfg, new Stats());
    src.store(key('good.x'), makeEntry(response('good.x', { answers: [A('good.x', 30)] }), qnameEnd('good.x'), POLICY, now)!);
    const file = join(dir, 'swapped');
    saveCache(src, file, now);
    const [magic, line] = readFileSync(file, 'utf8').split('\n');
    const rec = JSON.parse(line.slice(9));
    rec.k = Buffer.from(key('bank.x'), 'latin1').toString('base64');
    const json = JSON.stringify(rec); // with a correct checksum: the key check itself must refuse it
    writeFileSync(file, `${magic}\n${crc32(json).toString(16).padStart(8, '0')} ${json}\n{"k":1,"w":"%%%"}\nnot json\n`);
    assert.equal(loadCache(c, file, now, log, () => POLICY), 0);
    assert.equal(c.fresh(key('bank.x'), now), undefined);
  });
});
