// Unit tests of node setup's pure parts: rule building, iptables and nft rendering and
// their checks against tool output, the kube-proxy parsers, address bytes.
// The rules are applied for real in test/e2e/node-*.test.ts.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { countRules, hasHint } from '../src/node/firewall/backend';
import { Firewall, notrackOffCommands } from '../src/node/firewall/firewall';
import type { Runner } from '../src/node/exec';
import pino from 'pino';
import * as ipt from '../src/node/firewall/iptables';
import { iptablesEndpoints, nftEndpoints, tokenize } from '../src/node/firewall/kubeproxy';
import * as nft from '../src/node/firewall/nftables';
import { buildRules, clusterIpTarget, RULE_SETS, type FallbackTarget, type Hook, type RuleSet } from '../src/node/firewall/rules';
import { ipBytes } from '../src/node/interface';

const dns4 = { host: '10.96.0.10', port: 53, family: 4 as const };
const dns6 = { host: 'fd00::a', port: 53, family: 6 as const };
const ALL = new Set<RuleSet>(RULE_SETS);
const STANDING = new Set<RuleSet>(['base', 'fallback']);

function rules(localIps = ['169.254.20.10'], fallback: { 4?: FallbackTarget; 6?: FallbackTarget } = { 4: clusterIpTarget(dns4) }, healthPort = 8080) {
  return buildRules({ localIps, port: 53, healthPort, fallback });
}

describe('rule sets', () => {
  it('builds node-cache\'s rules per local address: NOTRACK in and out, ACCEPT, health port, fallback DNAT', () => {
    const r = rules();
    const count = (hook: string) => r.filter((x) => x.hook === hook).length;
    assert.equal(count('notrack-prerouting'), 2); // udp+tcp to :53
    assert.equal(count('notrack-output'), 2); // node-local queries
    assert.equal(count('base-raw-output'), 4); // replies udp+tcp, health port both ways
    assert.equal(count('base-input'), 2);
    assert.equal(count('base-output'), 2);
    assert.equal(count('fallback-prerouting'), 2);
    assert.equal(count('fallback-output'), 2);
    assert.equal(count('fallback-postrouting'), 1);
    for (const x of r.filter((y) => y.hook.startsWith('fallback-') && y.action.kind === 'dnat')) {
      assert.deepEqual(x.action, { kind: 'dnat', host: '10.96.0.10', port: 53 });
      assert.equal(x.dst, '169.254.20.10');
      assert.equal(x.dport, 53);
    }
  });

  it('gives the ClusterIP no DNAT of its own when it is a local address (it would loop)', () => {
    const r = rules(['169.254.20.10', '10.96.0.10']);
    const dnat = r.filter((x) => x.action.kind === 'dnat');
    assert.ok(dnat.length > 0);
    assert.ok(dnat.every((x) => x.dst === '169.254.20.10'), 'no DNAT rule for 10.96.0.10 itself');
    assert.ok(r.some((x) => x.hook === 'notrack-prerouting' && x.dst === '10.96.0.10'), 'but it is still NOTRACKed');
  });

  it('spreads the fallback evenly over kube-proxy endpoints: 1 in 3, 1 in 2, the rest', () => {
    const eps = ['10.244.1.5', '10.244.2.5', '10.244.3.5'].map((host) => ({ host, port: 53, family: 4 as const }));
    const r = rules(['169.254.20.10'], { 4: { source: 'kube-proxy-iptables', clusterIp: '10.96.0.10', udp: eps, tcp: eps } });
    const udpPre = r.filter((x) => x.hook === 'fallback-prerouting' && x.proto === 'udp');
    assert.deepEqual(udpPre.map((x) => [x.oneIn, x.action.kind === 'dnat' && x.action.host]), [[3, '10.244.1.5'], [2, '10.244.2.5'], [undefined, '10.244.3.5']]);
    const lines = ipt.desiredChains(r, 4, ALL).get('fallback-prerouting')!;
    assert.match(lines[0], /-m statistic --mode random --probability 0\.33333333333 .* --to-destination 10\.244\.1\.5:53$/);
    assert.match(lines[1], /--probability 0\.50000000000 /);
    assert.doesNotMatch(lines[2], /statistic/);
  });

  it('keeps each family to its own cluster DNS address, and none when there is none', () => {
    const r = rules(['169.254.20.10', 'fd00::10'], { 4: clusterIpTarget(dns4) });
    assert.ok(!r.some((x) => x.family === 6 && x.action.kind === 'dnat'));
    assert.ok(r.some((x) => x.family === 6 && x.hook === 'notrack-prerouting'));
    const r6 = rules(['fd00::10'], { 6: clusterIpTarget(dns6) });
    const d = r6.find((x) => x.action.kind === 'dnat')!;
    assert.equal(ipt.ruleSpec(d), '-d fd00::10/128 -p udp -m udp --dport 53 -m comment --comment nodedns -j DNAT --to-destination [fd00::a]:53');
    assert.equal(nft.ruleBody(d), 'ip6 daddr fd00::10 udp dport 53 dnat ip6 to [fd00::a]:53');
  });

  it('leaves the health port out when there is no health server', () => {
    assert.ok(!rules(['169.254.20.10'], {}, 0).some((x) => x.dport === 8080 || x.sport === 8080));
  });
});

describe('iptables rendering', () => {
  it('writes rules exactly as iptables-save prints them, in chains of its own', () => {
    const want = ipt.desiredChains(rules(), 4, ALL);
    assert.deepEqual(want.get('notrack-prerouting'), [
      '-A NODEDNS-NOTRACK-PRE -d 169.254.20.10/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j NOTRACK',
      '-A NODEDNS-NOTRACK-PRE -d 169.254.20.10/32 -p tcp -m tcp --dport 53 -m comment --comment nodedns -j NOTRACK',
    ]);
    assert.deepEqual(want.get('fallback-postrouting'), [
      '-A NODEDNS-FALLBACK-POST -s 169.254.20.10/32 -m conntrack --ctstate DNAT -m comment --comment nodedns -j MASQUERADE',
    ]);
    assert.ok(want.get('base-input')!.every((l) => l.endsWith('-j ACCEPT')));
  });

  it('leaves the NOTRACK chains out of the standing state', () => {
    const want = ipt.desiredChains(rules(), 4, STANDING);
    assert.ok(!want.has('notrack-prerouting'));
    assert.ok(want.has('base-raw-output') && want.has('fallback-prerouting'));
  });

  it('restore input declares (and so empties) each chain once, then one jump at the top of the built-in chain', () => {
    const text = ipt.renderAll(rules(), 4, ALL);
    assert.equal(text.split('\n').filter((l) => l === ':NODEDNS-NOTRACK-PRE - [0:0]').length, 1);
    assert.match(text, /^\*raw\n/);
    assert.match(text, /-I PREROUTING 1 -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE/);
    assert.equal((text.match(/^COMMIT$/gm) ?? []).length, 3);
  });

  const saveOf = (sets: ReadonlySet<RuleSet>, extra: Record<string, string[]> = {}) => {
    const want = ipt.desiredChains(rules(), 4, sets);
    const tables = new Map<string, string[]>();
    for (const [hook, lines] of want) {
      const p = ipt.PLACES[hook];
      const t = tables.get(p.table) ?? [];
      t.push(`:${p.chain} - [0:0]`, ...lines, `-A ${p.builtin} -m comment --comment nodedns -j ${p.chain}`);
      tables.set(p.table, t);
    }
    for (const [t, lines] of Object.entries(extra)) tables.set(t, [...(tables.get(t) ?? []), ...lines]);
    return [...tables].map(([t, lines]) => `# Generated by iptables-save\n*${t}\n:PREROUTING ACCEPT [0:0]\n${lines.join('\n')}\nCOMMIT\n`).join('');
  };

  it('a check of an intact save finds nothing to do', () => {
    const d = ipt.diff(ipt.parseSave(saveOf(ALL)), ipt.desiredChains(rules(), 4, ALL));
    assert.deepEqual(d, { chains: [], jumps: new Map(), stale: [] });
  });

  it('finds a deleted rule, a duplicate, a missing jump and a duplicate jump', () => {
    const want = ipt.desiredChains(rules(), 4, ALL);
    let text = saveOf(ALL);
    text = text.replace(`${want.get('fallback-prerouting')![0]}\n`, ''); // a rule deleted by hand
    text = text.replace(`${want.get('base-input')![0]}\n`, `${want.get('base-input')![0]}\n${want.get('base-input')![0]}\n`); // a duplicate
    text = text.replace('-A PREROUTING -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE\n', ''); // the jump
    text = text.replace('-A POSTROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-POST\n',
      '-A POSTROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-POST\n-A POSTROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-POST\n');
    const d = ipt.diff(ipt.parseSave(text), want);
    assert.deepEqual([...d.chains].sort(), ['base-input', 'fallback-prerouting']);
    assert.deepEqual([...d.jumps], [['notrack-prerouting', 0], ['fallback-postrouting', 2]]);
    const fix = ipt.restoreInput(want, d.chains, d.jumps);
    assert.match(fix, /:NODEDNS-BASE-IN - \[0:0\]/);
    assert.doesNotMatch(fix, /:NODEDNS-NOTRACK-PRE/, 'an intact chain is not redeclared (that would empty it)');
    assert.equal((fix.match(/-D POSTROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-POST/g) ?? []).length, 2);
    assert.equal((fix.match(/-I POSTROUTING 1 -m comment --comment nodedns -j NODEDNS-FALLBACK-POST/g) ?? []).length, 1);
    assert.match(fix, /-I PREROUTING 1 -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE/);
  });

  it('treats NOTRACK rules as stale when nodedns is not serving, and ignores other programs\' rules', () => {
    const text = saveOf(ALL, { raw: ['-A PREROUTING -p udp -m udp --dport 5353 -j NOTRACK'] });
    const d = ipt.diff(ipt.parseSave(text), ipt.desiredChains(rules(), 4, STANDING));
    assert.deepEqual([...d.stale].sort(), ['notrack-output', 'notrack-prerouting']);
    assert.deepEqual(d.chains, []);
    assert.match(ipt.restoreInput(ipt.desiredChains(rules(), 4, STANDING), d.stale, d.jumps), /:NODEDNS-NOTRACK-PRE - \[0:0\]\n:NODEDNS-NOTRACK-OUT - \[0:0\]\nCOMMIT/);
  });

  it('removal deletes every jump and chain it finds, and only those', () => {
    const text = saveOf(ALL, { nat: ['-A PREROUTING -j KUBE-SERVICES', ':KUBE-SERVICES - [0:0]'] });
    const input = ipt.removalInput(ipt.parseSave(text), ['notrack-prerouting', 'fallback-prerouting']);
    assert.equal(input, [
      '*raw', '-D PREROUTING -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE', '-F NODEDNS-NOTRACK-PRE', '-X NODEDNS-NOTRACK-PRE', 'COMMIT',
      '*nat', '-D PREROUTING -m comment --comment nodedns -j NODEDNS-FALLBACK-PRE', '-F NODEDNS-FALLBACK-PRE', '-X NODEDNS-FALLBACK-PRE', 'COMMIT', '',
    ].join('\n'));
    assert.equal(ipt.removalInput(new Map(), ['notrack-prerouting']), '');
  });

  it('the fast NOTRACK removal empties exactly the two NOTRACK chains', () => {
    const [c] = notrackOffCommands({ kind: 'iptables', variant: 'legacy' }, ['169.254.20.10']);
    assert.equal(c.cmd, 'iptables-legacy-restore');
    assert.deepEqual(c.args, ['--noflush', '--wait=5']);
    assert.equal(c.input, '*raw\n:NODEDNS-NOTRACK-PRE - [0:0]\n:NODEDNS-NOTRACK-OUT - [0:0]\nCOMMIT\n');
    assert.equal(notrackOffCommands({ kind: 'iptables', variant: 'nft' }, ['169.254.20.10', 'fd00::10']).map((x) => x.cmd).join(' '), 'iptables-nft-restore ip6tables-nft-restore');
    assert.deepEqual(notrackOffCommands({ kind: 'none' }, ['169.254.20.10']), []);
  });
});

describe('nftables rendering', () => {
  it('one table of its own, every rule with a comment naming its content', () => {
    const want = nft.desiredChains(rules(), ALL);
    const script = nft.replaceTable(want);
    assert.match(script, /^add table inet nodedns\ndelete table inet nodedns\nadd table inet nodedns\n/);
    assert.match(script, /add chain inet nodedns notrack-prerouting \{ type filter hook prerouting priority -300; policy accept; \}/);
    assert.match(script, /add chain inet nodedns fallback-output \{ type nat hook output priority -100; policy accept; \}/);
    assert.match(script, /add rule inet nodedns notrack-prerouting ip daddr 169\.254\.20\.10 udp dport 53 notrack comment "nodedns [0-9a-f]{12}"/);
    assert.match(script, /add rule inet nodedns fallback-postrouting ip saddr 169\.254\.20\.10 ct status dnat masquerade comment/);
    const comments = [...want.values()].flat().map((r) => r.comment);
    assert.equal(new Set(comments).size, comments.length, 'comments are unique');
  });

  it('the comment changes when the rule does (a new fallback target is a different rule)', () => {
    const a = nft.desiredChains(rules(), ALL).get('fallback-prerouting')!;
    const b = nft.desiredChains(rules(['169.254.20.10'], { 4: clusterIpTarget({ host: '10.96.0.11', port: 53, family: 4 }) }), ALL).get('fallback-prerouting')!;
    assert.notEqual(a[0].comment, b[0].comment);
  });

  const listing = (chains: Record<string, string[]>, prio: Record<string, number> = {}) => JSON.stringify({
    nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'inet', name: 'nodedns', handle: 1 } },
      ...Object.keys(chains).map((name) => ({ chain: { family: 'inet', table: 'nodedns', name, type: nft.CHAINS[name as Hook].type, hook: nft.CHAINS[name as Hook].hook, prio: prio[name] ?? nft.CHAINS[name as Hook].prio } })),
      ...Object.entries(chains).flatMap(([chain, cs]) => cs.map((comment, i) => ({ rule: { family: 'inet', table: 'nodedns', chain, handle: i + 10, comment, expr: [] } }))),
    ],
  });
  const full = (want: ReturnType<typeof nft.desiredChains>) => Object.fromEntries([...want].map(([h, rs]) => [h, rs.map((r) => r.comment)]));

  it('an intact table needs nothing; a missing table is rebuilt', () => {
    const want = nft.desiredChains(rules(), ALL);
    assert.deepEqual(nft.diff(nft.parseListing(listing(full(want))), want), { rebuild: false, chains: [] });
    assert.equal(nft.diff(undefined, want).rebuild, true);
  });

  it('finds deleted and duplicated rules per chain, and a base chain on the wrong priority', () => {
    const want = nft.desiredChains(rules(), ALL);
    const chains = full(want);
    chains['notrack-prerouting'] = chains['notrack-prerouting'].slice(1);
    chains['base-input'] = [...chains['base-input'], chains['base-input'][0]];
    const d = nft.diff(nft.parseListing(listing(chains)), want);
    assert.deepEqual(d, { rebuild: false, chains: ['notrack-prerouting', 'base-input'] });
    assert.equal(nft.replaceChains(want, d.chains).split('\n')[0], 'flush chain inet nodedns notrack-prerouting');
    const moved = nft.diff(nft.parseListing(listing(full(want), { 'base-input': 10 })), want);
    assert.equal(moved.rebuild, true);
  });

  it('empty NOTRACK chains are what the standing state wants', () => {
    const standing = nft.desiredChains(rules(), STANDING);
    const chains = full(standing);
    assert.deepEqual(chains['notrack-prerouting'], []);
    assert.deepEqual(nft.diff(nft.parseListing(listing(chains)), standing), { rebuild: false, chains: [] });
    const serving = full(nft.desiredChains(rules(), ALL));
    assert.deepEqual(nft.diff(nft.parseListing(listing(serving)), standing).chains, ['notrack-prerouting', 'notrack-output']);
  });
});

describe('kernel-held steering', () => {
  const kernel = (localIps = ['169.254.20.10']) => buildRules({ localIps, port: 53, healthPort: 8080, fallback: { 4: clusterIpTarget(dns4) }, kernelSteering: true });

  it('only the pods\' NOTRACK rule carries the socket match; the node\'s own (output) rule cannot', () => {
    const r = kernel();
    assert.ok(r.filter((x) => x.hook === 'notrack-prerouting').every((x) => x.socket === true));
    assert.ok(r.filter((x) => x.hook !== 'notrack-prerouting').every((x) => x.socket === undefined));
  });

  it('iptables: -m socket --nowildcard where iptables-save prints it', () => {
    const want = ipt.desiredChains(kernel(), 4, ALL);
    assert.deepEqual(want.get('notrack-prerouting'), [
      '-A NODEDNS-NOTRACK-PRE -d 169.254.20.10/32 -p udp -m udp --dport 53 -m socket --nowildcard -m comment --comment nodedns -j NOTRACK',
      '-A NODEDNS-NOTRACK-PRE -d 169.254.20.10/32 -p tcp -m tcp --dport 53 -m socket --nowildcard -m comment --comment nodedns -j NOTRACK',
    ]);
    assert.ok(want.get('notrack-output')!.every((l) => !l.includes('socket')));
  });

  it('nft: socket wildcard 0, plus a TCP rule for handshakes and TIME_WAIT (not full sockets)', () => {
    const lines = nft.desiredChains(kernel(), ALL).get('notrack-prerouting')!.map((x) => x.line.replace(/ comment .*$/, ''));
    assert.deepEqual(lines, [
      'add rule inet nodedns notrack-prerouting ip daddr 169.254.20.10 udp dport 53 socket wildcard 0 notrack',
      'add rule inet nodedns notrack-prerouting ip daddr 169.254.20.10 tcp dport 53 socket wildcard 0 notrack',
      'add rule inet nodedns notrack-prerouting ip daddr 169.254.20.10 tcp dport 53 tcp flags ! syn socket transparent 0 notrack',
    ]);
  });

  it('today\'s rules (managed) differ from kernel-held ones, so a new agent rewrites them', () => {
    const managed = ipt.desiredChains(rules(), 4, ALL);
    const saved = ipt.parseSave(`*raw\n:NODEDNS-NOTRACK-PRE - [0:0]\n${managed.get('notrack-prerouting')!.join('\n')}\n-A PREROUTING -m comment --comment nodedns -j NODEDNS-NOTRACK-PRE\nCOMMIT\n`);
    assert.ok(ipt.diff(saved, ipt.desiredChains(kernel(), 4, ALL)).chains.includes('notrack-prerouting'));
  });

  /** A fake iptables that has no socket match in its kernel and records what it was asked. */
  function noSocketMatch(restores: string[]): Runner {
    return async (cmd, args, input) => {
      if (cmd.endsWith('-save')) return { code: 0, stdout: '', stderr: '' };
      if (cmd.endsWith('-restore') && input) {
        restores.push(input);
        if (input.includes('-m socket')) return { code: 4, stdout: '', stderr: 'iptables-restore: line 3 failed: RULE_APPEND failed (No such file or directory)' };
        return { code: 0, stdout: '', stderr: '' };
      }
      return { code: 0, stdout: '', stderr: '' };
    };
  }

  it('a kernel that refuses the socket match: managed rules instead, said once, and kept', async () => {
    const restores: string[] = [];
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (l: string) => { warnings.push(l); } });
    const fw = new Firewall({ kind: 'iptables', variant: 'nft' }, log, noSocketMatch(restores));
    const inp = { localIps: ['169.254.20.10'], port: 53, healthPort: 0, clusterDns: [dns4] };
    assert.equal(fw.steering, 'kernel');
    await fw.sync(inp, true);
    assert.equal(fw.steering, 'managed');
    assert.equal(restores.length, 2, 'the refused transaction, then the managed one');
    assert.match(restores[1], /-A NODEDNS-NOTRACK-PRE -d 169\.254\.20\.10\/32 -p udp -m udp --dport 53 -m comment --comment nodedns -j NOTRACK/);
    assert.ok(warnings.some((w) => /the kernel refused the socket match .*modprobe xt_socket/.test(w)));
    restores.length = 0;
    await fw.sync(inp, true);
    assert.ok(restores.every((r) => !r.includes('-m socket')), 'not tried again');
  });

  it('a failure that is not the socket match keeps kernel steering and throws', async () => {
    const fw = new Firewall({ kind: 'iptables', variant: 'nft' }, pino({ level: 'silent' }), async (cmd) => (
      cmd.endsWith('-restore') ? { code: 4, stdout: '', stderr: 'Another app is currently holding the xtables lock' } : { code: 0, stdout: '', stderr: '' }));
    await assert.rejects(fw.sync({ localIps: ['169.254.20.10'], port: 53, healthPort: 0, clusterDns: [dns4] }, true), /xtables lock/);
    assert.equal(fw.steering, 'kernel');
  });

  it('--steering managed never tries the socket match', async () => {
    const restores: string[] = [];
    const fw = new Firewall({ kind: 'iptables', variant: 'nft' }, pino({ level: 'silent' }), noSocketMatch(restores), 'managed');
    await fw.sync({ localIps: ['169.254.20.10'], port: 53, healthPort: 0, clusterDns: [dns4] }, true);
    assert.equal(restores.length, 1);
    assert.ok(!restores[0].includes('-m socket'));
  });
});

describe('kube-proxy endpoints (the fallback target in iptables and nftables mode)', () => {
  const save = [
    '# Generated by iptables-save v1.8.9',
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y',
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-SVC-TCOU7JCQXEZGVUNU',
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp cluster IP" -m tcp --dport 53 -j KUBE-SVC-ERIFXISQEP7F7OF4',
    '-A KUBE-SVC-TCOU7JCQXEZGVUNU ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p udp -m comment --comment "kube-system/kube-dns:dns cluster IP" -m udp --dport 53 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.0.3:53" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-AAA',
    '-A KUBE-SVC-TCOU7JCQXEZGVUNU -m comment --comment "kube-system/kube-dns:dns -> 10.244.1.7:53" -j KUBE-SEP-BBB',
    '-A KUBE-SEP-AAA -s 10.244.0.3/32 -m comment --comment "kube-system/kube-dns:dns" -j KUBE-MARK-MASQ',
    '-A KUBE-SEP-AAA -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.0.3:53',
    '-A KUBE-SEP-BBB -p udp -m comment --comment "kube-system/kube-dns:dns" -m udp -j DNAT --to-destination 10.244.1.7:53',
    '-A KUBE-SVC-ERIFXISQEP7F7OF4 -m comment --comment "kube-system/kube-dns:dns-tcp -> 10.244.0.3:53" -j KUBE-SEP-CCC',
    '-A KUBE-SEP-CCC -p tcp -m comment --comment "kube-system/kube-dns:dns-tcp" -m tcp -j DNAT --to-destination 10.244.0.3:53',
    '-A KUBE-SVC-NPX46M4PTMTKRN6Y -j KUBE-SEP-DDD',
    '-A KUBE-SEP-DDD -p tcp -m tcp -j DNAT --to-destination 172.18.0.2:6443',
    'COMMIT',
  ].join('\n');

  it('follows KUBE-SERVICES -> KUBE-SVC -> KUBE-SEP to the DNAT destinations, per protocol', () => {
    assert.deepEqual(iptablesEndpoints(save, '10.96.0.10', 53, 'udp')!.map((e) => `${e.host}:${e.port}`), ['10.244.0.3:53', '10.244.1.7:53']);
    assert.deepEqual(iptablesEndpoints(save, '10.96.0.10', 53, 'tcp')!.map((e) => `${e.host}:${e.port}`), ['10.244.0.3:53']);
    assert.equal(iptablesEndpoints(save, '10.96.0.99', 53, 'udp'), undefined);
    assert.equal(iptablesEndpoints(save.replace('*nat', '*filter'), '10.96.0.10', 53, 'udp'), undefined, 'only the nat table counts');
  });

  it('keeps quoted comments whole when splitting a rule', () => {
    assert.deepEqual(tokenize('-A X -m comment --comment "a -j b" -j DNAT'), ['-A', 'X', '-m', 'comment', '--comment', 'a -j b', '-j', 'DNAT']);
  });

  it('reads kube-proxy nftables mode: service-ips map -> service chain -> endpoint chains -> dnat', () => {
    const svc = 'service-ULMVA6XW-kube-system/kube-dns/udp/dns';
    const ep1 = 'endpoint-5OJB2KTY-kube-system/kube-dns/udp/dns__10.244.0.3/53';
    const ep2 = 'endpoint-7KQ2AAAA-kube-system/kube-dns/udp/dns__10.244.1.7/53';
    const doc = {
      nftables: [
        { map: { family: 'ip', table: 'kube-proxy', name: 'service-ips', type: ['ipv4_addr', 'inet_proto', 'inet_service'], map: 'verdict',
          elem: [[{ concat: ['10.96.0.10', 'udp', 53] }, { goto: { target: svc } }], [{ concat: ['10.96.0.1', 'tcp', 443] }, { goto: { target: 'service-X-default/kubernetes/tcp/https' } }]] } },
        { rule: { chain: svc, expr: [{ vmap: { key: { numgen: { mode: 'random', mod: 2 } }, data: { set: [[0, { goto: { target: ep1 } }], [1, { goto: { target: ep2 } }]] } } }] } },
        { rule: { chain: ep1, expr: [{ match: { left: { payload: { protocol: 'ip', field: 'saddr' } }, right: '10.244.0.3' } }, { jump: { target: 'mark-for-masquerade' } }] } },
        { rule: { chain: ep1, expr: [{ dnat: { addr: '10.244.0.3', port: 53 } }] } },
        { rule: { chain: ep2, expr: [{ dnat: { addr: '10.244.1.7', port: 53 } }] } },
      ],
    };
    assert.deepEqual(nftEndpoints(JSON.stringify(doc), '10.96.0.10', 53, 'udp')!.map((e) => e.host), ['10.244.0.3', '10.244.1.7']);
    assert.equal(nftEndpoints(JSON.stringify(doc), '10.96.0.10', 53, 'tcp'), undefined);
    assert.equal(nftEndpoints('not json', '10.96.0.10', 53, 'udp'), undefined);
  });
});

describe('auto detection inputs', () => {
  it('counts rules and sees the kubelet/kube-proxy hint chains', () => {
    assert.equal(countRules('*nat\n:A - [0:0]\n-A A -j B\n-A B -j C\nCOMMIT\n'), 2);
    assert.equal(hasHint('*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n'), true);
    assert.equal(hasHint('*mangle\n:KUBE-KUBELET-CANARY - [0:0]\n'), true);
    assert.equal(hasHint('*nat\n-A KUBE-SERVICES -j KUBE-KUBELET-CANARY\n'), false);
  });
});

describe('addresses for netlink', () => {
  it('turns IPv4 and IPv6 literals into their bytes', () => {
    assert.equal(ipBytes('169.254.20.10').toString('hex'), 'a9fe140a');
    assert.equal(ipBytes('fd00::10').toString('hex'), 'fd000000000000000000000000000010');
    assert.equal(ipBytes('::1').toString('hex'), '00000000000000000000000000000001');
    assert.equal(ipBytes('fd00:1:2:3:4:5:6:7').toString('hex'), 'fd000001000200030004000500060007');
    assert.equal(ipBytes('::ffff:10.1.2.3').toString('hex'), '00000000000000000000ffff0a010203');
    assert.throws(() => ipBytes('nope'), /not an IP address/);
  });
});
