// Objects kept up to date with the client library's list-then-watch: the list gives a
// resourceVersion, the watch continues from it, an expired version (410 Gone) makes the
// library list again. When the list or the watch fails, it is started again after a
// growing delay; meanwhile the last known state stays in use.
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiError } from './client';

export interface NamedWatchOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** collection path, e.g. /api/v1/namespaces/kube-system/services */
  path: string;
  namespace: string;
  name: string;
  list: (fieldSelector: string) => Promise<KubernetesListObject<T>>;
  /** the object, or undefined when it does not exist (also called after every successful list) */
  onChange: (obj: T | undefined) => void;
  log: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface NamedWatch {
  /** resolves once the first list answered (or failed): the object's state is known or unknown */
  readonly synced: Promise<void>;
  /** true while the last list and watch worked */
  healthy(): boolean;
  stop(): Promise<void>;
}

export interface KeptWatchOptions<T extends KubernetesObject> {
  path: string;
  watch: Watch;
  fieldSelector: string;
  /** what is watched, for the log ("kube-system/kube-dns", "pods of node-a") */
  what: string;
  /** what to do about a failure, for the log */
  hint?: string;
  list: (fieldSelector: string) => Promise<KubernetesListObject<T>>;
  /** after every successful list, with its items */
  onList: (items: T[]) => void;
  log: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** A ListWatch that is restarted after failures; `lw` is for adding event handlers and reading objects. */
export function keepWatching<T extends KubernetesObject>(o: KeptWatchOptions<T>): NamedWatch & { lw: ListWatch<T> } {
  const initial = o.initialBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 30_000;
  let backoff = initial;
  let stopped = false;
  let ok = false;
  let failedThisRound = false;
  let timer: NodeJS.Timeout | undefined;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((r) => { markSynced = r; });

  const lw = new ListWatch<T>(o.path, o.watch, async () => {
    const list = await o.list(o.fieldSelector);
    // a fresh list is the whole truth
    queueMicrotask(() => {
      if (stopped) return;
      ok = true;
      backoff = initial;
      markSynced();
      o.onList(list.items);
    });
    return list;
  }, false, undefined, o.fieldSelector);

  lw.on('error', (err) => {
    if (stopped) return;
    ok = false;
    failedThisRound = true;
    markSynced();
    o.log.warn({ object: o.what, err: apiError(err), retryInMs: backoff }, `watching ${o.what} failed; retrying (the last known state stays in use)${o.hint ? `. ${o.hint}` : ''}`);
    clearTimeout(timer);
    timer = setTimeout(() => void begin(), backoff);
    timer.unref();
    backoff = Math.min(max, backoff * 2);
  });

  const begin = async () => {
    if (stopped) return;
    failedThisRound = false;
    try {
      await lw.start();
    } catch (e) {
      // start() reports through the error callback; anything else is a bug in the watch setup
      if (!failedThisRound) o.log.error({ object: o.what, err: apiError(e) }, `cannot watch ${o.what}`);
    }
  };
  void begin();

  return {
    lw,
    synced,
    healthy: () => ok,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await lw.stop();
    },
  };
}

/** One named object (a Service or a ConfigMap). */
export function watchNamed<T extends KubernetesObject>(o: NamedWatchOptions<T>): NamedWatch {
  const what = `${o.namespace}/${o.name}`;
  let stopped = false;
  const kept = keepWatching<T>({
    path: o.path, watch: new Watch(o.kc), fieldSelector: `metadata.name=${o.name}`, what, list: o.list, log: o.log,
    initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs,
    // the object, or its absence
    onList: (items) => o.onChange(items.find((i) => i.metadata?.name === o.name)),
  });
  const changed = (obj: T) => { if (!stopped && obj.metadata?.name === o.name) o.onChange(obj); };
  kept.lw.on('add', changed);
  kept.lw.on('update', changed);
  kept.lw.on('delete', (obj) => { if (!stopped && obj.metadata?.name === o.name) o.onChange(undefined); });
  return {
    synced: kept.synced,
    healthy: kept.healthy,
    stop: async () => { stopped = true; await kept.stop(); },
  };
}
