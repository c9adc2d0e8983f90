import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { UpstreamPool } from '../src/forward/pool';
import { Router, type Route, type RouteKind } from '../src/serve/router';

const policy = { successCap: 3600, denialCap: 300, servfailTtl: 5 };
const route = (zone: string, kind: RouteKind = 'stub'): Route => ({ zone, kind, pool: { zone } as unknown as UpstreamPool, policy });

describe('router: the longest configured zone a name is in answers it', () => {
  const router = new Router([
    route('cluster.local', 'cluster'), route('10.in-addr.arpa', 'cluster'), route('corp.example'), route('eu.corp.example'), route('', 'upstream'),
  ]);
  const zoneOf = (name: string) => router.route(name).zone;

  const cases: [string, [name: string, zone: string][]][] = [
    ['a name under a zone, and the zone itself', [
      ['kube-dns.kube-system.svc.cluster.local', 'cluster.local'], ['cluster.local', 'cluster.local'], ['4.3.2.10.in-addr.arpa', '10.in-addr.arpa']]],
    ['the longest of two zones that both hold the name', [
      ['db.eu.corp.example', 'eu.corp.example'], ['eu.corp.example', 'eu.corp.example'], ['db.us.corp.example', 'corp.example']]],
    ['a zone matches whole labels only: notcluster.local is not in cluster.local', [
      ['notcluster.local', ''], ['xcorp.example', ''], ['4.3.2.110.in-addr.arpa', '']]],
    ['everything else, the root included, goes to the root zone', [['example.com', ''], ['local', ''], ['', '']]],
  ];
  for (const [title, names] of cases) {
    it(title, () => { for (const [name, zone] of names) assert.equal(zoneOf(name), zone, name); });
  }

  it('a zone given twice is routed by the last', () => {
    const r = new Router([route('cluster.local', 'cluster'), route('cluster.local', 'stub'), route('', 'upstream')]);
    assert.equal(r.route('a.cluster.local').kind, 'stub');
  });

  it('needs a root zone', () => {
    assert.throws(() => new Router([route('cluster.local')]), /root zone/);
  });

  it('per-zone TTL caps apply to the longest zone with caps, over the route\'s own policy', () => {
    const r = new Router([route('corp.example'), route('', 'upstream')],
      [{ zone: 'corp.example', successTtlCap: 60 }, { zone: 'short.corp.example', successTtlCap: 5, denialTtlCap: 1 }]);
    assert.deepEqual(r.route('a.short.corp.example').policy, { successCap: 5, denialCap: 1, servfailTtl: 5 });
    assert.deepEqual(r.route('a.corp.example').policy, { successCap: 60, denialCap: 300, servfailTtl: 5 });
    assert.equal(r.route('example.com').policy, policy);
    assert.equal(r.route('a.short.corp.example').zone, 'corp.example', 'caps do not change where the name is sent');
  });
});
