// With --workers N (N > 1), the process that owns the node setup forks the workers that
// serve (Node's cluster module). Workers share the listening sockets through this
// process: UDP sockets bound with exclusive: false, and TCP listeners with SCHED_NONE
// (each worker accepts itself). Shared handles rather than reusePort, because with one
// kernel socket shared by every worker, a worker's death leaves the socket and its queue
// to the others: what was queued is answered by them. With reusePort each worker has a
// socket and a queue of its own, and the datagrams queued on a dead worker's socket die
// with it.
//
// Cluster closes a shared socket once the last worker holding it is gone, when that
// worker's IPC channel drops (before its `exit` event). The NOTRACK rules are in place
// exactly while at least one worker is ready. When the last ready worker dies (crash,
// OOM kill, SIGKILL): with kernel-held steering the pods' rule stops matching by itself
// the moment the socket closes, and NOTRACK is removed right after (for the node's own
// queries); with managed steering it is removed synchronously from a `disconnect`
// handler that runs before cluster's own, so no query meets the closed socket. Either
// way the datagrams still queued in that socket are lost. The worker is restarted and
// NOTRACK returns when it reports ready.
//
// Messages: worker -> primary {type:'ready'}, {type:'leaving'} (it got SIGTERM),
// primary -> worker {type:'reconfigure', config} (a live change, e.g. from a ConfigMap),
// {type:'stop', drainMs, settleMs}, {type:'notrack-off', commands} (what to run if this
// process dies, see worker.ts). The node counters live here, where /metrics is served.
import { spawnSync } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { PodsSnapshot } from '../pods/table';
import type { Config } from '../config/types';
import { nodeCounters } from './counters';
import { NODE_FLAGS } from '../node-flags';
import { NO_FALLBACK, type NodeSetup } from './setup';
import { notrackOffCommands } from './firewall/firewall';

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  node: NodeSetup | undefined;
  /** time a stopping worker waits for queries in flight */
  drainMs?: number;
  /** time a stopping worker keeps reading after NOTRACK is gone, for packets already queued */
  settleMs?: number;
  /** a worker became ready: give it what changed since start (the live configuration) */
  onWorkerReady?: (send: (m: PrimaryMessage) => void) => void;
  /** a worker found an upstream that loops back to nodedns */
  onLoop?: (message: string) => void;
  /** DNS moved to the fallback (no worker ready) or back to nodedns */
  onFallback?: (active: boolean, why: string) => void;
}

export type WorkerMessage =
  | { type: 'ready' }
  | { type: 'leaving' }
  | { type: 'loop'; message: string }; // an upstream sends our queries back to us


export type PrimaryMessage =
  | { type: 'stop'; drainMs: number; settleMs: number }
  | { type: 'reconfigure'; config: Config }
  | { type: 'pods'; snapshot: PodsSnapshot } // this node's pods (src/pods/)
  | { type: 'notrack-off'; commands: { cmd: string; args: string[]; input: string }[] };

const MAX_BACKOFF_MS = 10_000;

export class Supervisor {
  private ready = new Set<number>();
  /** workers whose IPC channel dropped (dying) but whose exit is not handled yet */
  private disconnected = new Set<number>();
  private fallbackActive = false;
  private everReady = false;
  private stopping = false;
  private restarts = new Map<number, number>(); // slot -> consecutive quick deaths
  private slots = new Map<number, number>(); // worker id -> slot
  private startedAt = new Map<number, number>();
  private firstFailure: ((code: number) => void) | undefined;
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;

  constructor(private readonly o: SupervisorOptions) {
    this.done = new Promise((r) => { this.resolveDone = r; });
  }

  /** Forks the workers; resolves once one is ready, rejects (with its exit code) if the first start fails. */
  start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE; // must be set before the first fork
    // workers are the serving processes: give them nodedns' V8 flags however the supervisor was started
    const given = (f: string) => [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((a) => a.startsWith(f.split('=')[0]));
    const execArgv = [...process.execArgv, ...NODE_FLAGS.filter((f) => !given(f))];
    cluster.setupPrimary({ execArgv });
    cluster.on('message', (w, m: WorkerMessage) => this.onMessage(w, m));
    cluster.on('exit', (w, code, signal) => this.onExit(w, code, signal));
    for (let slot = 0; slot < this.o.config.workers; slot++) this.fork(slot);
    return new Promise((resolve, reject) => {
      const t = setInterval(() => { if (this.everReady) { clearInterval(t); resolve(); } }, 20);
      this.firstFailure = (code) => { clearInterval(t); reject(Object.assign(new Error(`worker exited with code ${code} before it was ready`), { exitCode: code })); };
    });
  }

  private fork(slot: number): void {
    const w = cluster.fork({ NODEDNS_WORKER_SLOT: String(slot) });
    this.slots.set(w.id, slot);
    this.startedAt.set(w.id, Date.now());
    const cmds = this.o.node?.firewall ? notrackOffCommands(this.o.node.firewall.backend, this.o.config.localIps) : [];
    // Runs before cluster's own disconnect handler, which closes the shared sockets when
    // no worker holds them any more: when the last ready worker dies, NOTRACK goes
    // synchronously (~10 ms) first. The async path in onExit then does the bookkeeping.
    w.process.prependListener('disconnect', () => {
      this.disconnected.add(w.id);
      // Kernel-held steering sends pods to the fallback the moment cluster closes the
      // socket; running iptables first would only hold the socket open (and queries in
      // it) that much longer. The node's own queries get it from the async path in onExit.
      if (this.o.node?.steering === 'kernel') return;
      const othersServing = [...this.ready].some((id) => !this.disconnected.has(id));
      if (this.stopping || cmds.length === 0 || !this.ready.has(w.id) || othersServing) return;
      for (const c of cmds) spawnSync(c.cmd, c.args, { input: c.input, timeout: 5000, stdio: ['pipe', 'ignore', 'ignore'] });
    });
    // A message sent to a worker that is dying fails with EPIPE, emitted on the Worker:
    // unhandled, it would take the supervisor (and the node's DNS) down with it.
    w.on('error', (e: Error) => this.o.log.debug({ worker: w.process.pid, err: e.message }, 'IPC to a worker failed (it is exiting)'));
    w.on('online', () => {
      if (cmds.length > 0) this.send(w, { type: 'notrack-off', commands: cmds });
    });
  }

  private send(w: Worker, m: PrimaryMessage): void {
    if (w.isConnected()) w.send(m, (e: Error | null) => { if (e) this.o.log.debug({ err: e.message }, 'message to worker lost'); });
  }

  private onMessage(w: Worker, m: WorkerMessage): void {
    if (m?.type === 'ready') {
      this.ready.add(w.id);
      this.everReady = true;
      this.o.onWorkerReady?.((msg) => this.send(w, msg));
      if (this.ready.size === 1 && this.fallbackActive) {
        this.fallbackActive = false;
        this.o.onFallback?.(false, 'a worker is serving again');
      }
      this.restarts.set(this.slots.get(w.id) ?? 0, 0);
      nodeCounters.workersReady = this.ready.size;
      this.o.log.info({ worker: w.process.pid, ready: this.ready.size, of: this.o.config.workers }, 'worker ready');
      if (!this.stopping) void this.o.node?.setServing(true);
    } else if (m?.type === 'loop' && typeof m.message === 'string') {
      this.o.onLoop?.(m.message);
    } else if (m?.type === 'leaving') {
      // a worker was told to stop by someone else: take its traffic away before it closes
      void this.dropReady(w.id).then(() => this.send(w, { type: 'stop', drainMs: this.o.drainMs ?? 5000, settleMs: this.o.settleMs ?? 150 }));
    }
  }

  /** Forgets a worker as ready; removes NOTRACK first when it was the last one. */
  private async dropReady(id: number): Promise<void> {
    const was = this.ready.delete(id);
    nodeCounters.workersReady = this.ready.size;
    if (was && this.ready.size === 0) {
      if (!this.stopping) {
        this.fallbackActive = true;
        this.o.onFallback?.(true, 'no nodedns worker is serving on this node; DNS goes to the cluster DNS through the fallback rules until one is back');
      }
      await this.o.node?.setServing(false);
    }
  }

  /** Sends a message to every live worker. */
  broadcast(m: PrimaryMessage): void {
    for (const w of Object.values(cluster.workers ?? {})) if (w && !w.isDead()) this.send(w, m);
  }

  private onExit(w: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.get(w.id) ?? 0;
    const lived = Date.now() - (this.startedAt.get(w.id) ?? Date.now());
    this.slots.delete(w.id);
    this.startedAt.delete(w.id);
    this.disconnected.delete(w.id);
    const removal = this.dropReady(w.id);
    if (this.stopping) return;
    if (!this.everReady) {
      this.o.log.error({ worker: w.process.pid, code, signal }, 'worker failed before serving; stopping (see its error above)');
      this.firstFailure?.(code ?? 1);
      return;
    }
    const quick = lived < 10_000 ? (this.restarts.get(slot) ?? 0) + 1 : 0;
    this.restarts.set(slot, quick);
    const delay = quick <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, 250 * 2 ** (quick - 2));
    nodeCounters.workerRestarts++;
    this.o.log.error({ worker: w.process.pid, code, signal, restartInMs: delay, ready: this.ready.size },
      `worker died (${signal ?? `exit code ${code}`}); ${this.ready.size === 0 ? 'the fallback serves DNS until it is back; ' : ''}restarting it`);
    void removal.then(() => {
      setTimeout(() => { if (!this.stopping) this.fork(slot); }, delay);
    });
  }

  /** Clean stop: NOTRACK off (fallback takes over), workers drain and exit, the rest stays. */
  async stop(reason: string): Promise<void> {
    if (this.stopping) return this.done.then(() => undefined);
    this.stopping = true;
    const log = this.o.log;
    const t0 = Date.now();
    const fallback = this.o.node?.hasFallback ?? false;
    log.info({ reason }, `stopping: ${fallback ? 'handing DNS to the fallback, then finishing' : 'finishing'} queries in flight`);
    this.ready.clear();
    nodeCounters.workersReady = 0;
    await this.o.node?.setServing(false);
    const drainMs = this.o.drainMs ?? 5000;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
    const exits = workers.map((w) => new Promise<void>((r) => {
      if (w.isDead()) return r();
      w.once('exit', () => r());
      this.send(w, { type: 'stop', drainMs, settleMs: this.o.settleMs ?? 150 });
    }));
    const killer = setTimeout(() => {
      for (const w of workers) if (!w.isDead()) { log.warn({ worker: w.process.pid }, 'worker did not stop in time; killing it'); w.process.kill('SIGKILL'); }
    }, drainMs + 3000);
    await Promise.all(exits);
    clearTimeout(killer);
    await this.o.node?.stop();
    log.info({ ms: Date.now() - t0 }, fallback ? 'stopped; the fallback rules stay in place until nodedns starts again (nodedns teardown removes them)'
      : `stopped; ${NO_FALLBACK} until nodedns starts again`);
    this.resolveDone(0);
  }
}
