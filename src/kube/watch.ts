// One named object (a Service or a ConfigMap) kept up to date with the client library's
// list-then-watch: the list gives a resourceVersion, the watch continues from it, an
// expired version (410 Gone) makes the library list again. When the list or the watch
// fails, it is started again after a growing delay.
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

export function watchNamed<T extends KubernetesObject>(o: NamedWatchOptions<T>): NamedWatch {
  const what = `${o.namespace}/${o.name}`;
  const fieldSelector = `metadata.name=${o.name}`;
  const initial = o.initialBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 30_000;
  let backoff = initial;
  let stopped = false;
  let ok = false;
  let failedThisRound = false;
  let timer: NodeJS.Timeout | undefined;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((r) => { markSynced = r; });

  const lw = new ListWatch<T>(o.path, new Watch(o.kc), async () => {
    const list = await o.list(fieldSelector);
    // a fresh list is the whole truth: report the object, or its absence
    queueMicrotask(() => {
      if (stopped) return;
      ok = true;
      backoff = initial;
      markSynced();
      o.onChange(list.items.find((i) => i.metadata?.name === o.name));
    });
    return list;
  }, false, undefined, fieldSelector);

  const changed = (obj: T) => { if (!stopped && obj.metadata?.name === o.name) o.onChange(obj); };
  lw.on('add', changed);
  lw.on('update', changed);
  lw.on('delete', (obj) => { if (!stopped && obj.metadata?.name === o.name) o.onChange(undefined); });
  lw.on('error', (err) => {
    if (stopped) return;
    ok = false;
    failedThisRound = true;
    markSynced();
    o.log.warn({ object: what, err: apiError(err), retryInMs: backoff }, `watching ${what} failed; retrying (the last known state stays in use)`);
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
      if (!failedThisRound) o.log.error({ object: what, err: apiError(e) }, `cannot watch ${what}`);
    }
  };
  void begin();

  return {
    synced,
    healthy: () => ok,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await lw.stop();
    },
  };
}
