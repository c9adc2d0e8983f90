// Kubernetes Events on this node's Node object (`kubectl describe node` shows them),
// for what an operator must act on. Posted where kubelet posts its own node events
// (namespace "default", involvedObject.uid = the node name, as kubectl looks them up).
// Repeats of the same event are folded, and a token bucket caps the rate, so a
// flapping upstream on a thousand nodes cannot flood the API server.
import type { CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiError, type CoreCalls } from './client';

export type EventType = 'Normal' | 'Warning';

/** The reasons nodedns reports; the kubelet step reports KubeletConfigChanged / KubeletConfigNotChanged. */
export { REASONS } from './reasons';

export interface NodeEventsOptions {
  namespace?: string; // default "default"
  dedupWindowMs?: number; // same type+reason+message posted at most once per window (default 10 min)
  burst?: number; // events that may be posted at once (default 10)
  refillMs?: number; // one more allowed per this long (default 30 s)
  now?: () => number;
}

interface Seen {
  postedAt: number;
  suppressed: number;
}

const MAX_MESSAGE = 1024; // the API server truncates longer messages anyway
const MAX_KEYS = 1000;

export class NodeEvents {
  readonly namespace: string;
  private readonly dedupWindowMs: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;
  private readonly seen = new Map<string, Seen>();
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;
  private lastFailureLog = 0;
  posted = 0;
  dropped = 0;

  constructor(private readonly api: Pick<CoreCalls, 'createNamespacedEvent'>, readonly nodeName: string, private readonly log: Logger, o: NodeEventsOptions = {}) {
    this.namespace = o.namespace ?? 'default';
    this.dedupWindowMs = o.dedupWindowMs ?? 600_000;
    this.burst = o.burst ?? 10;
    this.refillMs = o.refillMs ?? 30_000;
    this.now = o.now ?? Date.now;
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Records an event; returns at once (the post happens in the background). */
  report(reason: string, message: string, type: EventType = 'Warning'): void {
    const now = this.now();
    const key = `${type}|${reason}|${message}`;
    const seen = this.seen.get(key);
    if (seen && now - seen.postedAt < this.dedupWindowMs) {
      seen.suppressed++;
      return;
    }
    if (!this.take(now)) {
      this.dropped++;
      this.log.debug({ reason }, 'event rate limit reached; event only logged');
      return;
    }
    const repeats = seen?.suppressed ?? 0;
    if (this.seen.size >= MAX_KEYS) this.seen.delete(this.seen.keys().next().value as string);
    this.seen.delete(key);
    this.seen.set(key, { postedAt: now, suppressed: 0 });
    const text = repeats > 0 ? `${message} (and ${repeats} more times in the last ${Math.round(this.dedupWindowMs / 60000)}m)` : message;
    const p = this.post(reason, text, type, now).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Waits for the posts in flight (tests, and a clean stop). */
  async flush(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private take(now: number): boolean {
    const add = Math.floor((now - this.refilledAt) / this.refillMs);
    if (add > 0) {
      this.tokens = Math.min(this.burst, this.tokens + add);
      this.refilledAt += add * this.refillMs;
    }
    if (this.tokens <= 0) return false;
    this.tokens--;
    return true;
  }

  private async post(reason: string, message: string, type: EventType, now: number): Promise<void> {
    const at = new Date(now);
    const body: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${this.nodeName}.${(now * 1000 + (this.seq++ % 1000)).toString(16)}`, namespace: this.namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Node', name: this.nodeName, uid: this.nodeName },
      reason,
      message: message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message,
      type,
      source: { component: 'nodedns', host: this.nodeName },
      reportingComponent: 'nodedns',
      reportingInstance: this.nodeName,
      firstTimestamp: at,
      lastTimestamp: at,
      count: 1,
    };
    try {
      await this.api.createNamespacedEvent({ namespace: this.namespace, body });
      this.posted++;
    } catch (e) {
      if (now - this.lastFailureLog > 60_000) {
        this.lastFailureLog = now;
        this.log.warn({ err: apiError(e), reason },
          `cannot post Events in namespace ${this.namespace}; check the RBAC Role that lets nodedns create events there`);
      }
    }
  }
}
