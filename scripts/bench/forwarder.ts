// The forwarder: the floor of runtime cost of a caching forwarder on Node.js; a yardstick, never to deploy.
// Issue 2 asks nodedns for a fresh random source port per upstream query (RFC 5452), so
// each of the mixed workload's misses (1 in 10) costs a new socket, a bind, a connect and
// a close. How much of nodedns' distance from the ceiling there is Node's socket layer,
// and how much is nodedns? This is the least any Node.js forwarder does under that rule:
// - a Map from the question bytes as received (everything after the 12-byte header) to the reply;
// - a hit copies the stored reply into a fresh buffer, writes the client's ID, sends it;
// - a miss opens a new socket, connects it to the backend, sends the query with a fresh
//   random ID, takes only a reply with that ID, stores it, answers the client, closes the
//   socket; after 2 s without an answer it closes the socket and drops the query.
// No TTLs (an entry lives forever, so after a warm-up its ndots NXDOMAINs are all hits,
// where nodedns refetches them every 5 s), no LRU, no EDNS handling, no coalescing, no
// validation: every real forwarder does more.
// With --shared-socket, every miss goes out on one socket connected once at start (what
// the rule forbids; a random ID per query still): the mixed workload run both ways shows
// what the fresh port itself costs, and how far the ceiling stays even without it.
// Usage: node --max-semi-space-size=2 --no-maglev forwarder.js <ip> <port> <backend-ip> <backend-port> [--shared-socket]
// (the benchmark runs it transpiled to plain JS with nodedns' V8 flags, its imports from
// src/ taken from dist/: the same query IDs and address lookup nodedns uses).
import * as dgram from 'node:dgram';
import { randomId } from '../../src/forward/ids';
import { familyLookup } from '../../src/forward/ip-lookup';

const TIMEOUT_MS = 2000;
/** A socket for addresses of ip's family, with nodedns' lookup for it. */
const socketFor = (ip: string) => (ip.includes(':')
  ? dgram.createSocket({ type: 'udp6', lookup: familyLookup[6] as never })
  : dgram.createSocket({ type: 'udp4', lookup: familyLookup[4] as never }));

/** Binds the forwarder on ip:port; resolves once it listens. */
export async function startForwarder(ip: string, port: number, backendIp: string, backendPort: number,
  sharedSocket = false): Promise<dgram.Socket> {
  const cache = new Map<string, Buffer>();
  const sock = socketFor(ip);

  /** Stores a reply with the client's ID and answers the client. */
  const answer = (reply: Buffer, c0: number, c1: number, key: string, clientPort: number, clientAddr: string) => {
    // The reply is ours alone: give it the client's ID and keep it (hits copy it before patching).
    reply[0] = c0;
    reply[1] = c1;
    cache.set(key, reply);
    sock.send(reply, clientPort, clientAddr);
  };

  const forwardFresh = (query: Buffer, key: string, clientPort: number, clientAddr: string) => {
    const up = socketFor(backendIp);
    const id = randomId();
    const c0 = query[0];
    const c1 = query[1];
    query[0] = id >> 8; // the query is sent on as received, with only the ID changed
    query[1] = id & 255;
    let open = true;
    const close = () => { if (open) { open = false; clearTimeout(timer); up.close(); } };
    const timer = setTimeout(close, TIMEOUT_MS);
    up.on('error', close);
    up.on('message', (reply) => {
      if (reply.length < 12 || ((reply[0] << 8) | reply[1]) !== id) return;
      close();
      answer(reply, c0, c1, key, clientPort, clientAddr);
    });
    up.connect(backendPort, backendIp, () => up.send(query));
  };

  // --shared-socket: the queries in flight by ID, each dropped after TIMEOUT_MS as above
  const waiting = new Map<number, (reply: Buffer) => void>();
  const shared = sharedSocket ? socketFor(backendIp) : undefined;
  const forwardShared = (query: Buffer, key: string, clientPort: number, clientAddr: string) => {
    let id = randomId();
    while (waiting.has(id)) id = randomId();
    const c0 = query[0];
    const c1 = query[1];
    query[0] = id >> 8;
    query[1] = id & 255;
    const timer = setTimeout(() => waiting.delete(id), TIMEOUT_MS);
    waiting.set(id, (reply) => {
      clearTimeout(timer);
      answer(reply, c0, c1, key, clientPort, clientAddr);
    });
    shared!.send(query);
  };
  if (shared) {
    shared.on('message', (reply) => {
      if (reply.length < 12) return;
      const id = (reply[0] << 8) | reply[1];
      const w = waiting.get(id);
      if (!w) return;
      waiting.delete(id);
      w(reply);
    });
    await new Promise<void>((resolve, reject) => {
      shared.once('error', reject);
      shared.connect(backendPort, backendIp, () => { shared.off('error', reject); resolve(); });
    });
    sock.once('close', () => shared.close());
  }
  const forward = shared ? forwardShared : forwardFresh;

  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    const key = msg.toString('latin1', 12);
    const stored = cache.get(key);
    if (!stored) return forward(msg, key, rinfo.port, rinfo.address);
    // A fresh copy per reply: a queued send still references its buffer.
    const out = Buffer.allocUnsafe(stored.length);
    stored.copy(out);
    out[0] = msg[0];
    out[1] = msg[1];
    sock.send(out, rinfo.port, rinfo.address);
  });
  return new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, ip, () => { sock.off('error', reject); resolve(sock); });
  });
}

function main(): void {
  const [ip, portText, backendIp, backendPortText, flag] = process.argv.slice(2);
  const port = Number(portText);
  const backendPort = Number(backendPortText);
  const isPort = (p: number) => Number.isInteger(p) && p > 0 && p <= 65535;
  if (!ip || !backendIp || !isPort(port) || !isPort(backendPort) || (flag !== undefined && flag !== '--shared-socket')) {
    console.error('usage: forwarder.ts <ip> <port> <backend-ip> <backend-port> [--shared-socket]');
    process.exit(2);
  }
  startForwarder(ip, port, backendIp, backendPort, flag !== undefined).then((sock) => {
    console.log(`forwarder listening on ${ip}:${port}, backend ${backendIp}:${backendPort}${flag ? ', one shared upstream socket' : ''}`);
    sock.on('error', (err) => {
      console.error(`forwarder: ${err.message}`);
      process.exit(1);
    });
    const stop = () => sock.close(() => process.exit(0));
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  }, (err: Error) => {
    console.error(`forwarder: ${err.message}`);
    process.exit(1);
  });
}

if (require.main === module) main();
