// Where the query path meets search completion (src/serve/handler.ts calls these two).
import type { AnswerCache } from '../cache/answer-cache';
import { clockNow, monotonicMs } from '../cache/clock';
import { render } from '../cache/render';
import type { Handler, Reply } from '../serve/handler';
import { emptyReply } from '../wire/build';
import { HEADER_LEN, RCODE, TYPE } from '../wire/constants';
import { questionName, type Query } from '../wire/query';
import { complete, fromMemo, resolvePlain, type Completed } from './completion';
import { endsInWire, restOfPath, type SearchPath } from './search-path';
import type { PodView } from './table';

/**
 * Whether a query of a pod whose search path is known goes the completion way: A or AAAA,
 * no DNSSEC (a synthesised CNAME has no signature), a name in the pod's first search
 * domain, and not already known to exist (a cached positive answer is served as always).
 */
export function completes(cache: AnswerCache, buf: Buffer, q: Query, path: SearchPath, now: number): boolean {
  if ((q.qtype !== TYPE.A && q.qtype !== TYPE.AAAA) || q.cd || q.dnssecOk) return false;
  if (!endsInWire(buf, HEADER_LEN, q.qnameEnd, path.firstWire)) return false;
  const e = cache.fresh(q.key, now);
  return e === undefined || e.rcode === RCODE.NXDOMAIN;
}

/** Answers `q` (this query's own copy) for `pod`: completed when the path allows, else as today. */
export function completeForPod<P>(h: Handler, pod: PodView, buf: Buffer, q: Query, maxSize: number, tcp: boolean, client: string,
  reply: Reply<P>, peer: P, started: number): void {
  const name = questionName(buf, q.qnameEnd);
  const now = monotonicMs();
  const memo = h.pods!.memo;
  const exhausted = pod.counters.wasExhausted(name, now);
  // a memo entry exists only for a name whose path was walked (restOfPath said yes) with this very search list
  const fast = exhausted ? undefined : fromMemo(h.cache, buf, q, name, maxSize, memo, pod.path!.key);
  // each walk costs up to two upstream questions per name of the path: one pod gets a bounded number at once
  const busy = pod.counters.walking >= h.pods!.snapshot.walks;
  const rest = exhausted || fast || busy ? undefined : restOfPath(pod.path!, name);
  const finish = (c: Completed) => {
    if (c.out) pod.counters.completions++;
    const typed = c.exhausted ? (rest ?? restOfPath(pod.path!, name))?.at(-1) : undefined;
    if (typed !== undefined) pod.counters.noteExhausted(typed, now);
    const out = c.out ?? render(c.own.entry, buf, q, clockNow(), maxSize, c.own.stale, h.nsid);
    pod.counters.answered(q.key, out[3] & 0x0f);
    h.send(out, reply, peer, started);
    if (h.queryLog) h.log(buf, q, client, tcp, out[3] & 0x0f, c.out ? 'completed' : 'miss', c.target, started);
  };
  if (fast) { finish(fast); return; }
  if (rest) pod.counters.walking++;
  const run: Promise<Completed> = rest
    ? complete(h.cache, h.resolver, buf, q, name, rest, maxSize, memo, pod.path!.key).finally(() => { pod.counters.walking--; })
    : resolvePlain(h.cache, h.resolver, name, q.qtype, { query: buf, q }).then((own) => ({ own }));
  run.then(finish).catch((err: Error) => {
    h.onError?.(err);
    h.send(emptyReply(buf, q, RCODE.SERVFAIL), reply, peer, started);
  });
}
