import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { AnswerCache } from '../src/cache/answer-cache';
import { makeEntry, type Entry } from '../src/cache/entry';
import { slabBytes, WASTE_FLOOR, WireArena } from '../src/cache/wire-arena';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { scanQuery } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';

const SLAB = 16 * 1024;
const POLICY = { successCap: 3600, denialCap: 3600, servfailTtl: 5 };
const SOA = { name: 'attack.example', type: 'SOA' as const, ttl: 600, class: 'IN' as const,
  data: { mname: 'ns.attack.example', rname: 'h.attack.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 300 } };

/** Responses for p000000.attack.example … with only the digits changed: 100,000 of them take no time to make. */
function responses(negative: boolean): (i: number) => Buffer {
  const name = `${negative ? 'n' : 'p'}000000.attack.example`;
  const template = dnsPacket.encode({
    type: 'response', id: 1, flags: dnsPacket.RECURSION_AVAILABLE | (negative ? 3 : 0),
    questions: [{ name, type: 'A', class: 'IN' }],
    answers: negative ? [] : [{ name, type: 'A', class: 'IN', ttl: 600, data: '192.0.2.1' }],
    authorities: negative ? [SOA] : [],
  });
  const at: number[] = [];
  for (let i = template.indexOf(name.slice(0, 7)); i >= 0; i = template.indexOf(name.slice(0, 7), i + 1)) at.push(i + 1);
  return (i) => {
    const b = Buffer.from(template);
    const digits = String(i).padStart(6, '0');
    for (const o of at) b.write(digits, o, 'latin1');
    return b;
  };
}
const QNAME_END = 12 + 'p000000.attack.example'.length + 2;
const keyOf = (e: Entry) => scanQuery(buildQuery(String.fromCharCode(...e.wire.subarray(13, 20)) + '.attack.example', 'A', { id: 1 })).key;

function newCache(positive: number, negative: number, arena: WireArena): { cache: AnswerCache; stats: Stats } {
  const stats = new Stats();
  const cfg = { ...defaults({}).cache, positiveSize: positive, negativeSize: negative };
  return { cache: new AnswerCache(cfg, stats, arena), stats };
}

/** What the cached answers keep alive: every slab one of them is cut from, and the bytes of the answers themselves. */
function kept(cache: AnswerCache): { slabBytes: number; answerBytes: number; slabs: Set<ArrayBufferLike> } {
  const slabs = new Set<ArrayBufferLike>();
  let answerBytes = 0;
  for (const [, e] of cache.entries()) {
    slabs.add(e.wire.buffer);
    answerBytes += slabBytes(e.wire.length);
  }
  return { slabBytes: slabs.size * SLAB, answerBytes, slabs };
}

/**
 * The attack: a stream of new positive answers, and one negative answer for each slab's worth
 * of them. The positive store turns over; the negative store keeps its 300 answers, one in
 * each of 300 slabs full of evicted positive ones. Names from slab number `first` on.
 */
function pinSlabs(cache: AnswerCache, arena: WireArena, slabsToPin: number, first = 0): void {
  const pos = responses(false);
  const neg = responses(true);
  const perSlab = Math.ceil(SLAB / slabBytes(pos(0).length));
  let n = first * perSlab;
  for (let s = first; s < first + slabsToPin; s++) {
    const e = makeEntry(neg(s), QNAME_END, POLICY, 0, arena)!;
    cache.store(keyOf(e), e);
    for (let i = 0; i < perSlab; i++, n++) {
      const p = makeEntry(pos(n), QNAME_END, POLICY, 0, arena)!;
      cache.store(keyOf(p), p);
    }
  }
}

describe('answer slabs (src/cache/wire-arena.ts)', () => {
  it('keeps a few answers from holding many slabs: at most twice their bytes and the floor', () => {
    const arena = new WireArena();
    const { cache, stats } = newCache(1000, 300, arena);
    pinSlabs(cache, arena, 300);
    const k = kept(cache);
    assert.equal(cache.size.denial, 300);
    // Without compaction: 300 slabs, 4.7 MiB, for about 90 KiB of answers.
    assert.ok(k.slabBytes <= 2 * k.answerBytes + WASTE_FLOOR + SLAB,
      `${k.slabs.size} slabs (${k.slabBytes} bytes) kept alive by ${k.answerBytes} bytes of answers`);
    assert.ok(stats.cacheCompactions > 0);
    // the arena's own count is what the cache holds
    assert.equal(arena.bytesHeld, k.answerBytes);
    assert.equal(arena.slabsHeld, k.slabs.size);
  });

  it('moves an answer to the same bytes: every entry still found and the same; an old view keeps its bytes', () => {
    const arena = new WireArena();
    const { cache, stats } = newCache(1000, 300, arena);
    pinSlabs(cache, arena, 40); // below the floor: nothing moved yet
    assert.equal(stats.cacheCompactions, 0);
    const before = new Map([...cache.entries()].map(([key, e]) => [key, { e, wire: e.wire, bytes: Buffer.from(e.wire) }]));
    pinSlabs(cache, arena, 250, 40); // new names: the 40 negative answers above stay stored
    assert.ok(stats.cacheCompactions > 0);
    let moved = 0;
    for (const [key, b] of before) {
      const e = cache.current(key);
      if (e === undefined) continue; // evicted by the stream meanwhile
      assert.ok(e === b.e, 'the entry object stays: only its view changes');
      assert.deepEqual(Buffer.from(e.wire), b.bytes);
      assert.deepEqual(Buffer.from(b.wire), b.bytes, 'an old view (a refresh\'s question) still reads the same bytes');
      if (e.wire !== b.wire) moved++;
    }
    assert.ok(moved > 0, 'some of the negative answers kept from the start were moved');
  });

  it('counts what it holds through eviction, replacement, reconfiguration and clearing', () => {
    const arena = new WireArena();
    const { cache } = newCache(200, 100, arena);
    const pos = responses(false);
    const neg = responses(true);
    const check = (when: string) => {
      const k = kept(cache);
      assert.equal(arena.bytesHeld, k.answerBytes, when);
      assert.equal(arena.slabsHeld, k.slabs.size, when);
    };
    for (let i = 0; i < 3000; i++) {
      const e = makeEntry(i % 7 === 0 ? neg(i % 150) : pos(i % 400), QNAME_END, POLICY, 0, arena)!;
      cache.store(keyOf(e), e); // replaced (the same name again) and evicted (the store is full)
    }
    check('after stores');
    cache.reconfigure({ ...cache.config, positiveSize: 50, negativeSize: 10 });
    assert.equal(cache.size.success, 50);
    check('after shrinking');
    cache.clear();
    assert.equal(arena.bytesHeld, 0);
    assert.equal(arena.slabsHeld, 0);
  });

  it('gives a large answer a buffer of its own, outside the count', () => {
    const arena = new WireArena();
    const { cache } = newCache(10, 10, arena);
    const name = 'big.attack.example';
    const wire = dnsPacket.encode({
      type: 'response', id: 1, flags: dnsPacket.RECURSION_AVAILABLE, questions: [{ name, type: 'TXT', class: 'IN' }],
      answers: Array.from({ length: 12 }, () => ({ name, type: 'TXT' as const, class: 'IN' as const, ttl: 60, data: 'x'.repeat(200) })),
    });
    const e = makeEntry(wire, 12 + name.length + 2, POLICY, 0, arena)!;
    assert.ok(e.wire.length > 2048);
    assert.equal(e.slab, undefined);
    cache.store(scanQuery(buildQuery(name, 'TXT', { id: 1 })).key, e);
    assert.equal(arena.bytesHeld, 0);
  });
});
