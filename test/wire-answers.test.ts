// render() cutting a large answer to what the client can take (src/cache/render.ts), and the
// query scan's reading of AD, QCLASS ANY and the local reverse zones (src/wire/query.ts).
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { makeEntry } from '../src/cache/entry';
import { render } from '../src/cache/render';
import { scanQuery, Special, Verdict } from '../src/wire/query';
import { buildQuery } from './helpers/dns-query';

const POLICY = { successCap: 3600, denialCap: 3600, servfailTtl: 0 };
const NOW = 1_000_000;

function entry(name: string, answers: number, o: { authority?: number; additional?: number; rcode?: number } = {}) {
  const a = (i: number) => ({ name, type: 'A', ttl: 300, class: 'IN', data: `10.0.${i >> 8}.${i & 255}` }) as dnsPacket.Answer;
  const wire = dnsPacket.encode({
    type: 'response', id: 0, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (o.rcode ?? 0),
    questions: [{ name, type: 'A', class: 'IN' }],
    answers: Array.from({ length: answers }, (_, i) => a(i + 1)),
    authorities: Array.from({ length: o.authority ?? 0 }, (_, i) => ({ name: 'example', type: 'NS', ttl: 300, class: 'IN', data: `ns${i}.example` }) as dnsPacket.Answer),
    additionals: Array.from({ length: o.additional ?? 0 }, (_, i) => ({ name: `ns${i}.example`, type: 'A', ttl: 300, class: 'IN', data: `192.0.2.${i + 1}` }) as dnsPacket.Answer),
  });
  return makeEntry(wire, 12 + name.length + 2, POLICY, NOW)!;
}

function reply(e: ReturnType<typeof entry>, name: string, o: { edns?: number; tcp?: boolean } = {}) {
  const query = buildQuery(name, 'A', { id: 77, edns: o.edns });
  const q = scanQuery(query);
  const out = render(e, query, q, NOW + 2000, o.tcp ? 65535 : q.edns ? q.udpSize : 512);
  return { out, d: dnsPacket.decode(out) };
}

describe('render: an answer larger than the client can take', () => {
  it('fits: the whole answer, no TC (the fast path)', () => {
    const { out, d } = reply(entry('small.example', 3), 'small.example');
    assert.equal(d.answers!.length, 3);
    assert.equal(out[2] & 0x02, 0);
  });

  it('40 A records in 512 bytes: the question and every whole record that fits, TC (RFC 2181 §9)', () => {
    const { out, d } = reply(entry('h40.example', 40), 'h40.example');
    assert.ok(out.length <= 512);
    // dns-packet writes names in full: each A record is name + 14 bytes
    assert.equal(d.answers!.length, Math.floor((512 - 12 - 17) / (13 + 14)));
    assert.equal(out[2] & 0x02, 0x02);
    assert.equal(d.id, 77);
    assert.ok(d.answers!.every((a) => a.ttl === 298), 'TTLs counted down in the kept records');
  });

  it('with EDNS: cut to the advertised size, the OPT record last (RFC 6891 §7)', () => {
    const { out, d } = reply(entry('h100.example', 100), 'h100.example', { edns: 1232 });
    assert.ok(out.length <= 1232);
    assert.equal(d.answers!.length, Math.floor((1232 - 12 - 18 - 11) / (14 + 14)));
    assert.equal(d.additionals!.at(-1)!.type, 'OPT');
    assert.equal(d.additionals!.length, 1);
  });

  it('over TCP: everything', () => {
    const { d } = reply(entry('h100.example', 100), 'h100.example', { tcp: true });
    assert.equal(d.answers!.length, 100);
  });

  it('additional and authority records go first; dropping only those is no reason for TC (RFC 2181 §9)', () => {
    // 12 answers (27 bytes each) and 4 NS (32) fit in 512 with 1 of the 4 glue records (27)
    const { out, d } = reply(entry('mid.example', 12, { authority: 4, additional: 4 }), 'mid.example');
    assert.ok(out.length <= 512);
    assert.deepEqual([d.answers!.length, d.authorities!.length, d.additionals!.length], [12, 4, 1]);
    assert.equal(out[2] & 0x02, 0);
  });

  it('a negative answer whose SOA does not fit keeps TC (RFC 2308 §5)', () => {
    const { out, d } = reply(entry('neg.example', 0, { authority: 20 }), 'neg.example');
    assert.ok(d.authorities!.length < 20);
    assert.equal(out[2] & 0x02, 0x02);
  });

  it('the stored entry stays whole: the next client with room gets all', () => {
    const e = entry('h40.example', 40);
    reply(e, 'h40.example');
    assert.equal(reply(e, 'h40.example', { edns: 4096 }).d.answers!.length, 40);
  });
});

describe('scanQuery: AD, QCLASS ANY, local reverse zones', () => {
  it('reads AD from the query (RFC 6840 §5.7) without changing the key', () => {
    const q = buildQuery('a.example', 'A', { edns: 1232 });
    const plain = scanQuery(q);
    q[3] |= 0x20;
    const ad = scanQuery(q);
    assert.equal(plain.ad, false);
    assert.equal(ad.ad, true);
    assert.equal(ad.key, plain.key);
  });

  it('QCLASS ANY shares the IN key', () => {
    const any = scanQuery(buildQuery('a.example', 'A', { class: 'ANY' }));
    assert.equal(any.verdict, Verdict.OK);
    assert.equal(any.classAny, true);
    assert.equal(any.key, scanQuery(buildQuery('a.example', 'A')).key);
  });

  it('marks only the cluster-safe reverse zones as local (RFC 6303)', () => {
    const special = (n: string) => scanQuery(buildQuery(n, 'PTR')).special;
    assert.equal(special('1.0.0.127.in-addr.arpa'), Special.REVERSE);
    assert.equal(special('1.0.0.0.in-addr.arpa'), Special.REVERSE);
    assert.equal(special('255.255.255.255.in-addr.arpa'), Special.REVERSE);
    assert.equal(special('1' + '.0'.repeat(31) + '.ip6.arpa'), Special.REVERSE);
    for (const n of ['10.0.96.10.in-addr.arpa', '10.20.254.169.in-addr.arpa', '127.example.arpa', 'in-addr.arpa', 'd.f.ip6.arpa']) {
      assert.equal(special(n), Special.NONE, n);
    }
  });

  it('an EDNS query refused before resolution still has its OPT read (RFC 6891 §7)', () => {
    const q = buildQuery('example', 'AXFR', { edns: 1232 });
    const s = scanQuery(q);
    assert.equal(s.verdict, Verdict.NOTIMP);
    assert.equal(s.edns, true);
  });
});
