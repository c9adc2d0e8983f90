// The pods part of the API integration: this node's pods, with what kubelet puts in their
// resolv.conf (cluster domain, host search domains), handed to the agent as one snapshot.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { readKubeletDns } from '../diagnose/kubelet-dns';
import { hostSearchDomains } from '../diagnose/pod-resolv';
import type { PodRecord } from '../pods/record';
import type { PodsSnapshot } from '../pods/table';
import type { KubeClient } from './client';
import { watchPods } from './pods-watch';
import type { NamedWatch } from './watch';

/** How often kubelet's files are read again for the host search domains. */
const KUBELET_REREAD_MS = 60_000;

export interface KubeletView {
  clusterDomain: string;
  hostSearch: string[] | undefined;
  from: string;
}

/** What kubelet gives ClusterFirst pods on this node: its cluster domain and the host search domains it appends. */
export function kubeletView(config: Config): KubeletView {
  const k = readKubeletDns(config.hostRoot, config.localIps[0] ?? '');
  const host = hostSearchDomains(config.hostRoot, k.resolvConf);
  return { clusterDomain: k.clusterDomain ?? config.clusterDomain, hostSearch: host.error ? undefined : host.search, from: host.from };
}

export function startPodsWatch(o: { client: KubeClient; config: Config; log: Logger; onSnapshot: (s: PodsSnapshot) => void;
  backoff: { initialMs: number; maxMs: number } }): NamedWatch {
  const c = o.config;
  let view: KubeletView | undefined;
  let readAt = 0;
  let lastFrom = '';
  return watchPods({
    api: o.client.api, node: c.nodeName, max: c.podMax, log: o.log,
    initialBackoffMs: o.backoff.initialMs, maxBackoffMs: o.backoff.maxMs,
    onPods: (pods: PodRecord[]) => {
      if (!view || Date.now() - readAt > KUBELET_REREAD_MS) {
        view = kubeletView(c);
        readAt = Date.now();
        const from = `${view.from}:${view.hostSearch?.join(',') ?? 'unreadable'}`;
        if (from !== lastFrom) {
          if (view.hostSearch === undefined && c.searchCompletion) {
            o.log.warn({ file: view.from }, 'cannot read the host search domains kubelet gives pods; search completion stays off until it can (mount the host /etc at --host-root)');
          } else o.log.info({ file: view.from, hostSearch: view.hostSearch, clusterDomain: view.clusterDomain }, 'pod search paths known');
          lastFrom = from;
        }
      }
      o.onSnapshot({ pods, clusterDomain: view.clusterDomain, hostSearch: view.hostSearch, completion: c.searchCompletion, walks: c.searchCompletionWalks, topNames: c.podTopNames });
    },
  });
}
