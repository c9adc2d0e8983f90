// Forged upstream replies with the source port known (as a process on the node reads it in
// /proc/net/udp). The forger sits at the upstream's own address and port, so its datagrams
// pass the connected socket's filter exactly as spoofed ones would:
//  - "oracle": it also knows the query ID and races the real reply with a forged one, lower
//    case; only the 0x20 letter case tells them apart;
//  - "flood": it does not know the ID and sends replies for every ID before the real one;
//    the unwanted-reply threshold drops the socket and asks again over TCP.
// SPOOF_FLOOD_WINDOWS=<n> runs more flood windows (default 5).
import { strict as assert } from 'node:assert';
import { createSocket, type Socket } from 'node:dgram';
import * as net from 'node:net';
import { after, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { startAgent } from '../helpers/agent';
import { startFaultServer } from '../helpers/fault-server';
import { buildQuery, exchange } from '../helpers/dns-query';
import { freeAddress, freePort, type Endpoint } from '../helpers/ports';
import { httpGet, key, parseExposition } from './observe-scrape';

const REAL = '192.0.2.1';
const FORGED = '6.6.6.6';

function answer(id: number, name: string, data: string, type = 'A'): Buffer {
  return dnsPacket.encode({
    type: 'response', id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
    answers: [{ name, type: 'A', ttl: 60, data }],
  });
}

interface Forger extends Endpoint {
  udpQueries: number;
  tcpQueries: number;
  forgedSent: number;
  stop(): Promise<void>;
}

async function startForger(mode: 'oracle' | 'flood'): Promise<Forger> {
  const address = freeAddress();
  const port = await freePort(address);
  const udp: Socket = createSocket('udp4');
  const f: Forger = { address, port, udpQueries: 0, tcpQueries: 0, forgedSent: 0, stop: async () => {} };
  let stopped = false;
  udp.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    const { name, type } = q.questions![0];
    f.udpQueries++;
    const send = (b: Buffer) => { if (!stopped) udp.send(b, rinfo.port, rinfo.address, () => { /* closed port: fine */ }); };
    const real = answer(q.id!, name, REAL, type); // echoes the question as asked
    if (mode === 'oracle') {
      send(answer(q.id!, name.toLowerCase(), FORGED, type));
      f.forgedSent++;
      send(real);
      return;
    }
    // every ID but the real one first, in batches so the server keeps serving TCP meanwhile
    const start = Math.floor(Math.random() * 65536);
    let i = 0;
    const batch = () => {
      for (const end = Math.min(i + 1024, 65536); i < end; i++) {
        const id = (start + i) & 0xffff;
        send(answer(id, name.toLowerCase(), FORGED, type));
        f.forgedSent++;
      }
      if (i < 65536 && !stopped) setImmediate(batch);
      else send(real);
    };
    batch();
  });
  await new Promise<void>((res) => udp.bind(port, address, () => res()));
  const conns = new Set<net.Socket>();
  const tcp = net.createServer((s) => {
    conns.add(s);
    s.on('close', () => conns.delete(s));
    s.on('error', () => s.destroy());
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const q = dnsPacket.decode(msg);
        f.tcpQueries++;
        const r = answer(q.id!, q.questions![0].name, REAL, q.questions![0].type);
        const len = Buffer.alloc(2);
        len.writeUInt16BE(r.length);
        s.write(Buffer.concat([len, r]));
      }
    });
  });
  await new Promise<void>((res) => tcp.listen(port, address, () => res()));
  f.stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of conns) c.destroy();
    await Promise.all([new Promise<void>((r) => udp.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
  };
  return f;
}

/** Names with 26+ letters: a forger guessing the case wins with odds of 2^-26. */
const windowName = (i: number) => `w${i}-abcdefghijklmnopqrstuvwxyz.spoof.test`;

/** Asks each window's name once; returns how many answers carried the forged address, and how many the real one. */
async function windows(ep: Endpoint, n: number): Promise<{ poisoned: number; real: number; other: string[] }> {
  let poisoned = 0;
  let real = 0;
  const other: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = dnsPacket.decode(await exchange(ep, buildQuery(windowName(i), 'A', { id: i }), 'udp', 10_000));
    const data = (r.answers ?? []).map((a) => String(a.data));
    if (data.includes(FORGED)) poisoned++;
    else if (data.includes(REAL)) real++;
    else other.push(`${windowName(i)}: rcode ${r.rcode} ${JSON.stringify(data)}`);
  }
  return { poisoned, real, other };
}

async function metric(addr: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const r = await httpGet(`http://${addr}/metrics`);
  return (await parseExposition(r.body)).samples.get(key(name, labels)) ?? 0;
}

describe('forged upstream replies with the port known', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });

  async function agentFor(f: Forger, args: string[] = []) {
    const ip = freeAddress();
    const metrics = `${ip}:${await freePort(ip)}`;
    const a = await startAgent({ localIps: [ip], upstreams: [f], args: ['--metrics-addr', metrics, '--upstream-timeout', '3s', '--query-timeout', '8s', ...args] });
    cleanup.push(() => a.stop());
    return { a, metrics };
  }

  it('0x20: a forged reply with the right ID and port but not our letter case is never accepted (100 windows)', async () => {
    const f = await startForger('oracle');
    cleanup.push(() => f.stop());
    const { a, metrics } = await agentFor(f);
    const r = await windows(a, 100);
    assert.equal(r.poisoned, 0, `forged answers accepted in ${r.poisoned} of 100 windows`);
    assert.equal(r.real, 100, r.other.join('\n'));
    assert.equal(f.forgedSent, 100);
    assert.equal(await metric(metrics, 'nodedns_upstream_unwanted_replies_total', { reason: 'case' }), 100);
  });

  it('control: the same forger wins without 0x20, so the test above measures the defence', async () => {
    const f = await startForger('oracle');
    cleanup.push(() => f.stop());
    const { a } = await agentFor(f, ['--no-upstream-0x20']);
    const r = await windows(a, 20);
    assert.ok(r.poisoned > 0, `the oracle forger should beat an agent without 0x20 (poisoned ${r.poisoned} of 20)`);
  });

  it('a flood of wrong-ID replies moves the query to TCP after --unwanted-reply-threshold, and none is accepted', async () => {
    const f = await startForger('flood');
    cleanup.push(() => f.stop());
    const { a, metrics } = await agentFor(f);
    const n = Number(process.env.SPOOF_FLOOD_WINDOWS ?? 5); // each window is 65,536 forged datagrams
    const r = await windows(a, n);
    assert.equal(r.poisoned, 0, `forged answers accepted in ${r.poisoned} of ${n} windows`);
    assert.equal(r.real, n, r.other.join('\n'));
    assert.equal(f.tcpQueries, n, 'each window was asked again over TCP');
    assert.equal(await metric(metrics, 'nodedns_upstream_spoof_suspected_total'), n);
    await a.waitForLog('replies forged at this query');
    await f.stop(); // floods still being sent must not load the machine for the next test
  });

  it('an upstream that does not keep the letter case is never stuck: asked again without 0x20, then without it for good, logged once', async () => {
    // dns-packet echoes the name as asked; this one lower-cases it in the reply, as some servers do
    const lower = await startFaultServer({
      handler: (q) => ({
        answers: [{ name: q.name, type: 'A', ttl: 60, data: REAL }],
        mutate: (b) => {
          for (let i = 12; b[i] !== 0; i += b[i] + 1) for (let k = i + 1; k <= i + b[i]; k++) if (b[k] >= 0x41 && b[k] <= 0x5a) b[k] |= 0x20;
          return b;
        },
      }),
    });
    cleanup.push(() => lower.stop());
    const ip = freeAddress();
    const metrics = `${ip}:${await freePort(ip)}`;
    const a = await startAgent({ localIps: [ip], upstreams: [lower], args: ['--metrics-addr', metrics] });
    cleanup.push(() => a.stop());
    for (let i = 0; i < 6; i++) {
      const r = dnsPacket.decode(await exchange(a, buildQuery(`k${i}.case.test`, 'A', { id: i }), 'udp', 10_000));
      assert.deepEqual((r.answers ?? []).map((x) => x.data), [REAL], `query ${i}: ${r.rcode}`);
    }
    assert.equal(await metric(metrics, 'nodedns_upstream_case_fallbacks_total'), 3, 'three fallbacks, then no more 0x20');
    assert.equal(a.logs.filter((l) => String(l.msg).includes('did not echo the letter case')).length, 1, a.tail());
    const last = lower.queries.filter((q) => q.name.toLowerCase() === 'k5.case.test');
    assert.deepEqual(last.map((q) => q.name), ['k5.case.test'], 'asked once, in the client\'s own spelling');
  });
});
