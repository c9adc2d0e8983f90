// Node setup for real, inside network namespaces this test creates and deletes: the local
// address on the interface, the NOTRACK/ACCEPT/fallback rules in iptables (nft and legacy
// backends) and in nftables, their repair after they are deleted by hand, pod queries
// answered by nodedns without conntrack entries, the fallback once nodedns stops, and a
// teardown that leaves nothing. Needs root and network namespaces; skips otherwise.
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import {
  NetnsLab, TOPO, netnsUnavailable, nodeTopology, spawnNodedns, startClusterDns,
  type Netns, type NodeTopology, type NodednsInNs,
} from '../helpers/netns';
import { PATIENCE_MS, waitUntil } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);

/** dig +short from a namespace; the answer lines ('' = no records), or undefined when nothing answered. */
async function dig(ns: Netns, name: string, type = 'A', tcp = false): Promise<string | undefined> {
  const r = await ns.exec('dig', ['+short', '+time=1', '+tries=1', ...(tcp ? ['+tcp'] : []), `@${TOPO.localIp}`, name, type]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** Conntrack entries in the node namespace for DNS to the local address. */
async function conntrackEntries(node: Netns): Promise<string[]> {
  const r = await node.exec('conntrack', ['-L', '--orig-dst', TOPO.localIp]);
  return r.stdout.split('\n').filter((l) => l.includes(`dst=${TOPO.localIp}`));
}

const L = TOPO.localIp;
/** The rules node-cache installs (plus the fallback), as iptables-save shows them. */
const IPTABLES_EXPECTED: Record<string, string[]> = {
  raw: [
    '-A PREROUTING -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE',
    '-A OUTPUT -m comment --comment nodedns -j NODEDNS-NOTRACK-OUT',
    '-A OUTPUT -m comment --comment nodedns -j NODEDNS-BASE-OUT',
    // kernel-held steering: NOTRACK (nodedns) only while a socket is bound to the address
    `-A NODEDNS-NOTRACK-PRE -d ${L}/32 -p udp -m udp --dport 53 -m socket --nowildcard -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-NOTRACK-PRE -d ${L}/32 -p tcp -m tcp --dport 53 -m socket --nowildcard -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-NOTRACK-OUT -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-NOTRACK-OUT -d ${L}/32 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-BASE-OUT -s ${L}/32 -p udp -m udp --sport 53 -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-BASE-OUT -s ${L}/32 -p tcp -m tcp --sport 53 -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-BASE-OUT -d ${L}/32 -p tcp -m tcp --dport 8080 -m comment --comment nodedns -j NOTRACK`,
    `-A NODEDNS-BASE-OUT -s ${L}/32 -p tcp -m tcp --sport 8080 -m comment --comment nodedns -j NOTRACK`,
  ],
  filter: [
    '-A INPUT -m comment --comment nodedns -j NODEDNS-BASE-IN',
    '-A OUTPUT -m comment --comment nodedns -j NODEDNS-BASE-OUT',
    `-A NODEDNS-BASE-IN -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j ACCEPT`,
    `-A NODEDNS-BASE-IN -d ${L}/32 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j ACCEPT`,
    `-A NODEDNS-BASE-OUT -s ${L}/32 -p udp -m udp --sport 53 -m comment --comment nodedns -j ACCEPT`,
    `-A NODEDNS-BASE-OUT -s ${L}/32 -p tcp -m tcp --sport 53 -m comment --comment nodedns -j ACCEPT`,
  ],
  nat: [
    '-A PREROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-PRE',
    '-A OUTPUT -m comment --comment nodedns -j NODEDNS-FALLBACK-OUT',
    '-A POSTROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-POST',
    `-A NODEDNS-FALLBACK-PRE -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.serviceIp}:53`,
    `-A NODEDNS-FALLBACK-PRE -d ${L}/32 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.serviceIp}:53`,
    `-A NODEDNS-FALLBACK-OUT -d ${L}/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.serviceIp}:53`,
    `-A NODEDNS-FALLBACK-OUT -d ${L}/32 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j DNAT --to-destination ${TOPO.serviceIp}:53`,
    `-A NODEDNS-FALLBACK-POST -s ${L}/32 -m conntrack --ctstate DNAT -m comment --comment nodedns -j MASQUERADE`,
  ],
};

/** The same rules as `nft list table inet nodedns` shows them (comments left out). */
const NFT_EXPECTED: Record<string, string[]> = {
  'notrack-prerouting': [`ip daddr ${L} udp dport 53 socket wildcard 0 notrack`, `ip daddr ${L} tcp dport 53 socket wildcard 0 notrack`,
    `ip daddr ${L} tcp dport 53 tcp flags ! syn socket transparent 0 notrack`],
  'notrack-output': [`ip daddr ${L} udp dport 53 notrack`, `ip daddr ${L} tcp dport 53 notrack`],
  'base-raw-output': [`ip saddr ${L} udp sport 53 notrack`, `ip saddr ${L} tcp sport 53 notrack`, `ip daddr ${L} tcp dport 8080 notrack`, `ip saddr ${L} tcp sport 8080 notrack`],
  'base-input': [`ip daddr ${L} udp dport 53 accept`, `ip daddr ${L} tcp dport 53 accept`],
  'base-output': [`ip saddr ${L} udp sport 53 accept`, `ip saddr ${L} tcp sport 53 accept`],
  'fallback-prerouting': [`ip daddr ${L} udp dport 53 dnat ip to ${TOPO.serviceIp}:53`, `ip daddr ${L} tcp dport 53 dnat ip to ${TOPO.serviceIp}:53`],
  'fallback-output': [`ip daddr ${L} udp dport 53 dnat ip to ${TOPO.serviceIp}:53`, `ip daddr ${L} tcp dport 53 dnat ip to ${TOPO.serviceIp}:53`],
  'fallback-postrouting': [`ip saddr ${L} ct status dnat masquerade`],
};

type Mode = { name: string; flag: string; save?: string; cmd?: string; prepare?: (node: Netns) => Promise<void> };
const MODES: Mode[] = [
  { name: 'iptables (nft backend)', flag: 'iptables', save: 'iptables-nft-save', cmd: 'iptables-nft' },
  {
    name: 'iptables-legacy, picked by --firewall auto from the kubelet canary',
    flag: 'auto', save: 'iptables-legacy-save', cmd: 'iptables-legacy',
    prepare: async (node) => { await node.ok('iptables-legacy', ['-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY']); },
  },
  { name: 'nftables', flag: 'nftables' },
];

/** Rule lines per table from iptables-save (comments unquoted, counters dropped). */
async function savedRules(node: Netns, save: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const l of (await node.ok(save, [])).split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    else if (l.startsWith('-A ')) out.set(table, [...(out.get(table) ?? []), l.replace(/"/g, '')]);
  }
  return out;
}

/** Rule statements per chain of table inet nodedns (comments dropped); undefined when there is no table. */
async function nftRules(node: Netns): Promise<Map<string, string[]> | undefined> {
  const r = await node.exec('nft', ['list', 'table', 'inet', 'nodedns']);
  if (r.code !== 0) return undefined;
  const out = new Map<string, string[]>();
  let chain = '';
  for (const raw of r.stdout.split('\n')) {
    const l = raw.trim();
    const m = /^chain (\S+) \{$/.exec(l);
    if (m) { chain = m[1]; out.set(chain, []); continue; }
    if (!chain || l === '}' || l === '' || l.startsWith('type ')) continue;
    out.get(chain)!.push(l.replace(/ comment "[^"]*"$/, ''));
  }
  return out;
}

/** Every expected rule present exactly once, and nothing else of ours. */
async function rulesAsSpecified(node: Netns, mode: Mode, serving: boolean): Promise<string | undefined> {
  const problems: string[] = [];
  if (mode.save) {
    const saved = await savedRules(node, mode.save);
    for (const [table, lines] of Object.entries(IPTABLES_EXPECTED)) {
      const have = saved.get(table) ?? [];
      for (const l of lines) {
        const n = have.filter((h) => h === l).length;
        const wanted = !serving && l.includes('-A NODEDNS-NOTRACK-') ? 0 : 1;
        if (n !== wanted) problems.push(`${table}: ${n}x (want ${wanted}) ${l}`);
      }
      const ours = have.filter((h) => /nodedns|NODEDNS/.test(h));
      const extra = ours.filter((h) => !lines.includes(h));
      if (extra.length) problems.push(`${table}: unexpected ${extra.join(' | ')}`);
    }
  } else {
    const chains = await nftRules(node);
    if (!chains) return 'no table inet nodedns';
    for (const [chain, lines] of Object.entries(NFT_EXPECTED)) {
      const want = !serving && chain.startsWith('notrack-') ? [] : lines;
      const have = chains.get(chain);
      if (JSON.stringify(have) !== JSON.stringify(want)) problems.push(`${chain}: have ${JSON.stringify(have)}, want ${JSON.stringify(want)}`);
    }
  }
  return problems.length ? problems.join('\n') : undefined;
}

async function localAddressOnLo(node: Netns): Promise<number> {
  const out = await node.ok('ip', ['-o', 'addr', 'show', 'dev', 'lo']);
  return out.split('\n').filter((l) => l.includes(` ${L}/32 `)).length;
}

for (const mode of MODES) {
  describe(`node setup with ${mode.name}`, { skip, timeout: 120_000 }, () => {
    const lab = new NetnsLab();
    let t: NodeTopology;
    let nd: NodednsInNs;
    const args = [
      'run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--upstream', TOPO.serviceIp,
      '--firewall', mode.flag, '--sync-interval', '1s', '--host', 'only.nodedns=10.9.9.9',
      '--metrics-addr', '', '--health-addr', `${L}:8080`, '--control-socket', '',
    ];

    before(async () => {
      t = await nodeTopology(lab, { routableServiceIp: true });
      await mode.prepare?.(t.node);
      startClusterDns(t.dns, [TOPO.serviceIp, TOPO.endpointIp], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
      await waitUntil('the cluster DNS to answer', async () => ((await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${TOPO.serviceIp}`, 'who.test', 'TXT'])).stdout.includes('clusterdns') ? true : undefined), PATIENCE_MS, 100);
    });
    after(() => lab.cleanup());

    it('setup --dry-run prints the rules for this node and changes nothing', async () => {
      const r = await t.node.exec(process.execPath, [CLI, 'setup', '--dry-run', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--firewall', mode.flag, '--health-addr', `${L}:8080`]);
      assert.equal(r.code, 0, r.stderr);
      if (mode.save) {
        assert.match(r.stdout, new RegExp(`# ${mode.cmd}-restore --noflush`));
        for (const lines of Object.values(IPTABLES_EXPECTED)) {
          for (const l of lines.filter((x) => x.startsWith('-A NODEDNS'))) assert.ok(r.stdout.includes(l), `dry run shows ${l}`);
        }
        assert.equal((await savedRules(t.node, mode.save)).get('nat')?.some((l) => l.includes('NODEDNS')) ?? false, false, 'no rule was applied');
      } else {
        assert.match(r.stdout, /add table inet nodedns/);
        for (const lines of Object.values(NFT_EXPECTED)) for (const l of lines) assert.ok(r.stdout.includes(l), `dry run shows ${l}`);
        assert.equal(await nftRules(t.node), undefined, 'no table was created');
      }
      assert.match(r.stdout, /would add 169\.254\.20\.10\/32/);
      assert.equal(await localAddressOnLo(t.node), 0);
    });

    it('puts the address on lo (no dummy driver here) and the rules in place once serving', async () => {
      nd = spawnNodedns(t.node, CLI, args);
      await nd.waitForLog('NOTRACK rules in place');
      const warn = await nd.waitForLog('no dummy link driver');
      assert.equal(warn.level, 40, 'said as a warning');
      assert.equal(await localAddressOnLo(t.node), 1);
      assert.equal(await rulesAsSpecified(t.node, mode, true), undefined);
    });

    it('answers pod queries from nodedns, with no conntrack entry for them', async () => {
      assert.equal(await dig(t.pod, 'only.nodedns'), '10.9.9.9', 'a name only nodedns knows');
      assert.equal(await dig(t.pod, 'only.nodedns', 'A', true), '10.9.9.9', 'over TCP too');
      assert.equal(await dig(t.pod, 'svc.cluster.local'), '10.0.0.1', 'forwarded to the cluster DNS');
      assert.deepEqual(await conntrackEntries(t.node), []);
    });

    it('repairs what is deleted or duplicated by hand, without duplicates', async () => {
      const before = nd.count('repaired');
      if (mode.cmd) {
        await t.node.ok(mode.cmd, ['-t', 'raw', '-D', 'NODEDNS-NOTRACK-PRE', '1']);
        await t.node.ok(mode.cmd, ['-t', 'nat', '-D', 'PREROUTING', '-m', 'comment', '--comment', 'nodedns', '-j', 'NODEDNS-FALLBACK-PRE']);
        await t.node.ok(mode.cmd, ['-t', 'filter', '-A', 'NODEDNS-BASE-IN', '-d', `${L}/32`, '-p', 'udp', '-m', 'udp', '--dport', '53', '-m', 'comment', '--comment', 'nodedns', '-j', 'ACCEPT']);
        await t.node.ok(mode.cmd, ['-t', 'raw', '-I', 'OUTPUT', '-m', 'comment', '--comment', 'nodedns', '-j', 'NODEDNS-BASE-OUT']);
      } else {
        const listing = await t.node.ok('nft', ['-a', 'list', 'chain', 'inet', 'nodedns', 'notrack-prerouting']);
        const handle = /udp dport 53 socket wildcard 0 notrack comment "[^"]*" # handle (\d+)/.exec(listing)![1];
        await t.node.ok('nft', ['delete', 'rule', 'inet', 'nodedns', 'notrack-prerouting', 'handle', handle]);
        await t.node.ok('nft', ['add', 'rule', 'inet', 'nodedns', 'base-input', 'ip', 'daddr', L, 'udp', 'dport', '53', 'accept']);
        await t.node.ok('nft', ['flush', 'chain', 'inet', 'nodedns', 'fallback-prerouting']);
      }
      await t.node.ok('ip', ['addr', 'del', `${L}/32`, 'dev', 'lo']);
      assert.notEqual(await rulesAsSpecified(t.node, mode, true), undefined, 'the damage is visible');
      await waitUntil('rules and address repaired', async () => (
        (await rulesAsSpecified(t.node, mode, true)) === undefined && (await localAddressOnLo(t.node)) === 1 ? true : undefined), 10_000, 200);
      // and it stays that way: a later sync finds nothing to repair (no flapping, no duplicates)
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await rulesAsSpecified(t.node, mode, true), undefined);
      assert.equal(await localAddressOnLo(t.node), 1);
      const repairs = nd.logs.slice().filter((l) => typeof l.msg === 'string' && l.msg.includes('repaired'));
      assert.ok(nd.count('repaired') > before, 'the repair was logged');
      assert.ok(repairs.some((l) => /address/.test(String(l.msg))), 'the address repair was logged');
      const lastRepair = repairs[repairs.length - 1];
      assert.ok(Date.parse(String(lastRepair.time)) < Date.now() - 1500, 'no repair in the last syncs');
      assert.equal(await dig(t.pod, 'only.nodedns'), '10.9.9.9', 'nodedns answers again');
      assert.deepEqual(await conntrackEntries(t.node), []);
    });

    it('on SIGTERM removes NOTRACK only, and the fallback answers through the cluster DNS', async () => {
      const st = await nd.child.stop('SIGTERM', 15_000);
      assert.equal(st.code, 0, nd.child.tail());
      assert.equal(await rulesAsSpecified(t.node, mode, false), undefined, 'standing rules stay, NOTRACK is gone');
      assert.equal(await dig(t.pod, 'who.test', 'TXT'), '"clusterdns"', 'the cluster DNS answers for 169.254.20.10');
      assert.equal(await dig(t.pod, 'svc.cluster.local', 'A', true), '10.0.0.1', 'over TCP too');
      assert.equal(await dig(t.pod, 'only.nodedns'), '', 'not nodedns');
      // the control for the conntrack check above: without NOTRACK, the same queries are tracked
      assert.ok((await conntrackEntries(t.node)).length > 0);
    });

    it('teardown removes every rule and the address, and leaves nothing', async () => {
      const r = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /removed 169\.254\.20\.10 from lo/);
      assert.doesNotMatch(r.stderr, /removed/, 'each removal is said once, on stdout, not again in the log');
      assert.equal(await localAddressOnLo(t.node), 0);
      for (const save of ['iptables-nft-save', 'iptables-legacy-save', 'ip6tables-nft-save', 'ip6tables-legacy-save']) {
        assert.doesNotMatch(await t.node.ok(save, []), /nodedns|NODEDNS/, save);
      }
      assert.doesNotMatch(await t.node.ok('nft', ['list', 'ruleset']), /nodedns|NODEDNS/);
      assert.equal(await dig(t.pod, 'who.test', 'TXT'), undefined, 'no fallback either: nothing answers');
      const again = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L]);
      assert.equal(again.code, 0);
      assert.match(again.stdout, /nothing of nodedns was installed/);
    });

    it('setup alone puts the address and the standing rules in place: the fallback answers with no nodedns running', async () => {
      const setupArgs = ['setup', '--local-ip', L, '--cluster-dns', TOPO.serviceIp, '--firewall', mode.flag, '--health-addr', `${L}:8080`];
      const r = await t.node.exec(process.execPath, [CLI, ...setupArgs]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /NOTRACK left as it was/);
      assert.equal(await localAddressOnLo(t.node), 1);
      assert.equal(await rulesAsSpecified(t.node, mode, false), undefined);
      assert.equal(await dig(t.pod, 'who.test', 'TXT'), '"clusterdns"');
      const again = await t.node.exec(process.execPath, [CLI, ...setupArgs]);
      assert.match(again.stdout, /rules already in place/, 'idempotent');
      assert.equal(await rulesAsSpecified(t.node, mode, false), undefined);
      assert.equal((await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', L])).code, 0);
    });
  });
}

for (const flag of ['iptables', 'nftables']) {
  describe(`dual-stack node setup (${flag}): IPv6 local addresses get ip6tables / inet rules`, { skip, timeout: 120_000 }, () => {
    const lab = new NetnsLab();
    let t: NodeTopology;
    const L6 = TOPO.localIp6;
    const digAt = async (server: string, name: string, type = 'A') => {
      const r = await t.pod.exec('dig', ['+short', '+time=1', '+tries=1', `@${server}`, name, type]);
      return r.code === 0 ? r.stdout.trim() : undefined;
    };

    before(async () => {
      t = await nodeTopology(lab, { routableServiceIp: true, ipv6: true });
      startClusterDns(t.dns, [TOPO.serviceIp, TOPO.serviceIp6], { records: { 'svc.cluster.local': '10.0.0.1' }, who: 'clusterdns' });
      await waitUntil('the cluster DNS over IPv6', async () => ((await digAt(TOPO.serviceIp6, 'who.test', 'TXT')) ? true : undefined), PATIENCE_MS, 100);
    });
    after(() => lab.cleanup());

    it('serves both families, NOTRACKed, and falls back per family', async () => {
      const nd = spawnNodedns(t.node, CLI, ['run', '--local-ip', `${L},${L6}`, '--cluster-dns', `${TOPO.serviceIp},[${TOPO.serviceIp6}]:53`,
        '--upstream', TOPO.serviceIp, '--firewall', flag, '--host', 'only.nodedns=10.9.9.9',
        '--metrics-addr', '', '--health-addr', '', '--control-socket', '']);
      try {
        await nd.waitForLog('NOTRACK rules in place');
        assert.match(await t.node.ok('ip', ['-o', '-6', 'addr', 'show', 'dev', 'lo']), new RegExp(` ${L6}/128 `));
        if (flag === 'iptables') {
          const raw6 = await t.node.ok('ip6tables-nft-save', ['-t', 'raw']);
          assert.match(raw6, new RegExp(`-A NODEDNS-NOTRACK-PRE -d ${L6}/128 -p udp -m udp --dport 53 -m socket --nowildcard -m comment --comment nodedns -j NOTRACK`));
          const nat6 = await t.node.ok('ip6tables-nft-save', ['-t', 'nat']);
          assert.match(nat6, new RegExp(`-A NODEDNS-FALLBACK-PRE -d ${L6}/128 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j DNAT --to-destination \\[${TOPO.serviceIp6}\\]:53`));
          assert.doesNotMatch(nat6, /-d 169\.254/, 'IPv4 rules stay in iptables');
        } else {
          const table = await t.node.ok('nft', ['list', 'table', 'inet', 'nodedns']);
          assert.match(table, new RegExp(`ip6 daddr ${L6} udp dport 53 socket wildcard 0 notrack`));
          assert.match(table, new RegExp(`ip6 daddr ${L6} tcp dport 53 dnat ip6 to \\[${TOPO.serviceIp6}\\]:53`));
        }
        assert.equal(await digAt(L6, 'only.nodedns'), '10.9.9.9', 'nodedns answers on the IPv6 address');
        assert.equal(await digAt(L, 'only.nodedns'), '10.9.9.9', 'and on the IPv4 one');
        const ct6 = await t.node.exec('conntrack', ['-L', '-f', 'ipv6', '--orig-dst', L6]);
        assert.equal(ct6.stdout.split('\n').filter((l) => l.includes(L6)).length, 0, 'no conntrack entry');
      } finally {
        assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0);
      }
      assert.equal(await digAt(L6, 'who.test', 'TXT'), '"clusterdns"', 'IPv6 fallback to the IPv6 cluster DNS address');
      assert.equal(await digAt(L, 'who.test', 'TXT'), '"clusterdns"', 'IPv4 fallback');
      const td = await t.node.exec(process.execPath, [CLI, 'teardown', '--local-ip', `${L},${L6}`]);
      assert.equal(td.code, 0, td.stderr);
      assert.doesNotMatch(await t.node.ok('ip', ['-o', 'addr', 'show', 'dev', 'lo']), new RegExp(`${L6}|${L}`));
      for (const save of ['ip6tables-nft-save', 'iptables-nft-save']) assert.doesNotMatch(await t.node.ok(save, []), /NODEDNS/);
      assert.doesNotMatch(await t.node.ok('nft', ['list', 'ruleset']), /nodedns/);
    });
  });
}
