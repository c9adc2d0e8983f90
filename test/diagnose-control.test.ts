// The control socket: a real agent in this process, its state and queries over the unix
// socket, the loop probe against a real dnsmasq that forwards back to the agent, and the
// socket's life cycle (left-over files, a second agent on the same path, removal on close).
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { loadConfig } from '../src/config/load';
import type { Config } from '../src/config/types';
import { ControlClient, findAgent } from '../src/diagnose/control-client';
import { startControlServer, type ControlServer } from '../src/diagnose/control-server';
import { openQueryPath } from '../src/diagnose/query-path';
import { Agent } from '../src/serve/agent';
import { startDnsmasq, type DnsmasqServer } from './helpers/dnsmasq';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { freeAddress, freePort, hostPort } from './helpers/ports';

const log = pino({ level: 'silent' });

async function agentConfig(extra: string[]): Promise<Config> {
  const ip = freeAddress();
  const port = await freePort(ip);
  return loadConfig(['--local-ip', ip, '--port', String(port), '--no-setup-interface', '--firewall', 'none',
    '--metrics-addr', '', '--health-addr', '', ...extra], {}).config;
}

describe('control socket', () => {
  let dir: string;
  let fault: FaultServer;
  let agent: Agent;
  let config: Config;
  let server: ControlServer;
  let client: ControlClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diag-control-'));
    fault = await startFaultServer({ records: { 'www.f.test': [{ type: 'A', data: '192.0.2.5', ttl: 60 }] } });
    config = await agentConfig(['--upstream', hostPort(fault), '--cluster-dns', hostPort(fault), '--control-socket', join(dir, 'nodedns', 'control.sock')]);
    agent = await Agent.start({ config, log });
    server = await startControlServer(agent, config, log);
    client = new ControlClient(server.path);
  });

  after(async () => {
    await server?.close();
    await agent?.stop(false);
    await fault?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates its directory and a socket only root can use', () => {
    assert.equal(server.path, config.controlSocket);
    assert.ok(existsSync(server.path));
  });

  it('GET /state: config in effect, routes, upstream health, readiness, cache sizes', async () => {
    const s = await client.state();
    assert.equal(s.pid, process.pid);
    assert.deepEqual(s.config.localIps, config.localIps);
    assert.deepEqual(s.readiness, { ready: true, missing: [] });
    assert.deepEqual(s.routes.map((r) => `${r.zone}:${r.kind}`), ['cluster.local:cluster', 'in-addr.arpa:cluster', 'ip6.arpa:cluster', '.:upstream']);
    assert.ok(s.upstreams.every((u) => u.address === hostPort(fault) && u.healthy));
    assert.equal(s.upstreamSource.source, '--upstream');
    assert.deepEqual(s.cache, { positive: 0, negative: 0 });
  });

  it('POST /query goes through the agent\'s routing and cache: a miss, then a hit', async () => {
    const first = await client.query('www.f.test', 'A');
    assert.equal(first.cache, 'miss');
    assert.equal(first.upstream, hostPort(fault));
    assert.equal(first.routeKind, 'upstream');
    assert.deepEqual(first.summary.addresses, ['192.0.2.5']);
    const second = await client.query('www.f.test', 'A');
    assert.equal(second.cache, 'hit');
    assert.equal(second.upstream, undefined);
    assert.equal(fault.count({ name: 'www.f.test' }), 1, 'the second answer came from the cache');
    assert.equal((await client.state()).cache.positive, 1);
    const local = await client.query('kube-health.localhost', 'A');
    assert.equal(local.routeKind, 'local');
    assert.deepEqual(local.summary.addresses, ['127.0.0.1']);
  });

  it('refuses bad requests with a message that says what is wrong', async () => {
    await assert.rejects(client.query('bad name', 'A'), /not a domain name/);
    await assert.rejects(client.query('www.f.test', 'BOGUS'), /not a record type/);
  });

  it('explain/query use the live agent when it answers, and say so', async () => {
    const path = await openQueryPath(config);
    assert.equal(path.mode, 'live');
    assert.match(path.describe, new RegExp(`pid ${process.pid}`));
    const off = await openQueryPath({ ...config, controlSocket: join(dir, 'nobody.sock') });
    try {
      assert.equal(off.mode, 'direct');
      assert.match(off.describe, /no agent answers/);
      const r = await off.query('www.f.test', 'A');
      assert.equal(r.cache, 'miss', 'the direct path has its own, empty cache');
      assert.deepEqual(r.summary.addresses, ['192.0.2.5']);
    } finally {
      await off.close();
    }
  });

  it('POST /loop-check: no loop when the upstream answers by itself', async () => {
    const r = await client.loopCheck(1000);
    assert.equal(r.results.length, 2, 'the cluster pool and the upstream pool');
    assert.ok(r.results.every((x) => !x.loop && x.answer === 'NXDOMAIN'), JSON.stringify(r.results));
    assert.match(r.results[0].name, /^[0-9a-f]{12}\.nodedns-loop-check\.cluster\.local$/);
  });

  it('a second agent on the same socket path runs without it; a left-over file is replaced', async () => {
    const other = await startControlServer(agent, config, log);
    assert.equal(other.path, '', 'the live socket is not taken over');
    const stalePath = join(dir, 'stale.sock');
    writeFileSync(stalePath, 'left over by a crash');
    const s = await startControlServer(agent, { ...config, controlSocket: stalePath }, log);
    try {
      assert.equal(s.path, stalePath);
      assert.equal((await new ControlClient(stalePath).state()).pid, process.pid);
    } finally {
      await s.close();
    }
    assert.ok(!existsSync(stalePath), 'close() removes the socket');
    assert.match(((await findAgent(stalePath)) as { reason: string }).reason, /no agent answers/);
    assert.match(((await findAgent('')) as { reason: string }).reason, /control socket is off/);
  });
});

describe('loop probe (seed 000)', () => {
  let dir: string;
  let agent: Agent;
  let dnsmasq: DnsmasqServer;
  let server: ControlServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diag-loop-'));
    // dnsmasq forwards everything to the agent; the agent forwards everything to dnsmasq
    const ip = freeAddress();
    const port = await freePort(ip);
    dnsmasq = await startDnsmasq({ servers: [{ address: ip, port }] });
    const config = loadConfig(['--local-ip', ip, '--port', String(port), '--no-setup-interface', '--firewall', 'none', '--metrics-addr', '',
      '--health-addr', '', '--upstream', hostPort(dnsmasq), '--upstream-timeout', '300ms', '--query-timeout', '600ms',
      '--control-socket', join(dir, 'c.sock')], {}).config;
    agent = await Agent.start({ config, log });
    server = await startControlServer(agent, config, log);
  });

  after(async () => {
    await server?.close();
    await agent?.stop(false);
    await dnsmasq?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees its probe come back through the upstream, and answers it so the loop ends', async () => {
    const r = await new ControlClient(server.path).loopCheck(2000);
    const up = r.results.find((x) => x.kind === 'upstream')!;
    assert.equal(up.server, hostPort(dnsmasq));
    assert.equal(up.loop, true, JSON.stringify(r.results));
    assert.match(up.cameBackFrom!, /^127\./);
    assert.equal(up.answer, 'SERVFAIL', 'dnsmasq relays the SERVFAIL nodedns gave the returning probe');
    // the agent answered the returning probe itself: dnsmasq saw it once and forwarded it once
    assert.equal(dnsmasq.count({ name: up.name }), 1);
    assert.equal(dnsmasq.forwarded.filter((f) => f.name === up.name).length, 1);
  });
});
