// missingTools (test/helpers/process.ts): the e2e suites that build real resolvers skip when a
// tool is missing only outside CI. Under CI they had skipped unseen on a machine without
// musl-gcc (make test did not install musl-tools), and CI passed without running them.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { missingTools } from './helpers/process';

describe('missingTools', () => {
  const ci = process.env.CI;
  afterEach(() => { if (ci === undefined) delete process.env.CI; else process.env.CI = ci; });

  it('names the first missing tool as a skip reason outside CI', () => {
    delete process.env.CI;
    assert.equal(missingTools(['sh', 'no-such-tool-nodedns']), 'no-such-tool-nodedns is not installed (make test-deps installs it)');
    assert.equal(missingTools(['sh']), undefined);
  });

  it('gives no skip reason under CI, so that the suite runs and fails on the missing tool', () => {
    process.env.CI = 'true';
    assert.equal(missingTools(['no-such-tool-nodedns']), undefined);
  });
});
