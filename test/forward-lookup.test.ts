// The lookups nodedns gives dgram so that no packet waits on dns.lookup.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { UpstreamError } from '../src/forward/errors';
import { familyLookup } from '../src/forward/ip-lookup';
import { upstreamSockets } from '../src/forward/sockets';
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
    assert.match(err.message, /^\[?localhost\]?:53: .*must be a numeric IP address/, `udp${family}: refused as no IP address, before any lookup`);
  }
});

test('a connect the kernel refuses fails the try at once with its errno, and frees its socket', async () => {
  // Linux refuses connect(2) of a UDP socket to the broadcast address without SO_BROADCAST
  // (EACCES): nothing is sent, and the failure must come from connect, not a 2 s timeout.
  const before = upstreamSockets.open;
  const err = await exchangeUdp({ host: '255.255.255.255', port: 53, family: 4 }, buildQuery('a.example', 'A', { id: 9 }), 12 + 11 + 4, 60_000)
    .then(() => undefined, (e: Error) => e);
  assert.ok(err instanceof UpstreamError, String(err));
  assert.equal(err.kind, 'network');
  assert.equal(err.message, '255.255.255.255:53: EACCES');
  assert.equal(upstreamSockets.open, before, 'the socket budget got its socket back');
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
