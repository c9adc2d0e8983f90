// `nodedns run` refuses a Node.js that lacks what the query path calls, naming the fix (src/run.ts).
import { strict as assert } from 'node:assert';
import { it } from 'node:test';
import { runtimeProblem } from '../src/run';

it('accepts this Node.js and refuses one without dgram connectSync, with the version to use', () => {
  assert.equal(runtimeProblem(), undefined);
  const problem = runtimeProblem(class Old {});
  assert.match(problem ?? '', /has no dgram socket\.connectSync.*run nodedns on Node\.js 24\.22 or later/);
});
