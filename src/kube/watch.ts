// Objects kept up to date with list-then-watch: the list gives a resourceVersion, the watch
// continues from it, an expired version (410 Gone, as an ERROR event or as the HTTP status)
// lists again, and a stream the server ends (its watch timeout) is watched again from the
// last version seen. When the list or the watch fails, it is started again after a growing
// delay; meanwhile the last known state stays in use.
import type { Logger } from 'pino';
import { ApiError, type KubeApi, type KubeObject, type WatchStream } from './api';
import { apiError } from './client';

export interface NamedWatchOptions<T extends KubeObject> {
  api: KubeApi;
  /** collection path, e.g. /api/v1/namespaces/kube-system/services */
  path: string;
  namespace: string;
  name: string;
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

export interface KeptWatchOptions<T extends KubeObject> {
  api: KubeApi;
  path: string;
  fieldSelector: string;
  /** what is watched, for the log ("kube-system/kube-dns", "pods of node-a") */
  what: string;
  /** what to do about a failure, for the log */
  hint?: string;
  /** after every successful list: the whole truth */
  onList: (items: T[]) => void;
  /** each change the watch reports after that list */
  onEvent: (type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T) => void;
  log: Logger;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/** The server ends a watch after this long (plus up to as much again, so that watches do not end together), as client-go asks. */
const WATCH_TIMEOUT_S = 300;
/** A stream that ends sooner than this is retried after the backoff, not at once: no tight loop against a broken server. */
const SHORT_STREAM_MS = 1000;

const isGone = (e: unknown) => e instanceof ApiError && e.code === 410;

/** One named object (a Service or a ConfigMap). */
export function watchNamed<T extends KubeObject>(o: NamedWatchOptions<T>): NamedWatch {
  return keepWatching<T>({
    api: o.api, path: o.path, fieldSelector: `metadata.name=${o.name}`, what: `${o.namespace}/${o.name}`, log: o.log,
    initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs,
    // the object, or its absence
    onList: (items) => o.onChange(items.find((i) => i.metadata?.name === o.name)),
    onEvent: (type, obj) => { if (obj.metadata?.name === o.name) o.onChange(type === 'DELETED' ? undefined : obj); },
  });
}

/** A collection (selected by fieldSelector) listed, then watched, and listed again after failures. */
export function keepWatching<T extends KubeObject>(o: KeptWatchOptions<T>): NamedWatch {
  const what = o.what;
  const fieldSelector = o.fieldSelector;
  const initial = o.initialBackoffMs ?? 1000;
  const max = o.maxBackoffMs ?? 30_000;
  let backoff = initial;
  let stopped = false;
  let ok = false;
  let timer: NodeJS.Timeout | undefined;
  let stream: WatchStream | undefined;
  let wake: () => void = () => {};
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((r) => { markSynced = r; });

  const later = (fn: () => void, ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(fn, ms);
    timer.unref();
  };

  const failed = (e: unknown) => {
    if (stopped) return;
    ok = false;
    markSynced();
    o.log.warn({ object: what, err: apiError(e), retryInMs: backoff }, `watching ${what} failed; retrying (the last known state stays in use)${o.hint ? `. ${o.hint}` : ''}`);
    later(() => void list(), backoff);
    backoff = Math.min(max, backoff * 2);
  };

  /** Watches from `rv` until the stream ends; resolves with the version to go on from, or undefined to list again. */
  const watchFrom = async (rv: string): Promise<string | undefined> => {
    let gone = false;
    let error: ApiError | undefined;
    stream = o.api.watch<T>(o.path, {
      fieldSelector, resourceVersion: rv, allowWatchBookmarks: true,
      timeoutSeconds: Math.round(WATCH_TIMEOUT_S * (1 + Math.random())),
    }, (type, obj) => {
      if (stopped || gone || error) return;
      if (type === 'ERROR') {
        const status = obj as { code?: unknown; message?: unknown };
        if (status.code === 410) gone = true;
        else error = new ApiError(Number(status.code) || 500, obj, `watch error: ${String(status.message ?? 'no message')}`);
        stream?.abort();
        return;
      }
      rv = obj.metadata?.resourceVersion ?? rv;
      if (type === 'BOOKMARK') return;
      o.onEvent(type, obj);
    });
    try {
      await stream.done;
    } catch (e) {
      if (isGone(e)) return undefined;
      throw e;
    }
    if (error) throw error;
    return gone ? undefined : rv;
  };

  const list = async (): Promise<void> => {
    if (stopped) return;
    try {
      const l = await o.api.list<T>(o.path, { fieldSelector });
      if (stopped) return;
      ok = true;
      backoff = initial;
      markSynced();
      o.onList(l.items);
      let rv: string | undefined = l.metadata?.resourceVersion ?? '';
      while (!stopped && rv !== undefined) {
        const started = performance.now();
        rv = await watchFrom(rv);
        if (rv !== undefined && performance.now() - started < SHORT_STREAM_MS && !stopped) {
          // ended at once: wait before the next, as after a failure
          await new Promise<void>((r) => { wake = r; later(r, backoff); });
          backoff = Math.min(max, backoff * 2);
        }
      }
      if (!stopped) void list(); // 410 Gone: the version is too old; list again
    } catch (e) {
      failed(e);
    }
  };
  void list();

  return {
    synced,
    healthy: () => ok,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      wake();
      stream?.abort();
      await stream?.done.catch(() => {});
    },
  };
}
