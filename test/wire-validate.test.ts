// The validator for upstream replies and cache-file entries (src/wire/validate.ts):
// one test per malformation, each built from a valid reply changed in one place.
import { strict as assert } from 'node:assert';
import * as dnsPacket from 'dns-packet';
import { describe, it } from 'node:test';
import { upstreamQuery } from '../src/wire/build';
import { Check, checkName, checkReply, REASONS } from '../src/wire/validate';
import { randomizeCase } from '../src/forward/ids';

const NAME = 'www.example.test';
const question = (name = NAME) => dnsPacket.encode({ type: 'query', id: 0, questions: [{ name, type: 'A', class: 'IN' }] }).subarray(12);
const QEND = 12 + question().length;
const QUERY = upstreamQuery(0x1234, question(), false, false);

/** A record: owner bytes, type, TTL 60, rdata. */
function rr(owner: Buffer, type: number, rdata: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(type === 41 ? 1232 : 1, 2);
  fixed.writeUInt32BE(60, 4);
  fixed.writeUInt16BE(rdata.length, 8);
  return Buffer.concat([owner, fixed, rdata]);
}
const ptr = (to: number) => Buffer.from([0xc0 | (to >> 8), to & 0xff]);
const label = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
const ROOT = Buffer.from([0]);
const EXAMPLE = 16; // "example.test" inside the question name "www.example.test"

/**
 * A reply as an upstream compresses it (ID 0x1234): www CNAME web.example.test (the owner a
 * pointer to the question, the target a label and a pointer), web A (owner a pointer into the
 * CNAME's data), example.test NS ns.example.test, then OPT. `offsets` gets where each record starts.
 */
function reply(o: { answers?: Buffer[]; authorities?: Buffer[]; additionals?: Buffer[]; name?: string } = {}, offsets: number[] = []): Buffer {
  const q = question(o.name);
  const cnameAt = 12 + q.length + 2 + 10; // rdata of the first answer
  const answers = o.answers ?? [
    rr(ptr(12), 5, Buffer.concat([label('web'), ptr(EXAMPLE)])),
    rr(ptr(cnameAt), 1, Buffer.from([192, 0, 2, 1])),
  ];
  const authorities = o.authorities ?? [rr(ptr(EXAMPLE), 2, Buffer.concat([label('ns'), ptr(EXAMPLE)]))];
  const additionals = o.additionals ?? [rr(ROOT, 41, Buffer.alloc(0))];
  const h = Buffer.alloc(12);
  h.writeUInt16BE(0x1234, 0);
  h[2] = 0x81;
  h[3] = 0x80;
  h.writeUInt16BE(1, 4);
  h.writeUInt16BE(answers.length, 6);
  h.writeUInt16BE(authorities.length, 8);
  h.writeUInt16BE(additionals.length, 10);
  let at = 12 + q.length;
  for (const r of [...answers, ...authorities, ...additionals]) { offsets.push(at); at += r.length; }
  return Buffer.concat([h, q, ...answers, ...authorities, ...additionals]);
}

const check = (m: Buffer, exactCase = false) => REASONS[checkReply(m, QUERY, QEND, exactCase)];

/** Offset of the first compression pointer after the question (the CNAME's owner). */
function firstPointer(m: Buffer): number {
  for (let i = QEND; i < m.length - 1; i++) if ((m[i] & 0xc0) === 0xc0) return i;
  throw new Error('no pointer');
}

describe('upstream reply validation', () => {
  it('accepts well-formed replies: compressed names, SOA, MX, SRV, OPT, NXDOMAIN', () => {
    assert.equal(check(reply()), 'ok');
    const soa = rr(ptr(EXAMPLE), 6, Buffer.concat([label('ns'), ptr(EXAMPLE), label('h'), ptr(EXAMPLE), Buffer.alloc(20)]));
    const nx = reply({ answers: [], authorities: [soa] });
    nx[3] |= 3;
    assert.equal(check(nx), 'ok');
    const mx = rr(ptr(12), 15, Buffer.concat([Buffer.from([0, 10]), label('mx'), ptr(EXAMPLE)]));
    const srv = rr(ptr(12), 33, Buffer.concat([Buffer.alloc(6), label('srv'), ptr(EXAMPLE)]));
    assert.equal(check(reply({ answers: [mx, srv] })), 'ok');
    assert.equal(check(reply({ additionals: [] })), 'ok');
    // as real servers write them too: dns-packet writes every name in full
    const plain = dnsPacket.encode({ type: 'response', id: 0x1234, flags: 0x8180, questions: [{ name: NAME, type: 'A', class: 'IN' }],
      answers: [{ name: NAME, type: 'A', ttl: 5, data: '192.0.2.9' }] });
    assert.equal(check(plain), 'ok');
  });

  it('refuses a reply that is not ours: wrong ID, QR clear, another question, QDCOUNT 0', () => {
    const r = reply();
    r[1] ^= 1;
    assert.equal(check(r), 'id');
    const q = reply();
    q[2] &= ~0x80;
    assert.equal(check(q), 'id');
    assert.equal(check(reply({ name: 'www.example.tesu' })), 'question');
    const none = reply();
    none.writeUInt16BE(0, 4);
    assert.equal(check(none), 'question');
    assert.equal(check(Buffer.alloc(11)), 'id');
  });

  it('0x20: a reply must echo the letter case sent, when asked to; type and class never match by case', () => {
    const mixed = Buffer.from(QUERY);
    randomizeCase(mixed, 12, QEND - 4);
    mixed[13] = 0x57; // 'W': at least one letter differs from the lower-case reply
    const r = reply();
    assert.equal(REASONS[checkReply(r, mixed, QEND, true)], 'case');
    assert.equal(REASONS[checkReply(r, mixed, QEND, false)], 'ok');
    const echoed = Buffer.from(r);
    mixed.copy(echoed, 12, 12, QEND);
    assert.equal(REASONS[checkReply(echoed, mixed, QEND, true)], 'ok');
    const type = Buffer.from(r);
    type[QEND - 3] ^= 0x20; // TYPE A (1) -> 33: not a case difference
    assert.equal(check(type), 'question');
  });

  it('refuses opcodes other than QUERY (UPDATE, NOTIFY)', () => {
    for (const opcode of [4, 5]) {
      const r = reply();
      r[2] = (r[2] & ~0x78) | (opcode << 3);
      assert.equal(check(r), 'opcode');
    }
  });

  it('refuses compression pointers that loop, point forward, at themselves, past the end or into the header', () => {
    const offsets: number[] = [];
    const base = reply({}, offsets);
    const p = offsets[1]; // the A record's owner: a pointer into the CNAME's data
    const set = (target: number) => { const r = Buffer.from(base); r.writeUInt16BE(0xc000 | target, p); return check(r); };
    assert.equal(set(p), 'pointer'); // itself: a loop
    assert.equal(set(p + 2), 'pointer'); // forward
    assert.equal(set(0x3fff), 'pointer'); // past the end
    assert.equal(set(4), 'pointer'); // into the header
    assert.equal(set(12), 'ok'); // the question name: legal
    // the CNAME target "web" + pointer: make its pointer aim at the A owner's pointer (forward), which aims back at "web": a loop
    const loop = Buffer.from(base);
    const cnameTarget = offsets[0] + 2 + 10 + 4; // after the label "web"
    loop.writeUInt16BE(0xc000 | p, cnameTarget);
    assert.equal(check(loop), 'pointer');
  });

  it('checkName: a loop of two pointers ends, and names over 255 octets are refused', () => {
    // 12: pointer to 14; 14: pointer to 12  -> the second jump is forward of the bound
    const b = Buffer.alloc(20);
    b.writeUInt16BE(0xc00e, 12);
    b.writeUInt16BE(0xc00c, 14);
    assert.equal(checkName(b, 14, b.length), -Check.POINTER);
    assert.equal(checkName(b, 12, b.length), -Check.POINTER);
    const long = Buffer.alloc(12 + 5 * 64 + 1);
    for (let i = 0; i < 5; i++) long[12 + i * 64] = 63;
    assert.equal(checkName(long, 12, long.length), -Check.NAME);
    const ext = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x41, 0]);
    assert.equal(checkName(ext, 12, ext.length), -Check.NAME);
  });

  it('refuses counts that promise more than the bytes hold, and bytes beyond the counts', () => {
    const more = reply();
    more.writeUInt16BE(3, 10);
    assert.equal(check(more), 'short');
    assert.equal(check(Buffer.concat([reply(), Buffer.from([0, 0, 0])])), 'trailing');
    const cut = reply();
    assert.equal(check(cut.subarray(0, cut.length - 3)), 'short');
    const offsets: number[] = [];
    const rdlen = reply({}, offsets);
    rdlen.writeUInt16BE(200, offsets[1] + 2 + 8); // the A record's RDLENGTH
    assert.equal(check(rdlen), 'short');
  });

  it('refuses record data that does not fit its type', () => {
    assert.equal(check(reply({ answers: [rr(ptr(12), 1, Buffer.from([192, 0, 2, 1, 7]))] })), 'rdata');
    assert.equal(check(reply({ answers: [rr(ptr(12), 28, Buffer.alloc(4))] })), 'rdata');
    // a CNAME whose target runs past its RDLENGTH, or stops short of it
    assert.equal(check(reply({ answers: [rr(ptr(12), 5, label('web'))] })), 'rdata');
    assert.equal(check(reply({ answers: [rr(ptr(12), 5, Buffer.concat([ptr(EXAMPLE), Buffer.from([1])]))] })), 'rdata');
    const soa = rr(ptr(EXAMPLE), 6, Buffer.concat([label('ns'), ptr(EXAMPLE), label('h'), ptr(EXAMPLE), Buffer.alloc(19)]));
    assert.equal(check(reply({ answers: [], authorities: [soa] })), 'rdata');
    // a pointer inside record data is held to the same rule
    assert.equal(check(reply({ answers: [rr(ptr(12), 5, ptr(0x3fff))] })), 'pointer');
  });

  it('refuses data whose fields do not fill it exactly, for the types clients read field by field', () => {
    const str = (s: string) => label(s); // a character-string is a length byte and the bytes, as a label
    const ok = (type: number, rdata: Buffer) => check(reply({ answers: [rr(ptr(12), type, rdata)] }));
    const name = Buffer.concat([label('web'), ptr(EXAMPLE)]);
    // found by the upstream fuzzer (FUZZ_SEED=527347540): a CNAME's type bit-flipped to HINFO, its
    // target name read as two strings with bytes to spare; dns-packet then read the next record
    // from the middle of this one ("Cannot decode name (buffer overflow)")
    assert.equal(ok(13, Buffer.concat([label('t272'), label('target'), label('fuzz'), label('test'), ROOT])), 'rdata');
    assert.equal(ok(13, Buffer.concat([str('amd64'), str('linux')])), 'ok');
    assert.equal(ok(13, str('amd64')), 'rdata');
    assert.equal(ok(16, Buffer.concat([str('v=spf1'), str('-all')])), 'ok');
    assert.equal(ok(16, Buffer.alloc(0)), 'rdata');
    assert.equal(ok(16, Buffer.from([9, 0x61])), 'rdata'); // a string longer than the data
    assert.equal(ok(17, Buffer.concat([name, ROOT])), 'ok');
    assert.equal(ok(17, Buffer.concat([name, ROOT, Buffer.from([1])])), 'rdata');
    const naptr = (tail: Buffer) => Buffer.concat([Buffer.from([0, 10, 0, 20]), str('S'), str('SIP+D2U'), str(''), tail]);
    assert.equal(ok(35, naptr(name)), 'ok');
    assert.equal(ok(35, naptr(Buffer.alloc(0))), 'rdata');
    assert.equal(ok(35, Buffer.from([0, 10, 0, 20, 5, 0x61])), 'rdata');
    assert.equal(ok(46, Buffer.concat([Buffer.alloc(18), name, Buffer.alloc(64)])), 'ok');
    assert.equal(ok(46, Buffer.alloc(17)), 'rdata');
    const bitmap = Buffer.from([0, 6, 0x40, 0x01, 0, 0, 0, 0x03]); // A, NS, SOA-window 0
    assert.equal(ok(47, Buffer.concat([name, bitmap])), 'ok');
    assert.equal(ok(47, Buffer.concat([name, Buffer.from([0, 33]), Buffer.alloc(33)])), 'rdata'); // a window over 32 bytes
    assert.equal(ok(47, Buffer.concat([name, bitmap, Buffer.from([0, 1, 0x40])])), 'rdata'); // windows out of order
    const nsec3 = (bitmaps: Buffer) => Buffer.concat([Buffer.from([1, 0, 0, 10, 2, 0xab, 0xcd, 3, 1, 2, 3]), bitmaps]);
    assert.equal(ok(50, nsec3(bitmap)), 'ok');
    assert.equal(ok(50, nsec3(Buffer.from([0, 7, 1]))), 'rdata');
    assert.equal(ok(50, Buffer.from([1, 0, 0, 10, 9, 1])), 'rdata'); // a salt longer than the data
    // fixed fields first: found the same way (an OPT's type turned into DS and DNSKEY, an NS's into SSHFP)
    assert.equal(ok(43, Buffer.from([0, 1, 8, 2, 0xaa])), 'ok');
    assert.equal(ok(43, Buffer.alloc(0)), 'rdata');
    assert.equal(ok(48, Buffer.from([1, 0, 3, 8, 0xaa])), 'ok');
    assert.equal(ok(48, Buffer.from([1, 0, 2, 8, 0xaa])), 'rdata'); // protocol must be 3
    assert.equal(ok(44, Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(32)])), 'ok');
    assert.equal(ok(44, Buffer.concat([Buffer.from([1, 1]), Buffer.alloc(32)])), 'rdata'); // SHA-1 is 20 bytes
    assert.equal(ok(44, Buffer.concat([Buffer.from([2, 0x6e]), label('fuzz')])), 'rdata');
    assert.equal(ok(52, Buffer.from([3, 1, 1, 0xaa])), 'ok');
    assert.equal(ok(52, Buffer.from([3, 1])), 'rdata');
    assert.equal(ok(257, Buffer.concat([Buffer.from([0]), str('issue'), Buffer.from('ca.example')])), 'ok');
    assert.equal(ok(257, Buffer.from([0, 9, 0x61])), 'rdata'); // a tag longer than the data
  });

  it('refuses an OPT outside the additional section, twice, or not owned by the root', () => {
    const opt = rr(ROOT, 41, Buffer.alloc(0));
    assert.equal(check(reply({ additionals: [opt, opt] })), 'opt');
    assert.equal(check(reply({ authorities: [opt], additionals: [] })), 'opt');
    assert.equal(check(reply({ additionals: [rr(Buffer.concat([label('x'), ROOT]), 41, Buffer.alloc(0))] })), 'opt');
    assert.equal(check(reply({ additionals: [rr(ROOT, 41, Buffer.from([0, 3, 0, 9, 1]))] })), 'opt'); // option longer than the record
  });

  it('cache-file mode: no query to compare, the question itself must be a plain name', () => {
    const r = reply();
    assert.equal(REASONS[checkReply(r, undefined, QEND, false)], 'ok');
    const p = Buffer.from(r);
    p.writeUInt16BE(0xc00c, 12);
    assert.equal(REASONS[checkReply(p, undefined, QEND, false)], 'question');
  });
});
