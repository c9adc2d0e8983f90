// The ceiling: the fastest a Node.js UDP DNS responder can be on this machine.
// It answers every query with one prebuilt reply, only copying the query's ID in.
// Any real server (nodedns included) does at least this much work per query.
// Usage: node --import tsx scripts/bench/ceiling.ts <ip> <port>
import * as dgram from 'node:dgram';

/** A reply to "h0.bench.test A" with one A record (TTL 30): the size of a typical hit. */
export function cannedReply(): Buffer {
  const name = Buffer.from([2, 0x68, 0x30, 5, 0x62, 0x65, 0x6e, 0x63, 0x68, 4, 0x74, 0x65, 0x73, 0x74, 0]);
  const header = Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const question = Buffer.concat([name, Buffer.from([0, 1, 0, 1])]);
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
  const sock = dgram.createSocket(ip.includes(':') ? 'udp6' : 'udp4');
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
