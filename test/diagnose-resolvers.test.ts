// The resolver-library rules `nodedns explain` follows (glibc, musl, pure Go) and the pod
// resolv.conf kubelet generates. What glibc really sends is checked against getent in
// test/e2e/diagnose-explain.test.ts; these pin the rules that differ between libraries.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseResolvConf } from '../src/config/resolvconf';
import { afterName, candidates, clientConf, hostsLookup, resends, typesFor, type Outcome } from '../src/diagnose/client-resolvers';
import { clusterFirstResolv, renderResolvConf } from '../src/diagnose/pod-resolv';

const POD = parseResolvConf('nameserver 169.254.20.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.test\noptions ndots:5\n');
const names = (name: string, kind: 'glibc' | 'musl' | 'go', rc = POD) => candidates(name, clientConf(rc, kind)).map((c) => c.fqdn);

describe('explain: names a resolver tries', () => {
  it('glibc and Go: fewer dots than ndots = search list first, then as-is', () => {
    const want = ['example.com.shop.svc.cluster.local.', 'example.com.svc.cluster.local.', 'example.com.cluster.local.', 'example.com.corp.test.', 'example.com.'];
    assert.deepEqual(names('example.com', 'glibc'), want);
    assert.deepEqual(names('example.com', 'go'), want);
    assert.deepEqual(names('example.com', 'musl'), want);
  });

  it('glibc and Go try as-is first when dots >= ndots, then still the search list; musl only as-is', () => {
    const rc = parseResolvConf('nameserver 10.0.0.1\nsearch a.test b.test\noptions ndots:2\n');
    assert.deepEqual(names('x.y.z', 'glibc', rc), ['x.y.z.', 'x.y.z.a.test.', 'x.y.z.b.test.']);
    assert.deepEqual(names('x.y.z', 'go', rc), ['x.y.z.', 'x.y.z.a.test.', 'x.y.z.b.test.']);
    assert.deepEqual(names('x.y.z', 'musl', rc), ['x.y.z.']);
    assert.equal(candidates('x.y.z', clientConf(rc, 'glibc'))[0].role, 'as-is-first');
  });

  it('a trailing dot means that name only, for every library', () => {
    for (const kind of ['glibc', 'musl', 'go'] as const) assert.deepEqual(names('example.com.', kind), ['example.com.']);
  });

  it('ndots defaults to 1 and is capped at 15', () => {
    assert.deepEqual(names('web', 'glibc', parseResolvConf('search a.test\n')), ['web.a.test.', 'web.']);
    assert.deepEqual(names('a.b', 'glibc', parseResolvConf('search a.test\n')), ['a.b.', 'a.b.a.test.']);
    assert.equal(clientConf(parseResolvConf('options ndots:40\n'), 'glibc').ndots, 15);
  });

  it('musl ignores a search line of 255 characters or more (seed 004)', () => {
    const long = Array.from({ length: 12 }, (_, i) => `team${i}.department.corp.example`).join(' ');
    const rc = parseResolvConf(`nameserver 10.0.0.1\nsearch ${long}\n`);
    assert.ok(`search ${long}`.length > 254);
    assert.deepEqual(names('web', 'musl', rc), ['web.']);
    assert.match(clientConf(rc, 'musl').notes[0], /ignores the search line/);
    assert.equal(names('web', 'glibc', rc).length, 13, 'glibc 2.26+ keeps every domain');
  });

  it('only 3 nameservers are used', () => {
    const c = clientConf(parseResolvConf('nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n'), 'glibc');
    assert.deepEqual(c.nameservers, ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.match(c.notes.join(), /10\.0\.0\.4 never/);
  });

  it('Go never sends .onion names', () => {
    assert.deepEqual(names('abc.onion', 'go'), []);
    assert.equal(names('abc.onion', 'glibc').length, 5);
  });

  it('getaddrinfo asks A and AAAA; no-aaaa (glibc) drops AAAA', () => {
    assert.deepEqual(typesFor('A+AAAA', clientConf(POD, 'glibc')), ['A', 'AAAA']);
    assert.deepEqual(typesFor('A+AAAA', clientConf(parseResolvConf('options no-aaaa\n'), 'glibc')), ['A']);
    assert.deepEqual(typesFor('SRV', clientConf(POD, 'go')), ['SRV']);
  });
});

const o = (a: string | undefined, b: string | undefined, answers = 0): Outcome[] => [
  { type: 'A', rcode: a, answers }, { type: 'AAAA', rcode: b, answers: 0 },
];

describe('explain: when a resolver stops', () => {
  it('an answer ends it for everyone', () => {
    for (const kind of ['glibc', 'musl', 'go'] as const) assert.equal(afterName(kind, o('NOERROR', 'NOERROR', 1), false).next, 'answer');
  });

  it('NXDOMAIN moves on for everyone', () => {
    for (const kind of ['glibc', 'musl', 'go'] as const) assert.equal(afterName(kind, o('NXDOMAIN', 'NXDOMAIN'), false).next, 'continue');
  });

  it('NODATA: glibc and Go move on, musl stops', () => {
    assert.equal(afterName('glibc', o('NOERROR', 'NOERROR'), false).next, 'continue');
    assert.equal(afterName('go', o('NOERROR', 'NOERROR'), false).next, 'continue');
    assert.equal(afterName('musl', o('NOERROR', 'NOERROR'), false).next, 'stop');
  });

  it('SERVFAIL: glibc (after asking again) and Go move on, musl stops', () => {
    assert.equal(afterName('glibc', o('SERVFAIL', 'SERVFAIL'), false).next, 'continue');
    assert.equal(resends('glibc', clientConf(POD, 'glibc'), o('SERVFAIL', 'SERVFAIL')), 2);
    assert.equal(resends('glibc', clientConf(parseResolvConf('nameserver a\nnameserver b\noptions attempts:3\n'), 'glibc'), o('SERVFAIL', 'SERVFAIL')), 6);
    assert.equal(resends('glibc', clientConf(POD, 'glibc'), o('SERVFAIL', 'NXDOMAIN')), 1, 'one usable reply: no resend');
    assert.equal(afterName('go', o('SERVFAIL', 'SERVFAIL'), false).next, 'continue');
    assert.equal(afterName('musl', o('SERVFAIL', 'NXDOMAIN'), false).next, 'stop');
  });

  it('REFUSED or no answer: glibc leaves the search list for the bare name; as-is first always goes on', () => {
    assert.equal(afterName('glibc', o('REFUSED', 'REFUSED'), false).next, 'as-is');
    assert.equal(afterName('glibc', o(undefined, undefined), false).next, 'as-is');
    assert.equal(afterName('glibc', o('REFUSED', 'REFUSED'), true).next, 'continue');
  });

  it('glibc judges the pair by the first reply unless it is NOERROR', () => {
    assert.equal(afterName('glibc', o('NOERROR', 'REFUSED'), false).next, 'as-is');
    assert.equal(afterName('glibc', o('NXDOMAIN', 'REFUSED'), false).next, 'continue');
  });

  it('the hosts file (hostAliases) answers before DNS (seed 003)', () => {
    const hosts = '127.0.0.1 localhost\n# Entries added by HostAliases.\n10.96.0.1\tkubernello.local\tkubernello.remote\n';
    assert.deepEqual(hostsLookup(hosts, 'kubernello.remote'), ['10.96.0.1']);
    assert.deepEqual(hostsLookup(hosts, 'KUBERNELLO.local.'), ['10.96.0.1']);
    assert.deepEqual(hostsLookup(hosts, 'kubernello'), []);
  });
});

describe('pod resolv.conf for ClusterFirst', () => {
  it('is what kubelet writes: namespace, svc, domain, then host domains without duplicates, ndots:5', () => {
    const rc = clusterFirstResolv({ namespace: 'shop', clusterDomain: 'cluster.local', nameservers: ['169.254.20.10'], hostSearch: ['corp.test', 'cluster.local'] });
    assert.equal(renderResolvConf(rc),
      'nameserver 169.254.20.10\nsearch shop.svc.cluster.local svc.cluster.local cluster.local corp.test\noptions ndots:5\n');
  });
});
