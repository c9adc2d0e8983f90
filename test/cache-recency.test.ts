import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { AnswerCache, RECENCY_MS } from '../src/cache/answer-cache';
import { makeEntry, type Entry } from '../src/cache/entry';
import { Recency } from '../src/cache/recency';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { scanQuery } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';

const POLICY = { successCap: 30, denialCap: 5, servfailTtl: 5 };
const SOA = { name: 'x', type: 'SOA' as const, ttl: 600, class: 'IN' as const,
  data: { mname: 'ns.x', rname: 'h.x', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 300 } };

function entry(name: string, negative: boolean): Entry {
  const wire = dnsPacket.encode({
    type: 'response', id: 1, flags: dnsPacket.RECURSION_AVAILABLE | (negative ? 3 : 0),
    questions: [{ name, type: 'A', class: 'IN' }],
    answers: negative ? [] : [{ name, type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' }],
    authorities: negative ? [SOA] : [],
  });
  return makeEntry(wire, 12 + name.length + 2, POLICY, 0)!;
}
const key = (n: string) => scanQuery(buildQuery(n, 'A', { id: 1 })).key;
const names = (r: Recency) => [...r.entries()].map((e) => e.key);

describe('recency lists', () => {
  it('keeps entries from least to most recently used through push, touch and unlink', () => {
    const r = new Recency(10);
    const [a, b, c] = ['a', 'b', 'c'].map((n) => Object.assign(entry(`${n}.x`, false), { key: n }));
    r.push(a); r.push(b); r.push(c);
    assert.deepEqual(names(r), ['a', 'b', 'c']);
    r.touch(a);
    assert.deepEqual(names(r), ['b', 'c', 'a']);
    r.touch(a); // already the newest
    assert.deepEqual(names(r), ['b', 'c', 'a']);
    r.unlink(c);
    assert.deepEqual(names(r), ['b', 'a']);
    assert.equal(c.older, undefined);
    assert.equal(c.newer, undefined);
    r.unlink(b);
    r.unlink(a);
    assert.equal(r.size, 0);
    assert.equal(r.oldest, undefined);
    assert.equal(r.newest, undefined);
  });

  it('clear() unlinks every entry, so that one still referenced keeps no other alive', () => {
    const r = new Recency(10);
    const es = ['a', 'b', 'c'].map((n) => entry(`${n}.x`, false));
    for (const e of es) r.push(e);
    r.clear();
    assert.equal(r.size, 0);
    for (const e of es) assert.deepEqual([e.older, e.newer], [undefined, undefined]);
  });
});

describe('AnswerCache over its recency lists', () => {
  it('an entry evicted, replaced or deleted is out of its list and the index, with its links cut', () => {
    const cfg = { ...defaults({}).cache, positiveSize: 2, negativeSize: 2 };
    const stats = new Stats();
    const c = new AnswerCache(cfg, stats);
    const a = entry('a.x', false);
    const b = entry('b.x', false);
    c.store(key('a.x'), a);
    c.store(key('b.x'), b);
    c.store(key('c.x'), entry('c.x', false)); // evicts a
    assert.equal(c.current(key('a.x')), undefined);
    assert.deepEqual([a.older, a.newer], [undefined, undefined]);
    const nb = entry('b.x', true); // b turns NXDOMAIN: it moves to the negative store
    c.store(key('b.x'), nb);
    assert.deepEqual(c.size, { success: 1, denial: 1 });
    assert.equal(c.current(key('b.x')), nb);
    assert.deepEqual([b.older, b.newer], [undefined, undefined]);
    assert.deepEqual(stats.cacheEvictions, { success: 1, denial: 0 }, 'a replacement is not an eviction');
    c.delete(key('b.x'));
    assert.deepEqual(c.size, { success: 1, denial: 0 });
    assert.deepEqual([...c.entries()].map(([k]) => k), [key('c.x')]);
  });

  it('evicts as a plain least-recently-used list would, over a long random run of stores, hits and deletes', () => {
    // The model: each store an array, least recently used first; a hit moves an entry to the end
    // at most once per recency tick (what AnswerCache.fresh tells the list).
    const cfg = { ...defaults({}).cache, positiveSize: 7, negativeSize: 5 };
    const stats = new Stats();
    const c = new AnswerCache(cfg, stats);
    const model = { pos: [] as string[], neg: [] as string[] };
    const told = new Map<string, number>();
    const evicted = { success: 0, denial: 0 };
    let seed = 12345;
    const rand = (n: number) => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return (seed >>> 8) % n; };
    let now = 1;
    for (let step = 0; step < 20_000; step++) {
      now += rand(3) * 500; // entries live 60 s (positive) and 5 s (negative): keep them fresh by reading `current`
      const n = `n${rand(30)}.x`;
      const k = key(n);
      const op = rand(10);
      if (op < 5) {
        const negative = rand(3) === 0;
        const e = entry(n, negative);
        for (const s of [model.pos, model.neg]) { const i = s.indexOf(k); if (i >= 0) s.splice(i, 1); }
        const into = negative ? model.neg : model.pos;
        if (into.length >= (negative ? cfg.negativeSize : cfg.positiveSize)) {
          told.delete(into.shift()!);
          if (negative) evicted.denial++; else evicted.success++;
        }
        into.push(k);
        told.delete(k);
        c.store(k, e);
      } else if (op < 9) {
        const e = c.current(k);
        if (e === undefined) continue;
        e.storedAt = now; e.expiresAt = now + 60_000; // fresh for this hit
        assert.ok(c.fresh(k, now));
        const tick = Math.floor(now / RECENCY_MS);
        if (told.get(k) !== tick) {
          told.set(k, tick);
          const s = e.negative ? model.neg : model.pos;
          s.splice(s.indexOf(k), 1);
          s.push(k);
        }
      } else {
        c.delete(k);
        for (const s of [model.pos, model.neg]) { const i = s.indexOf(k); if (i >= 0) s.splice(i, 1); }
        told.delete(k);
      }
      const inCache = [...c.entries()].map(([x]) => x);
      assert.deepEqual(inCache, [...model.neg, ...model.pos], `step ${step}`);
    }
    assert.deepEqual(stats.cacheEvictions, evicted);
    assert.ok(evicted.success > 100 && evicted.denial > 100, `the run evicted from both stores: ${JSON.stringify(evicted)}`);
  });
});
