// Hostile TCP clients (issue 14, items 1-3): one that pipelines queries and never reads,
// drip-feeding and silent connections that try to hold every slot, and a client that
// half-closes after its queries. Memory is asserted as a bound (VmHWM of the agent), the
// attacks as counts of legitimate answers; nothing here measures a duration.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { dig } from '../helpers/dig';
import { buildQuery } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';
import { freeAddress } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

/** ~2 KB of TXT: eight strings of 250 bytes. */
const BIG_TXT = Array.from({ length: 8 }, (_, i) => String.fromCharCode(97 + i).repeat(250));

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/** The agent's established TCP connections on its DNS port (ss, read-only): bytes it has not read, and bytes it has sent that the client has not taken. */
function agentSockets(agent: AgentProcess): { recv: number; send: number }[] {
  const out = execFileSync('ss', ['-Htn', 'state', 'established', `( sport = :${agent.port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(`${agent.address}:${agent.port}`)).map((l) => {
    const m = /^\s*(\d+)\s+(\d+)/.exec(l);
    return { recv: Number(m?.[1] ?? 0), send: Number(m?.[2] ?? 0) };
  });
}

const agentConnections = (agent: AgentProcess): number => agentSockets(agent).length;

const framed = (msg: Buffer) => Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 0xff]), msg]);

function connect(ep: { address: string; port: number }, localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ep.address, port: ep.port, localAddress });
    s.once('connect', () => { s.off('error', reject); resolve(s); });
    s.once('error', reject);
  });
}

/** Splits a TCP byte stream into DNS messages. */
function messages(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 2 <= data.length) {
    const len = data.readUInt16BE(off);
    if (off + 2 + len > data.length) break;
    out.push(data.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return out;
}

/** Holds `count` connections from the given source addresses; each one closed by the agent is opened again after a pause. */
class Holders {
  private readonly socks = new Set<net.Socket>();
  private stopped = false;
  opened = 0;
  closedByAgent = 0;

  constructor(private readonly ep: { address: string; port: number }, private readonly sources: string[],
    private readonly count: number, private readonly drip: boolean) {}

  get open(): number { return this.socks.size; }

  start(): void {
    for (let i = 0; i < this.count; i++) this.one(this.sources[i % this.sources.length]);
  }

  private one(source: string): void {
    if (this.stopped) return;
    const s = net.connect({ host: this.ep.address, port: this.ep.port, localAddress: source });
    this.socks.add(s);
    let timer: NodeJS.Timeout | undefined;
    s.on('connect', () => {
      this.opened++;
      // a message announced as 65,535 bytes that never comes whole: one byte every 4 s
      if (this.drip) timer = setInterval(() => s.write(Buffer.from([0xff])), 4000);
    });
    s.on('error', () => { /* reset by the agent */ });
    s.on('data', () => { /* nothing is ever answered */ });
    s.on('close', () => {
      clearInterval(timer);
      this.socks.delete(s);
      if (this.stopped) return;
      this.closedByAgent++;
      setTimeout(() => this.one(source), 250).unref();
    });
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.socks) s.destroy();
  }
}

/**
 * Nine queries from `source` that need TCP, one at a time: six `dig +tcp`, and three over UDP
 * whose 2 KB answer comes back truncated, so dig retries over TCP. How many were answered.
 */
async function legitimateTcp(agent: AgentProcess, source: string): Promise<{ answered: number; seen: string[] }> {
  let answered = 0;
  const seen: string[] = [];
  for (let i = 0; i < 9; i++) {
    const retry = i % 3 === 2;
    const r = retry
      ? await dig({ server: agent, name: 'big.f.test', type: 'TXT', bufsize: 1232, source, timeoutSec: 5, tries: 1 })
      : await dig({ server: agent, name: 'www.f.test', tcp: true, source, timeoutSec: 5, tries: 1 });
    const ok = retry ? r.transport === 'TCP' && r.answers.length > 0 : r.answers.some((a) => a.data === '192.0.2.5');
    if (r.status === 'NOERROR' && ok) answered++;
    seen.push(`${retry ? 'UDP then TCP' : 'TCP'}: ${r.status ?? r.error ?? 'no reply'}`);
  }
  return { answered, seen };
}

describe('TCP clients cannot hold more than their share', () => {
  let up: FaultServer;
  /** while set, answers to bigmiss* wait for it */
  let gate: Promise<void> | undefined;

  before(async () => {
    up = await startFaultServer({
      records: {
        'big.f.test': [{ type: 'TXT', data: BIG_TXT, ttl: 300 }],
        'www.f.test': [{ type: 'A', data: '192.0.2.5', ttl: 300 }],
      },
      handler: (q) => {
        if (q.name.toLowerCase().startsWith('miss')) return { answers: [{ name: q.name, type: 'A', ttl: 60, data: '192.0.2.7' }], delayMs: 300 };
        if (q.name.toLowerCase().startsWith('bigmiss')) {
          const answer = { answers: [{ name: q.name, type: 'TXT', ttl: 60, data: BIG_TXT }] };
          return gate ? gate.then(() => answer) : answer;
        }
        return undefined;
      },
    });
  });
  after(async () => { await up?.stop(); });

  it('a client that pipelines queries and never reads costs its connection\'s bound, not the agent\'s memory', async (t) => {
    const agent = await startAgent({ upstreams: [up], args: ['--tcp-idle-timeout', '3s'] });
    try {
      const before = statusKb(agent.pid, 'VmRSS');
      const s = await connect(agent);
      s.pause(); // never read: the kernel's buffers fill, then the agent's
      s.on('error', () => { /* reset when the agent closes it */ });
      const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => framed(buildQuery('big.f.test', 'TXT', { id: i }))));
      const total = 150_000; // ~300 MB of answers if nothing pushes back
      let sent = 0;
      while (sent < total && !s.destroyed) {
        sent += 1000;
        if (!s.write(batch)) {
          // the agent stopped reading: wait a while for it to take more, then stop pushing
          const drained = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => { s.off('drain', on); resolve(false); }, 5000);
            const on = () => { clearTimeout(timer); resolve(true); };
            s.once('drain', on);
          });
          if (!drained) break;
        }
      }
      const peak = statusKb(agent.pid, 'VmHWM');
      const now = statusKb(agent.pid, 'VmRSS');
      t.diagnostic(`queries pushed ${sent} of ${total}; agent RSS before ${before} kB, after ${now} kB, peak ${peak} kB`);
      assert.ok(peak - before < 96 * 1024, `agent peak RSS ${peak} kB grew more than 96 MB over ${before} kB while one client never read (${sent} queries pushed)`);
      // blocked past the idle timeout: the agent closes the connection
      await waitUntil('the agent to close the blocked connection', () => {
        return agentConnections(agent) === 0 ? true : undefined;
      }, 30_000);
      s.destroy();
      const r = await dig({ server: agent, name: 'www.f.test', tcp: true });
      assert.equal(r.status, 'NOERROR', r.output);
    } finally {
      await agent.stop();
    }
  });

  it('answers to queries in progress that pile up past twice the bound close the connection', async (t) => {
    // The misses are held upstream until the agent has stopped reading, so their answers
    // arrive on a full connection however fast this machine is and however much the kernel
    // buffers (its TCP buffers grow to megabytes: the hits are sent until they fill them).
    let release!: () => void;
    const released = new Promise<void>((r) => { release = r; });
    gate = released;
    const agent = await startAgent({ upstreams: [up], args: ['--tcp-idle-timeout', '120s', '--upstream-timeout', '60s', '--query-timeout', '60s'] });
    try {
      await dig({ server: agent, name: 'big.f.test', type: 'TXT', tcp: true }); // cached: the hits below answer at once
      const s = await connect(agent);
      s.pause();
      s.on('error', () => { /* reset */ });
      const tag = Date.now();
      s.write(Buffer.concat(Array.from({ length: 100 }, (_, i) => framed(buildQuery(`bigmiss${i}-${tag}.f.test`, 'TXT', { id: i })))));
      // the upstream holds queries from the tests before this one: count this test's misses
      const asked = () => new Set(up.queries.map((q) => q.name.toLowerCase()).filter((n) => n.startsWith('bigmiss') && n.includes(`-${tag}.`))).size;
      await waitUntil('the 100 misses to reach the upstream', () => (asked() === 100 ? true : undefined), PATIENCE_MS)
        .catch((e: Error) => { throw new Error(`${e.message}: ${asked()} of 100`); });
      // hits, a batch at a time, until the agent stops reading: its socket holds unread queries
      // and unsent answers, and neither moves between two looks
      const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => framed(buildQuery('big.f.test', 'TXT', { id: i }))));
      let batches = 0;
      let lastSend = -1;
      const stuck = await waitUntil('the agent to stop reading the connection that does not read', () => {
        const q = agentSockets(agent)[0];
        // unsent answers that do not move: the client's window is shut and the kernel full
        const still = q !== undefined && q.recv > 0 && q.send > 0 && q.send === lastSend;
        lastSend = q?.send ?? -1;
        if (still) return `${q.recv} unread, ${q.send} unsent`;
        if (s.writableLength < batch.length && batches < 100) { s.write(batch); batches++; }
        return undefined;
      }, PATIENCE_MS, 250);
      t.diagnostic(`hits sent: ${batches} batches of 1000; the agent's socket when it stopped reading: ${stuck} bytes`);
      release(); // ~200 KB of answers for a connection already at its bound
      await waitUntil('the agent to close the connection that does not read', () => {
        return agentConnections(agent) === 0 ? true : undefined;
      }, PATIENCE_MS);
      s.destroy();
    } finally {
      release();
      gate = undefined;
      await agent.stop();
    }
  });

  it('queries in progress count against the bound by their size', async (t) => {
    const silent = await startFaultServer({ behaviour: { fault: 'drop' } });
    const agent = await startAgent({ upstreams: [silent] });
    try {
      const tag = Date.now();
      // 128 misses of ~60 KB each (an EDNS padding option): a miss keeps its message until answered
      const queries = Array.from({ length: 128 }, (_, i) => {
        const q = buildQuery(`pad${i}-${tag}.f.test`, 'A', { edns: 1232, id: i });
        const pad = 60_000;
        q.writeUInt16BE(4 + pad, q.length - 2);
        const opt = Buffer.alloc(4 + pad);
        opt.writeUInt16BE(12, 0);
        opt.writeUInt16BE(pad, 2);
        return framed(Buffer.concat([q, opt]));
      });
      const s = await connect(agent);
      s.on('error', () => { /* closed at the end */ });
      const firstAnswer = new Promise<number>((resolve) => s.once('data', () => resolve(new Set(silent.queries.map((q) => q.name).filter((n) => n.toLowerCase().startsWith('pad'))).size)));
      s.write(Buffer.concat(queries));
      const asked = await firstAnswer;
      t.diagnostic(`distinct queries sent upstream before the first answer (SERVFAIL at the query timeout): ${asked} of 128`);
      assert.ok(asked >= 1 && asked <= 8, `${asked} queries of 60 KB were taken from one connection before any was answered`);
      s.destroy();
    } finally {
      await agent.stop();
      await silent.stop();
    }
  });

  it('what all connections hold together is bounded: past --tcp-max-pending-total the biggest holder goes', async (t) => {
    const agent = await startAgent({ upstreams: [up], args: ['--tcp-idle-timeout', '120s', '--tcp-max-pending-total', '1048576'] });
    const socks: net.Socket[] = [];
    try {
      await dig({ server: agent, name: 'big.f.test', type: 'TXT', tcp: true }); // cached: answered at once
      const batch = Buffer.concat(Array.from({ length: 1000 }, (_, i) => framed(buildQuery('big.f.test', 'TXT', { id: i }))));
      // 24 clients at their own addresses, each under its own bound, none reading
      for (let i = 0; i < 24; i++) {
        const s = await connect(agent, freeAddress());
        s.pause();
        s.on('error', () => { /* reset by the agent */ });
        socks.push(s);
      }
      const pushing = socks.map(async (s) => {
        for (let n = 0; n < 200 && !s.destroyed; n++) {
          if (s.write(batch)) continue;
          const drained = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => { s.off('drain', on); resolve(false); }, 3000);
            const on = () => { clearTimeout(timer); resolve(true); };
            s.once('drain', on);
          });
          if (!drained) return;
        }
      });
      await Promise.all(pushing);
      await waitUntil('the agent to close the biggest holders', () => (agentConnections(agent) < 24 ? true : undefined), PATIENCE_MS);
      t.diagnostic(`connections left open by the agent: ${agentConnections(agent)} of 24`);
      const r = await dig({ server: agent, name: 'www.f.test', tcp: true });
      assert.equal(r.status, 'NOERROR', r.output);
    } finally {
      for (const s of socks) s.destroy();
      await agent.stop();
    }
  });

  it('a message must arrive whole once it has begun: a drip-feeding connection is closed', async () => {
    const agent = await startAgent({ upstreams: [up] }); // --tcp-message-timeout 2s
    try {
      const s = await connect(agent);
      s.on('error', () => { /* reset */ });
      const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
      s.write(Buffer.from([0xff]));
      const drip = setInterval(() => { if (!s.destroyed) s.write(Buffer.from([0xff])); }, 300);
      let done = false;
      void closed.then(() => { done = true; });
      try {
        await waitUntil('the agent to close a connection that never completes its message', () => (done ? true : undefined), PATIENCE_MS);
      } finally {
        clearInterval(drip);
        s.destroy();
      }
    } finally {
      await agent.stop();
    }
  });

  it('legitimate TCP is answered while 3,000 drip-feeding connections from one address are open', async (t) => {
    const agent = await startAgent({ upstreams: [up] });
    const attacker = new Holders(agent, [freeAddress()], 3000, true);
    try {
      attacker.start();
      await waitUntil('the attacker\'s connections to be opened', () => (attacker.opened >= 3000 ? true : undefined), 60_000);
      const r = await legitimateTcp(agent, freeAddress());
      t.diagnostic(`legitimate TCP answered ${r.answered} of 9 with ${attacker.open} attacking sockets (${attacker.opened} opened, ${attacker.closedByAgent} closed by the agent)`);
      assert.equal(r.answered, 9, `answered ${r.answered} of 9: ${r.seen.join(', ')}`);
    } finally {
      attacker.stop();
      await agent.stop();
    }
  });

  it('legitimate TCP is answered while silent connections from 1,024 addresses fill every slot (the idlest makes room)', async (t) => {
    const agent = await startAgent({ upstreams: [up], args: ['--tcp-idle-timeout', '60s'] });
    const sources = Array.from({ length: 1024 }, (_, i) => `127.${200 + (i >> 8)}.${i & 0xff}.${1 + (i % 250)}`);
    const holders = new Holders(agent, sources, 1024, false);
    try {
      holders.start();
      await waitUntil('1,024 silent connections to be opened', () => (holders.opened >= 1024 ? true : undefined), 60_000);
      const r = await legitimateTcp(agent, freeAddress());
      t.diagnostic(`legitimate TCP answered ${r.answered} of 9 with ${holders.open} silent sockets (${holders.closedByAgent} closed by the agent)`);
      assert.equal(r.answered, 9, `answered ${r.answered} of 9: ${r.seen.join(', ')}`);
      assert.ok(holders.closedByAgent >= 1, 'room was made by closing an idle connection');
    } finally {
      holders.stop();
      await agent.stop();
    }
  });

  it('a client that half-closes after its queries gets every answer, cache misses included', async (t) => {
    const agent = await startAgent({ upstreams: [up] });
    try {
      const s = await connect(agent);
      const names = Array.from({ length: 10 }, (_, i) => `miss${i}-${Date.now()}.f.test`);
      s.write(Buffer.concat(names.map((n, i) => framed(buildQuery(n, 'A', { id: i + 1 })))));
      s.end(); // shutdown(SHUT_WR): no more queries, answers still wanted
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      const ended = await new Promise<boolean>((resolve) => {
        s.on('end', () => resolve(true));
        s.on('error', () => resolve(false));
        s.on('close', () => resolve(false));
      });
      const answers = messages(Buffer.concat(chunks)).map((m) => dnsPacket.decode(m));
      const answered = answers.filter((a) => a.rcode === 'NOERROR' && a.answers?.length === 1).length;
      t.diagnostic(`half-closed client: ${answered} of 10 cache misses answered; closed by the agent with FIN: ${ended}`);
      assert.equal(answered, 10, `answered ${answered} of 10`);
      assert.ok(ended, 'the agent closed its side after the last answer');
      s.destroy();
    } finally {
      await agent.stop();
    }
  });
});
