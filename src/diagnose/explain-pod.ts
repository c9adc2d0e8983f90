// `nodedns explain NAME --pod NAMESPACE/NAME`: the pod's real resolver configuration, read
// from the API (its namespace, dnsPolicy, dnsConfig) and this node's kubelet (cluster domain,
// host search domains), and what search completion would make of the lookup.
import type { V1Pod } from '@kubernetes/client-node';
import type { Config } from '../config/types';
import type { KubeObject } from '../kube/api';
import { parseResolvConf } from '../config/resolvconf';
import { podRecord, type PodRecord } from '../pods/record';
import { podSearchPath, restOfPath, type PathVerdict } from '../pods/search-path';
import type { ExplainResult } from './explain-run';
import { clusterFirstResolv, renderResolvConf } from './pod-resolv';

export interface PodResolver {
  record: PodRecord;
  node?: string;
  resolvConf: string;
  origin: string;
  verdict: PathVerdict;
}

export interface CompletionView {
  /** completion would answer this lookup */
  applies: boolean;
  why: string;
  /** the name of the path it would answer with */
  target?: string;
  /** queries the pod sends with completion, and without */
  queriesWith: number;
  queriesWithout: number;
}

/** Reads the pod through the API (--kubeconfig, or in-cluster) and models its resolv.conf as kubelet writes it. */
export async function readPodResolver(config: Config, ref: string, nameserver: string): Promise<PodResolver> {
  const [namespace, name] = ref.split('/');
  const { connect, apiError } = await import('../kube/client');
  const { kubeletView } = await import('../kube/pods');
  const client = connect(config);
  let pod;
  try {
    pod = await client.api.get<V1Pod & KubeObject>(`/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`);
  } catch (e) {
    throw new Error(`cannot read pod ${ref} from ${client.server}: ${apiError(e)}; check the name (kubectl get pod -n ${namespace} ${name}) and that nodedns may get pods`);
  }
  const record = podRecord(pod);
  if (!record) throw new Error(`pod ${ref} has no namespace, name or uid`);
  const view = kubeletView(config);
  const verdict = podSearchPath(record, view.clusterDomain, view.hostSearch);
  const policy = record.dnsPolicy || 'ClusterFirst';
  const dc = record.dnsConfig;
  let rcText: string;
  if (verdict.path) {
    rcText = renderResolvConf({ nameservers: [nameserver, ...(dc?.nameservers ?? [])].slice(0, 3), search: verdict.path.search, options: { ndots: String(verdict.path.ndots) } });
  } else if (policy === 'None' || (!record.hostNetwork && (policy === 'ClusterFirst' || policy === 'ClusterFirstWithHostNet'))) {
    // kubelet's list, then dnsConfig: searches appended, options by name (the last wins)
    const base = policy === 'None' ? { nameservers: [], search: [], options: {} as Record<string, string | true> }
      : clusterFirstResolv({ namespace: record.namespace, clusterDomain: view.clusterDomain, nameservers: [nameserver], hostSearch: view.hostSearch ?? [] });
    const options: Record<string, string | true> = { ...base.options };
    for (const o of dc?.options ?? []) if (o.name) options[o.name] = o.value ?? true;
    rcText = renderResolvConf({ nameservers: [...base.nameservers, ...(dc?.nameservers ?? [])].slice(0, 3), search: [...base.search, ...(dc?.searches ?? [])], options });
  } else {
    rcText = renderResolvConf({ nameservers: [nameserver], search: view.hostSearch ?? [], options: {} });
  }
  const origin = `pod ${ref}${pod.spec?.nodeName ? ` on ${pod.spec.nodeName}` : ''}: dnsPolicy ${policy}${record.hostNetwork ? ', hostNetwork' : ''}`
    + `${dc ? ', with dnsConfig' : ''}; host search domains from ${view.from}`;
  parseResolvConf(rcText); // the same parser explain uses: fails loudly on anything odd
  return { record, node: pod.spec?.nodeName, resolvConf: rcText, origin, verdict };
}

/**
 * What completion would do for this lookup: the pod's first query, if completion takes it,
 * is answered with the first name of the rest of its path that exists (as the walk in `res`
 * found it), and the pod stops there.
 */
export function completionView(pod: PodResolver, res: ExplainResult, enabled: boolean): CompletionView {
  const without = res.totalQueries;
  const none = (why: string): CompletionView => ({ applies: false, why, queriesWith: without, queriesWithout: without });
  if (!pod.verdict.path) return none(`nodedns is not sure of this pod's search path: ${pod.verdict.reason}`);
  if (res.ask !== 'A+AAAA' && res.ask !== 'A' && res.ask !== 'AAAA') return none(`completion answers A and AAAA only, not ${res.ask}`);
  const first = res.queries[0];
  if (!first) return none('the pod sends no query');
  const firstName = first.name.replace(/\.$/, '');
  const rest = restOfPath(pod.verdict.path, firstName);
  if (!rest) {
    return none(firstName.endsWith(pod.verdict.path.search[0])
      ? `${first.name} could be a name the pod asks for as it is (a single label under its namespace, or ndots or more dots)`
      : `the pod's first query ${first.name} is not in its first search domain (${pod.verdict.path.search[0]}): a trailing dot, or ndots or more dots`);
  }
  if (first.rcode !== 'NXDOMAIN') return none(`${first.name} exists: answered as it is`);
  const hit = res.answeredBy !== undefined ? res.queries[res.answeredBy - 1] : undefined;
  const target = hit ? hit.name.replace(/\.$/, '') : undefined;
  if (!target || !rest.includes(target)) return none('no name of the path exists: answered NXDOMAIN as today, and the pod walks its path itself');
  const types = res.ask === 'A+AAAA' ? (res.conf.noAaaa ? 1 : 2) : 1;
  const off = enabled ? '' : ' (it is off: --search-completion)';
  return {
    applies: enabled, target, queriesWith: enabled ? types : without, queriesWithout: without,
    why: `nodedns would answer ${first.name} ${res.ask === 'A+AAAA' ? 'A and AAAA' : res.ask} with a CNAME to ${target}. and its records; `
      + `the pod then sends ${types} ${types === 1 ? 'query' : 'queries'} instead of ${without}${off}`,
  };
}
