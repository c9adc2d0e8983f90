// The resync's idle ticks, for real, in network namespaces this test creates and deletes.
// Every firewall tool nodedns runs goes through a shim on its PATH that logs the call, so
// the test sees each process it spawns. With nothing changing, a tick runs none (the
// nf_tables generation says nothing changed); a rule deleted by hand and kube-proxy's
// endpoints moving are still seen within a few ticks; a sync that fails records nothing, so
// every tick reads again until the repair goes in; with legacy iptables tables in the
// namespace (kube-proxy in legacy mode), every tick reads the rules again.
// Needs root and network namespaces; skips otherwise.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, kubeProxyIptablesRules, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns,
  type Netns, type NodeTopology, type NodednsInNs,
} from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;
const METRICS = 'http://127.0.0.1:9253/metrics';
const MOVED_ENDPOINT = '10.244.1.6';
const TOOLS = ['iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip6tables-nft-restore', 'iptables-legacy-save',
  'iptables-legacy-restore', 'ip6tables-legacy-save', 'ip6tables-legacy-restore', 'nft'];

/**
 * A directory of shims, one per firewall tool, each logging its call to `log` and then
 * running the real tool. While `failWrites` exists, every write (a restore, nft -f) fails.
 */
interface Shims { dir: string; log: string; failWrites: string; calls: () => string[] }

function toolShims(): Shims {
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-shims-'));
  const log = join(dir, 'calls.log');
  const failWrites = join(dir, 'fail-writes');
  writeFileSync(log, '');
  for (const tool of TOOLS) {
    const real = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
    if (!real) continue;
    writeFileSync(join(dir, tool), [
      '#!/bin/sh', `echo "${tool} $*" >> ${log}`,
      `if [ -e ${failWrites} ]; then case "${tool} $1" in *-restore*|"nft -f") echo "injected failure" >&2; exit 1;; esac; fi`,
      `exec ${real} "$@"`, ''].join('\n'));
    chmodSync(join(dir, tool), 0o755);
  }
  return { dir, log, failWrites, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

interface SyncMetrics { lastSync: number; full: number; skipped: number }

async function syncMetrics(node: Netns): Promise<SyncMetrics> {
  const text = await node.ok('curl', ['-sf', '--max-time', '5', METRICS]);
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  return {
    lastSync: num(/^nodedns_last_sync_timestamp_seconds (\S+)$/m),
    full: num(/^nodedns_firewall_syncs_total\{kind="full"\} (\S+)$/m),
    skipped: num(/^nodedns_firewall_syncs_total\{kind="skipped"\} (\S+)$/m),
  };
}

/**
 * Waits for `check` while counting the resync's ticks (changes of the last-sync time):
 * fails when more than `maxTicks` went by first. Ticks the polling misses make it lenient,
 * never flaky.
 */
async function withinTicks(node: Netns, maxTicks: number, what: string, check: () => Promise<boolean>): Promise<void> {
  let last = (await syncMetrics(node)).lastSync;
  let ticks = 0;
  await waitUntil(what, async () => {
    if (await check()) return true;
    const now = (await syncMetrics(node)).lastSync;
    if (now !== last) { ticks++; last = now; }
    assert.ok(ticks <= maxTicks, `${what}: not seen after ${ticks} ticks`);
    return undefined;
  }, PATIENCE_MS, 100);
}

/** Waits until `n` ticks went by (the last-sync time changed n times). */
async function ticksPass(node: Netns, n: number): Promise<void> {
  let last = (await syncMetrics(node)).lastSync;
  let ticks = 0;
  await waitUntil(`${n} resync ticks`, async () => {
    const now = (await syncMetrics(node)).lastSync;
    if (now !== last) { ticks++; last = now; }
    return ticks >= n ? true : undefined;
  }, PATIENCE_MS, 100);
}

/** The fallback's DNAT to `endpoint` is in nodedns' rules. */
async function fallbackTo(node: Netns, firewall: string, endpoint: string): Promise<boolean> {
  const text = firewall === 'nftables' ? (await node.exec('nft', ['list', 'chain', 'inet', 'nodedns', 'fallback-prerouting'])).stdout
    : await node.ok('iptables-nft-save', ['-t', 'nat']);
  return text.includes(`${endpoint}:53`);
}

/** Whether the pods' UDP NOTRACK rule is in place. */
async function notrackPre(node: Netns, firewall: string): Promise<boolean> {
  return firewall === 'nftables'
    ? (await node.ok('nft', ['list', 'chain', 'inet', 'nodedns', 'notrack-prerouting'])).includes('udp dport 53 socket wildcard 0 notrack')
    : (await node.ok('iptables-nft-save', ['-t', 'raw'])).includes(`-A NODEDNS-NOTRACK-PRE -d ${L}/32 -p udp`);
}

/** Deletes the pods' UDP NOTRACK rule by hand, with the real tools (not the shims). */
async function deleteNotrackPre(node: Netns, firewall: string): Promise<void> {
  if (firewall === 'nftables') {
    const listing = await node.ok('nft', ['-a', 'list', 'chain', 'inet', 'nodedns', 'notrack-prerouting']);
    const handle = /udp dport 53 socket wildcard 0 notrack comment "[^"]*" # handle (\d+)/.exec(listing)![1];
    await node.ok('nft', ['delete', 'rule', 'inet', 'nodedns', 'notrack-prerouting', 'handle', handle]);
  } else {
    await node.ok('iptables-nft', ['-t', 'raw', '-D', 'NODEDNS-NOTRACK-PRE', '1']);
  }
  assert.equal(await notrackPre(node, firewall), false, 'the rule is gone');
}

interface IdleLab { t: NodeTopology; nd: NodednsInNs; shims: Shims }

/**
 * For one describe: the node topology with kube-proxy's rules for the cluster DNS written by
 * `restore`, and nodedns serving with `--firewall` and a 1s resync, its tools behind shims.
 */
function idleLab(restore: string, firewall: string): IdleLab {
  const lab = new NetnsLab();
  const out = {} as IdleLab;
  before(async () => {
    out.shims = toolShims();
    out.t = await nodeTopology(lab, { routableServiceIp: true });
    await out.t.node.ok(restore, ['--noflush'], { input: kubeProxyIptablesRules(TOPO.serviceIp, [TOPO.endpointIp]) });
    startClusterDns(out.t.dns, [TOPO.serviceIp, TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
    out.nd = spawnNodedns(out.t.node, CLI, [
      'run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--upstream', TOPO.serviceIp,
      '--firewall', firewall, '--sync-interval', '1s', '--metrics-addr', '127.0.0.1:9253', '--health-addr', '', '--control-socket', '',
    ], 'nodedns', { ...process.env, PATH: `${out.shims.dir}:${process.env.PATH ?? ''}` });
    await out.nd.waitForLog('NOTRACK rules in place');
  });
  after(async () => {
    await lab.cleanup();
    if (out.shims) rmSync(out.shims.dir, { recursive: true, force: true });
  });
  return out;
}

for (const firewall of ['iptables', 'nftables']) {
  describe(`idle resync with --firewall ${firewall} (kube-proxy in iptables-nft)`, { skip, timeout: 180_000 }, () => {
    const s = idleLab('iptables-nft-restore', firewall);

    it('runs no iptables or nft process on idle ticks', async () => {
      // the first tick reads the rules once more: nodedns' own writes moved the generation
      await ticksPass(s.t.node, 2);
      const seen = s.shims.calls();
      const m0 = await syncMetrics(s.t.node);
      assert.ok(seen.length > 0, 'the shims see the tools nodedns runs');
      await ticksPass(s.t.node, 3);
      assert.deepEqual(s.shims.calls().slice(seen.length), [], 'no firewall tool ran during idle ticks');
      const m1 = await syncMetrics(s.t.node);
      assert.equal(m1.full, m0.full, 'no full sync');
      assert.ok(m1.skipped >= m0.skipped + 3, `skipped syncs counted (${m0.skipped} -> ${m1.skipped})`);
      assert.equal(s.nd.count('every resync reads the firewall rules'), 0, s.nd.child.tail());
    });

    it('repairs a rule deleted by hand within a few ticks', async () => {
      const repairs = s.nd.count('repaired firewall rules');
      await deleteNotrackPre(s.t.node, firewall);
      await withinTicks(s.t.node, 3, 'the NOTRACK rule put back', () => notrackPre(s.t.node, firewall));
      await waitUntil('the repair logged', () => (s.nd.count('repaired firewall rules') > repairs ? true : undefined), PATIENCE_MS);
    });

    it('keeps reading the rules at every tick while a repair fails, and repairs once it can', async () => {
      const failures = s.nd.count('firewall sync failed');
      writeFileSync(s.shims.failWrites, '');
      try {
        await deleteNotrackPre(s.t.node, firewall);
        await waitUntil('the failed repair logged', () => (s.nd.count('firewall sync failed') > failures ? true : undefined), PATIENCE_MS);
        // a failed sync records no generation: the rule stays missing and every tick reads again
        const m0 = await syncMetrics(s.t.node);
        await ticksPass(s.t.node, 3);
        const m1 = await syncMetrics(s.t.node);
        assert.equal(m1.skipped, m0.skipped, 'no tick skipped while the rules are not as wanted');
        assert.ok(m1.full >= m0.full + 3, `full syncs (${m0.full} -> ${m1.full})`);
        assert.equal(await notrackPre(s.t.node, firewall), false, 'still missing');
      } finally {
        rmSync(s.shims.failWrites, { force: true });
      }
      await withinTicks(s.t.node, 3, 'the NOTRACK rule put back', () => notrackPre(s.t.node, firewall));
    });

    it('follows kube-proxy\'s endpoints when they move', async () => {
      assert.ok(await fallbackTo(s.t.node, firewall, TOPO.endpointIp), 'the fallback goes to the endpoint kube-proxy had');
      await s.t.node.ok('iptables-nft-restore', ['--noflush'], { input: kubeProxyIptablesRules(TOPO.serviceIp, [MOVED_ENDPOINT]) });
      await withinTicks(s.t.node, 3, 'the fallback moved to the new endpoint', () => fallbackTo(s.t.node, firewall, MOVED_ENDPOINT));
      await s.nd.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('fallback target updated') && l.msg.includes(MOVED_ENDPOINT));
      // and idle again after the next tick
      await ticksPass(s.t.node, 2);
      const seen = s.shims.calls().length;
      await ticksPass(s.t.node, 2);
      assert.deepEqual(s.shims.calls().slice(seen), [], 'idle again');
    });
  });
}

describe('idle resync with legacy iptables tables in the namespace (kube-proxy in iptables-legacy)', { skip, timeout: 180_000 }, () => {
  const s = idleLab('iptables-legacy-restore', 'nftables');

  it('reads the rules at every tick, and says why', async () => {
    const why = await s.nd.waitForLog('every resync reads the firewall rules with the tools');
    assert.match(String(why.msg), /legacy iptables tables are in use in this network namespace \(ip (filter|mangle|nat)/);
    const m0 = await syncMetrics(s.t.node);
    const saves = () => s.shims.calls().filter((c) => c.startsWith('iptables-legacy-save')).length;
    const s0 = saves();
    await ticksPass(s.t.node, 3);
    const m1 = await syncMetrics(s.t.node);
    assert.equal(m1.skipped, m0.skipped, 'no tick skipped');
    assert.ok(m1.full >= m0.full + 3, `full syncs counted (${m0.full} -> ${m1.full})`);
    assert.ok(saves() >= s0 + 3, `iptables-legacy-save ran at every tick (${s0} -> ${saves()})`);
  });

  it('follows kube-proxy\'s legacy endpoints when they move (no generation number tells)', async () => {
    assert.ok(await fallbackTo(s.t.node, 'nftables', TOPO.endpointIp));
    await s.t.node.ok('iptables-legacy-restore', ['--noflush'], { input: kubeProxyIptablesRules(TOPO.serviceIp, [MOVED_ENDPOINT]) });
    await withinTicks(s.t.node, 3, 'the fallback moved to the new endpoint', () => fallbackTo(s.t.node, 'nftables', MOVED_ENDPOINT));
  });
});
