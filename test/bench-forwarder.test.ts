// The benchmark's forwarder (scripts/bench/forwarder.ts), against an in-test backend that
// counts queries: a repeated question is answered from its Map, every answer carries the
// client's ID, and every miss goes out from a fresh source port with an ID of its own
// (with --shared-socket, from one port, still with an ID of its own).
import { strict as assert } from 'node:assert';
import * as dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startForwarder } from '../scripts/bench/forwarder';
import { probeQuery } from '../scripts/bench/servers';

interface Seen { id: number; port: number; name: string }

/** Answers every query with its own question, QR set, and one byte telling which answer it is. */
function backend(seen: Seen[]): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (q, rinfo) => {
    const name = q.toString('latin1', 13, 13 + q[12]);
    seen.push({ id: q.readUInt16BE(0), port: rinfo.port, name });
    const reply = (id: number, tag: number) => {
      const r = Buffer.concat([q, Buffer.from([tag])]);
      r.writeUInt16BE(id, 0);
      r[2] |= 0x80;
      sock.send(r, rinfo.port, rinfo.address);
    };
    // "spoofed": a reply with the wrong ID first, which the forwarder must ignore
    if (name === 'spoofed') reply(q.readUInt16BE(0) ^ 1, 0xee);
    reply(q.readUInt16BE(0), 0x01);
  });
  return new Promise((resolve) => sock.bind(0, '127.0.0.1', () => resolve(sock)));
}

function suite(shared: boolean): void {
  describe(`bench forwarder${shared ? ' --shared-socket' : ''}`, () => {
    const seen: Seen[] = [];
    let up: dgram.Socket;
    let fwd: dgram.Socket;
    let client: dgram.Socket;
    const ask = (name: string, id: number) => new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer to ${name}`)), 3000);
      client.once('message', (m) => { clearTimeout(t); resolve(m); });
      client.send(probeQuery(`${name}.test`, id), (fwd.address() as AddressInfo).port, '127.0.0.1');
    });

    before(async () => {
      up = await backend(seen);
      fwd = await startForwarder('127.0.0.1', 0, '127.0.0.1', (up.address() as AddressInfo).port, shared);
      client = dgram.createSocket('udp4');
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    });
    after(() => { client.close(); fwd.close(); up.close(); });

    it('forwards a miss once and answers a repeat from its Map, each with the client\'s ID', async () => {
      const first = await ask('a', 0x1234);
      assert.equal(first.readUInt16BE(0), 0x1234);
      assert.equal(first.at(-1), 0x01);
      const second = await ask('a', 0xbeef);
      assert.equal(second.readUInt16BE(0), 0xbeef);
      assert.deepEqual(second.subarray(2), first.subarray(2));
      assert.deepEqual(seen.map((s) => s.name), ['a'], 'the backend saw one query');
    });

    it(`sends each miss from ${shared ? 'one source port' : 'a fresh source port'} with a fresh ID, and takes only the reply with that ID`, async () => {
      const before = seen.length;
      const b = await ask('b', 7);
      const spoofed = await ask('spoofed', 8);
      assert.equal(b.readUInt16BE(0), 7);
      assert.equal(spoofed.readUInt16BE(0), 8);
      assert.equal(spoofed.at(-1), 0x01, 'the wrong-ID reply was dropped');
      const misses = seen.slice(before);
      assert.deepEqual(misses.map((s) => s.name), ['b', 'spoofed']);
      if (shared) assert.equal(misses[0].port, misses[1].port, 'two misses, one source port');
      else assert.notEqual(misses[0].port, misses[1].port, 'two misses, two source ports');
      assert.notEqual(misses[0].port, (fwd.address() as AddressInfo).port);
      assert.ok(misses[0].id !== 7 || misses[1].id !== 8, 'upstream IDs are not the client\'s');
    });
  });
}

suite(false);
suite(true);
