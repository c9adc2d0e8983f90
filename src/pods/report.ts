// What the control socket tells `nodedns top` (GET /pods) and what /metrics reports per pod
// with --pod-metrics: each pod's counters, plain data.
import type { PodTable, Unattributed } from './table';
import { keyName } from './stats';

export interface PodReport {
  namespace: string;
  name: string;
  ips: string[];
  queries: number;
  nxdomain: number;
  servfail: number;
  completions: number;
  /** whether its answers may be completed; else `reason` says why not */
  completion: boolean;
  reason?: string;
  /** the names it asks most: count, and how much count may be over (space-saving) */
  top: { name: string; count: number; error: number }[];
}

export interface PodsReport {
  /** ms since the epoch, when this was taken */
  at: number;
  /** false when nodedns does not know this node's pods (no --kube-api or --no-watch-pods, or not yet) */
  known: boolean;
  pods: PodReport[];
  contested: Unattributed[];
}

export function podsReport(table: PodTable | undefined, topN: number): PodsReport {
  const pods = (table?.views ?? []).map((v): PodReport => ({
    namespace: v.record.namespace, name: v.record.name, ips: v.record.ips,
    queries: v.counters.queries, nxdomain: v.counters.nxdomain, servfail: v.counters.servfail, completions: v.counters.completions,
    completion: v.path !== undefined, reason: v.reason,
    top: v.counters.top(topN).map((t) => ({ name: keyName(t.key), count: t.count, error: t.error })),
  }));
  return { at: Date.now(), known: table !== undefined, pods, contested: table?.contested ?? [] };
}
