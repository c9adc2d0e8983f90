// Bad input never hurts: 100,000+ random and mutated packets over UDP and TCP, then
// the agent must still be alive, answer correctly, and hold its memory.
import { strict as assert } from 'node:assert';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { buildQuery } from '../helpers/dns-query';
import { dig } from '../helpers/dig';
import { simpleZone, startKnot, type KnotServer } from '../helpers/knot';

const UDP_PACKETS = 80_000;
const TCP_PACKETS = 25_000;

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

const SEEDS = [
  buildQuery('www.example.net', 'A'),
  buildQuery('www.example.net', 'AAAA', { edns: 1232, dnssecOk: true }),
  buildQuery('x.y.z.example.net', 'TXT', { edns: 4096 }),
  buildQuery('localhost', 'A'),
  buildQuery('example.net', 'SOA', { edns: 512 }),
];

/** Valid queries with bytes flipped, cut, extended, or random bytes outright. */
function packet(): Buffer {
  const kind = randomInt(0, 6);
  if (kind === 0) return randomBytes(randomInt(0, 600));
  const seed = Buffer.from(SEEDS[randomInt(0, SEEDS.length)]);
  if (kind === 1) return seed.subarray(0, randomInt(0, seed.length));
  if (kind === 2) return Buffer.concat([seed, randomBytes(randomInt(1, 40))]);
  const flips = randomInt(1, 6);
  for (let i = 0; i < flips; i++) seed[randomInt(0, seed.length)] = randomInt(0, 256);
  if (kind === 3) seed[2] &= 0x7f; // keep QR clear so more packets go deep into the parser
  return seed;
}

describe('fuzzing the listeners', () => {
  let knot: KnotServer;
  let agent: AgentProcess;
  before(async () => {
    knot = await startKnot({ zones: { 'example.net': simpleZone('example.net', 'www A 192.0.2.80\n* A 192.0.2.81') } });
    agent = await startAgent({ upstreams: [knot], args: ['--upstream-timeout', '500ms', '--query-timeout', '1s', '--tcp-idle-timeout', '2s'] });
  });
  after(async () => {
    await agent?.stop();
    await knot?.stop();
  });

  it(`survives ${UDP_PACKETS + TCP_PACKETS} random and mutated packets and still answers correctly`, async () => {
    const ok = await dig({ server: agent, name: 'www.example.net' });
    assert.deepEqual(ok.answers.map((a) => a.data), ['192.0.2.80']);
    const rssBefore = rssKiB(agent.pid);

    const sock = createSocket('udp4');
    sock.on('message', () => { /* replies are not the point */ });
    for (let sent = 0; sent < UDP_PACKETS; sent += 500) {
      await Promise.all(Array.from({ length: 500 }, () => new Promise<void>((r) => sock.send(packet(), agent.port, agent.address, () => r()))));
      await new Promise((r) => setImmediate(r));
    }
    sock.close();

    // The agent closes a connection on a zero-length frame or a lying length, as it should.
    // Then the sender opens another: every frame gets written, however often that happens
    // (counting frames on 25 fixed connections fell short of a fixed share now and then).
    let tcpSent = 0;
    let connections = 0;
    const sendOn = (c: number) => new Promise<void>((resolve) => {
      const s = connect({ host: agent.address, port: agent.port });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.on('data', () => { /* drain */ });
      s.on('connect', async () => {
        for (let i = 0; tcpSent < TCP_PACKETS && !s.destroyed; i++) {
          const p = packet();
          const frame = Buffer.allocUnsafe(p.length + 2);
          // one connection in five lies about lengths now and then: the server must cope
          frame.writeUInt16BE(c % 5 === 0 && i % 97 === 0 ? randomInt(0, 65536) : p.length, 0);
          p.copy(frame, 2);
          tcpSent++;
          if (!s.write(frame)) await new Promise((r) => { s.once('drain', r); s.once('close', r); });
        }
        s.end();
      });
    });
    await Promise.all(Array.from({ length: 25 }, async (_, c) => {
      // bounded: a dead agent refuses every connection at once
      while (tcpSent < TCP_PACKETS && connections < 5_000) {
        connections++;
        await sendOn(c);
      }
    }));
    assert.ok(tcpSent >= TCP_PACKETS, `sent ${tcpSent} TCP frames over ${connections} connections`);

    // Alive, correct, and not holding what the junk cost.
    assert.equal(agent.child.exitCode ?? null, null, `agent exited: ${agent.tail()}`);
    const after1 = await dig({ server: agent, name: 'www.example.net' });
    assert.deepEqual(after1.answers.map((a) => a.data), ['192.0.2.80'], after1.output);
    const viaTcp = await dig({ server: agent, name: 'other.example.net', tcp: true });
    assert.deepEqual(viaTcp.answers.map((a) => a.data), ['192.0.2.81']);
    await new Promise((r) => setTimeout(r, 1500));
    const rssAfter = rssKiB(agent.pid);
    assert.ok(rssAfter < 200 * 1024, `RSS ${rssAfter} KiB after fuzzing (was ${rssBefore} KiB)`);
    assert.equal(agent.text.filter((l) => /Error|uncaught/i.test(l)).length, 0, agent.text.join('\n'));
  });
});
