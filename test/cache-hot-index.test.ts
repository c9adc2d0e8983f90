// The hot index (src/cache/hot-index.ts): what a hit finds there must be exactly what the
// string-keyed cache holds, rendered to the same bytes, whatever the hashes and the arena do.
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { AnswerCache, RECENCY_MS } from '../src/cache/answer-cache';
import { clockNow } from '../src/cache/clock';
import { makeEntry, type Entry } from '../src/cache/entry';
import { HotIndex, MAX_PROBE, MAX_RECORD } from '../src/cache/hot-index';
import { keyHash } from '../src/cache/key-hash';
import { Rec } from '../src/cache/record';
import { render, renderRecord } from '../src/cache/render';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { Handler } from '../src/serve/handler';
import { LocalAnswers } from '../src/serve/local';
import { keyFlags, newQuery, queryKey, scanQuery, scanQueryInto, Verdict, type Query } from '../src/wire/query';
import { buildQuery, type QueryOptions } from './helpers/dns-query';

const POLICY = { successCap: 300, denialCap: 60, servfailTtl: 5 };
const NOW = 1_700_000_000_000;

/** An upstream's answer to `name` (spelled as given: dns-packet writes every owner name out, so name copies are exercised). */
function response(name: string, type: string, o: { rcode?: number; answers?: number; txt?: number; ad?: boolean } = {}): Buffer {
  const answers: dnsPacket.Answer[] = [];
  for (let i = 0; i < (o.answers ?? 1); i++) {
    if (type === 'A') answers.push({ name, type: 'A', class: 'IN', ttl: 60 + i * 7, data: `192.0.2.${i + 1}` });
    else if (type === 'AAAA') answers.push({ name, type: 'AAAA', class: 'IN', ttl: 90, data: `2001:db8::${i + 1}` });
    else answers.push({ name, type: 'TXT', class: 'IN', ttl: 120, data: ['t'.repeat(o.txt ?? 10)] });
  }
  const nx = o.rcode === 3;
  return dnsPacket.encode({
    type: 'response', id: 1, flags: dnsPacket.RECURSION_AVAILABLE | (o.ad ? dnsPacket.AUTHENTIC_DATA : 0) | (o.rcode ?? 0),
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    answers: nx ? [] : answers,
    authorities: nx ? [{ name: 'example', type: 'SOA', ttl: 600, class: 'IN', data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 30 } }] : [],
  });
}

function entryFor(name: string, type: string, o: Parameters<typeof response>[2] = {}, now = NOW): Entry {
  return makeEntry(response(name, type, o), 12 + name.length + 2, POLICY, now)!;
}

/** A query scanned the way the UDP path scans it: no key string, the hash from the bytes. */
function scanned(name: string, type: string, o: QueryOptions = {}): { buf: Buffer; q: Query } {
  const buf = buildQuery(name, type, { id: 4242, ...o });
  const q = scanQueryInto(buf, newQuery());
  assert.equal(q.verdict, Verdict.OK);
  return { buf, q };
}

/** Random case for a name (what 0x20 clients send). */
function mixCase(name: string, rnd: () => number): string {
  return [...name].map((c) => (rnd() < 0.5 ? c.toUpperCase() : c)).join('');
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return s / 2 ** 32;
  };
}

describe('hot index: key hash', () => {
  it('hashes a query\'s bytes as keyHash hashes its key string, whatever the case, flags or class', () => {
    const rnd = rng(1);
    for (const [name, type, o] of [
      ['www.example.com', 'A', {}], ['WWW.Example.COM', 'AAAA', { edns: 1232, dnssecOk: true }],
      ['a-b.c_d.example', 'TXT', { cd: true }], ['x.example', 'A', { class: 'ANY' }], ['.', 'NS', {}],
    ] as [string, string, QueryOptions][]) {
      for (let i = 0; i < 5; i++) {
        const { buf, q } = scanned(mixCase(name, rnd), type, o);
        assert.equal(q.key, '', 'the UDP path builds no key string');
        assert.equal(q.hash, keyHash(queryKey(buf, q)), `${name} ${type} ${JSON.stringify(o)}`);
        assert.equal(scanQuery(buf).key, q.key);
      }
    }
  });
});

describe('hot index: answers', () => {
  const cases: [string, string, Parameters<typeof response>[2], QueryOptions][] = [
    ['www.example.com', 'A', {}, {}],
    ['multi.example.com', 'A', { answers: 4 }, { edns: 1232 }],
    ['v6.example.com', 'AAAA', { answers: 2 }, { edns: 4096, nsid: true }],
    ['nx.example.com', 'A', { rcode: 3 }, {}],
    ['secure.example.com', 'A', { ad: true }, { edns: 1232, dnssecOk: true }],
    ['cd.example.com', 'A', { ad: true }, { cd: true }],
    ['t.example.com', 'TXT', { txt: 200 }, { edns: 1232 }],
  ];

  it('renders a record to the very bytes render() makes from the entry', () => {
    const rnd = rng(2);
    for (const [name, type, ro, qo] of cases) {
      const stats = new Stats();
      const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 16, negativeSize: 16 }, stats);
      const e = entryFor(name, type, ro);
      const { buf: b0, q: q0 } = scanned(name, type, qo);
      cache.store(queryKey(b0, q0), e);
      cache.fresh(queryKey(b0, q0), NOW); // its first hit indexes it
      for (const elapsed of [0, 999, 1000, 17_500, e.ttl * 1000 - 1]) {
        const { buf, q } = scanned(mixCase(name, rnd), type, { ...qo, id: Math.floor(rnd() * 65536) });
        const hot = cache.hot!;
        assert.ok(hot.find(buf, q, NOW + elapsed), `${name}: found after ${elapsed} ms`);
        assert.equal(hot.owner(), e);
        const nsid = Buffer.from('node-1');
        const mine = renderRecord(hot.bytes, hot.times, hot.at, buf, q, NOW + elapsed, 65535, nsid)!;
        assert.deepEqual(mine, render(e, buf, q, NOW + elapsed, 65535, false, nsid), `${name} ${type} ${JSON.stringify(qo)} +${elapsed} ms`);
      }
    }
  });

  it('leaves an answer that does not fit the client to the entry\'s way (which truncates it)', () => {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 4, negativeSize: 4 }, new Stats());
    const e = entryFor('many.example.com', 'A', { answers: 30 }); // ~ 30 x 31 bytes: no record at all
    const { buf, q } = scanned('many.example.com', 'A');
    cache.store(queryKey(buf, q), e);
    cache.fresh(queryKey(buf, q), NOW);
    assert.ok(e.wire.length > MAX_RECORD);
    assert.equal(cache.hot!.find(buf, q, NOW), false);
    const mid = entryFor('mid.example.com', 'A', { answers: 10 }); // a record of ~420 bytes
    const m = scanned('mid.example.com', 'A');
    cache.store(queryKey(m.buf, m.q), mid);
    cache.fresh(queryKey(m.buf, m.q), NOW);
    assert.ok(cache.hot!.find(m.buf, m.q, NOW));
    const small = 12 + 17 + 4 + 40; // less room than the answer needs
    assert.equal(renderRecord(cache.hot!.bytes, cache.hot!.times, cache.hot!.at, m.buf, m.q, NOW, small), undefined);
  });

  it('never answers from an expired record, another type, other DO/CD flags, or class ANY', () => {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 8, negativeSize: 8 }, new Stats());
    const e = entryFor('www.example.com', 'A');
    const { buf, q } = scanned('www.example.com', 'A');
    cache.store(queryKey(buf, q), e);
    cache.fresh(queryKey(buf, q), NOW);
    const hot = cache.hot!;
    assert.ok(hot.find(buf, q, e.expiresAt - 1));
    assert.equal(hot.find(buf, q, e.expiresAt), false);
    for (const [type, o] of [['AAAA', {}], ['A', { edns: 1232, dnssecOk: true }], ['A', { cd: true }], ['A', { class: 'ANY' }]] as [string, QueryOptions][]) {
      const other = scanned('www.example.com', type, o);
      assert.equal(hot.find(other.buf, other.q, NOW), false, `${type} ${JSON.stringify(o)}`);
    }
  });
});

/** An index with hashes of our choosing: the key hash is random per process, so collisions are forced here. */
function forced(entries: number) {
  const index = new HotIndex(entries);
  const byName = new Map<string, { e: Entry; h: number }>();
  return {
    index,
    add(name: string, h: number): boolean {
      const e = entryFor(name, 'A');
      e.key = name;
      byName.set(name, { e, h });
      return index.add(h, e, 0);
    },
    remove(name: string): void {
      const x = byName.get(name)!;
      index.remove(x.h, x.e);
      byName.delete(name);
    },
    find(name: string): Entry | undefined {
      const x = byName.get(name);
      const { buf, q } = scanned(name, 'A');
      q.hash = x?.h ?? 0;
      return index.find(buf, q, NOW) ? index.owner() : undefined;
    },
    names: () => [...byName.keys()],
    entry: (name: string) => byName.get(name)?.e,
  };
}

describe('hot index: slots', () => {
  it('finds every entry after random adds and removes with clustered hashes (backward-shift deletion), wrapping the table end', () => {
    const rnd = rng(3);
    const t = forced(48); // 64 slots
    const alive = new Set<string>();
    for (let step = 0; step < 4000; step++) {
      const name = `n${Math.floor(rnd() * 80)}.example`;
      if (alive.has(name)) {
        t.remove(name);
        alive.delete(name);
      } else if (alive.size < 40) {
        // hashes in a few home slots, some at the table's end, so runs cluster and wrap
        const h = [0, 1, 62, 63, 30][Math.floor(rnd() * 5)] + 64 * Math.floor(rnd() * 1000);
        if (t.add(name, h)) alive.add(name);
      }
      if (step % 97 === 0 || step > 3950) {
        for (const n of alive) assert.equal(t.find(n), t.entry(n), `step ${step}: ${n}`);
        assert.equal(t.index.size, alive.size);
      }
    }
  });

  it('indexes no more than MAX_PROBE entries of one hash: the rest are left to the string-keyed index', () => {
    const t = forced(1000);
    let added = 0;
    for (let i = 0; i < MAX_PROBE + 5; i++) if (t.add(`c${i}.example`, 7)) added++;
    assert.equal(added, MAX_PROBE);
    assert.equal(t.find(`c${MAX_PROBE + 1}.example`), undefined);
    assert.ok(t.find('c0.example'));
  });

  it('does not take a name for another that differs only in bit 0x20 of a byte that is not a letter', () => {
    // '-' (0x2d) and 0x0d, '0' (0x30) and 0x10: equal when lower-cased by OR-ing 0x20, different names
    const t = forced(16);
    assert.ok(t.add('a-0.example', 5));
    const { buf, q } = scanned('a-0.example', 'A');
    buf[13 + 1] = 0x0d; // a\r0.example
    q.hash = 5;
    assert.equal(t.index.find(buf, q, NOW), false);
    buf[13 + 1] = 0x2d;
    buf[13 + 2] = 0x10;
    assert.equal(t.index.find(buf, q, NOW), false);
    buf[13 + 2] = 0x30;
    assert.ok(t.index.find(buf, q, NOW));
  });
});

describe('hot index: what it holds', () => {
  it('indexes an entry at its first hit, not when stored, counting that hit; a never-hit entry leaves no trace', () => {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 3, negativeSize: 3, prefetchHits: 4 }, new Stats());
    const hot = cache.hot!;
    const put = (name: string) => { const { buf, q } = scanned(name, 'A'); const k = queryKey(buf, q); const e = entryFor(name, 'A'); cache.store(k, e); return { buf, q, k, e }; };
    const a = put('a.example');
    assert.equal(hot.size, 0, 'stored, not indexed');
    assert.equal(hot.find(a.buf, a.q, NOW), false);
    assert.equal(cache.fresh(a.k, NOW), a.e);
    assert.ok(hot.find(a.buf, a.q, NOW), 'indexed by its first hit');
    assert.equal(hot.owner(), a.e);
    assert.equal(hot.times[(hot.at >>> 3) + Rec.HITS], 1, 'the record counts the hit that indexed it, as the handler counts it in e.hits');
    // misses that store names never asked again: evicted without ever being indexed
    for (let i = 0; i < 10; i++) put(`once${i}.example`);
    assert.equal(cache.current(a.k), undefined, 'a evicted by the LRU');
    assert.equal(hot.size, 0, 'and gone from the index; the never-hit ones never entered it');
    // a reconfiguration that rebuilds the stores (and the index) indexes entries again at their next hit
    const b = put('b.example');
    cache.fresh(b.k, NOW);
    cache.reconfigure({ ...cache.config, positiveSize: 5 });
    assert.equal(cache.hot!.size, 0);
    assert.equal(cache.fresh(b.k, NOW + 1500), b.e);
    assert.ok(cache.hot!.find(b.buf, b.q, NOW + 1500), 'indexed again at its next hit');
  });
});

describe('hot index: arena', () => {
  it('moves records in place when it compacts, over none still to be moved', () => {
    const rnd = rng(5);
    const t = forced(400);
    const keep = Array.from({ length: 100 }, (_, i) => `keep${i}.example`);
    for (const n of keep) assert.ok(t.add(n, Math.floor(rnd() * 2 ** 31)));
    const start = t.index.bytes;
    for (let step = 0; step < 3000; step++) {
      const n = `churn${step % 60}.example`;
      if (t.entry(n)) t.remove(n);
      assert.ok(t.add(n, Math.floor(rnd() * 2 ** 31)));
    }
    assert.equal(t.index.bytes, start, 'compacted in place (3,000 records of ~90 bytes went through a 64 KiB arena)');
    for (const n of keep) {
      const e = t.entry(n)!;
      assert.equal(t.find(n), e, n);
      const { buf, q } = scanned(n, 'A');
      assert.deepEqual(renderRecord(t.index.bytes, t.index.times, t.index.at, buf, q, NOW + 1000, 512), render(e, buf, q, NOW + 1000, 512), n);
    }
  });

  it('stays bounded by the records it holds, and finds the same answers after compactions', () => {
    const rnd = rng(4);
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 200, negativeSize: 200 }, new Stats());
    const hot = () => cache.hot!;
    let maxArena = 0;
    for (let i = 0; i < 20_000; i++) {
      const name = `h${Math.floor(rnd() * 600)}.example.com`;
      const e = entryFor(name, 'A', { answers: 1 + Math.floor(rnd() * 6) }, NOW);
      const { buf, q } = scanned(name, 'A');
      cache.store(queryKey(buf, q), e); // replaces, and the LRU evicts past 200
      cache.fresh(queryKey(buf, q), NOW); // hit: indexed
      maxArena = Math.max(maxArena, hot().bytes.length);
    }
    // 200 records of at most 40 + 33 + 6 x 29 + 14 bytes: the arena never needs more than 4 x that
    assert.ok(maxArena <= 4 * 200 * 264, `arena grew to ${maxArena} bytes`);
    let found = 0;
    for (let i = 0; i < 600; i++) {
      const name = `h${i}.example.com`;
      const { buf, q } = scanned(name, 'A');
      const e = cache.current(queryKey(buf, q));
      assert.equal(hot().find(buf, q, NOW) ? hot().owner() : undefined, e, name);
      if (e) {
        found++;
        assert.deepEqual(renderRecord(hot().bytes, hot().times, hot().at, buf, q, NOW + 5000, 65535), render(e, buf, q, NOW + 5000, 65535));
      }
    }
    assert.equal(found, 200);
    assert.equal(hot().size, 200);
  });

  it('follows the cache: replaced, deleted, evicted and cleared entries are gone from it too', () => {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 2, negativeSize: 1 }, new Stats());
    const at = (name: string, type = 'A') => {
      const { buf, q } = scanned(name, type);
      return cache.hot!.find(buf, q, NOW) ? cache.hot!.owner() : undefined;
    };
    const store = (name: string, e: Entry) => { const { buf, q } = scanned(name, 'A'); cache.store(queryKey(buf, q), e); cache.fresh(queryKey(buf, q), NOW); };
    const a1 = entryFor('a.example', 'A');
    store('a.example', a1);
    const a2 = entryFor('a.example', 'A', { answers: 2 });
    store('a.example', a2);
    assert.equal(at('a.example'), a2);
    const nx = entryFor('a.example', 'A', { rcode: 3 });
    store('a.example', nx); // now NXDOMAIN: one store only
    assert.equal(at('a.example'), nx);
    store('b.example', entryFor('b.example', 'A'));
    store('c.example', entryFor('c.example', 'A'));
    store('d.example', entryFor('d.example', 'A')); // evicts b
    assert.equal(at('b.example'), undefined);
    assert.ok(at('c.example') && at('d.example'));
    cache.delete(scanQuery(buildQuery('c.example', 'A')).key);
    assert.equal(at('c.example'), undefined);
    cache.clear();
    assert.equal(at('d.example'), undefined);
    assert.equal(at('a.example'), undefined);
    assert.equal(cache.hot!.size, 0);
    assert.equal(keyFlags(scanQuery(buildQuery('x.example', 'A', { edns: 1232, dnssecOk: true })).key), 2);
  });
});

describe('hot index: a hit answered from it keeps its entry in the LRU', () => {
  it('tells the LRU of the hit once per recency tick, as a hit through the entry does', () => {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 2, negativeSize: 2, prefetchHits: 0 }, new Stats());
    const handler = new Handler(cache, undefined as never, new LocalAnswers({}), new Stats()); // hits never reach the resolver
    const now = clockNow();
    const put = (name: string) => { const { buf, q } = scanned(name, 'A'); const k = queryKey(buf, q); cache.store(k, entryFor(name, 'A', {}, now)); return k; };
    const a = put('a.example');
    assert.ok(cache.fresh(a, now - RECENCY_MS), 'indexed, and the LRU told, a tick ago');
    const b = put('b.example'); // the LRU now has a, then b
    const replies: Buffer[] = [];
    const { buf } = scanned('a.example', 'A');
    assert.ok(handler.handle(buf, false, false, '127.0.0.1', (out: Buffer) => { replies.push(out); }, undefined));
    assert.equal(replies.length, 1, 'answered at once, from the hot index');
    assert.equal(cache.hot!.size, 1);
    put('c.example');
    assert.ok(cache.current(a), 'a, hit through the hot index in this tick, is kept');
    assert.equal(cache.current(b), undefined, 'b, stored after a but not hit since, is evicted');
  });
});
