// The wait for a quiet machine before a full benchmark run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BUSY_LOAD, settle } from '../scripts/bench/settle';

function machine(loads: number[]) {
  const slept: number[] = [];
  const logs: string[] = [];
  let i = 0;
  return {
    slept, logs,
    deps: { load: () => loads[Math.min(i++, loads.length - 1)], sleep: async (ms: number) => { slept.push(ms); }, log: (m: string) => logs.push(m) },
  };
}

test('starts at once on a quiet machine', async () => {
  const m = machine([0.1]);
  assert.equal(await settle(m.deps), 0.1);
  assert.deepEqual(m.slept, []);
  assert.deepEqual(m.logs, []);
});

test('waits while the load falls, then starts', async () => {
  const m = machine([1.3, 0.9, 0.51, BUSY_LOAD]);
  assert.equal(await settle(m.deps, 60_000, 5_000), BUSY_LOAD);
  assert.deepEqual(m.slept, [5_000, 5_000, 5_000], 'waits until the load is down to the threshold');
  assert.match(m.logs.at(-1)!, /0\.50: starting/);
});

test('gives up after the limit and says the run will be flagged', async () => {
  const m = machine([2]);
  assert.equal(await settle(m.deps, 20_000, 5_000), 2);
  assert.equal(m.slept.length, 4);
  assert.match(m.logs.at(-1)!, /starting anyway \(the run will be flagged busy\)/);
});
