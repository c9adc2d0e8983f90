// The collection after start-up (src/run/settle-memory.ts): with the V8 flags nodedns ships
// with (src/node-flags.ts), start-up's memory is given back once, and serving goes on.
import { strict as assert } from 'node:assert';
import { after, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { simpleZone, startKnot } from '../helpers/knot';
import { NODE_FLAGS } from '../../src/node-flags';

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => { for (const c of cleanup.reverse()) await c(); });

it('gives start-up memory back once, logs what it gave and how long it took, and keeps answering', async () => {
  const knot = await startKnot({ zones: { example: simpleZone('example', 'www A 192.0.2.7') } });
  cleanup.push(() => knot.stop());
  const agent: AgentProcess = await startAgent({ upstreams: [knot], nodeFlags: NODE_FLAGS });
  cleanup.push(() => agent.stop());
  assert.equal((await dig({ server: agent, name: 'www.example', type: 'A' })).answers[0]?.data, '192.0.2.7');
  const line = await agent.waitForLog('start-up memory given back');
  const { rssMiB, nowMiB, ms } = line as unknown as { rssMiB: number; nowMiB: number; ms: number };
  assert.ok(rssMiB > 20 && nowMiB > 20, `resident sizes in MiB: ${JSON.stringify(line)}`);
  assert.ok(nowMiB <= rssMiB, `a collection gives memory back, never takes more: ${JSON.stringify(line)}`);
  assert.ok(Number.isInteger(ms) && ms >= 0, JSON.stringify(line));
  assert.equal(agent.logs.filter((l) => l.msg === 'start-up memory given back').length, 1, 'once');
  assert.equal((await dig({ server: agent, name: 'www.example', type: 'A' })).answers[0]?.data, '192.0.2.7', 'serving after it');
  assert.ok(!agent.logs.some((l) => l.level >= 40), agent.tail());
});
