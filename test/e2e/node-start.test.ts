// Starts that leave nothing behind, one owner per node, and upgrades, for real in network
// namespaces this test creates, with iptables and with nftables:
//   - a start that fails (a resolv.conf with only 127.0.0.53; port 53 taken; the health
//     port taken, which fails after the address went on) leaves the rule dumps
//     (iptables-save, nft list ruleset) and `ip addr` exactly as they were, on a clean node
//     and on a node where the fallback is already in place;
//   - a second nodedns for the same addresses refuses before touching anything, naming
//     the running one's PID (by the lock, and by the socket check when its lock is
//     elsewhere), while a prober from the pod loses nothing and the rules do not change;
//   - an upgrade: SIGTERM of a nodedns writing today's rules (managed steering) and start
//     of the new one (kernel-held) under dnsperf load loses no query, and the new one
//     replaces the old rules.
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, topologyWithClusterDns, lockFileFor, netnsUnavailable, parseDnsperf, spawnNodedns, startProbe,
  type Netns, type NodeTopology,
} from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);
const L = TOPO.localIp;

/** Everything a start could change: every rule in every backend, and the addresses. */
async function nodeState(node: Netns): Promise<string> {
  const parts: string[] = [];
  for (const save of ['iptables-nft-save', 'iptables-legacy-save', 'ip6tables-nft-save']) {
    const r = await node.exec(save, []);
    // the dump's own time stamps and packet counters are not state
    parts.push(`## ${save}\n${r.stdout.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/, '')).join('\n')}`);
  }
  parts.push(`## nft\n${(await node.exec('nft', ['list', 'ruleset'])).stdout.replace(/counter packets \d+ bytes \d+/g, 'counter')}`);
  // IPv6 duplicate address detection on the veths finishes on its own time: not a change of ours
  parts.push(`## ip addr\n${(await node.ok('ip', ['addr'])).replace(/ tentative/g, '')}`);
  parts.push(`## ip link\n${(await node.ok('ip', ['-o', 'link'])).replace(/\s+link\/\S+ \S+ brd \S+/g, '')}`);
  return parts.join('\n');
}

async function dig(ns: Netns, name: string, type = 'A'): Promise<string | undefined> {
  const r = await ns.exec('dig', ['+short', '+time=1', '+tries=1', `@${L}`, name, type]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** A process in `ns` holding a port (UDP and TCP) on every address, until stopped. */
function holdPort(ns: Netns, port: number) {
  const js = `const d=require('dgram').createSocket('udp4');d.bind(${port},'0.0.0.0');require('net').createServer().listen(${port},'0.0.0.0',()=>console.log('held'));`;
  return ns.spawn(`port ${port} holder`, process.execPath, ['-e', js]);
}

for (const flag of ['iptables', 'nftables']) {
  describe(`starts that leave nothing behind, one owner, upgrades (${flag})`, { skip, timeout: 240_000 }, () => {
    const lab = new NetnsLab();
    let t: NodeTopology;
    const dir = mkdtempSync(join(tmpdir(), 'nodedns-start-'));
    const queries = join(dir, 'queries.txt');
    const stubRoot = join(dir, 'stub-only');
    const base = ['--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--firewall', flag, '--host', 'only.nodedns=10.9.9.9',
      '--metrics-addr', '', '--control-socket', ''];
    const runArgs = (extra: string[] = []) => ['run', ...base, '--upstream', TOPO.serviceIp, '--health-addr', '', ...extra];

    before(async () => {
      writeFileSync(queries, ['svc.cluster.local A', 'who.test TXT', 'svc.cluster.local AAAA', 'nx.cluster.local A'].join('\n') + '\n');
      mkdirSync(join(stubRoot, 'etc'), { recursive: true });
      writeFileSync(join(stubRoot, 'etc', 'resolv.conf'), 'nameserver 127.0.0.53\noptions edns0 trust-ad\n');
      t = await topologyWithClusterDns(lab);
    });
    after(async () => {
      await lab.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    /** Runs a start that must fail; returns its output. The node must look exactly as before. */
    async function failedStart(args: string[], expectCode: number): Promise<string> {
      const before = await nodeState(t.node);
      const r = await t.node.exec(process.execPath, [CLI, ...args, '--lock-file', lockFileFor(t.node)], { timeoutMs: 60_000 });
      assert.equal(r.code, expectCode, `exit code; output:\n${r.stdout}\n${r.stderr}`);
      assert.equal(await nodeState(t.node), before, 'rules and addresses exactly as before the failed start');
      return r.stdout + r.stderr;
    }

    async function failedStarts(): Promise<void> {
      const stub = await failedStart(['run', ...base, '--host-root', stubRoot, '--health-addr', ''], 2);
      assert.match(stub, /127\.0\.0\.53/, 'says why: only the systemd-resolved stub');
      const holder = holdPort(t.node, 53);
      try {
        await waitUntil('the port holder', () => (holder.lines.includes('held') ? true : undefined), PATIENCE_MS, 50);
        const taken = await failedStart(runArgs(), 1);
        assert.match(taken, new RegExp(`PID ${holder.pid}`), `names the holder (PID ${holder.pid}):\n${taken}`);
        assert.match(taken, /Nothing on the node was changed/);
      } finally {
        await holder.stop('SIGKILL');
      }
      // this one fails after the address went on: it must come off again
      const web = holdPort(t.node, 8080);
      try {
        await waitUntil('the 8080 holder', () => (web.lines.includes('held') ? true : undefined), PATIENCE_MS, 50);
        await failedStart(['run', ...base, '--upstream', TOPO.serviceIp, '--health-addr', `${L}:8080`], 1);
      } finally {
        await web.stop('SIGKILL');
      }
    }

    it('a failed start on a clean node changes nothing', async () => {
      await failedStarts();
    });

    it('a failed start where the fallback is already in place leaves it intact', async () => {
      const s = await t.node.exec(process.execPath, [CLI, 'setup', ...base, '--health-addr', '']);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(await dig(t.pod, 'who.test', 'TXT'), '"clusterdns"', 'the fallback answers');
      await failedStarts();
      assert.equal(await dig(t.pod, 'who.test', 'TXT'), '"clusterdns"', 'and still does');
    });

    it('a second nodedns refuses before touching anything and names the running one; nothing is lost', async (tc) => {
      const first = spawnNodedns(t.node, CLI, runArgs(), 'nodedns (first)');
      try {
        await first.waitForLog('NOTRACK rules in place', PATIENCE_MS);
        const probe = startProbe(t.pod, { server: L, name: 'only.nodedns', durationMs: 6000, retryMs: 200 });
        await new Promise((r) => setTimeout(r, 1000));
        const byLock = await failedStart(runArgs(), 1);
        assert.match(byLock, new RegExp(`another nodedns \\(PID ${first.child.pid}\\)`), byLock);
        // with its lock somewhere else, the socket check still finds the running one
        const elsewhere = join(dir, 'other.sock');
        const before = await nodeState(t.node);
        const bySocket = await t.node.exec(process.execPath, [CLI, ...runArgs(), '--lock-file', elsewhere], { timeoutMs: 60_000 });
        assert.equal(bySocket.code, 1, bySocket.stderr);
        assert.match(bySocket.stderr, new RegExp(`PID ${first.child.pid}`), bySocket.stderr);
        assert.equal(await nodeState(t.node), before);
        const p = await probe.result;
        tc.diagnostic(`${flag}: second instance (twice): probe ${p.sent} sent, ${p.firstTry} first try, lost ${p.lost}, longest gap ${p.longestGapMs} ms`);
        assert.equal(p.lost, 0);
        assert.equal(p.firstTry, p.sent, 'not one query of the running nodedns disturbed');
        assert.equal(first.count('repaired'), 0, 'the running one had nothing to repair');
      } finally {
        assert.equal((await first.child.stop('SIGTERM', 15_000)).code, 0);
      }
    });

    it('an upgrade from today\'s rules (managed steering) under load loses no query and replaces the old rules', async (tc) => {
      const old = spawnNodedns(t.node, CLI, runArgs(['--steering', 'managed']), 'nodedns (old rules)');
      await old.waitForLog('NOTRACK rules in place', PATIENCE_MS);
      const QPS = 300;
      const SECONDS = 10;
      const perf = t.pod.spawn('dnsperf', 'dnsperf', ['-s', L, '-d', queries, '-Q', String(QPS), '-l', String(SECONDS), '-t', '2', '-c', '4']);
      const probe = startProbe(t.pod, { server: L, name: 'svc.cluster.local', durationMs: SECONDS * 1000, retryMs: 200 });
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal((await old.child.stop('SIGTERM', 15_000)).code, 0, old.child.tail());
      const fresh = spawnNodedns(t.node, CLI, runArgs(), 'nodedns (new)');
      try {
        const line = await fresh.waitForLog('NOTRACK rules in place', PATIENCE_MS);
        assert.equal(line.steering, 'kernel');
        const ps = await perf.exited;
        assert.equal(ps.code, 0, perf.tail());
        const d = parseDnsperf(perf.lines.join('\n'));
        const p = await probe.result;
        tc.diagnostic(`${flag}: upgrade (SIGTERM old, start new) under load: dnsperf ${d.sent} sent, ${d.lost} lost; probe ${p.sent} sent, lost ${p.lost}, `
          + `${p.sent - p.firstTry} failed first tries, longest gap ${p.longestGapMs} ms`);
        assert.ok(d.sent >= QPS * SECONDS * 0.8, `dnsperf kept its rate (${d.sent} sent)`);
        assert.equal(d.lost, 0, 'dnsperf lost no query');
        assert.equal(p.lost, 0, 'the prober lost no query');
        const raw = flag === 'iptables' ? await t.node.ok('iptables-nft-save', ['-t', 'raw']) : await t.node.ok('nft', ['list', 'chain', 'inet', 'nodedns', 'notrack-prerouting']);
        const pre = raw.split('\n').filter((l) => l.includes('NODEDNS-NOTRACK-PRE -d') || / notrack comment/.test(l));
        assert.ok(pre.length >= 2 && pre.every((l) => /socket/.test(l)), `only the new rules:\n${pre.join('\n')}`);
        assert.equal(await dig(t.pod, 'only.nodedns'), '10.9.9.9');
      } finally {
        assert.equal((await fresh.child.stop('SIGTERM', 15_000)).code, 0);
      }
    });
  });
}
