// `nodedns explain` must list exactly the queries glibc sends. In a network namespace this
// test creates, `ip netns exec` puts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf; a
// small recording DNS server listens there on 127.0.0.1:53 and the real `getent ahosts`
// (glibc getaddrinfo, nsswitch "hosts: files dns") looks names up. The same answers come
// from a fault server that nodedns uses as its upstream and cluster DNS, so explain walks
// the same path; the recorded (name, type) list must equal explain's, repeats included.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as dnsPacket from 'dns-packet';
import { CLI, REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent';
import { startFaultServer, type FaultServer, type Reply } from '../helpers/fault-server';
import { NetnsLab, netnsUnavailable, type Netns } from '../helpers/netns';
import { hostPort } from '../helpers/ports';
import type { Child } from '../helpers/process';

const skip = netnsUnavailable() ?? (existsSync(CLI) ? undefined : `${CLI} is missing: run make build first`);

/** name (lower case, no dot) -> an rcode, or records by type (a missing type is NODATA). Others: NXDOMAIN. */
type Rules = Record<string, string | Record<string, string>>;

// The recorder: answers by the rules, prints one JSON line per query. Plain Node, run in the namespace.
const RECORDER = `
const dgram = require('dgram');
const p = require(process.argv[2]);
const rules = JSON.parse(process.argv[3]);
const RC = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };
const s = dgram.createSocket('udp4');
s.on('message', (m, r) => {
  let q; try { q = p.decode(m); } catch { return; }
  const qq = q.questions[0];
  console.log(JSON.stringify({ name: qq.name.toLowerCase(), type: qq.type, transport: 'udp' }));
  const rule = rules[qq.name.toLowerCase()];
  let rcode = 'NXDOMAIN', answers = [];
  if (typeof rule === 'string') rcode = rule;
  else if (rule) { rcode = 'NOERROR'; if (rule[qq.type]) answers = [{ name: qq.name, type: qq.type, ttl: 30, data: rule[qq.type] }]; }
  s.send(p.encode({ type: 'response', id: q.id, flags: RC[rcode] | 0x180, questions: q.questions, answers }), r.port, r.address);
});
s.bind(53, '127.0.0.1', () => console.log('ready'));
`;

function reply(rules: Rules, name: string, type: string): Reply {
  const rule = rules[name.toLowerCase()];
  if (rule === undefined) return { rcode: 'NXDOMAIN' };
  if (typeof rule === 'string') return { rcode: rule };
  const data = rule[type];
  return { rcode: 'NOERROR', answers: data ? [{ name, type, ttl: 30, data } as dnsPacket.Answer] : [] };
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, cwd: REPO_ROOT }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

interface ExplainJson {
  wire: { name: string; type: string; transport: string }[];
  answered: boolean;
  queries: { name: string; type: string; rcode?: string; rule: string; route: string; cache: string }[];
  advice: string[];
  path: string;
}

describe('explain lists exactly the queries glibc sends (getent in a netns)', { skip }, () => {
  const lab = new NetnsLab();
  let ns: Netns;
  let recorder: Child;
  let fault: FaultServer;
  let rules: Rules = {};
  let dir: string;
  let recorded: { name: string; type: string; transport: string }[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diag-explain-'));
    ns = await lab.add('gx');
    // nsswitch and hosts of our own, so the machine's files cannot change what glibc does
    mkdirSync(`/etc/netns/${ns.name}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns.name}/nsswitch.conf`, 'hosts: files dns\n');
    writeFileSync(`/etc/netns/${ns.name}/hosts`, '127.0.0.1 localhost\n::1 localhost\n');
    writeFileSync(join(dir, 'recorder.js'), RECORDER);
    recorder = ns.spawn('recorder', process.execPath, [join(dir, 'recorder.js'), require.resolve('dns-packet'), '{}'], {
      onLine(line) { if (line.startsWith('{')) recorded.push(JSON.parse(line) as { name: string; type: string; transport: string }); },
    });
    await recorder.waitForLine(/^ready$/);
    fault = await startFaultServer({ handler: (q) => reply(rules, q.name, q.type) });
  });

  after(async () => {
    await fault?.stop();
    await lab.cleanup();
    if (ns) rmSync(`/etc/netns/${ns.name}`, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Restarts the recorder with new rules (it reads them at start). */
  async function useRules(r: Rules): Promise<void> {
    rules = r;
    await recorder.stop('SIGKILL', 1000);
    recorder = ns.spawn('recorder', process.execPath, [join(dir, 'recorder.js'), require.resolve('dns-packet'), JSON.stringify(r)], {
      onLine(line) { if (line.startsWith('{')) recorded.push(JSON.parse(line) as { name: string; type: string; transport: string }); },
    });
    await recorder.waitForLine(/^ready$/);
  }

  /** What getent made glibc send, and what explain says it sends, for one resolv.conf and name. */
  async function compare(resolv: string, name: string, r: Rules, o: { type?: string; live?: AgentProcess; socket?: string } = {}) {
    await useRules(r);
    writeFileSync(`/etc/netns/${ns.name}/resolv.conf`, resolv);
    writeFileSync(join(dir, 'resolv.conf'), resolv);
    recorded = [];
    const g = await ns.exec('getent', ['ahosts', name]);
    await new Promise((res) => setTimeout(res, 100)); // the last lines of the recorder's output
    const glibc = recorded.slice();
    const args = [CLI, 'explain', name, '--json', '--resolv-conf', join(dir, 'resolv.conf'), '--resolver', 'glibc'];
    if (o.type) args.push('--type', o.type);
    if (o.live) args.push('--control-socket', o.socket!);
    else args.push('--direct', '--upstream', hostPort(fault), '--cluster-dns', hostPort(fault), '--control-socket', '');
    const e = await run(process.execPath, args);
    assert.equal(e.code, 0, `explain failed: ${e.stderr}`);
    const res = JSON.parse(e.stdout) as ExplainJson;
    assert.deepEqual(res.wire, glibc, `explain's queries differ from what glibc sent\nglibc:   ${JSON.stringify(glibc)}\nexplain: ${JSON.stringify(res.wire)}`);
    assert.ok(glibc.length > 0, 'glibc sent nothing: the namespace resolv.conf is not in force');
    return { res, getentCode: g.code, getentOut: g.stdout };
  }

  const POD = 'nameserver 127.0.0.1\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.test\noptions ndots:5\n';

  it('a short name found through the search list (the 4th domain)', async () => {
    const { res, getentCode } = await compare(POD, 'web', { 'web.corp.test': { A: '10.1.2.3' } });
    assert.equal(getentCode, 0);
    assert.equal(res.wire.length, 8);
    assert.ok(res.answered);
    assert.match(res.advice.join('\n'), /the answer is web\.corp\.test\.: .*skip 3 names/);
  });

  it('an external name under ndots:5: the whole search list first, then as-is', async () => {
    const { res } = await compare(POD, 'www.example.org', { 'www.example.org': { A: '93.184.216.34', AAAA: '2001:db8::1' } });
    assert.deepEqual(res.wire.slice(-2), [{ name: 'www.example.org', type: 'A', transport: 'udp' }, { name: 'www.example.org', type: 'AAAA', transport: 'udp' }]);
    assert.equal(res.wire.length, 10);
    assert.match(res.advice.join('\n'), /trailing dot \("www\.example\.org\."\).*2 queries instead of 10/);
    assert.match(res.advice.join('\n'), /ndots, value: "2"/);
  });

  it('a name that exists nowhere', async () => {
    const { res, getentCode } = await compare(POD, 'nothere.example.org', {});
    assert.equal(getentCode, 2);
    assert.equal(res.answered, false);
    assert.equal(res.wire.length, 10);
  });

  it('dots >= ndots: as-is first, then the search list', async () => {
    const rc = 'nameserver 127.0.0.1\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local corp.test\noptions ndots:1\n';
    const { res } = await compare(rc, 'db.internal', { 'db.internal.corp.test': { A: '10.9.9.9' } });
    assert.equal(res.wire[0].name, 'db.internal');
    assert.equal(res.wire.length, 10);
  });

  it('a trailing dot: one name only', async () => {
    const { res } = await compare(POD, 'www.example.org.', { 'www.example.org': { A: '93.184.216.34' } });
    assert.equal(res.wire.length, 2);
  });

  it('SERVFAIL in the search list: glibc asks again, then goes on', async () => {
    const { res } = await compare(POD, 'svcx', { 'svcx.svc.cluster.local': 'SERVFAIL', 'svcx.corp.test': { A: '10.4.4.4' } });
    assert.equal(res.wire.filter((w) => w.name === 'svcx.svc.cluster.local').length, 4, 'A and AAAA, twice');
    assert.ok(res.answered);
  });

  it('REFUSED in the search list: glibc leaves the list and tries the bare name', async () => {
    const { res } = await compare(POD, 'rfx', { 'rfx.svc.cluster.local': 'REFUSED', rfx: { A: '10.5.5.5' } });
    assert.deepEqual(res.wire.slice(-2), [{ name: 'rfx', type: 'A', transport: 'udp' }, { name: 'rfx', type: 'AAAA', transport: 'udp' }]);
    assert.ok(!res.wire.some((w) => w.name === 'rfx.corp.test'), 'the rest of the search list is skipped');
  });

  it('NODATA moves glibc to the next name', async () => {
    const { res } = await compare(POD, 'nd', { 'nd.ns1.svc.cluster.local': {}, 'nd.svc.cluster.local': { A: '10.6.6.6' } });
    assert.equal(res.wire.length, 4);
  });

  it('an IPv4-only pod: getaddrinfo (AI_ADDRCONFIG) asks A only, as --type A lists', async () => {
    // glibc counts addresses other than 127.0.0.1 and ::1; with only IPv4 ones it drops AAAA
    await ns.ok('ip', ['addr', 'add', '10.55.0.1/32', 'dev', 'lo']);
    try {
      const { res } = await compare(POD, 'web', { 'web.corp.test': { A: '10.1.2.3' } }, { type: 'A' });
      assert.ok(res.wire.every((w) => w.type === 'A'));
      assert.equal(res.wire.length, 4);
    } finally {
      await ns.ok('ip', ['addr', 'del', '10.55.0.1/32', 'dev', 'lo']);
    }
  });

  it('through a running agent (control socket): the same list, and its cache answers the second time', async () => {
    const socket = join(dir, 'control.sock');
    const agent = await startAgent({ upstreams: [fault], args: ['--cluster-dns', hostPort(fault), '--control-socket', socket] });
    try {
      const first = await compare(POD, 'www.example.org', { 'www.example.org': { A: '93.184.216.34' } }, { live: agent, socket });
      assert.match(first.res.path, /running agent/);
      assert.ok(first.res.queries.every((q) => q.cache === 'miss'));
      const second = await compare(POD, 'www.example.org', { 'www.example.org': { A: '93.184.216.34' } }, { live: agent, socket });
      assert.ok(second.res.queries.some((q) => q.cache === 'hit' && /^cache/.test(q.route)), JSON.stringify(second.res.queries));
    } finally {
      await agent.stop();
    }
  });
});
