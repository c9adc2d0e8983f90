// Loop detection, run inside the agent (seed 000: an upstream that sends queries back to
// the node's own resolver). For every server nodedns forwards to, a query for a unique
// name under that server's zone goes straight to the server; if the same name then
// arrives at nodedns' listeners, the server (or something behind it) forwards to nodedns,
// and nodedns would forward it back: a loop. The probe is answered SERVFAIL on arrival,
// so the check itself never circles.
import { randomBytes } from 'node:crypto';
import type { Agent } from '../serve/agent';
import type { Handler, Reply } from '../serve/handler';
import type { RouteKind } from '../serve/router';
import { emptyReply } from '../wire/build';
import { RCODE } from '../wire/constants';
import { questionName, scanQuery, Verdict } from '../wire/query';
import { ask } from './ask';

export const PROBE_LABEL = 'nodedns-loop-check';

export interface LoopResult {
  zone: string; // '.' for the root
  kind: RouteKind;
  server: string;
  name: string; // the probe name
  loop: boolean;
  /** who sent the probe back to nodedns (client address), when it came back */
  cameBackFrom?: string;
  /** what the server answered the probe itself, or why it did not */
  answer: string;
  ms: number;
}

type Seen = (client: string) => void;

interface Tap {
  original: Handler['handle'];
  watched: Map<string, Seen>;
}

const taps = new WeakMap<Handler, Tap>();

/** Wraps handle() while probes are out; the hot path is untouched otherwise. */
function watch(handler: Handler, name: string, seen: Seen): () => void {
  let tap = taps.get(handler);
  if (!tap) {
    const original = handler.handle;
    const t: Tap = { original, watched: new Map() };
    handler.handle = function tapped(buf, tcp, v6, client, reply, peer) {
      const q = scanQuery(buf);
      if (q.verdict === Verdict.OK) {
        const cb = t.watched.get(questionName(buf, q.qnameEnd));
        if (cb) {
          cb(client);
          reply(emptyReply(buf, q, RCODE.SERVFAIL), peer);
          return true;
        }
      }
      return original.call(handler, buf, tcp, v6, client, reply as Reply<unknown>, peer);
    };
    taps.set(handler, t);
    tap = t;
  }
  tap.watched.set(name, seen);
  return () => {
    const t = taps.get(handler);
    if (!t) return;
    t.watched.delete(name);
    if (t.watched.size === 0) {
      handler.handle = t.original;
      taps.delete(handler);
    }
  };
}

function probeName(zone: string): string {
  const label = randomBytes(6).toString('hex');
  return zone ? `${label}.${PROBE_LABEL}.${zone}` : `${label}.${PROBE_LABEL}`;
}

/** Probes every server of every zone once, in parallel; `timeoutMs` bounds the whole check. */
export async function checkLoops(agent: Agent, timeoutMs = 3000): Promise<LoopResult[]> {
  const jobs: Promise<LoopResult>[] = [];
  const seenPools = new Set<unknown>();
  for (const r of agent.router.routes) {
    if (seenPools.has(r.pool)) continue;
    seenPools.add(r.pool);
    for (const u of r.pool.upstreams) jobs.push(probeOne(agent, r.zone, r.kind, u.ep, u.address, timeoutMs));
  }
  return Promise.all(jobs);
}

async function probeOne(agent: Agent, zone: string, kind: RouteKind, ep: Parameters<typeof ask>[0], address: string,
  timeoutMs: number): Promise<LoopResult> {
  const name = probeName(zone);
  let cameBackFrom: string | undefined;
  let wake: (() => void) | undefined;
  const back = new Promise<void>((res) => { wake = res; });
  const unwatch = watch(agent.handler, name, (client) => {
    cameBackFrom ??= client;
    wake?.();
  });
  const started = performance.now();
  try {
    const answer = ask(ep, name, 'TXT', { timeoutMs });
    // The probe usually comes back before the server answers (it waits on us); a short
    // grace after its answer catches a forwarder that answers first and forwards later.
    const first = await Promise.race([back.then(() => undefined), answer]);
    const a = first ?? (await Promise.race([answer, new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs))]));
    if (!cameBackFrom) await Promise.race([back, new Promise((r) => setTimeout(r, 100))]);
    const text = a === undefined ? 'no answer yet' : a.summary ? a.summary.rcode : `no answer: ${a.error}`;
    return { zone: zone || '.', kind, server: address, name, loop: cameBackFrom !== undefined, cameBackFrom, answer: text, ms: performance.now() - started };
  } finally {
    unwatch();
  }
}
