// What neighbours see (issue 14, items 8 and 10). In network namespaces this test creates:
// a "node" where nodedns runs, a "pod" behind a veth, a "dns" namespace with the cluster
// DNS. No listener binds a wildcard address by default; the CHAOS names that reveal the
// configuration answer the node itself only (or --chaos-allow); --local-ip 0.0.0.0 is
// refused unless forced. On loopback: BADVERS is counted as its own rcode.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CLI, startAgent } from '../helpers/agent';
import { parseDig } from '../helpers/dig';
import { buildQuery, exchange } from '../helpers/dns-query';
import { startFaultServer } from '../helpers/fault-server';
import { NetnsLab, TOPO, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns, type Netns, type NodeTopology } from '../helpers/netns';
import { freeAddress, freePort } from '../helpers/ports';
import { PATIENCE_MS, waitUntil } from '../helpers/process';
import { httpGet, scrape } from './observe-scrape';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;
const NODE_ONLY = ['config.nodedns', 'upstreams.nodedns', 'cache.nodedns'];

async function chaos(ns: Netns, server: string, name: string, tcp = false) {
  const r = await ns.exec('dig', ['+time=2', '+tries=1', ...(tcp ? ['+tcp'] : []), `@${server}`, 'CH', 'TXT', name]);
  return parseDig(r.stdout, r.code);
}

async function httpStatus(ns: Netns, url: string): Promise<string> {
  const r = await ns.exec('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '3', url]);
  return r.stdout.trim(); // "000" when nothing listens there
}

function runArgs(extra: string[]): string[] {
  return ['run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--upstream', TOPO.serviceIp, '--firewall', 'none',
    '--control-socket', '', '--loop-check-interval', '0', ...extra];
}

describe('exposure to neighbours', { skip, timeout: 180_000 }, () => {
  const lab = new NetnsLab();
  let t: NodeTopology;

  before(async () => {
    t = await nodeTopology(lab, { routableServiceIp: true });
    startClusterDns(t.dns, [TOPO.serviceIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
  });
  after(() => lab.cleanup());

  it('by default: no wildcard listener, metrics on loopback, configuration names refused to a pod', async (tc) => {
    const nd = spawnNodedns(t.node, CLI, runArgs([]));
    try {
      await nd.waitForLog('nodedns serving', PATIENCE_MS);
      await waitUntil('metrics on loopback', async () => ((await httpStatus(t.node, 'http://127.0.0.1:9253/metrics')) === '200' ? true : undefined), PATIENCE_MS);
      const listeners = (await t.node.ok('ss', ['-Hlntu'])).trim().split('\n').map((l) => l.trim().split(/\s+/)[4]);
      tc.diagnostic(`listeners in the node namespace: ${listeners.join(' ')}`);
      assert.ok(listeners.length >= 4, listeners.join(' '));
      for (const a of listeners) assert.doesNotMatch(a, /^(0\.0\.0\.0|\*|\[::\]):/, `wildcard listener ${a}`);
      assert.equal(await httpStatus(t.pod, `http://${TOPO.nodePodSide}:9253/metrics`), '000', 'metrics reachable from a pod');
      for (const name of NODE_ONLY) {
        for (const tcp of [false, true]) {
          const r = await chaos(t.pod, L, name, tcp);
          assert.equal(r.status, 'REFUSED', `${name} from a pod (${tcp ? 'TCP' : 'UDP'}): ${r.output}`);
          assert.equal(r.answers.length, 0);
        }
        // the node itself: through the local address, and from one of its interface addresses
        const own = await chaos(t.node, L, name, true);
        assert.equal(own.status, 'NOERROR', own.output);
        assert.ok(own.answers.length >= 1, own.output);
      }
      const fromIface = await t.node.exec('dig', ['+time=2', '+tries=1', '+tcp', '-b', TOPO.nodePodSide, `@${L}`, 'CH', 'TXT', 'upstreams.nodedns']);
      assert.equal(parseDig(fromIface.stdout, fromIface.code).status, 'NOERROR', fromIface.stdout);
      const version = await chaos(t.pod, L, 'version.bind');
      assert.equal(version.status, 'NOERROR', version.output);
      assert.match(version.answers[0]?.data ?? '', /nodedns/);
    } finally {
      await nd.child.stop('SIGTERM', 15_000);
    }
  });

  it('--chaos-allow and --metrics-addr open what they name, and only that', async () => {
    const nd = spawnNodedns(t.node, CLI, runArgs(['--chaos-allow', `${TOPO.pod}/32`, '--metrics-addr', `${TOPO.nodeDnsSide}:9253`]));
    try {
      await nd.waitForLog('nodedns serving', PATIENCE_MS);
      await waitUntil('metrics on the node address', async () => ((await httpStatus(t.pod, `http://${TOPO.nodeDnsSide}:9253/metrics`)) === '200' ? true : undefined), PATIENCE_MS);
      assert.equal(await httpStatus(t.pod, `http://${TOPO.nodePodSide}:9253/metrics`), '000');
      const r = await chaos(t.pod, L, 'config.nodedns', true);
      assert.equal(r.status, 'NOERROR', r.output);
      assert.ok(r.answers.some((a) => a.data.includes('chaosAllow=')), r.output);
    } finally {
      await nd.child.stop('SIGTERM', 15_000);
    }
  });

  it('--local-ip 0.0.0.0 or :: is refused as an open resolver, unless --allow-open-resolver', async () => {
    for (const ip of ['0.0.0.0', '::', '0:0::0']) {
      const r = spawnSync(process.execPath, [CLI, ...runArgs([]).map((a) => (a === L ? ip : a)), '--no-setup-interface'], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(r.status, 2, `${ip}: exit ${r.status}\n${r.stderr}${r.stdout}`);
      assert.match(r.stderr + r.stdout, /--local-ip .*open resolver.*--allow-open-resolver/s);
    }
    const nd = spawnNodedns(t.node, CLI, [...runArgs(['--no-setup-interface', '--allow-open-resolver', '--health-addr', '', '--metrics-addr', '']).map((a) => (a === L ? '0.0.0.0' : a))]);
    try {
      await nd.waitForLog('nodedns serving', PATIENCE_MS);
      const r = await t.pod.exec('dig', ['+time=2', '+tries=1', `@${TOPO.nodePodSide}`, 'svc.cluster.local']);
      assert.match(r.stdout, /10\.0\.0\.1/, 'forced: it answers on every address');
    } finally {
      await nd.child.stop('SIGTERM', 15_000);
    }
  });
});

describe('the health listener under held connections', () => {
  it('answers the probe while pods hold connections open: 8 per address, the oldest make room', async (t) => {
    const up = await startFaultServer({ records: {} });
    const ip = freeAddress();
    const hport = await freePort(ip);
    const agent = await startAgent({ localIps: [ip], upstreams: [up], args: ['--health-addr', `${ip}:${hport}`] });
    const held: net.Socket[] = [];
    let closedByAgent = 0;
    try {
      // 20 addresses × 10 idle connections (no request), well past the cap of 64
      for (let a = 0; a < 20; a++) {
        const source = freeAddress();
        for (let i = 0; i < 10; i++) {
          const s = net.connect({ host: ip, port: hport, localAddress: source });
          s.on('error', () => { /* reset */ });
          s.on('close', () => { closedByAgent++; });
          held.push(s);
          await new Promise((resolve) => s.once('connect', resolve).once('close', resolve));
        }
      }
      let ok = 0;
      for (let i = 0; i < 5; i++) if ((await httpGet(`http://${ip}:${hport}/health`).then((r) => r.status, () => 0)) === 200) ok++;
      t.diagnostic(`probes answered ${ok} of 5 with 200 connections held from 20 addresses (${closedByAgent} closed by the agent)`);
      assert.equal(ok, 5);
      assert.ok(closedByAgent >= 200 - 64, `${closedByAgent} held connections closed`);
      const perAddress = new Map<string, number>();
      for (const s of held) if (!s.destroyed && !s.closed) perAddress.set(s.localAddress!, (perAddress.get(s.localAddress!) ?? 0) + 1);
      assert.ok(Math.max(0, ...perAddress.values()) <= 8, `open per address: ${[...perAddress.values()].join(' ')}`);
    } finally {
      for (const s of held) s.destroy();
      await agent.stop();
      await up.stop();
    }
  });
});

describe('BADVERS in the metrics', () => {
  it('is counted under its own rcode, not as NOERROR', async () => {
    const up = await startFaultServer({ records: {} });
    const ip = freeAddress();
    const mport = await freePort(ip);
    const agent = await startAgent({ localIps: [ip], upstreams: [up], args: ['--metrics-addr', `${ip}:${mport}`] });
    try {
      const url = `http://${ip}:${mport}/metrics`;
      const before = await scrape(url);
      const q = buildQuery('example.test', 'A', { edns: 1232 });
      q[q.length - 5] = 1; // the OPT record (no options) ends TTL(ext-rcode, version, flags) + rdlength: version 1
      const reply = await exchange(agent, q, 'udp', 5000);
      assert.equal(reply[3] & 0x0f, 0, 'header rcode of BADVERS is 0');
      const after = await scrape(url);
      const rc = (s: typeof before, rcode: string) => [...s.samples].filter(([k]) => k.startsWith('coredns_dns_responses_total{') && k.includes(`rcode="${rcode}"`)).reduce((n, [, v]) => n + v, 0);
      assert.equal(rc(after, 'BADVERS') - rc(before, 'BADVERS'), 1, [...after.samples.keys()].filter((k) => k.includes('responses_total')).join('\n'));
      assert.equal(rc(after, 'NOERROR') - rc(before, 'NOERROR'), 0);
    } finally {
      await agent.stop();
      await up.stop();
    }
  });
});
