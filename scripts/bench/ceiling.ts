// The ceiling: the fastest a Node.js UDP DNS responder can be on this machine.
// It answers every query with one prebuilt reply, only copying the query's ID in.
// Any real server (nodedns included) does at least this much work per query.
// Usage: node --import tsx scripts/bench/ceiling.ts <ip> <port>
// (the benchmark runs it transpiled to plain JS, so that tsx adds nothing to its RSS).
import * as dgram from 'node:dgram';

/** A reply to "<name> A" with one A record (TTL 30, 10.0.0.1): the size of a typical cache hit. */
export function cannedReply(name = 'h0.example.com'): Buffer {
  const labels = name.split('.').filter(Boolean).map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'ascii')]));
  const header = Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const question = Buffer.concat([...labels, Buffer.from([0, 0, 1, 0, 1])]);
  // answer: pointer to the name at offset 12, A IN, TTL 30, RDLENGTH 4, 10.0.0.1
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 0, 0, 1]);
  return Buffer.concat([header, question, answer]);
}

function main(): void {
  const [ip, portText] = process.argv.slice(2);
  const port = Number(portText);
  if (!ip || !Number.isInteger(port) || port <= 0 || port > 65535) {
    console.error('usage: ceiling.ts <ip> <port>');
    process.exit(2);
  }
  const canned = cannedReply();
  // Replies go to IP literals: answer dgram's lookup at once, as nodedns does
  // (src/forward/ip-lookup.ts), so the ceiling pays no per-packet lookup either.
  const lookup = (host: string, _o: unknown, cb: (e: null, a: string, f: number) => void) => cb(null, host, host.includes(':') ? 6 : 4);
  const sock = dgram.createSocket({ type: ip.includes(':') ? 'udp6' : 'udp4', lookup: lookup as never });
  sock.on('message', (msg, rinfo) => {
    if (msg.length < 12) return;
    // A fresh copy per reply: a queued send still references its buffer.
    const out = Buffer.allocUnsafe(canned.length);
    canned.copy(out);
    out[0] = msg[0];
    out[1] = msg[1];
    sock.send(out, rinfo.port, rinfo.address);
  });
  sock.on('error', (err) => {
    console.error(`ceiling: ${err.message}`);
    process.exit(1);
  });
  sock.bind(port, ip, () => console.log(`ceiling listening on ${ip}:${port}`));
  const stop = () => sock.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();
