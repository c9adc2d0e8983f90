// One nodedns per node: the lock (--lock-file) and the check of who holds the DNS port.
// Real unix sockets under a temporary directory, and real UDP/TCP sockets on 127.0.0.1.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { OwnerError, OwnerLock } from '../src/node/owner-lock';
import { portHolders } from '../src/node/port-holders';

const dir = mkdtempSync(join(tmpdir(), 'nodedns-owner-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the owner lock', () => {
  it('a second taker is refused with the owner\'s PID; after release it is free again', async () => {
    const path = join(dir, 'a', 'owner.sock');
    const first = await OwnerLock.acquire(path, '169.254.20.10 port 53');
    await assert.rejects(OwnerLock.acquire(path, '169.254.20.10 port 53'), (e: Error) => {
      assert.ok(e instanceof OwnerError);
      assert.match(e.message, new RegExp(`another nodedns \\(PID ${process.pid}\\) already serves 169\\.254\\.20\\.10 port 53`));
      assert.match(e.message, /changes nothing/);
      return true;
    });
    first.release();
    assert.equal(existsSync(path), false);
    (await OwnerLock.acquire(path, 'x')).release();
  });

  it('a lock left by a SIGKILLed owner is taken over (nobody answers on it)', async () => {
    const path = join(dir, 'stale.sock');
    const js = `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('held'))`;
    const child = spawn(process.execPath, ['-e', js], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    assert.ok(existsSync(path), 'the socket file stays behind');
    const lock = await OwnerLock.acquire(path, 'x');
    lock.release();
  });

  it('"" turns it off', async () => {
    (await OwnerLock.acquire('', 'x')).release();
    (await OwnerLock.acquire('', 'x')).release();
  });
});

describe('who holds the DNS port', () => {
  it('names this process for a UDP socket and a TCP listener on the address, and nothing for another port', async () => {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const port = udp.address().port;
    const tcp = createServer();
    await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', () => r()));
    try {
      const held = portHolders(['127.0.0.1'], port);
      assert.ok(held.includes(`udp 127.0.0.1:${port} (PID ${process.pid})`), held.join('; '));
      assert.ok(held.includes(`tcp 127.0.0.1:${port} (PID ${process.pid})`), held.join('; '));
      assert.deepEqual(portHolders(['127.0.0.2'], port), [], 'another address of the same port is free');
    } finally {
      udp.close();
      tcp.close();
    }
  });
});
