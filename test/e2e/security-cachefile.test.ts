// The warm-restart cache file is untrusted input (issue 14): damaged, truncated,
// future-dated, over-long-TTL and oversized files cost entries, never a wrong answer,
// and never more memory than the cache itself.
import { strict as assert } from 'node:assert';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { startAgent, type AgentProcess } from '../helpers/agent';
import { buildQuery, exchange } from '../helpers/dns-query';
import { startFaultServer, type FaultServer } from '../helpers/fault-server';

const N = 70;
const nameOf = (i: number) => `n${i}.file.test`;
const ipOf = (i: number) => `10.0.${i}.1`;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A line with a checksum in front (this build's format) gets a fresh one: what a consistent but wrong writer would leave. */
function reseal(line: string): string {
  const m = /^([0-9a-f]{8}) (.*)$/.exec(line);
  return m ? `${crc32(m[2]).toString(16).padStart(8, '0')} ${m[2]}` : line;
}
const json = (line: string) => JSON.parse(line.replace(/^[0-9a-f]{8} /, '')) as { s: number; t: number; w: string };
const withJson = (line: string, rec: object) => reseal(line.replace(/\{.*$/, JSON.stringify(rec)));

interface Result { right: number; wrong: string[]; failed: number; ttls: number[] }

async function askAll(a: AgentProcess): Promise<Result> {
  const r: Result = { right: 0, wrong: [], failed: 0, ttls: [] };
  await Promise.all(Array.from({ length: N }, async (_, i) => {
    let reply;
    try {
      reply = dnsPacket.decode(await exchange(a, buildQuery(nameOf(i), 'A', { id: i }), 'udp', 5000));
    } catch (e) {
      r.wrong.push(`${nameOf(i)}: unparseable (${(e as Error).message})`);
      return;
    }
    const data = (reply.answers ?? []).map((x) => String(x.data));
    if (reply.rcode === 'SERVFAIL' && data.length === 0) { r.failed++; return; }
    if (data.length === 1 && data[0] === ipOf(i) && reply.answers![0].name.toLowerCase() === nameOf(i)) {
      r.right++;
      r.ttls.push(reply.answers![0].ttl!);
    } else {
      r.wrong.push(`${nameOf(i)}: ${reply.rcode} ${JSON.stringify(reply.answers)}`);
    }
  }));
  return r;
}

describe('the cache file is untrusted input', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-cachefile-'));
  after(async () => { for (const c of cleanup.reverse()) await c(); rmSync(dir, { recursive: true, force: true }); });
  let up: FaultServer;
  let good = '';

  const agent = async (file: string, args: string[] = []) => {
    const a = await startAgent({ upstreams: [up], args: ['--cache-file', file, '--upstream-timeout', '200ms', '--query-timeout', '1s', '--success-ttl', '300s', ...args] });
    cleanup.push(() => a.stop());
    return a;
  };
  /** Starts an agent on `text` as its cache file, with the upstream silent: every answer comes from the file or is SERVFAIL. */
  const restart = async (tag: string, text: string, args: string[] = []) => {
    const file = join(dir, tag);
    writeFileSync(file, text);
    const a = await agent(file, args);
    const r = await askAll(a);
    await a.stop();
    return { r, a };
  };

  it('writes a file to damage (70 answers)', async () => {
    up = await startFaultServer({ handler: (q) => {
      const i = Number(/^n(\d+)\./i.exec(q.name)?.[1]);
      return { answers: [{ name: q.name, type: 'A', ttl: 300, data: ipOf(i) }] };
    } });
    cleanup.push(() => up.stop());
    const file = join(dir, 'good');
    const a = await agent(file);
    assert.equal((await askAll(a)).right, N);
    await a.stop();
    good = readFileSync(file, 'utf8');
    assert.equal(good.trim().split('\n').length, N + 1, good.slice(0, 300));
    up.set({ fault: 'drop' });
    const back = await restart('good-again', good);
    assert.equal(back.r.right, N, 'an intact file restores every answer');
  });

  it('1-4 bytes changed in every entry: no wrong or unparseable answer after restart (5 seeds)', async () => {
    const [magic, ...lines] = good.trim().split('\n');
    const perSeed: string[] = [];
    let wrong = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const rnd = prng(seed);
      const damaged = lines.map((l) => {
        const b = Buffer.from(l, 'latin1');
        for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) b[Math.floor(rnd() * b.length)] = 0x20 + Math.floor(rnd() * 95);
        return b.toString('latin1');
      });
      const { r, a } = await restart(`damaged-${seed}`, [magic, ...damaged].join('\n') + '\n');
      perSeed.push(`seed ${seed}: ${r.wrong.length} wrong, ${r.right} right, ${r.failed} SERVFAIL of ${N}${r.wrong.length ? ` (${r.wrong[0]})` : ''}`);
      wrong += r.wrong.length;
      assert.equal(r.right + r.failed + r.wrong.length, N);
      if (r.failed > 0 && wrong === 0) assert.ok(a.logs.some((l) => String(l.msg).includes('skipped damaged entries')), a.tail());
    }
    assert.equal(wrong, 0, `wrong or unparseable answers after restart:\n${perSeed.join('\n')}`);
  });

  it('a truncated file keeps the entries before the cut', async () => {
    const cut = good.slice(0, Math.floor(good.length / 2) + 17);
    const { r } = await restart('truncated', cut);
    assert.deepEqual(r.wrong, []);
    assert.ok(r.right >= N / 2 - 2, `only ${r.right} answers restored from the first half`);
  });

  it('refuses timestamps from the future and re-caps TTLs by the current configuration', async () => {
    const [magic, ...lines] = good.trim().split('\n');
    const future = lines.map((l, i) => (i % 2 === 0 ? withJson(l, { ...json(l), s: Date.now() + 10 * 365 * 86400_000 }) : l));
    const { r } = await restart('future', [magic, ...future].join('\n') + '\n');
    assert.deepEqual(r.wrong, []);
    assert.equal(r.right, N / 2, 'the future-dated half is refused');
    for (const t of r.ttls) assert.ok(t <= 300, `TTL ${t} after a future timestamp`);
    // saved under --success-ttl 300s, restarted under 120s (not yet expired: a stale answer would say 30)
    const capped = await restart('recap', good, ['--success-ttl', '120s']);
    assert.equal(capped.r.right, N);
    for (const t of capped.r.ttls) assert.ok(t <= 120, `TTL ${t} kept from the file over --success-ttl 120s`);
    // a resealed entry whose answer was swapped for another name's is refused (the key is its question)
    const swapped = lines.map((l, i) => (i === 0 ? withJson(l, { ...json(l), w: json(lines[1]).w }) : l));
    const s = await restart('swapped', [magic, ...swapped].join('\n') + '\n');
    assert.deepEqual(s.r.wrong, []);
  });

  it('refuses a file larger than the cache could be without reading it into memory', async () => {
    const file = join(dir, 'huge');
    const fd = openSync(file, 'w');
    const [magic] = good.split('\n');
    writeSync(fd, magic + '\n');
    const block = Buffer.alloc(1 << 20, 'A'); // one 96 MiB "line"
    for (let i = 0; i < 96; i++) writeSync(fd, block);
    closeSync(fd);
    const a = await agent(file, ['--cache-size', '100', '--negative-cache-size', '100']);
    const status = readFileSync(`/proc/${a.pid}/status`, 'utf8');
    const peakKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    await a.stop('SIGKILL'); // not SIGTERM: the file must not be rewritten before the next check
    rmSync(file);
    assert.ok(peakKb > 0 && peakKb < 150 * 1024, `peak RSS ${Math.round(peakKb / 1024)} MiB while starting on a 96 MiB cache file`);
  });
});
