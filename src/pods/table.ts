// This node's pods by address, as the query path asks for them: one Map lookup by the
// query's source address. Rebuilt whole on every change from the API (a node holds a few
// hundred pods at most); the counters of a pod carry over from the previous table.
import { holdsAddress, type PodRecord } from './record';
import { podSearchPath, type SearchPath } from './search-path';
import { WalkMemo } from './completion';
import { PodCounters } from './stats';

/** What the supervisor sends the workers, and what a table is built from. */
export interface PodsSnapshot {
  pods: PodRecord[];
  clusterDomain: string;
  /** the search domains kubelet appends from the host; undefined = not readable */
  hostSearch: string[] | undefined;
  /** whether answers may be completed (--search-completion) */
  completion: boolean;
  /** walks in flight per pod at most (--search-completion-walks) */
  walks: number;
  /** names tracked per pod (--pod-top-names) */
  topNames: number;
}

export interface PodView {
  readonly record: PodRecord;
  /** set when nodedns knows the pod's resolver configuration exactly and completion is on */
  readonly path: SearchPath | undefined;
  /** why the pod's answers are not completed */
  readonly reason: string | undefined;
  readonly counters: PodCounters;
}

export interface Unattributed {
  ip: string;
  pods: string[]; // namespace/name of every pod claiming it
}

export class PodTable {
  readonly byIp = new Map<string, PodView>();
  readonly views: PodView[] = [];
  /** addresses claimed by more than one live pod: answered as for an unknown client */
  readonly contested: Unattributed[] = [];
  /** where completion walks ended, per search list (src/pods/completion.ts) */
  readonly memo = new WalkMemo();

  constructor(readonly snapshot: PodsSnapshot, previous?: PodTable) {
    const old = new Map<string, PodCounters>();
    for (const v of previous?.views ?? []) old.set(v.record.uid, v.counters);
    const claims = new Map<string, PodView[]>();
    for (const p of snapshot.pods) {
      if (!holdsAddress(p)) continue;
      const verdict = podSearchPath(p, snapshot.clusterDomain, snapshot.hostSearch);
      const reason = verdict.reason ?? (snapshot.completion ? undefined : 'search completion is off (--search-completion)');
      const view: PodView = { record: p, path: snapshot.completion ? verdict.path : undefined, reason, counters: old.get(p.uid) ?? new PodCounters(snapshot.topNames) };
      this.views.push(view);
      for (const ip of p.ips) {
        const list = claims.get(ip);
        if (list) list.push(view); else claims.set(ip, [view]);
      }
    }
    for (const [ip, list] of claims) {
      const owner = ownerOf(list);
      if (owner) this.byIp.set(ip, owner);
      else this.contested.push({ ip, pods: list.map((v) => `${v.record.namespace}/${v.record.name}`) });
    }
  }
}

/**
 * The pod that holds an address several pods claim. A pod being deleted gives its address
 * up to one that is not; two live claimants (the watch has not yet told us the old one
 * ended) are not told apart, so neither is attributed: a reused address never gets
 * another pod's search path (coredns#2842).
 */
function ownerOf(claims: PodView[]): PodView | undefined {
  if (claims.length === 1) return claims[0];
  const live = claims.filter((v) => !v.record.deleting);
  return live.length === 1 ? live[0] : undefined;
}
