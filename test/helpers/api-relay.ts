// The in-test API server (test/helpers/fake-apiserver.ts) listens on 127.0.0.1 of the test's
// own namespace. A nodedns inside a test namespace reaches it through a relay there on the
// same port, which forwards to a Unix socket (a file, which namespaces share) bridged back
// here, so the server's kubeconfig works unchanged inside the namespace.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Netns } from './netns';
import { PATIENCE_MS } from './process';

const RELAY_JS = String.raw`
const net = require('node:net');
const [sock, port] = process.argv.slice(1);
net.createServer((c) => { const u = net.connect(sock); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(Number(port), '127.0.0.1', () => console.log('relay ready'));
`;

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
}

/** Starts the relay in `ns` (stopped with the namespace's lab); `dir` holds the socket. Returns the bridge's close. */
export async function relayApiServer(ns: Netns, apiUrl: string, dir: string): Promise<() => Promise<void>> {
  const port = Number(new URL(apiUrl).port);
  const sock = join(dir, 'api.sock');
  const bridge: Server = createServer((c) => pipeBoth(c, connect(port, '127.0.0.1')));
  await new Promise<void>((r) => bridge.listen(sock, r));
  const relay = ns.spawn('api relay', process.execPath, ['-e', RELAY_JS, '--', sock, String(port)]);
  await relay.waitForLine(/relay ready/, PATIENCE_MS);
  return () => new Promise<void>((r) => bridge.close(() => r()));
}
