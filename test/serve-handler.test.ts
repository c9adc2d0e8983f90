// The query path's promise to keep serving: a bug on the miss path (never an upstream failure:
// those are outcomes) gets the client SERVFAIL once, is reported, and the next query is answered.
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { AnswerCache } from '../src/cache/answer-cache';
import { defaults } from '../src/config/load';
import { Stats } from '../src/observe/stats';
import { Handler } from '../src/serve/handler';
import { LocalAnswers } from '../src/serve/local';
import type { Outcome, Resolver, Waiter } from '../src/serve/resolver';
import { buildQuery } from './helpers/dns-query';

/** A handler whose resolver does `resolve` for each miss; what it replies and reports. */
function handlerWith(resolve: (done: (o: Outcome) => void) => void) {
  const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 10, negativeSize: 10 }, new Stats());
  const resolver = { resolve: (_k: string, _q: Buffer, _n: string, _cd: boolean, _do: boolean, w: Waiter) => resolve((o) => w.settle(o)) };
  const h = new Handler(cache, resolver as unknown as Resolver, new LocalAnswers({}), new Stats());
  const errors: string[] = [];
  h.onError = (e) => errors.push(e.message);
  const replies: dnsPacket.Packet[] = [];
  const ask = (name: string) => h.handle(buildQuery(name, 'A', { id: 7 }), false, false, '127.0.0.1', (out: Buffer) => { replies.push(dnsPacket.decode(out)); }, undefined);
  return { ask, replies, errors };
}

/** Lets anything the miss path left queued run before the replies are read. */
const settled = () => new Promise((r) => setImmediate(r));

describe('handler: a bug on the miss path', () => {
  it('thrown by the resolver: SERVFAIL once, reported, and the next query still answered', async () => {
    let calls = 0;
    const t = handlerWith(() => { calls++; throw new Error('boom in resolve'); });
    assert.equal(t.ask('a.example'), true);
    assert.equal(t.ask('b.example'), true);
    await settled();
    assert.equal(calls, 2);
    assert.deepEqual(t.replies.map((r) => [r.id, r.rcode]), [[7, 'SERVFAIL'], [7, 'SERVFAIL']]);
    assert.deepEqual(t.errors, ['boom in resolve', 'boom in resolve']);
  });

  it('thrown while answering an outcome: SERVFAIL once, not twice, and reported', async () => {
    // an outcome whose entry cannot be rendered (no wire bytes): render throws
    const t = handlerWith((done) => done({ entry: {} as never, stale: false, route: undefined as never, latencyMs: 0 }));
    assert.equal(t.ask('a.example'), true);
    await settled();
    assert.deepEqual(t.replies.map((r) => r.rcode), ['SERVFAIL']);
    assert.equal(t.errors.length, 1);
  });
});

describe('handler: clients waiting on upstream answers', () => {
  /** A handler whose misses wait until the test settles them; queries come from `client`. */
  function waitingHandler(maxPerClient: number, max: number) {
    const cache = new AnswerCache({ ...defaults({}).cache, positiveSize: 10, negativeSize: 10 }, new Stats());
    const pending: Waiter[] = [];
    const resolver = { resolve: (_k: string, _q: Buffer, _n: string, _cd: boolean, _do: boolean, w: Waiter) => { pending.push(w); } };
    const stats = new Stats();
    const h = new Handler(cache, resolver as unknown as Resolver, new LocalAnswers({}), stats);
    h.waiting.max = max;
    h.waiting.maxPerClient = maxPerClient;
    const refused: [string, boolean][] = [];
    h.onRefused = (client, perClient) => refused.push([client, perClient]);
    const replies: string[] = [];
    const ask = (client: string, name: string) => h.handle(buildQuery(name, 'A', { id: 7 }), false, false, client, (out: Buffer) => { replies.push(`${client} ${dnsPacket.decode(out).rcode}`); }, undefined);
    return { h, stats, pending, replies, refused, ask };
  }

  it('refuses past the bound per client and in all, and counts a client out once answered (or failed)', () => {
    const t = waitingHandler(2, 3);
    t.ask('10.0.0.1', 'a.example');
    t.ask('10.0.0.1', 'a.example');
    t.ask('10.0.0.1', 'b.example'); // third from .1: refused
    t.ask('10.0.0.2', 'a.example');
    t.ask('10.0.0.3', 'a.example'); // fourth in all: refused
    assert.deepEqual(t.replies, ['10.0.0.1 SERVFAIL', '10.0.0.3 SERVFAIL']);
    assert.deepEqual(t.refused, [['10.0.0.1', true], ['10.0.0.3', false]]);
    assert.equal(t.stats.overload, 2);
    assert.equal(t.h.waiting.total, 3);
    assert.equal(t.h.waiting.clients, 2);
    // answered (a bug while answering counts out too): all out, and .1 is admitted again
    const entry = { wire: Buffer.alloc(0) } as never; // render throws: the failure path
    for (const w of t.pending.splice(0)) w.settle({ entry, stale: false, route: undefined as never, latencyMs: 0 });
    assert.equal(t.h.waiting.total, 0);
    assert.equal(t.h.waiting.clients, 0);
    t.ask('10.0.0.1', 'c.example');
    assert.equal(t.pending.length, 1);
    assert.equal(t.h.waiting.total, 1);
  });
});
