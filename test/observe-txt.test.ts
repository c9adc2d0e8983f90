// CHAOS TXT replies built from raw bytes: strings of at most 255 bytes (split without
// breaking UTF-8), the question echoed with the client's spelling, TC when the reply does
// not fit, a cap on the whole reply; and the per-query log sampling.
import { strict as assert } from 'node:assert';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import * as dnsPacket from 'dns-packet';
import pino from 'pino';
import { queryLogger } from '../src/observe/query-log';
import { chaosTxtReply, MAX_REPLY, txtStrings } from '../src/observe/txt-reply';
import { scanQuery } from '../src/wire/query';

function chQuery(name: string, o: { edns?: boolean; nsid?: boolean } = {}): Buffer {
  const additionals = o.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, options: o.nsid ? [{ code: 3, data: Buffer.alloc(0) }] : [] }] : [];
  return dnsPacket.encode({ type: 'query', id: 4242, flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: 'TXT', class: 'CH' }], additionals: additionals as dnsPacket.Answer[] });
}

describe('CHAOS TXT replies', () => {
  it('splits text into strings of at most 255 bytes without cutting a UTF-8 character', () => {
    assert.deepEqual(txtStrings('').map((b) => b.length), [0]);
    assert.deepEqual(txtStrings('x'.repeat(255)).map((b) => b.length), [255]);
    assert.deepEqual(txtStrings('x'.repeat(600)).map((b) => b.length), [255, 255, 90]);
    const text = 'é'.repeat(200); // 400 bytes of 2-byte characters
    const parts = txtStrings(text);
    assert.ok(parts.every((p) => p.length <= 255));
    assert.equal(parts[0].length, 254, 'stops before a character that would not fit');
    assert.equal(parts.map((p) => p.toString('utf8')).join(''), text);
  });

  it('echoes the question and answers one TXT record per group, decodable by dns-packet', () => {
    const query = chQuery('Version.BIND');
    const reply = chaosTxtReply(query, scanQuery(query), [['nodedns 1.2.3'], ['a=1', 'b=' + 'y'.repeat(300)]], 65535, undefined);
    const p = dnsPacket.decode(reply);
    assert.equal(p.id, 4242);
    assert.equal(p.type, 'response');
    assert.equal(p.flag_aa, true);
    assert.equal(p.flag_rd, true);
    assert.equal(p.questions![0].name, 'Version.BIND', 'the client\'s own spelling');
    assert.equal(p.answers!.length, 2);
    const [a, b] = p.answers as dnsPacket.TxtAnswer[];
    assert.equal(a.class, 'CH');
    assert.equal(a.ttl, 0);
    assert.deepEqual((a.data as Buffer[]).map(String), ['nodedns 1.2.3']);
    assert.deepEqual((b.data as Buffer[]).map((x) => x.length), [3, 255, 47]);
    assert.equal((b.data as Buffer[]).slice(1).map(String).join(''), 'b=' + 'y'.repeat(300));
  });

  it('adds NSID only when asked, in the OPT record', () => {
    const asked = chQuery('id.server', { edns: true, nsid: true });
    const p = dnsPacket.decode(chaosTxtReply(asked, scanQuery(asked), [['n1']], 1232, Buffer.from('n1')));
    const opt = p.additionals!.find((x) => x.type === 'OPT') as dnsPacket.OptAnswer;
    assert.deepEqual(opt.options.map((o) => [o.code, String(o.data)]), [[3, 'n1']]);
    const plain = chQuery('id.server', { edns: true });
    const q = dnsPacket.decode(chaosTxtReply(plain, scanQuery(plain), [['n1']], 1232, Buffer.from('n1')));
    assert.deepEqual((q.additionals!.find((x) => x.type === 'OPT') as dnsPacket.OptAnswer).options, []);
  });

  it('sends an empty truncated reply when the answer exceeds what the client takes', () => {
    const query = chQuery('config.nodedns');
    const big = Array.from({ length: 40 }, (_, i) => [`key${i}=${'v'.repeat(20)}`]);
    const udp = chaosTxtReply(query, scanQuery(query), big, 512, undefined);
    const p = dnsPacket.decode(udp);
    assert.equal(p.flag_tc, true);
    assert.equal(p.answers!.length, 0);
    assert.ok(udp.length <= 512);
    const tcp = dnsPacket.decode(chaosTxtReply(query, scanQuery(query), big, 65535, undefined));
    assert.equal(tcp.answers!.length, 40);
  });

  it('keeps the whole reply under 64 KB, saying how many records were left out', () => {
    const query = chQuery('config.nodedns');
    const huge = Array.from({ length: 1000 }, (_, i) => [`k${i}=${'z'.repeat(200)}`]);
    const reply = chaosTxtReply(query, scanQuery(query), huge, 65535, undefined);
    assert.ok(reply.length <= MAX_REPLY, `${reply.length} bytes`);
    const answers = dnsPacket.decode(reply).answers as dnsPacket.TxtAnswer[];
    const lastText = (answers[answers.length - 1].data as Buffer[]).map(String).join('');
    const kept = answers.length - 1;
    assert.equal(lastText, `truncated: ${1000 - kept} more records left out of this reply`);
  });
});

describe('per-query log', () => {
  const entry = { name: 'a.example.', type: 28, client: '10.0.0.7', transport: 'udp' as const, rcode: 3, cache: 'miss' as const, upstream: '10.0.0.53:53', latencyMs: 1.25 };
  function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
    return { log: pino({ level: 'info' }, sink), lines };
  }

  it('writes name, type, client, transport, rcode, cache, upstream and latency', () => {
    const { log, lines } = capture();
    queryLogger(log, 1)(entry);
    assert.equal(lines.length, 1);
    const l = lines[0];
    assert.deepEqual([l.msg, l.name, l.type, l.client, l.transport, l.rcode, l.cache, l.upstream, l.latencyMs],
      ['query', 'a.example.', 'AAAA', '10.0.0.7', 'udp', 'NXDOMAIN', 'miss', '10.0.0.53:53', 1.25]);
    queryLogger(log, 1)({ ...entry, type: 65280, rcode: 15 });
    assert.equal(lines[1].type, 'TYPE65280');
    assert.equal(lines[1].rcode, 'RCODE15');
  });

  it('logs the sampled share of queries', () => {
    const { log, lines } = capture();
    let i = 0;
    const rolls = [0.05, 0.5, 0.09, 0.99, 0.1]; // logged when below 0.1
    const logger = queryLogger(log, 0.1, () => rolls[i++]);
    for (let n = 0; n < rolls.length; n++) logger(entry);
    assert.equal(lines.length, 2);
    const { log: log2, lines: none } = capture();
    const off = queryLogger(log2, 0);
    for (let n = 0; n < 100; n++) off(entry);
    assert.equal(none.length, 0);
  });
});
