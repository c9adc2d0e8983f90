// `nodedns explain` and `nodedns query` end to end in this process, resolving directly
// (no agent) against a DNS server in the test: the per-library stop rules on real answers,
// the hosts file (seed 003), the advice, the output and the usage errors. The comparison
// with what glibc really sends is test/e2e/diagnose-explain.test.ts.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { explainCommand } from '../src/diagnose/explain';
import type { ExplainResult } from '../src/diagnose/explain-run';
import { queryCommand } from '../src/diagnose/query';
import { paint } from '../src/diagnose/render';
import { startFaultServer, type FaultServer } from './helpers/fault-server';
import { hostPort } from './helpers/ports';

const plain = paint({ isTTY: false } as NodeJS.WriteStream);

describe('explain and query, resolving directly', () => {
  let fault: FaultServer;
  let dir: string;
  let rc: string;

  before(async () => {
    fault = await startFaultServer({
      records: {
        'www.example.org': [{ type: 'A', data: '93.184.216.34' }],
        'api.shop.svc.cluster.local': [{ type: 'A', data: '10.0.0.7' }],
        'db.svc.cluster.local': [{ type: 'TXT', data: 'exists without an address' }],
        'db.cluster.local': [{ type: 'A', data: '10.0.0.9' }],
      },
      negativeSoa: { zone: 'cluster.local', ttl: 5 },
    });
    dir = mkdtempSync(join(tmpdir(), 'diag-explain-'));
    rc = join(dir, 'resolv.conf');
    writeFileSync(rc, 'nameserver 169.254.20.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  });

  after(async () => {
    await fault.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = () => ['--direct', '--upstream', hostPort(fault), '--cluster-dns', hostPort(fault), '--control-socket', ''];

  async function explain(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await explainCommand(args, (s) => { out += s; }, (s) => { err += s; }, plain);
    return { code, out, err };
  }
  const json = async (args: string[]) => JSON.parse((await explain([...args, '--json'])).out) as ExplainResult;

  it('a Service in the pod\'s namespace: answered by the first name, nothing to improve', async () => {
    const r = await json(['api', '--resolv-conf', rc, ...base()]);
    assert.equal(r.answeredBy, 1);
    assert.equal(r.queries[0].routeKind, 'cluster');
    assert.equal(r.queries[0].route, `cluster DNS ${hostPort(fault)}`);
    assert.deepEqual(r.advice, ['answered by the first name tried: nothing to save']);
  });

  it('NODATA under an earlier search domain: glibc and Go go on, musl stops short (its answer is lost)', async () => {
    const glibc = await json(['db', '--resolv-conf', rc, ...base()]);
    assert.ok(glibc.answered);
    assert.equal(glibc.queries.at(-2)!.name, 'db.cluster.local.');
    const go = await json(['db', '--resolv-conf', rc, '--resolver', 'go', ...base()]);
    assert.deepEqual(go.wire, glibc.wire);
    const musl = await json(['db', '--resolv-conf', rc, '--resolver', 'musl', ...base()]);
    assert.equal(musl.answered, false);
    assert.equal(musl.queries.at(-1)!.name, 'db.svc.cluster.local.');
    assert.match(musl.stopWhy, /NODATA: musl stops here/);
    assert.match(musl.advice.join('\n'), /musl stops at the first NODATA/);
  });

  it('a name that exists nowhere: every name NXDOMAIN, and the stub-domain advice for a private zone', async () => {
    const r = await json(['git.corp.internal', '--resolv-conf', rc, ...base()]);
    assert.equal(r.answered, false);
    assert.equal(r.answer, 'NXDOMAIN for every name tried');
    assert.equal(r.totalQueries, 8);
    assert.match(r.advice.join('\n'), /--stub-domain corp\.internal=IP/);
  });

  it('the pod\'s /etc/hosts (hostAliases) answers before any DNS query (seed 003)', async () => {
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n# Entries added by HostAliases.\n10.96.0.1\tkubernello.local\n');
    fault.clear();
    const r = await json(['kubernello.local', '--resolv-conf', rc, '--hosts', hosts, ...base()]);
    assert.equal(r.queries.length, 0);
    assert.deepEqual(r.hostsFile?.addresses, ['10.96.0.1']);
    assert.equal(fault.queries.length, 0, 'nothing was sent');
    assert.match(r.advice[0], /never asks DNS/);
  });

  it('the generated pod resolv.conf names the namespace; text output leads with the verdict', async () => {
    const root = mkdtempSync(join(dir, 'root-'));
    writeFileSync(join(root, 'resolv'), 'x'); // no etc/resolv.conf: no host search domains
    const { code, out } = await explain(['www.example.org', '--namespace', 'shop', '--host-root', root, ...base()]);
    assert.equal(code, 0);
    const lines = out.split('\n');
    assert.match(lines[0], /^www\.example\.org: A 93\.184\.216\.34 after 8 queries in .* \(6 NXDOMAIN on the way\)$/);
    assert.match(out, /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local\n/);
    assert.match(out, /what to do:\n {2}- 6 queries went to search-list names \(NXDOMAIN\) before "www\.example\.org\."/);
    assert.ok(!out.includes('\x1b['));
  });

  it('usage errors exit 2 and say what is wrong', async () => {
    for (const [args, msg] of [[[], /give the NAME/], [['x', '--resolver', 'bionic'], /--resolver "bionic"/], [['x', '--type', 'BOGUS'], /not a record type/],
      [['bad name!'], /not a domain name/], [['x', '--namespace', 'Shop_1'], /not a namespace name/]] as [string[], RegExp][]) {
      const r = await explain(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, msg);
      assert.match(r.err, /usage: nodedns explain/);
    }
  });

  it('query: dig-like, with the zone matched, cache miss and the upstream used', async () => {
    let out = '';
    const code = await queryCommand(['www.example.org', 'A', ...base()], (s) => { out += s; }, () => {}, plain);
    assert.equal(code, 0);
    assert.match(out, /^www\.example\.org A: A 93\.184\.216\.34 {2}\(cache miss, /);
    assert.match(out, new RegExp(`;; route: upstream ${hostPort(fault).replace(/\./g, '\\.')}; zone \\. \\(upstream\\)`));
    assert.match(out, /;; ANSWER SECTION:\nwww\.example\.org\. +\d+ +IN +A +93\.184\.216\.34/);
    let j = '';
    assert.equal(await queryCommand(['nope.cluster.local', '--json', ...base()], (s) => { j += s; }, () => {}, plain), 0);
    const r = JSON.parse(j) as { summary: { rcode: string; authority: { type: string }[] }; zone: string; routeKind: string; via: string };
    assert.equal(r.summary.rcode, 'NXDOMAIN');
    assert.equal(r.zone, 'cluster.local');
    assert.equal(r.routeKind, 'cluster');
    assert.equal(r.via, 'direct');
    assert.equal(r.summary.authority[0].type, 'SOA');
  });

  it('query exits 1 when nodedns cannot answer (SERVFAIL), with the reason', async () => {
    let out = '';
    const code = await queryCommand(['x.example.org', '--direct', '--upstream', '127.0.0.1:1', '--upstream-timeout', '100ms', '--query-timeout', '300ms',
      '--control-socket', ''], (s) => { out += s; }, () => {}, plain);
    assert.equal(code, 1);
    assert.match(out, /SERVFAIL/);
    assert.match(out, /;; error: .*127\.0\.0\.1:1/);
  });
});
