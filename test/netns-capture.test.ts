// captureDns (test/helpers/netns.ts), which the kill tests' packet captures start with: a tcpdump
// that cannot start fails the wait at once with its own reason. It used to wait out the whole
// patience and say only "timed out", on a machine without tcpdump too.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NetnsLab, captureDns, netnsUnavailable } from './helpers/netns';

describe('captureDns', { skip: netnsUnavailable() }, () => {
  const lab = new NetnsLab();
  after(() => lab.cleanup());

  it('rejects with tcpdump\'s reason when it cannot capture', async () => {
    const ns = await lab.add('cap');
    await assert.rejects(captureDns(ns, 'nosuchdev0'), (e: Error) => {
      assert.match(e.message, /No such device/, e.message);
      assert.match(e.message, /make test-deps/);
      return true;
    });
  });
});
