// /health and /ready of startObservability() in this process, around a real Agent: 503
// "listeners not bound" before the agent serves, 200 once it does, 503 again when node
// setup is incomplete or a stop has begun; the HTTP edges (404, 405, HEAD, bind errors).
import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../src/config/load';
import type { Config } from '../src/config/types';
import { createLogger } from '../src/observe/log';
import { startObservability, type NodeSetupState } from '../src/observe/observability';
import { Agent } from '../src/serve/agent';
import { BindError } from '../src/serve/listen-errors';
import { startFaultServer } from './helpers/fault-server';
import { freeAddress, freePort, hostPort } from './helpers/ports';
import { httpGet } from './e2e/observe-scrape';

const log = createLogger('warn');

async function config(upstream: string, extra: string[] = []): Promise<Config> {
  const ip = freeAddress();
  const [port, m, h] = [await freePort(ip), await freePort(ip), await freePort(ip)];
  return loadConfig(['--local-ip', ip, '--port', String(port), '--no-setup-interface', '--firewall', 'none',
    '--upstream', upstream, '--cluster-dns', upstream, '--metrics-addr', `${ip}:${m}`, '--health-addr', `${ip}:${h}`,
    '--control-socket', '', ...extra], {}).config;
}

describe('health and readiness endpoints', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => { for (const c of cleanup.reverse()) await c(); });
  /** A config whose upstreams (every zone) are a fresh in-test server. */
  async function configWithUpstream(extra: string[] = []): Promise<Config> {
    const up = await startFaultServer({ records: {} });
    cleanup.push(() => up.stop());
    return config(hostPort(up), extra);
  }

  it('is 503 "listeners not bound" before the agent serves, 200 after, 503 "shutting down" once stopping', async () => {
    const c = await configWithUpstream();
    const obs = await startObservability({ config: c, log });
    cleanup.push(() => obs.stop());
    const base = `http://${c.healthAddr}`;

    const before = await httpGet(`${base}/ready`);
    assert.equal(before.status, 503);
    assert.equal(before.body, 'not ready:\n- listeners not bound (starting)\n');
    assert.equal((await httpGet(`${base}/health`)).status, 200, '/health answers while starting');

    const agent = await Agent.start({ config: c, log });
    cleanup.push(() => agent.stop(false));
    obs.attach(agent);
    const ready = await httpGet(`${base}/ready`);
    assert.equal(ready.status, 200, ready.body);
    assert.equal(ready.body, 'ready\n');
    assert.equal(ready.headers['cache-control'], 'no-store');

    obs.stopping('SIGTERM');
    const stopping = await httpGet(`${base}/ready`);
    assert.equal(stopping.status, 503);
    assert.equal(stopping.body, 'not ready:\n- shutting down (SIGTERM)\n');
    assert.equal((await httpGet(`${base}/health`)).status, 200, '/health still answers while draining');

    await agent.stop(false);
    const stopped = await httpGet(`${base}/ready`);
    assert.match(stopped.body, /- listeners not bound/);
  });

  it('is 503 while node setup is incomplete, listing what is missing', async () => {
    const c = await configWithUpstream();
    let setup: NodeSetupState = { complete: false, missing: ['address 169.254.20.10 not on nodelocaldns'] };
    const agent = await Agent.start({ config: c, log });
    cleanup.push(() => agent.stop(false));
    const obs = await startObservability({ config: c, log, agent, nodeSetup: () => setup });
    cleanup.push(() => obs.stop());
    const r = await httpGet(`http://${c.healthAddr}/ready`);
    assert.equal(r.status, 503);
    assert.equal(r.body, 'not ready:\n- node setup: address 169.254.20.10 not on nodelocaldns\n');
    setup = { complete: true, missing: [] };
    assert.equal((await httpGet(`http://${c.healthAddr}/ready`)).status, 200);
  });

  it('answers GET and HEAD only, 404 for other paths, and refuses a taken port with a clear error', async () => {
    const c = await configWithUpstream();
    const obs = await startObservability({ config: c, log });
    cleanup.push(() => obs.stop());
    const base = `http://${c.healthAddr}`;
    const missing = await httpGet(`${base}/nope`);
    assert.equal(missing.status, 404);
    assert.match(missing.body, /try \/health, \/ready/);
    const post = await httpGet(`${base}/ready`, 3000, 'POST');
    assert.equal(post.status, 405);
    const head = await httpGet(`${base}/ready`, 3000, 'HEAD');
    assert.equal(head.status, 503);
    assert.equal(head.body, '');
    assert.equal((await httpGet(`http://${c.metricsAddr}/metrics`)).status, 200);

    // the metrics port taken by another process
    const blocker = createServer();
    const ip = freeAddress();
    const port = await freePort(ip);
    await new Promise<void>((r) => blocker.listen(port, ip, () => r()));
    cleanup.push(() => new Promise((r) => blocker.close(() => r(undefined))));
    const c2 = { ...c, metricsAddr: `${ip}:${port}`, healthAddr: '' };
    await assert.rejects(startObservability({ config: c2, log }), (e: Error) => {
      assert.ok(e instanceof BindError);
      assert.match(e.message, new RegExp(`cannot listen on ${ip}:${port} for --metrics-addr: another process already uses it`));
      assert.match(e.message, /set --metrics-addr "" to turn it off/);
      return true;
    });
  });

  it('serves nothing when both addresses are ""', async () => {
    const c = await configWithUpstream(['--metrics-addr', '', '--health-addr', '']);
    const obs = await startObservability({ config: c, log });
    assert.equal(obs.metricsServer, undefined);
    assert.equal(obs.healthServer, undefined);
    await obs.stop();
  });
});
