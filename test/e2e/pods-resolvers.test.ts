// Search completion seen by real resolvers: glibc (getent ahosts and getaddrinfo), musl (a
// static musl-gcc program), Go's own resolver (CGO_ENABLED=0) and Node's dns.lookup, each
// run in a "pod" network namespace whose address the in-test API server lists as a pod of
// this node, with the resolv.conf kubelet writes. nodedns runs in the "node" namespace in
// front of a recording dnsmasq, once with --no-search-completion and once with
// --search-completion. For every name: the answer each resolver gives must be the same
// both ways, and the queries reaching nodedns per lookup are counted (and printed).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/agent';
import { relayApiServer } from '../helpers/api-relay';
import { podObject, startFakeApiServer, type FakeApiServer } from '../helpers/fake-apiserver';
import { makeHostRoot, RESOLV_CONF, type HostRoot } from '../helpers/hostroot';
import { NetnsLab, netnsUnavailable, spawnNodedns, type Netns, type NodednsInNs } from '../helpers/netns';
import type { Child } from '../helpers/process';
import { PATIENCE_MS, missingTools, waitUntil } from '../helpers/process';

const CLIENTS = join(__dirname, 'pods-clients');
const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`)
  ?? missingTools(['gcc', 'musl-gcc', 'go', 'getent', 'dnsmasq', 'dig']);

const NODE_IP = '10.200.0.1'; // nodedns, the pod's nameserver
const POD_IP = '10.200.0.2';
const UPSTREAM_IP = '10.202.0.53'; // dnsmasq: cluster DNS and upstream at once
const NS = 'app';
const SEARCH = [`${NS}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local', 'corp.test'];

const RECORDS: [string, string][] = [
  ['api.example.com', '192.0.2.10'], // A, no AAAA
  ['www.example.com', '192.0.2.11'], ['www.example.com', '2001:db8::11'],
  ['kubernetes.default.svc.cluster.local', '10.96.0.1'],
  [`web.${NS}.svc.cluster.local`, '10.96.0.20'],
  [`db.${NS}.svc.cluster.local`, '10.244.1.10'], [`db.${NS}.svc.cluster.local`, '10.244.1.11'], // headless: the pods' addresses
  ['intranet.corp.test', '192.0.2.30'], // only in the host search domain kubelet appends
  ['gone.corp.test', '192.0.2.31'], // a Service "gone" of namespace app does not exist; this host does
];

/** What a pod looks up, and what kind of name it is. */
const NAMES: { name: string; kind: string }[] = [
  { name: 'api.example.com', kind: 'external, A only' },
  { name: 'www.example.com', kind: 'external, A and AAAA' },
  { name: 'kubernetes.default', kind: 'cluster Service (svc.ns)' },
  { name: `web.${NS}`, kind: 'Service of its namespace as svc.ns' },
  { name: 'web', kind: 'Service of its namespace, short' },
  { name: 'db', kind: 'headless Service' },
  { name: `db.${NS}`, kind: 'headless Service as svc.ns' },
  { name: 'intranet', kind: 'exists in a later search domain (host)' },
  { name: 'nothing-here.example.com', kind: 'exists nowhere' },
  { name: `gone.${NS}.svc.cluster.local`, kind: 'FQDN of a missing Service, no dot' },
  { name: `gone.${NS}.svc.cluster.local.`, kind: 'FQDN of a missing Service, trailing dot' },
  { name: 'api.example.com.', kind: 'trailing dot' },
  { name: 'www.example.com.', kind: 'trailing dot' },
];

/** Lookups of each name per resolver and mode, for steadier latency figures (NODEDNS_PODS_E2E_REPEAT). */
const REPEAT = Math.max(1, Number(process.env.NODEDNS_PODS_E2E_REPEAT ?? 1));

type Resolver = 'getent' | 'glibc' | 'musl' | 'go' | 'node';
const RESOLVERS: Resolver[] = ['getent', 'glibc', 'musl', 'go', 'node'];

interface Lookup { resolver: Resolver; name: string; mode: 'off' | 'on'; answer: string; micros: number; toNodedns: number; toUpstream: number; completions: number }

describe('real resolvers in a pod namespace: search completion off and on', { skip, timeout: 900_000 }, () => {
  const lab = new NetnsLab();
  const dir = mkdtempSync(join(tmpdir(), 'nodedns-pods-e2e-'));
  const etcNetns = () => `/etc/netns/${pod.name}`;
  let api: FakeApiServer;
  let closeBridge: (() => Promise<void>) | undefined;
  let node: Netns;
  let pod: Netns;
  let upstream: Child;
  let root: HostRoot;
  const results: Lookup[] = [];
  let marker = 0;

  const bins = { glibc: join(dir, 'gai-glibc'), musl: join(dir, 'gai-musl'), go: join(dir, 'lookup-go') };

  function build(): void {
    const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
      const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
    };
    run('gcc', ['-O1', '-o', bins.glibc, join(CLIENTS, 'gai.c')]);
    run('musl-gcc', ['-O1', '-static', '-o', bins.musl, join(CLIENTS, 'gai.c')]);
    // the Go build cache lives in this test's directory and goes with it
    run('go', ['build', '-o', bins.go, join(CLIENTS, 'lookup.go')], {
      ...process.env, CGO_ENABLED: '0', GOCACHE: join(dir, 'gocache'), GOPATH: join(dir, 'gopath'), GOFLAGS: '-mod=mod', GO111MODULE: 'off', HOME: dir,
    });
  }

  before(async () => {
    build();
    api = await startFakeApiServer();
    api.put(podObject(NS, 'client', { ips: [POD_IP], node: 'node-e2e' }));
    node = await lab.add('node');
    pod = await lab.add('pod');
    await lab.veth(node, `${NODE_IP}/24`, pod, `${POD_IP}/24`);
    await pod.ok('ip', ['route', 'add', 'default', 'via', NODE_IP]);
    // glibc's AI_ADDRCONFIG asks AAAA only once the pod has a usable IPv6 address: wait until the
    // veth's link-local address has left duplicate address detection, or the first lookups send A alone
    await waitUntil('the pod\'s IPv6 link-local address, out of DAD', async () => {
      const all = await pod.ok('ip', ['-6', '-o', 'addr', 'show', 'scope', 'link']);
      const tentative = await pod.ok('ip', ['-6', '-o', 'addr', 'show', 'tentative']);
      return all.includes('fe80::') && tentative.trim() === '' ? true : undefined;
    }, PATIENCE_MS, 100);
    await node.ok('ip', ['addr', 'add', `${UPSTREAM_IP}/32`, 'dev', 'lo']);
    closeBridge = await relayApiServer(node, api.url, dir);
    upstream = node.spawn('upstream (dnsmasq)', 'dnsmasq', [
      '--no-daemon', '--no-resolv', '--no-hosts', '--no-poll', '--bind-interfaces', `--listen-address=${UPSTREAM_IP}`, '--port=53',
      '--log-queries', '--log-facility=-', '--pid-file=', '--user=root', '--group=root', '--cache-size=0',
      ...RECORDS.map(([n, ip]) => `--host-record=${n},${ip}`),
      // everything else does not exist (NXDOMAIN), as on the Internet
      '--local=/#/',
    ]);
    await upstream.waitForLine(/started|compile time/, PATIENCE_MS);
    // `ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf: the pod's, as kubelet writes it
    mkdirSync(etcNetns(), { recursive: true });
    writeFileSync(join(etcNetns(), 'resolv.conf'), `nameserver ${NODE_IP}\nsearch ${SEARCH.join(' ')}\noptions ndots:5\n`);
    // the node's resolv.conf, whose search domains kubelet appends for pods
    root = makeHostRoot({ [RESOLV_CONF]: `nameserver ${UPSTREAM_IP}\nsearch corp.test\n` });
  });

  after(async () => {
    await lab.cleanup();
    if (pod) rmSync(etcNetns(), { recursive: true, force: true });
    await closeBridge?.();
    await api?.close();
    root?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  async function startNodedns(completion: boolean, extra: string[] = []): Promise<NodednsInNs> {
    const nd = spawnNodedns(node, CLI, ['run', ...extra, '--local-ip', NODE_IP, '--port', '53', '--upstream', UPSTREAM_IP, '--cluster-dns', UPSTREAM_IP,
      '--no-setup-interface', '--firewall', 'none', '--kube-api', '--kubeconfig', api.kubeconfig, '--node-name', 'node-e2e',
      '--no-watch-kube-dns-configmap', '--host-root', root.dir, '--log-queries', '--metrics-addr', '', '--health-addr', '', '--control-socket', '',
      completion ? '--search-completion' : '--no-search-completion']);
    await nd.waitForLog('nodedns serving', PATIENCE_MS);
    await nd.waitForLog('pods of this node known', PATIENCE_MS);
    return nd;
  }

  const clientLog = (nd: NodednsInNs) => nd.logs.filter((l) => l.msg === 'query' && l.client === POD_IP);
  const upstreamQueries = () => upstream.lines.filter((l) => /query\[[A-Z]+\] /.test(l) && !/marker-\d+\.done\.test/.test(l));

  /** A query the pod sends after a lookup: once nodedns logs it, every query of the lookup is logged too. */
  async function settle(nd: NodednsInNs): Promise<void> {
    const m = `marker-${++marker}.done.test`;
    await pod.exec('dig', ['+tries=1', '+time=5', `@${NODE_IP}`, m]);
    await nd.waitForLog((l) => l.msg === 'query' && l.name === `${m}.`, PATIENCE_MS);
  }

  async function lookup(nd: NodednsInNs, resolver: Resolver, name: string, mode: 'off' | 'on'): Promise<Lookup> {
    const before = clientLog(nd).filter((l) => !String(l.name).startsWith('marker-')).length;
    const upBefore = upstreamQueries().length;
    let answer: string;
    let micros = 0;
    if (resolver === 'getent') {
      const r = await pod.exec('getent', ['ahosts', name]);
      const ips = [...new Set(r.stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean))].sort();
      answer = r.code === 0 ? `ok ${ips.join(',')}` : `err exit ${r.code}`;
    } else {
      const [cmd, args] = resolver === 'node' ? [process.execPath, [join(CLIENTS, 'lookup.js'), name]] : [bins[resolver], [name]];
      const r = await pod.exec(cmd, args, { timeoutMs: 60_000 });
      const [, status, what, us] = r.stdout.trim().split('\t');
      assert.ok(status, `${resolver} printed nothing for ${name}: ${r.stderr}`);
      answer = `${status} ${what}`;
      micros = Number(us);
    }
    await settle(nd);
    const lines = clientLog(nd).filter((l) => !String(l.name).startsWith('marker-'));
    const mine = lines.slice(before);
    return { resolver, name, mode, answer, micros, toNodedns: mine.length, toUpstream: upstreamQueries().length - upBefore,
      completions: mine.filter((l) => l.cache === 'completed').length };
  }

  for (const mode of ['off', 'on'] as const) {
    it(`every resolver looks up every name with completion ${mode}`, async () => {
      const nd = await startNodedns(mode === 'on');
      try {
        for (const resolver of RESOLVERS) {
          for (const { name } of NAMES) for (let i = 0; i < REPEAT; i++) results.push(await lookup(nd, resolver, name, mode));
        }
      } finally {
        assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0, nd.child.tail());
      }
    });
  }

  it('under the supervisor (--workers 2) every worker gets the pods and completes', async () => {
    const nd = await startNodedns(true, ['--workers', '2']);
    try {
      // each worker learns the pods from the supervisor; a lookup may land on either
      await nd.waitForLog((l) => l.msg === 'pods of this node known' && nd.count('pods of this node known') >= 2, PATIENCE_MS);
      for (let i = 0; i < 4; i++) {
        const r = await lookup(nd, 'glibc', 'www.example.com', 'on');
        assert.equal(r.answer, 'ok 192.0.2.11,2001:db8::11');
        assert.equal(r.toNodedns, 2, 'A and AAAA of the first search name, completed');
        assert.equal(r.completions, 2);
      }
    } finally {
      assert.equal((await nd.child.stop('SIGTERM', 15_000)).code, 0, nd.child.tail());
    }
  });

  it('gives every resolver the same answer with completion on as off', () => {
    const table = ['resolver  name                                   off: queries answer                    on: queries answer (completed)   us off/on'];
    for (const resolver of RESOLVERS) {
      for (const { name } of NAMES) {
        const off = results.find((r) => r.resolver === resolver && r.name === name && r.mode === 'off')!;
        const on = results.find((r) => r.resolver === resolver && r.name === name && r.mode === 'on')!;
        table.push(`${resolver.padEnd(9)} ${name.padEnd(38)} ${String(off.toNodedns).padStart(3)} ${off.answer.padEnd(34)} ${String(on.toNodedns).padStart(3)} ${on.answer.padEnd(26)} (${on.completions}) ${off.micros}/${on.micros}`);
      }
    }
    // per resolver: queries per lookup and median latency, over the names completion answers
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const completed = new Set(results.filter((r) => r.completions > 0).map((r) => r.name));
    for (const resolver of RESOLVERS.filter((x) => x !== 'getent')) {
      const pick = (mode: string) => results.filter((r) => r.resolver === resolver && r.mode === mode && completed.has(r.name));
      const [off, on] = [pick('off'), pick('on')];
      const per = (rs: Lookup[]) => (rs.reduce((a, r) => a + r.toNodedns, 0) / rs.length).toFixed(2);
      table.push(`summary ${resolver}: names completed ${completed.size}; queries per lookup ${per(off)} -> ${per(on)}; `
        + `median latency ${median(off.map((r) => r.micros))} -> ${median(on.map((r) => r.micros))} us; upstream queries ${off.reduce((a, r) => a + r.toUpstream, 0)} -> ${on.reduce((a, r) => a + r.toUpstream, 0)}`);
    }
    console.log(table.join('\n'));
    for (const off of results.filter((r) => r.mode === 'off')) {
      const on = results.find((r) => r.resolver === off.resolver && r.name === off.name && r.mode === 'on')!;
      assert.equal(on.answer, off.answer, `${off.resolver} ${off.name}`);
      assert.ok(on.toNodedns <= off.toNodedns, `${off.resolver} ${off.name}: ${on.toNodedns} queries with completion, ${off.toNodedns} without`);
    }
  });

  it('cuts an external lookup to one query per type, and leaves trailing-dot names and single labels alone', () => {
    for (const resolver of RESOLVERS) {
      const r = (name: string, mode: 'off' | 'on') => results.find((x) => x.resolver === resolver && x.name === name && x.mode === mode)!;
      assert.equal(r('www.example.com', 'off').toNodedns, 2 * (SEARCH.length + 1), `${resolver}: the whole path without completion`);
      assert.equal(r('www.example.com', 'on').toNodedns, 2, `${resolver}: A and AAAA of the first search name`);
      assert.equal(r('www.example.com', 'on').completions, 2);
      assert.equal(r('kubernetes.default', 'on').toNodedns, 2, resolver);
      assert.equal(r('www.example.com.', 'on').toNodedns, r('www.example.com.', 'off').toNodedns, resolver);
      assert.equal(r('www.example.com.', 'on').completions, 0);
      assert.equal(r(`db.${NS}`, 'on').toNodedns, 2, resolver);
      for (const single of ['intranet', 'web', 'db']) assert.equal(r(single, 'on').completions, 0, `${resolver} ${single}`);
    }
  });
});
