// The collection after start-up (src/run/settle-memory.ts) runs with a tick object queued, so that
// the maps process.nextTick's literal builds outlive it (the comment there says what broke).
import { strict as assert } from 'node:assert';
import { createHook } from 'node:async_hooks';
import { it } from 'node:test';
import pino from 'pino';
import { settleMemory } from '../src/run/settle-memory';

it('collects with a tick object queued, once, and logs what it gave back', async () => {
  const queued = new Set<number>(); // TickObjects scheduled and not yet run
  const hook = createHook({
    init(id, type) { if (type === 'TickObject') queued.add(id); },
    before(id) { queued.delete(id); },
  }).enable();
  const g = globalThis as { gc?: unknown };
  const saved = g.gc;
  const during: number[] = [];
  const lines: string[] = [];
  let guard: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      // the settle timer is unref'd: this one keeps the test alive, and bounds the wait
      guard = setTimeout(() => reject(new Error('no collection within 30 s of settleMemory')), 30_000);
      g.gc = () => { during.push(queued.size); resolve(); };
      settleMemory(pino({ level: 'info' }, { write: (l: string) => { lines.push(l); } }));
    });
    await new Promise((r) => setImmediate(r)); // the log line follows the collection
  } finally {
    clearTimeout(guard);
    hook.disable();
    g.gc = saved;
  }
  assert.deepEqual(during, [1], 'one collection, with one tick object queued through it');
  assert.equal(queued.size, 0, 'and that tick ran afterwards');
  assert.ok(lines.some((l) => l.includes('start-up memory given back')), lines.join(''));
});
