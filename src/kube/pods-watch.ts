// The pods of this node (fieldSelector spec.nodeName=<node>), kept through the same
// list-then-watch as the Services and ConfigMaps (src/kube/watch.ts): 410 Gone lists
// again, failures retry with a growing delay, and meanwhile the last known pods stay in
// use. Each object is cut down to the fields nodedns uses before the library stores it,
// so a pod's size (labels, annotations, container specs) costs nothing here.
import { Watch, type KubeConfig, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { podRecord, type PodRecord } from '../pods/record';
import { keepWatching, type NamedWatch } from './watch';

export interface PodsWatchOptions {
  kc: KubeConfig;
  node: string;
  list: (fieldSelector: string) => Promise<V1PodList>;
  /** every change, batched: the whole set of this node's pods as last known */
  onPods: (pods: PodRecord[]) => void;
  log: Logger;
  /** pods kept at most (--pod-max); the newest win */
  max: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  batchMs?: number;
}

/** Only what nodedns reads of a pod. */
export function slimPod(p: V1Pod): V1Pod {
  const m = p.metadata ?? {};
  return {
    metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion,
      creationTimestamp: m.creationTimestamp, deletionTimestamp: m.deletionTimestamp },
    spec: p.spec ? { containers: [], hostNetwork: p.spec.hostNetwork, dnsPolicy: p.spec.dnsPolicy, dnsConfig: p.spec.dnsConfig } : undefined,
    status: p.status ? { phase: p.status.phase, podIP: p.status.podIP, podIPs: p.status.podIPs } : undefined,
  };
}

export function watchPods(o: PodsWatchOptions): NamedWatch {
  let stopped = false;
  let batch: NodeJS.Timeout | undefined;
  let warnedCap = false;

  const w = new Watch(o.kc);
  const slimWatch = {
    watch: (path: string, params: Record<string, string | number | boolean | undefined>, cb: (phase: string, obj: unknown, raw: unknown) => void, done: (err: unknown) => void) =>
      w.watch(path, params, (phase, obj, raw) => cb(phase, phase === 'ERROR' || phase === 'BOOKMARK' ? obj : slimPod(obj as V1Pod), raw), done),
  } as unknown as Watch;

  const publish = () => {
    batch = undefined;
    if (stopped) return;
    let pods = kept.lw.list().map(podRecord).filter((p): p is PodRecord => p !== undefined);
    if (pods.length > o.max) {
      if (!warnedCap) o.log.warn({ pods: pods.length, max: o.max }, `this node has more pods than --pod-max (${o.max}); the oldest are not attributed. Raise --pod-max`);
      warnedCap = true;
      pods = pods.sort((a, b) => b.createdMs - a.createdMs).slice(0, o.max);
    }
    o.onPods(pods);
  };
  const changed = () => {
    if (stopped || batch) return;
    batch = setTimeout(publish, o.batchMs ?? 50);
    batch.unref();
  };

  const kept = keepWatching<V1Pod>({
    path: '/api/v1/pods', watch: slimWatch, fieldSelector: `spec.nodeName=${o.node}`, what: `pods of node ${o.node}`,
    hint: 'Check that the ClusterRole allows list and watch on pods', log: o.log,
    list: async (fs) => { const l = await o.list(fs); l.items = l.items.map(slimPod); return l; },
    onList: changed, initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs,
  });
  kept.lw.on('add', changed);
  kept.lw.on('update', changed);
  kept.lw.on('delete', changed);
  return {
    synced: kept.synced,
    healthy: kept.healthy,
    stop: async () => { stopped = true; clearTimeout(batch); await kept.stop(); },
  };
}
