import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { emptyReply, upstreamQuery } from '../src/wire/build';
import { questionName, scanQuery, Special, Verdict } from '../src/wire/query';
import { newShape, sameQuestion, walkResponse } from '../src/wire/response';
import { buildQuery } from './helpers/dns-query';

/** A query as a client sends it; `edns: true` = EDNS with 1232 bytes. */
function query(name: string, type = 'A', o: { id?: number; do?: boolean; cd?: boolean; edns?: boolean; udp?: number; nsid?: boolean } = {}): Buffer {
  const edns = o.edns || o.do || o.udp || o.nsid ? o.udp ?? 1232 : undefined;
  return buildQuery(name, type, { id: o.id ?? 4660, edns, dnssecOk: o.do, cd: o.cd, nsid: o.nsid });
}

describe('scanQuery', () => {
  it('reads a plain query and keys it without case', () => {
    const a = scanQuery(query('WWW.Example.COM'));
    const b = scanQuery(query('www.example.com'));
    assert.equal(a.verdict, Verdict.OK);
    assert.equal(a.id, 4660);
    assert.equal(a.qtype, 1);
    assert.equal(a.qclass, 1);
    assert.equal(a.rd, true);
    assert.equal(a.edns, false);
    assert.equal(a.udpSize, 512);
    assert.equal(a.key, b.key);
    assert.notEqual(a.key, scanQuery(query('www.example.com', 'AAAA')).key);
  });

  it('keys DO and CD apart, and reads EDNS size and NSID', () => {
    const plain = scanQuery(query('a.example', 'A', { edns: true })).key;
    const dnssec = scanQuery(query('a.example', 'A', { do: true }));
    const cd = scanQuery(query('a.example', 'A', { cd: true, edns: true }));
    assert.equal(dnssec.dnssecOk, true);
    assert.equal(cd.cd, true);
    assert.equal(new Set([plain, dnssec.key, cd.key]).size, 3);
    const n = scanQuery(query('a.example', 'A', { udp: 4096, nsid: true }));
    assert.equal(n.udpSize, 4096);
    assert.equal(n.nsid, true);
    assert.equal(scanQuery(query('a.example', 'A', { udp: 100 })).udpSize, 512);
  });

  it('does not confuse a type whose bytes look like letters (HTTPS=65) across case', () => {
    assert.notEqual(scanQuery(query('a.example', 'A')).key, scanQuery(query('a.example', 'HTTPS')).key);
  });

  it('spots localhost and invalid', () => {
    assert.equal(scanQuery(query('foo.LocalHost')).special, Special.LOCALHOST);
    assert.equal(scanQuery(query('localhost')).special, Special.LOCALHOST);
    assert.equal(scanQuery(query('x.invalid')).special, Special.INVALID);
    assert.equal(scanQuery(query('localhost.example')).special, Special.NONE);
  });

  it('drops what is not a query, FORMERRs what is malformed, NOTIMPs other opcodes', () => {
    const q = query('a.example');
    assert.equal(scanQuery(q.subarray(0, 11)).verdict, Verdict.DROP);
    const resp = Buffer.from(q); resp[2] |= 0x80;
    assert.equal(scanQuery(resp).verdict, Verdict.DROP);
    const notify = Buffer.from(q); notify[2] = (notify[2] & ~0x78) | (4 << 3);
    assert.equal(scanQuery(notify).verdict, Verdict.NOTIMP);
    assert.equal(scanQuery(Buffer.concat([q, Buffer.from([0])])).verdict, Verdict.FORMERR); // trailing byte
    assert.equal(scanQuery(q.subarray(0, q.length - 2)).verdict, Verdict.FORMERR); // cut question
    const two = Buffer.from(q); two[5] = 2;
    assert.equal(scanQuery(two).verdict, Verdict.FORMERR);
    const ptr = Buffer.from(q); ptr[12] = 0xc0;
    assert.equal(scanQuery(ptr).verdict, Verdict.FORMERR);
    assert.equal(scanQuery(query('example.com', 'AXFR')).verdict, Verdict.NOTIMP);
    const v1 = query('a.example', 'A', { edns: true }); v1[v1.length - 5] = 1; // EDNS version 1
    assert.equal(scanQuery(v1).verdict, Verdict.BADVERS);
  });

  it('rejects names over 255 bytes', () => {
    const label = 'a'.repeat(63);
    const q = query([label, label, label, label].join('.'));
    assert.equal(scanQuery(q).verdict, Verdict.FORMERR);
  });
});

describe('replies nodedns writes', () => {
  it('FORMERR and BADVERS echo the question and EDNS', () => {
    const q = query('a.example', 'A', { edns: true });
    const v1 = Buffer.from(q); v1[v1.length - 5] = 1;
    const r = dnsPacket.decode(emptyReply(v1, scanQuery(v1), 16));
    assert.equal(r.type, 'response');
    assert.equal(r.id, 4660);
    assert.equal(r.questions![0].name, 'a.example');
    const opt = r.additionals![0] as unknown as { extendedRcode: number };
    assert.equal(opt.extendedRcode, 1); // 16 >> 4
  });

  it('an upstream query has our ID, RD, the client DO/CD and a 1232-byte OPT', () => {
    const client = query('A.Example', 'AAAA', { do: true, cd: true });
    const s = scanQuery(client);
    const up = dnsPacket.decode(upstreamQuery(0xbeef, client.subarray(12, s.questionEnd), true, true));
    assert.equal(up.id, 0xbeef);
    assert.equal(up.flags! & dnsPacket.RECURSION_DESIRED, dnsPacket.RECURSION_DESIRED);
    assert.equal(up.flags! & dnsPacket.CHECKING_DISABLED, dnsPacket.CHECKING_DISABLED);
    const opt = up.additionals![0] as unknown as { udpPayloadSize: number; flags: number };
    assert.equal(opt.udpPayloadSize, 1232);
    assert.equal(opt.flags & dnsPacket.DNSSEC_OK, dnsPacket.DNSSEC_OK);
    assert.ok(sameQuestion(client, upstreamQuery(1, client.subarray(12, s.questionEnd), false, false), s.questionEnd));
  });

  it('a question is the same with the name in another case, never with another type or class', () => {
    const a = query('A.Example', 'HTTPS'); // type 65: its low byte is the letter 'A'
    const end = scanQuery(a).questionEnd;
    const other = (f: (b: Buffer) => void) => { const b = Buffer.from(a); f(b); return b; };
    assert.ok(sameQuestion(a, other((b) => b.write('a', 13, 'latin1')), end));
    assert.equal(sameQuestion(a, other((b) => { b[end - 3] |= 0x20; }), end), false); // type 97
    assert.equal(sameQuestion(a, other((b) => { b[end - 1] = 3; }), end), false); // class CH
    const shifted = Buffer.concat([Buffer.alloc(40), a]); // a message further on, as in a cache record
    assert.ok(sameQuestion(a, shifted, end, 40));
  });
});

describe('walkResponse', () => {
  it('finds every TTL, the SOA negative TTL and cuts the OPT', () => {
    const r = dnsPacket.encode({
      type: 'response', id: 1, flags: 3, questions: [{ name: 'nx.example', type: 'A', class: 'IN' }],
      authorities: [{ name: 'example', type: 'SOA', ttl: 900, class: 'IN', data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232 } as unknown as dnsPacket.Answer],
    });
    const qEnd = 12 + 'nx.example'.length + 2 + 4;
    const s = walkResponse(r, qEnd)!;
    assert.equal(s.rcode, 3);
    assert.equal(s.negativeTtl, 60); // min(SOA TTL, MINIMUM), RFC 2308
    assert.equal(s.records, 1);
    assert.equal(s.keptAdditional, 0);
    assert.equal(s.cutAt, r.length - 11);
    assert.equal(walkResponse(r.subarray(0, r.length - 3), qEnd), undefined);
  });

  it('a shape walked again holds only the new response (the cache reuses one)', () => {
    const answer = (i: number) => ({ name: 'a.example', type: 'A' as const, ttl: 100 + i, class: 'IN' as const, data: `10.0.0.${i}` });
    const big = dnsPacket.encode({ type: 'response', id: 1, flags: 0x8180, questions: [{ name: 'a.example', type: 'A', class: 'IN' }], answers: [answer(1), answer(2), answer(3)] });
    const small = dnsPacket.encode({ type: 'response', id: 1, flags: 0x8180, questions: [{ name: 'a.example', type: 'A', class: 'IN' }], answers: [answer(7)] });
    const qEnd = 12 + 'a.example'.length + 2 + 4;
    const shape = newShape();
    assert.equal(walkResponse(big, qEnd, shape)!.records, 3);
    const s = walkResponse(small, qEnd, shape)!;
    assert.equal(s.records, 1);
    assert.equal(s.ttls[0], 107);
    assert.equal(s.minAnswerTtl, 107);
    assert.equal(s.cutAt, small.length);
  });
});

describe('questionName', () => {
  // The text of a question name as labels joined by dots and lower-cased the JavaScript way:
  // what routing, logs and search-path completion compare with configured zones.
  const reference = (labels: Buffer[]) => labels.map((l) => l.toString('latin1')).join('.').toLowerCase();
  const wire = (labels: Buffer[]) => Buffer.concat([Buffer.alloc(12), ...labels.flatMap((l) => [Buffer.from([l.length]), l]), Buffer.from([0, 0, 1, 0, 1])]);

  it('spells every name as its labels, dotted and lower-cased', () => {
    const cases: Buffer[][] = [
      [],
      ['WwW', 'Example', 'COM'].map((s) => Buffer.from(s)),
      ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].map((s) => Buffer.from(s)), // 253 characters
      [Buffer.from([0x41, 0x5a, 0x40, 0x5b, 0x2e, 0x00, 0x7f])], // edges of A-Z, a dot and controls inside a label
      [Buffer.from([0xc0, 0xde, 0x41]), Buffer.from('X')], // Latin-1 letters: folded as toLowerCase folds them
    ];
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let k = 0; k < 300; k++) {
      const labels: Buffer[] = [];
      for (let n = 1 + Math.floor(rand() * 5); n > 0; n--) labels.push(Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 20) }, () => Math.floor(rand() * (k % 3 ? 128 : 256)))));
      cases.push(labels);
    }
    for (const labels of cases) {
      const q = wire(labels);
      assert.equal(questionName(q, q.length - 4), reference(labels), q.toString('hex'));
    }
  });
});
