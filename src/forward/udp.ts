// One query over UDP from a fresh socket: a new random source port every time, and
// the socket is connected so the kernel drops datagrams from anyone but the upstream.
// No promises on the query path: each promise layer between a reply and the client's answer
// cost microtask turns (four async layers added ~20 µs of CPU to a bare Node.js forwarder's
// 82 µs miss), and a closure per layer cost allocation; each layer reports to the record of
// the layer above (docs/cache.md, "The hit path and the miss path").
import { createSocket, type Socket } from 'node:dgram';
import type { Endpoint } from '../config/types';
import { Check, checkReply, isUnwanted, REASONS } from '../wire/validate';
import { FD_ADVICE, UpstreamError, networkError } from './errors';
import { familyLookup } from './ip-lookup';
import { upstreamSockets } from './sockets';


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

/** What hears of a query's end, once: with the reply, or with why there is none. A method, so a miss makes no closure. */
export interface ReplySink {
  onReply(err: Error | null, res?: Buffer): void;
}

/** Where a socket's listeners find their query: shared functions, not closures per query. */
const QUERY = Symbol('nodedns.udpQuery');
type QuerySocket = Socket & { [QUERY]: UdpQuery };

function onMessage(this: QuerySocket, m: Buffer): void {
  this[QUERY].message(m);
}

function onError(this: QuerySocket, e: Error): void {
  const q = this[QUERY];
  q.finish(networkError(e, q.address));
}

function onTimeout(q: UdpQuery): void {
  q.finish(new UpstreamError('timeout', `${q.address} did not answer within ${q.timeoutMs}ms`));
}

function onCaseGrace(q: UdpQuery): void {
  q.finish(new UpstreamError('case', `${q.address} did not echo the 0x20 letter case of the query name`, Check.CASE));
}

/** One query's socket, timers and screening: one record, its listeners shared (above). */
class UdpQuery {
  private finished = false;
  private unwanted = 0;
  private caseTimer: NodeJS.Timeout | undefined = undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly sock: QuerySocket, private readonly msg: Buffer, private readonly questionEnd: number, readonly timeoutMs: number,
    private readonly done: ReplySink, private readonly guard: ReplyGuard, readonly address: string) {
    sock[QUERY] = this;
    this.timer = setTimeout(onTimeout, timeoutMs, this);
    sock.on('error', onError);
    sock.on('message', onMessage);
  }

  get isFinished(): boolean {
    return this.finished;
  }

  message(m: Buffer): void {
    const guard = this.guard;
    const c = checkReply(m, this.msg, this.questionEnd, guard.exactCase);
    if (c === Check.OK) { this.finish(null, m); return; }
    guard.counts[c]++;
    if (c === Check.CASE) {
      this.caseTimer ??= setTimeout(onCaseGrace, CASE_GRACE_MS, this);
    } else if (!isUnwanted(c)) {
      this.finish(new UpstreamError('malformed', `${this.address} sent an invalid reply (${REASONS[c]})`, c));
    } else if (guard.unwantedLimit > 0 && ++this.unwanted > guard.unwantedLimit) {
      // Late replies go to sockets already closed: this many on a fresh port are forged.
      this.finish(new UpstreamError('spoofed', `${this.unwanted} replies with a wrong ID or question reached the query socket for ${this.address}`, c));
    }
  }

  finish(err: Error | null, res?: Buffer): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    if (this.caseTimer !== undefined) clearTimeout(this.caseTimer);
    this.sock.close(); // also discards whatever else arrives on this port
    upstreamSockets.release();
    this.done.onReply(err, res);
  }
}

/** `address` is endpointAddress(ep), passed in by the hot path so that a miss builds no string. */
export function queryUdp(ep: Endpoint, msg: Buffer, questionEnd: number, timeoutMs: number, done: ReplySink, guard = LENIENT,
  address = endpointAddress(ep)): void {
  if (!upstreamSockets.acquire()) {
    done.onReply(new UpstreamError('fds', `${upstreamSockets.open} upstream sockets open, the most the open-files limit allows with --fd-reserve free: ${FD_ADVICE}`));
    return;
  }
  const sock = createSocket({ type: ep.family === 6 ? 'udp6' : 'udp4', lookup: familyLookup[ep.family] as never }) as QuerySocket;
  const q = new UdpQuery(sock, msg, questionEnd, timeoutMs, done, guard, address);
  // Bound and connected inline: connect()'s callback cost a 'connect' listener and a deferred
  // call per query (measured: misses 2.3 % cheaper without). bind() finishes at once with our
  // lookup; bindSync() (what connectSync() calls on an unbound socket) also asks the kernel for
  // the address and defers a 'listening' event: misses cost 4 % more that way. connectSync()
  // throws what connect() reported later (no route, not an IP address), so the query fails with its cause.
  sock.bind({ port: 0, exclusive: true });
  if (q.isFinished) return; // bind failed: reported to 'error' above
  try {
    sock.connectSync(ep.port, ep.host);
  } catch (e) {
    q.finish(networkError(e, address));
    return;
  }
  // The callback stays although it costs a process.nextTick per send: without one, Node drops
  // an error the kernel returns at once (EPERM from a firewall, ENETUNREACH), and the query
  // would time out instead of failing with its cause.
  sock.send(msg, (e) => { if (e) q.finish(networkError(e, address)); });
}

/** The same as a promise, for diagnostics and health probes (not the query path). */
export function exchangeUdp(ep: Endpoint, msg: Buffer, questionEnd: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => queryUdp(ep, msg, questionEnd, timeoutMs, { onReply: (err, res) => (err ? reject(err) : resolve(res!)) }));
}
