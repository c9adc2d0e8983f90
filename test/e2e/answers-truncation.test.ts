// An answer larger than the client's UDP size keeps the question and as many whole records
// as fit, with TC set (src/cache/render.ts says why). A headless-Service-like name of 40 and
// of 100 A records from Knot, asked through nodedns by real stub resolvers in a network
// namespace whose resolv.conf points at it: a static musl 1.2.3 build (never retries over
// TCP), glibc (getent and the same C program), Node's dns.lookup and dns.promises.Resolver.
// Every client must get addresses; TCP and the cache keep all of them. Knot and nodedns run
// inside the namespace too, on its own loopback.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI, agentArgs } from '../helpers/agent';
import { simpleZone } from '../helpers/knot';
import { NetnsLab, netnsUnavailable, spawnNodedns, type Netns } from '../helpers/netns';
import { PATIENCE_MS, missingTools, waitUntil } from '../helpers/process';

/** Another build can be pinned with NODEDNS_CLI (how this test was shown to fail on the old one). */
const cli = process.env.NODEDNS_CLI || CLI;
const skip = netnsUnavailable() ?? (existsSync(cli) ? undefined : `${cli} is missing: run make build first`)
  ?? missingTools(['musl-gcc', 'gcc', 'knotd', 'dig', 'kdig']);

// getaddrinfo as an application calls it: IPv4 and IPv6 (AF_UNSPEC), one socket type.
const LOOKUP_C = `
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
int main(int argc, char **argv) {
  struct addrinfo hints, *res, *p;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int rc = getaddrinfo(argv[1], NULL, &hints, &res);
  if (rc != 0) { printf("error %s\\n", gai_strerror(rc)); return 2; }
  for (p = res; p; p = p->ai_next) {
    char buf[64];
    void *a = p->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)p->ai_addr)->sin_addr : (void *)&((struct sockaddr_in6 *)p->ai_addr)->sin6_addr;
    printf("%s\\n", inet_ntop(p->ai_family, a, buf, sizeof buf));
  }
  return 0;
}
`;

const NODE_LOOKUP = `
const dns = require('dns');
const [how, name] = process.argv.slice(2);
const done = (addrs) => { for (const a of addrs) console.log(a); };
const fail = (e) => { console.log('error ' + e.code); process.exit(2); };
if (how === 'lookup') dns.promises.lookup(name, { all: true, family: 4 }).then((r) => done(r.map((x) => x.address)), fail);
else new dns.promises.Resolver().resolve4(name).then(done, fail);
`;

const KNOT_ADDR = '127.0.0.2';
const AGENT_ADDR = '127.0.0.1';
const SIZES = [40, 100];

function zone(): string {
  const body: string[] = [];
  for (const n of SIZES) for (let i = 1; i <= n; i++) body.push(`h${n} 30 A 10.${n % 256}.${i >> 8}.${i & 255}`);
  return simpleZone('svc.test', body.join('\n'));
}

const addresses = (out: string) => out.split('\n').filter((l) => /^\d+\.\d+\.\d+\.\d+$/.test(l.trim()));

describe('truncation keeps whole records: every stub resolver gets addresses', { skip }, () => {
  const lab = new NetnsLab();
  let ns: Netns;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'answers-tc-'));
    writeFileSync(join(dir, 'lookup.c'), LOOKUP_C);
    writeFileSync(join(dir, 'lookup.js'), NODE_LOOKUP);
    execFileSync('musl-gcc', ['-static', '-O1', '-o', join(dir, 'lookup-musl'), join(dir, 'lookup.c')]);
    execFileSync('gcc', ['-O1', '-o', join(dir, 'lookup-glibc'), join(dir, 'lookup.c')]);
    ns = await lab.add('tc');
    mkdirSync(`/etc/netns/${ns.name}`, { recursive: true });
    writeFileSync(`/etc/netns/${ns.name}/resolv.conf`, `nameserver ${AGENT_ADDR}\noptions ndots:1\n`);
    writeFileSync(`/etc/netns/${ns.name}/nsswitch.conf`, 'hosts: files dns\n');
    writeFileSync(`/etc/netns/${ns.name}/hosts`, '127.0.0.1 localhost\n');
    writeFileSync(join(dir, 'svc.test.zone'), zone());
    writeFileSync(join(dir, 'knot.conf'), [
      'server:', `    listen: ${KNOT_ADDR}@53`, `    rundir: ${dir}`, '    udp-workers: 1', '    tcp-workers: 1', '    background-workers: 1',
      'database:', `    storage: ${join(dir, 'db')}`, 'template:', '  - id: default', `    storage: ${dir}`, '    semantic-checks: off',
      'zone:', '  - domain: svc.test.', '    file: svc.test.zone', '',
    ].join('\n'));
    mkdirSync(join(dir, 'db'));
    ns.spawn('knotd', 'knotd', ['-c', join(dir, 'knot.conf')]);
    await waitUntil('knot answers in the namespace', async () => {
      const r = await ns.exec('dig', [`@${KNOT_ADDR}`, 'h40.svc.test', '+short', '+tcp', '+time=1', '+tries=1']);
      return addresses(r.stdout).length === 40 ? true : undefined;
    }, 30_000);
    const agent = spawnNodedns(ns, cli, agentArgs([AGENT_ADDR], 53, { upstreams: [{ address: KNOT_ADDR, port: 53 }] }));
    await agent.waitForLog('nodedns serving', PATIENCE_MS);
  });

  after(async () => {
    await lab.cleanup();
    if (ns) rmSync(`/etc/netns/${ns.name}`, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('uses the Debian musl this test claims (1.2.3: no TCP retry)', () => {
    const v = execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'musl']).toString();
    assert.match(v, /^1\.2\.3/, `musl ${v}: the musl cases below stand for musl <= 1.2.3 only with that version`);
  });

  for (const n of SIZES) {
    const name = `h${n}.svc.test`;

    it(`${n} records, UDP without EDNS: TC, whole records, no more than 512 bytes (RFC 1035 §4.2.1, RFC 2181 §9)`, async () => {
      const out = await ns.ok('dig', [`@${AGENT_ADDR}`, name, 'A', '+noedns', '+ignore', '+time=5', '+tries=2']);
      assert.match(out, /;; flags: qr tc rd ra;/, 'TC must be set when answer records were left out');
      const an = Number(/ANSWER: (\d+)/.exec(out)![1]);
      // 12 header + 18 question (h40) / 19 (h100), each A record 16 bytes compressed
      const fit = Math.floor((512 - 12 - (name.length + 2 + 4)) / 16);
      assert.equal(an, fit, `as many whole A records as fit in 512 bytes: ${fit}`);
      assert.equal(addresses(execAnswers(out)).length, an, 'every counted record is there and parses');
      assert.match(out, /MSG SIZE {2}rcvd: (\d+)/);
      assert.ok(Number(/MSG SIZE {2}rcvd: (\d+)/.exec(out)![1]) <= 512);
      assert.doesNotMatch(out, /OPT PSEUDOSECTION/, 'no OPT record to a query without one (RFC 6891 §7)');
    });

    it(`${n} records, EDNS 512: the OPT record stays (RFC 6891 §7), within 512 bytes`, async () => {
      const out = await ns.ok('kdig', [`@${AGENT_ADDR}`, name, 'A', '+bufsize=512', '+ignore', '+time=5', '+retry=1']);
      assert.match(out, /;; Flags: qr tc rd ra;/);
      assert.match(out, /EDNS PSEUDOSECTION/);
      const an = Number(/ANSWER: (\d+)/.exec(out)![1]);
      assert.equal(an, Math.floor((512 - 12 - (name.length + 2 + 4) - 11) / 16));
    });

    it(`${n} records over TCP: all of them (the cache kept the whole answer)`, async () => {
      const out = await ns.ok('dig', [`@${AGENT_ADDR}`, name, 'A', '+tcp', '+short', '+time=5', '+tries=2']);
      assert.equal(addresses(out).length, n);
    });

    for (const client of ['musl', 'glibc'] as const) {
      it(`${n} records: getaddrinfo of ${client} (static musl 1.2.3 / glibc) gets addresses`, async () => {
        const r = await ns.exec(join(dir, `lookup-${client}`), [name]);
        assert.equal(r.code, 0, `${client}: ${r.stdout}${r.stderr}`);
        const got = addresses(r.stdout);
        assert.ok(got.length > 0, `${client} got no addresses: ${r.stdout}`);
        // glibc retries over TCP on TC and gets all; musl <= 1.2.3 keeps what fitted in 512 bytes (and at most 48)
        if (client === 'glibc') assert.equal(got.length, n);
      });
    }

    // ahosts, not ahostsv4: with AI_ADDRCONFIG and only a loopback address, ahostsv4 asks nothing at all
    it(`${n} records: getent ahosts (glibc) gets all of them`, async () => {
      const r = await ns.exec('getent', ['ahosts', name]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(new Set(r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[0])).size, n);
    });

    for (const how of ['lookup', 'resolve4'] as const) {
      it(`${n} records: Node dns.${how === 'lookup' ? 'lookup' : 'promises.Resolver#resolve4'} gets all of them`, async () => {
        const r = await ns.exec(process.execPath, [join(dir, 'lookup.js'), how, name]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.equal(addresses(r.stdout).length, n);
      });
    }
  }
});

/** The answer-section lines of dig output, as their last field. */
function execAnswers(out: string): string {
  const section = out.split(';; ANSWER SECTION:')[1]?.split('\n\n')[0] ?? '';
  return section.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).pop()).join('\n');
}
