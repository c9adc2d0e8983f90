// Where /metrics and /ready get the serving state from: the agent in this process, or
// (with --workers N) every worker, asked over the cluster IPC channel and summed.
//
// Why IPC snapshots rather than prom-client's AggregatorRegistry: the hot path only bumps
// plain counters (Stats) and never touches prom-client, so a worker has no registry to
// aggregate; a snapshot of those counters is a few KB of JSON, and summing them in the
// primary keeps every metric (histograms included) exact across workers. Readiness
// travels in the same message, so /ready and /metrics see the same processes.
import type { Agent } from '../serve/agent';
import { countersOnly, emptySnapshot, mergeSnapshots, takeSnapshot, type Snapshot } from './snapshot';

export interface ServingState {
  snapshot: Snapshot;
  ready: boolean;
  missing: string[];
}

export type StateSource = () => Promise<ServingState>;

/** The agent in this process (undefined while it starts: not ready, listeners not bound). */
export function localSource(getAgent: () => Agent | undefined): StateSource {
  return async () => {
    const agent = getAgent();
    if (!agent) return { snapshot: emptySnapshot(), ready: false, missing: ['listeners not bound (starting)'] };
    const r = agent.readiness();
    return { snapshot: takeSnapshot(agent), ready: r.ready, missing: r.missing };
  };
}

// ---- worker side -------------------------------------------------------------------

export const SNAPSHOT_REQUEST = 'nodedns-observe:snapshot-request';
export const SNAPSHOT_REPLY = 'nodedns-observe:snapshot';

interface Request { type: typeof SNAPSHOT_REQUEST; seq: number }
interface Reply { type: typeof SNAPSHOT_REPLY; seq: number; snapshot: Snapshot; ready: boolean; missing: string[] }

/** Something that sends and receives IPC messages: a cluster Worker, a forked ChildProcess, or `process` in a worker. */
export interface IpcPeer {
  send?(message: unknown): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * In a worker: answer the primary's snapshot requests with this agent's state.
 * `peer` is `process` (the default). Returns a function that stops answering.
 */
export function answerSnapshotRequests(getAgent: () => Agent | undefined, peer: IpcPeer = process as unknown as IpcPeer): () => void {
  const source = localSource(getAgent);
  const onMessage = (m: unknown) => {
    if (!m || typeof m !== 'object' || (m as Request).type !== SNAPSHOT_REQUEST) return;
    const seq = (m as Request).seq;
    void source().then((s) => {
      const reply: Reply = { type: SNAPSHOT_REPLY, seq, snapshot: s.snapshot, ready: s.ready, missing: s.missing };
      try { peer.send?.(reply); } catch { /* the primary is gone; nothing to answer */ }
    });
  };
  peer.on('message', onMessage);
  return () => { peer.off('message', onMessage); };
}

// ---- primary side ------------------------------------------------------------------

export interface WorkerHandle extends IpcPeer {
  /** how the worker is named in /ready ("worker 2") */
  name: string;
}

/**
 * In the primary: ask every worker for its snapshot (at most `timeoutMs`, under a kubelet
 * probe's default 1 s), sum them, and call the node ready only when `expected` workers
 * answered and each one is ready. Concurrent callers share one round of requests.
 *
 * The sums never go backwards: a worker that does not answer in time still counts with
 * its last snapshot, and the counters of a worker that died are kept (a restarted worker
 * starts from zero under a new name). Otherwise a worker's death would look like a counter
 * reset of the whole node to Prometheus, and rate() would show a spike.
 */
export function workerSource(workers: () => WorkerHandle[], expected: () => number, timeoutMs = 500): StateSource {
  let seq = 0;
  let inflight: Promise<ServingState> | undefined;
  const last = new Map<string, Snapshot>(); // by worker name: its latest snapshot
  let retired: Snapshot | undefined; // counters of workers that are gone
  const ask = (w: WorkerHandle, n: number): Promise<Reply | string> => new Promise((resolve) => {
    const onMessage = (m: unknown) => {
      if (m && typeof m === 'object' && (m as Reply).type === SNAPSHOT_REPLY && (m as Reply).seq === n) done(m as Reply);
    };
    const timer = setTimeout(() => done(`${w.name} did not answer within ${timeoutMs} ms (busy or stuck)`), timeoutMs);
    const done = (r: Reply | string) => { clearTimeout(timer); w.off('message', onMessage); resolve(r); };
    w.on('message', onMessage);
    try {
      if (!w.send?.({ type: SNAPSHOT_REQUEST, seq: n } satisfies Request)) done(`${w.name} is not connected`);
    } catch {
      done(`${w.name} is not connected`);
    }
  });
  const gather = async (): Promise<ServingState> => {
    const list = workers();
    const n = ++seq;
    const replies = await Promise.all(list.map((w) => ask(w, n)));
    const snapshots: Snapshot[] = [];
    const missing: string[] = [];
    let readyCount = 0;
    replies.forEach((r, i) => {
      const name = list[i].name;
      if (typeof r === 'string') {
        missing.push(r);
        const seen = last.get(name);
        if (seen) snapshots.push(countersOnly(seen));
        return;
      }
      last.set(name, r.snapshot);
      snapshots.push(r.snapshot);
      if (r.ready) readyCount++;
      else for (const m of r.missing) missing.push(`${name}: ${m}`);
    });
    const listed = new Set(list.map((w) => w.name));
    for (const [name, s] of last) {
      if (listed.has(name)) continue;
      retired = retired ? mergeSnapshots([retired, countersOnly(s)]) : countersOnly(s);
      last.delete(name);
    }
    if (retired) snapshots.push(retired);
    const want = expected();
    if (list.length < want) missing.push(`${want - list.length} of ${want} workers not running (restarting?)`);
    return { snapshot: snapshots.length > 0 ? mergeSnapshots(snapshots) : emptySnapshot(), ready: readyCount >= want && missing.length === 0, missing };
  };
  return () => {
    inflight ??= gather().finally(() => { inflight = undefined; });
    return inflight;
  };
}
