// Listeners: both families in one process, RFC 7766 TCP behaviour, limits, bind errors.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { CLI, startAgent, type AgentProcess } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { buildQuery } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { simpleZone, startKnot } from '../helpers/knot';
import { freeAddress, freePort, hostPort } from '../helpers/ports';
import * as dnsPacket from 'dns-packet';

function frame(b: Buffer): Buffer {
  const f = Buffer.allocUnsafe(b.length + 2);
  f.writeUInt16BE(b.length, 0);
  b.copy(f, 2);
  return f;
}

/** Reads framed replies from a TCP socket in arrival order. */
function replies(s: Socket): { got: dnsPacket.Packet[]; wait: (n: number, ms?: number) => Promise<void> } {
  const got: dnsPacket.Packet[] = [];
  let buf = Buffer.alloc(0);
  s.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      got.push(dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
      buf = buf.subarray(2 + buf.readUInt16BE(0));
    }
  });
  const wait = async (n: number, ms = 3000) => {
    const until = Date.now() + ms;
    while (got.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  };
  return { got, wait };
}

describe('listeners', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  let up: FaultServer;
  async function agent(args: string[] = [], localIps?: string[]): Promise<AgentProcess> {
    if (!up) {
      up = await startFaultServer({ records: { 'a.example': [{ type: 'A', data: '192.0.2.1', ttl: 60 }], 'slow.example': [{ type: 'A', data: '192.0.2.2', ttl: 60 }] } });
      cleanup.push(() => up.stop());
    }
    const a = await startAgent({ upstreams: [up], localIps, args });
    cleanup.push(() => a.stop());
    return a;
  }

  it('serves IPv4 and IPv6 addresses from one process', async () => {
    const v4 = freeAddress();
    const a = await agent([], [v4, '::1']);
    const r4 = await dig({ server: { address: v4, port: a.port }, name: 'a.example' });
    const r6 = await dig({ server: { address: '::1', port: a.port }, name: 'a.example', tcp: true });
    assert.deepEqual([r4.answers[0]?.data, r6.answers[0]?.data], ['192.0.2.1', '192.0.2.1']);
  });

  it('answers pipelined TCP queries as they complete, out of order', async () => {
    const a = await agent(['--upstream-timeout', '2s']);
    up.setHandler((q) => (q.name.toLowerCase() === 'slow.example' ? { delayMs: 500 } : undefined));
    const s = connect({ host: a.address, port: a.port });
    cleanup.push(async () => s.destroy());
    const r = replies(s);
    await new Promise((res) => s.once('connect', res));
    s.write(Buffer.concat([frame(buildQuery('slow.example', 'A', { id: 1 })), frame(buildQuery('localhost', 'A', { id: 2 })), frame(buildQuery('a.example', 'A', { id: 3 }))]));
    await r.wait(3);
    up.setHandler(undefined);
    assert.deepEqual(r.got.map((p) => p.id).sort(), [1, 2, 3]);
    assert.equal(r.got[r.got.length - 1].id, 1, 'the slow answer came last');
  });

  it('closes idle TCP connections and caps their number', async () => {
    const a = await agent(['--tcp-idle-timeout', '300ms', '--tcp-max-connections', '2']);
    const open = () => new Promise<Socket>((res) => { const s = connect({ host: a.address, port: a.port }, () => res(s)); s.on('error', () => {}); });
    // within 8 s: the flag's 300 ms, not the default 10 s, with room for a busy machine
    const closed = (s: Socket) => new Promise<boolean>((res) => { if (s.destroyed) res(true); s.once('close', () => res(true)); setTimeout(() => res(false), 8000); });
    const s1 = await open();
    const s2 = await open();
    const s3 = await open();
    assert.equal(await closed(s3), true, 'a third connection is refused');
    assert.equal(await closed(s1), true, 'idle connection closed');
    await closed(s2);
  });

  it('sends cluster-domain queries over TCP when told to', async () => {
    const knot = await startKnot({ zones: { 'cluster.local': simpleZone('cluster.local', 'kubernetes.default.svc A 10.96.0.1') } });
    cleanup.push(() => knot.stop());
    const a = await agent(['--cluster-dns', hostPort(knot), '--cluster-dns-transport', 'tcp']);
    const r = await dig({ server: a, name: 'kubernetes.default.svc.cluster.local' });
    assert.deepEqual(r.answers.map((x) => x.data), ['10.96.0.1']);
    const stats = await knot.stats();
    const udp = Object.entries(stats).filter(([k]) => /request-protocol\[udp/.test(k)).reduce((n, [, v]) => n + v, 0);
    const tcp = Object.entries(stats).filter(([k]) => /request-protocol\[tcp/.test(k)).reduce((n, [, v]) => n + v, 0);
    assert.ok(tcp >= 1 && udp <= 1, `tcp ${tcp}, udp ${udp} (the readiness probe may be UDP)`);
  });

  it('says which address failed to bind and why', async () => {
    const port = await freePort('127.0.0.1');
    const notLocal = spawnSync(process.execPath, [CLI, 'run', '--local-ip', '192.0.2.123', '--port', String(port), '--upstream', '127.0.0.1', '--no-setup-interface', '--firewall', 'none', '--metrics-addr', '', '--health-addr', '', '--control-socket', ''], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(notLocal.status, 1);
    assert.match(notLocal.stderr, /cannot listen on udp 192\.0\.2\.123:\d+: the address is not on any interface of this node/);
    const a = await agent();
    const taken = spawnSync(process.execPath, [CLI, 'run', '--local-ip', a.address, '--port', String(a.port), '--upstream', '127.0.0.1', '--no-setup-interface', '--firewall', 'none', '--metrics-addr', '', '--health-addr', '', '--control-socket', ''], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(taken.status, 1);
    assert.match(taken.stderr, /another process already uses it/);
  });
});
