// The lookups nodedns gives dgram so that no packet waits on dns.lookup.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { UpstreamError } from '../src/forward/errors';
import { familyLookup } from '../src/forward/ip-lookup';
import { exchangeUdp } from '../src/forward/udp';
import { buildQuery } from './helpers/dns-query';

type Result = { err: NodeJS.ErrnoException | null; address: string; family: number };
const call = (f: (typeof familyLookup)[4], host: string): Result => {
  let r: Result | undefined;
  f(host, {}, (err, address, family) => { r = { err, address, family }; });
  assert.ok(r, 'the callback runs at once');
  return r;
};

test('an upstream query never resolves a name, even one that slipped past validation', async () => {
  for (const family of [4, 6] as const) {
    const host = 'localhost'; // resolvable: a lookup that resolved names would reach a server on it
    const err = await exchangeUdp({ host, port: 53, family }, buildQuery('a.example', 'A', { id: 7 }), 12 + 11 + 4, 2000)
      .then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof UpstreamError, `udp${family}: fails as an upstream error`);
    assert.match(err.message, /EINVAL/, `udp${family}: the kernel address parse refused it`);
  }
});

test('familyLookup answers at once with the socket family', () => {
  assert.deepEqual(call(familyLookup[4], '10.0.0.1'), { err: null, address: '10.0.0.1', family: 4 });
  assert.deepEqual(call(familyLookup[6], 'fd00::1'), { err: null, address: 'fd00::1', family: 6 });
});

test('a listener with familyLookup replies to the sender it received from (IPv4 and IPv6)', async () => {
  for (const [type, ip, family] of [['udp4', '127.0.0.1', 4], ['udp6', '::1', 6]] as const) {
    const server = createSocket({ type, lookup: familyLookup[family] as never });
    const client = createSocket(type);
    try {
      await new Promise<void>((r) => server.bind(0, ip, () => r()));
      server.on('message', (m, rinfo) => server.send(Buffer.concat([Buffer.from('re:'), m]), rinfo.port, rinfo.address));
      const got = new Promise<string>((r) => client.once('message', (m) => r(m.toString())));
      client.send('ping', server.address().port, ip);
      assert.equal(await got, 're:ping');
    } finally {
      server.close();
      client.close();
    }
  }
});
