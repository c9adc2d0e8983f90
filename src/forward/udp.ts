// One query over UDP from a fresh socket: a new random source port every time, and
// the socket is connected so the kernel drops datagrams from anyone but the upstream.
// Callback style, like the pool and the resolver above it: each promise layer between a
// reply and the client's answer costs microtask turns (measured here: four async layers
// added ~20 µs of CPU to a bare Node.js forwarder's 82 µs miss).
import { createSocket } from 'node:dgram';
import type { Endpoint } from '../config/types';
import { Check, checkReply, isUnwanted, REASONS } from '../wire/validate';
import { FD_ADVICE, UpstreamError, networkError } from './errors';
import { familyLookup } from './ip-lookup';
import { upstreamSockets } from './sockets';

/** Called once: with the reply, or with why there is none. */
export type ReplyCallback = (err: Error | null, res?: Buffer) => void;

/** How a query screens what arrives on its socket (src/wire/validate.ts). */
export interface ReplyGuard {
  exactCase: boolean; // the name was sent in 0x20 case: a reply must echo it
  unwantedLimit: number; // more unwanted datagrams than this: a forgery attempt (0 = no limit)
  counts: number[]; // by Check, for the metrics
}

/**
 * A reply with our question in another letter case may be a forgery that guessed the ID
 * (the real reply, in our case, is still on its way) or the reply of an upstream that does
 * not keep case: wait this long for one in our case before asking again without 0x20.
 */
export const CASE_GRACE_MS = 250;

const LENIENT: ReplyGuard = { exactCase: false, unwantedLimit: 0, counts: new Array(16).fill(0) };

/** host:port, [v6]:port: how messages name an upstream. */
export function endpointAddress(ep: Endpoint): string {
  return ep.family === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

/** `address` is endpointAddress(ep), passed in by the hot path so that a miss builds no string. */
export function queryUdp(ep: Endpoint, msg: Buffer, questionEnd: number, timeoutMs: number, done: ReplyCallback, guard = LENIENT,
  address = endpointAddress(ep)): void {
  if (!upstreamSockets.acquire()) {
    done(new UpstreamError('fds', `${upstreamSockets.open} upstream sockets open, the most the open-files limit allows with --fd-reserve free: ${FD_ADVICE}`));
    return;
  }
  const sock = createSocket({ type: ep.family === 6 ? 'udp6' : 'udp4', lookup: familyLookup[ep.family] as never });
  let finished = false;
  let unwanted = 0;
  let caseTimer: NodeJS.Timeout | undefined;
  const finish = (err: Error | null, res?: Buffer) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    if (caseTimer) clearTimeout(caseTimer);
    sock.close(); // also discards whatever else arrives on this port
    upstreamSockets.release();
    done(err, res);
  };
  const timer = setTimeout(() => finish(new UpstreamError('timeout', `${address} did not answer within ${timeoutMs}ms`)), timeoutMs);
  sock.on('error', (e) => finish(networkError(e, address)));
  sock.on('message', (m) => {
    const c = checkReply(m, msg, questionEnd, guard.exactCase);
    if (c === Check.OK) { finish(null, m); return; }
    guard.counts[c]++;
    if (c === Check.CASE) {
      caseTimer ??= setTimeout(() => finish(new UpstreamError('case', `${address} did not echo the 0x20 letter case of the query name`, c)), CASE_GRACE_MS);
    } else if (!isUnwanted(c)) {
      finish(new UpstreamError('malformed', `${address} sent an invalid reply (${REASONS[c]})`, c));
    } else if (guard.unwantedLimit > 0 && ++unwanted > guard.unwantedLimit) {
      // Late replies go to sockets already closed: this many on a fresh port are forged.
      finish(new UpstreamError('spoofed', `${unwanted} replies with a wrong ID or question reached the query socket for ${address}`, c));
    }
  });
  // Bound and connected inline: connect()'s callback cost a 'connect' listener and a deferred
  // call per query (measured: misses 2.3 % cheaper without). bind() finishes at once with our
  // lookup, where bindSync() would also ask the kernel for the address; connectSync() throws what
  // connect() reported later (no route, not an IP address), so the query fails with its cause.
  sock.bind({ port: 0, exclusive: true });
  if (finished) return; // bind failed: reported to 'error' above
  try {
    sock.connectSync(ep.port, ep.host);
  } catch (e) {
    finish(networkError(e, address));
    return;
  }
  // The callback stays although it costs a process.nextTick per send: without one, Node drops
  // an error the kernel returns at once (EPERM from a firewall, ENETUNREACH), and the query
  // would time out instead of failing with its cause.
  sock.send(msg, (e) => { if (e) finish(networkError(e, address)); });
}

/** The same as a promise, for diagnostics and health probes (not the query path). */
export function exchangeUdp(ep: Endpoint, msg: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => queryUdp(ep, msg, questionEnd, timeoutMs, (err, res) => (err ? reject(err) : resolve(res!))));
}
