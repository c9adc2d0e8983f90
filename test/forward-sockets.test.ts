// The upstream socket budget and the open-files limit it is sized from (src/forward/sockets.ts).
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { readFdLimits, SocketBudget, socketBudget } from '../src/forward/sockets';
import { queryUdp } from '../src/forward/udp';
import { upstreamSockets } from '../src/forward/sockets';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max processes             63432                63432                processes
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

describe('upstream socket budget', () => {
  it('reads the open-files limits from /proc/self/limits', () => {
    assert.deepEqual(readFdLimits(LIMITS), { soft: 1024, hard: 524288 });
    assert.deepEqual(readFdLimits(LIMITS.replace('524288 ', 'unlimited')), { soft: 1024, hard: Infinity });
    assert.equal(readFdLimits('nothing here'), undefined);
    const own = readFdLimits();
    assert.ok(own && own.soft > 0 && own.soft <= own.hard);
  });

  it('leaves what is open, the client connections and the reserve', () => {
    assert.equal(socketBudget(1024, 30, 512, 64), 418);
    assert.equal(socketBudget(256, 30, 1024, 64), 0);
  });

  it('refuses past the budget and frees on release', () => {
    const b = new SocketBudget(2);
    assert.ok(b.acquire() && b.acquire());
    assert.equal(b.acquire(), false);
    b.release();
    assert.ok(b.acquire());
  });

  it('a UDP try past the budget fails at once as "fds", naming the limit, without opening a socket', async () => {
    const max = upstreamSockets.max;
    upstreamSockets.max = upstreamSockets.open;
    try {
      const err = await new Promise<Error | null>((res) => queryUdp({ host: '127.0.0.1', port: 9, family: 4 }, Buffer.alloc(17), 17, 1000, { onReply: (e) => res(e) }));
      assert.equal((err as { kind?: string }).kind, 'fds');
      assert.match(err!.message, /open-files limit/);
    } finally {
      upstreamSockets.max = max;
    }
  });
});
