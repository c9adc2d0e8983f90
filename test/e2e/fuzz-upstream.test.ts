// Fuzzing the miss path from the upstream side: a fault server mutates every reply (bytes
// flipped, pointers planted, counts changed, cut or padded) with a seeded PRNG, and no
// answer the agent sends (on the miss, or from its cache afterwards) may be malformed.
// FUZZ_SEED=<n> replays a run; FUZZ_COUNT=<n> changes how many names are asked.
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { startAgent } from '../helpers/agent';
import { buildQuery, exchange } from '../helpers/dns-query';
import { startFaultServer, type ReceivedQuery } from '../helpers/fault-server';
import { checkReply, REASONS } from '../../src/wire/validate';

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const COUNT = Number(process.env.FUZZ_COUNT ?? 300);

/** mulberry32: small, seedable, good enough to pick mutations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 1-4 mutations of `b`, chosen by `rnd`; the header's ID is left alone half the time so most reach the validator. */
function mutate(b: Buffer, rnd: () => number): Buffer {
  let m = Buffer.from(b);
  const int = (n: number) => Math.floor(rnd() * n);
  const from = rnd() < 0.5 ? 2 : 0;
  for (let k = 1 + int(4); k > 0; k--) {
    const at = from + int(Math.max(1, m.length - from));
    switch (int(7)) {
      case 0: m[at] ^= 1 << int(8); break; // one bit
      case 1: m[at] = int(256); break; // one byte
      case 2: if (at + 1 < m.length) { m[at] = 0xc0 | int(64); m[at + 1] = int(256); } break; // a pointer anywhere
      case 3: m = m.subarray(0, at); break; // cut
      case 4: m = Buffer.concat([m, Buffer.from(Array.from({ length: 1 + int(8) }, () => int(256)))]); break; // padded
      case 5: if (m.length >= 12) m.writeUInt16BE(int(6), 6 + 2 * int(3)); break; // a count
      default: if (m.length >= 12) m[2] = (m[2] & 0x87) | (int(16) << 3); break; // an opcode
    }
  }
  return m;
}

describe(`fuzzed upstream replies (FUZZ_SEED=${SEED})`, () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  it(`never serves or caches a malformed answer (${COUNT} names)`, async () => {
    const fs = await startFaultServer({
      handler: (q: ReceivedQuery) => {
        const name = q.name.toLowerCase();
        const i = Number(/^f(\d+)\./.exec(name)?.[1] ?? 0);
        const rnd = prng(SEED ^ Math.imul(i + 1, 0x9e3779b1));
        return {
          answers: [
            { name: q.name, type: 'CNAME', ttl: 60, data: `t${i}.target.fuzz.test` },
            { name: `t${i}.target.fuzz.test`, type: 'A', ttl: 60, data: '192.0.2.1' },
          ],
          authorities: rnd() < 0.3 ? [{ name: 'fuzz.test', type: 'NS', ttl: 60, data: 'ns.fuzz.test' }] : [],
          mutate: (b) => mutate(b, rnd),
        };
      },
    });
    cleanup.push(() => fs.stop());
    const a = await startAgent({ upstreams: [fs], args: ['--upstream-timeout', '300ms', '--query-timeout', '1s', '--upstream-max-fails', '100', '--stale-window', '0'] });
    cleanup.push(() => a.stop());
    const seen: Record<string, number> = {};
    const problems: string[] = [];
    const check = (name: string, round: string, q: Buffer, r: Buffer): void => {
      const c = checkReply(r, q, q.indexOf(0, 12) + 5, true); // the question ends 4 bytes after the root label
      if (REASONS[c] !== 'ok') problems.push(`${name} (${round}): ${REASONS[c]} ${r.toString('hex')}`);
      try {
        dnsPacket.decode(r);
      } catch (e) {
        problems.push(`${name} (${round}): dns-packet cannot decode it (${(e as Error).message}) ${r.toString('hex')}`);
      }
      const rcode = r[3] & 0x0f;
      seen[rcode] = (seen[rcode] ?? 0) + 1;
    };
    const one = async (i: number) => {
      const name = `f${i}.fuzz.test`;
      const q = buildQuery(name, 'A', { id: i & 0xffff, edns: 1232 });
      const first = await exchange(a, q, 'udp', 10_000);
      check(name, 'miss', q, first);
      const again = await exchange(a, q, 'udp', 10_000); // from the cache, if it was stored
      check(name, 'again', q, again);
    };
    for (let i = 0; i < COUNT; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, COUNT - i) }, (_, k) => one(i + k)));
    }
    assert.deepEqual(problems, [], `FUZZ_SEED=${SEED}: malformed answers served:\n${problems.slice(0, 10).join('\n')}`);
    assert.ok((seen[2] ?? 0) > 0 && (seen[0] ?? 0) > 0, `FUZZ_SEED=${SEED}: both refused (SERVFAIL) and accepted replies expected, saw rcodes ${JSON.stringify(seen)}`);
    const alive = await exchange(a, buildQuery('localhost', 'A', { id: 1 }), 'udp', 5000);
    assert.equal(alive[3] & 0x0f, 0, `FUZZ_SEED=${SEED}: the agent still answers`);
  });
});
