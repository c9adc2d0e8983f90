// The pods of this node (fieldSelector spec.nodeName=<node>), kept through the same
// list-then-watch as the Services and ConfigMaps (src/kube/watch.ts): 410 Gone lists
// again, failures retry with a growing delay, and meanwhile the last known pods stay in
// use. Each object is cut down to the fields nodedns uses before it is kept,
// so a pod's size (labels, annotations, container specs) costs nothing here.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { podRecord, type PodRecord } from '../pods/record';
import type { KubeApi, KubeObject } from './api';
import { keepWatching, type NamedWatch } from './watch';

export interface PodsWatchOptions {
  api: KubeApi;
  node: string;
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
  // by namespace/name: what the last list said, updated by each event since
  let known = new Map<string, V1Pod>();
  const keyOf = (p: V1Pod) => `${p.metadata?.namespace}/${p.metadata?.name}`;

  const publish = () => {
    batch = undefined;
    if (stopped) return;
    let pods = [...known.values()].map(podRecord).filter((p): p is PodRecord => p !== undefined);
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

  const kept = keepWatching<V1Pod & KubeObject>({
    api: o.api, path: '/api/v1/pods', fieldSelector: `spec.nodeName=${o.node}`, what: `pods of node ${o.node}`,
    hint: 'Check that the ClusterRole allows list and watch on pods', log: o.log,
    initialBackoffMs: o.initialBackoffMs, maxBackoffMs: o.maxBackoffMs,
    onList: (items) => {
      known = new Map(items.map((p) => { const slim = slimPod(p); return [keyOf(slim), slim]; }));
      changed();
    },
    onEvent: (type, obj) => {
      const slim = slimPod(obj);
      if (type === 'DELETED') known.delete(keyOf(slim)); else known.set(keyOf(slim), slim);
      changed();
    },
  });
  return {
    synced: kept.synced,
    healthy: kept.healthy,
    stop: async () => { stopped = true; clearTimeout(batch); await kept.stop(); },
  };
}
