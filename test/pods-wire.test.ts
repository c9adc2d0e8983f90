// The completed reply in raw bytes (src/pods/cname-reply.ts): names compressed against the
// target's own message are written out in full, NODATA carries the target's SOA, and a
// record whose data layout is unknown makes it give up rather than copy broken pointers.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { cnameReply } from '../src/pods/cname-reply';
import { domainWire, endsInWire, podSearchPath, restOfPath } from '../src/pods/search-path';
import { scanQuery } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';
import { podObject } from './helpers/fake-apiserver';
import { podRecord, sameAsSocket } from '../src/pods/record';

const u16 = (n: number) => [n >> 8, n & 255];
const u32 = (n: number) => [n >>> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255];

/** A response for `name` `type` as a compressing server writes it: every later name a pointer. */
function compressed(name: string, type: number, records: number[][], ancount: number, nscount: number): Buffer {
  const q = domainWire(name);
  return Buffer.from([0, 0, 0x81, 0x80, ...u16(1), ...u16(ancount), ...u16(nscount), ...u16(0), ...q, ...u16(type), ...u16(1), ...records.flat()]);
}

describe('completed reply bytes', () => {
  const query = buildQuery('API.example.com.app.svc.cluster.local', 'A', { id: 4242 });
  const q = scanQuery(query);

  it('writes compressed owner names and CNAME chains out in full', () => {
    // www.example.com A: a CNAME www -> edge.example.com (compressed against the question), then edge's A
    const target = compressed('www.example.com', 1, [
      [0xc0, 12, ...u16(5), ...u16(1), ...u32(300), ...u16(7), 4, ...Buffer.from('edge'), 0xc0, 16],
      [0xc0, 45, ...u16(1), ...u16(1), ...u32(60), ...u16(4), 192, 0, 2, 7],
    ], 2, 0);
    const out = cnameReply(query, q, domainWire('www.example.com'), target, 30, 512)!;
    const m = dnsPacket.decode(out);
    assert.equal(m.id, 4242);
    assert.equal(m.questions![0].name, 'API.example.com.app.svc.cluster.local', 'the client\'s own spelling');
    assert.deepEqual(m.answers!.map((a) => [a.name, a.type, (a as { data: unknown }).data, a.ttl]), [
      ['API.example.com.app.svc.cluster.local', 'CNAME', 'www.example.com', 30],
      ['www.example.com', 'CNAME', 'edge.example.com', 300],
      ['edge.example.com', 'A', '192.0.2.7', 60],
    ]);
  });

  it('gives NODATA the target\'s SOA, with its compressed names expanded, and the smallest TTL to the CNAME', () => {
    const soa = [0xc0, 16, ...u16(6), ...u16(1), ...u32(20), ...u16(2 + 2 + 20), 0xc0, 16, 0xc0, 16, ...u32(1), ...u32(3600), ...u32(600), ...u32(86400), ...u32(20)];
    const target = compressed('www.example.com', 28, [soa], 0, 1);
    const aaaa = buildQuery('api.example.com.app.svc.cluster.local', 'AAAA');
    const m = dnsPacket.decode(cnameReply(aaaa, scanQuery(aaaa), domainWire('www.example.com'), target, 30, 512)!);
    assert.equal(m.rcode, 'NOERROR');
    assert.deepEqual(m.answers!.map((a) => [a.type, a.ttl]), [['CNAME', 20]]);
    const s = m.authorities![0] as { type: string; name: string; data: { mname: string; minimum: number } };
    assert.deepEqual([s.type, s.name, s.data.mname, s.data.minimum], ['SOA', 'example.com', 'example.com', 20]);
  });

  it('gives up on a record whose data it cannot expand, and on a reply over the client\'s size', () => {
    const odd = compressed('www.example.com', 1, [[0xc0, 12, ...u16(99), ...u16(1), ...u32(60), ...u16(2), 0xc0, 12]], 1, 0);
    assert.equal(cnameReply(query, q, domainWire('www.example.com'), odd, 30, 512), undefined);
    const loop = compressed('www.example.com', 1, [[0xc0, 33, ...u16(1), ...u16(1), ...u32(60), ...u16(4), 1, 2, 3, 4]], 1, 0);
    assert.equal(cnameReply(query, q, domainWire('www.example.com'), loop, 30, 512), undefined, 'a pointer to itself');
    const big = compressed('www.example.com', 1, Array.from({ length: 25 }, (_, i) => [0xc0, 12, ...u16(1), ...u16(1), ...u32(60), ...u16(4), 10, 0, 0, i]), 25, 0);
    assert.equal(cnameReply(query, q, domainWire('www.example.com'), big, 30, 512), undefined);
    assert.ok(cnameReply(query, q, domainWire('www.example.com'), big, 30, 1232));
  });
});

describe('search path rules', () => {
  const pod = podObject('app', 'p', { ips: ['10.0.0.1'] });
  pod.metadata.uid = 'uid-1';
  const path = podSearchPath(podRecord(pod as never)!, 'cluster.local', ['corp.test']).path!;

  it('takes only the first search name of a dotted name with fewer dots than ndots', () => {
    assert.deepEqual(restOfPath(path, 'api.example.com.app.svc.cluster.local'),
      ['api.example.com.svc.cluster.local', 'api.example.com.cluster.local', 'api.example.com.corp.test', 'api.example.com']);
    assert.equal(restOfPath(path, 'web.app.svc.cluster.local'), undefined, 'single label');
    assert.equal(restOfPath(path, 'a.b.c.d.e.f.app.svc.cluster.local'), undefined, '5 dots: the pod asks it as it is first');
    assert.equal(restOfPath(path, 'api.example.com.other.svc.cluster.local'), undefined, 'another namespace');
    assert.equal(restOfPath(path, 'xapp.svc.cluster.local'), undefined);
  });

  it('matches the first search domain on raw bytes at a label boundary, any case', () => {
    const hit = buildQuery('Api.Example.COM.App.SVC.cluster.local', 'A');
    assert.ok(endsInWire(hit, 12, scanQuery(hit).qnameEnd, path.firstWire));
    const glued = buildQuery('xapp.svc.cluster.local', 'A');
    assert.equal(endsInWire(glued, 12, scanQuery(glued).qnameEnd, path.firstWire), false);
    const same = buildQuery('app.svc.cluster.local', 'A');
    assert.equal(endsInWire(same, 12, scanQuery(same).qnameEnd, path.firstWire), false, 'the domain itself has nothing typed');
  });
});

describe('pod addresses', () => {
  it('are kept as sockets report them (IPv6 shortest and lower-case), v4 and v6 both', () => {
    assert.equal(sameAsSocket('FD00:0:0::0A'), 'fd00::a');
    assert.equal(sameAsSocket('10.244.0.5'), '10.244.0.5');
    const pod = podObject('app', 'dual', { ips: ['10.244.0.5', 'fd00:0200:0000::0005'] });
    pod.metadata.uid = 'u';
    assert.deepEqual(podRecord(pod as never)!.ips, ['10.244.0.5', 'fd00:200::5']);
  });
});
