// One pod of this node as nodedns keeps it: what it needs to attribute a query to the pod
// and to know the pod's resolver configuration. Plain data, so the supervisor can send
// it to the workers as it is.
import type { V1Pod } from '@kubernetes/client-node';

export interface PodDnsConfig {
  nameservers?: string[];
  searches?: string[];
  options?: { name?: string; value?: string }[];
}

export interface PodRecord {
  namespace: string;
  name: string;
  uid: string;
  ips: string[]; // status.podIPs (v4 and v6), empty until the pod has an address
  phase: string; // Pending, Running, Succeeded, Failed, Unknown
  hostNetwork: boolean;
  dnsPolicy: string; // '' = ClusterFirst (the API's default)
  dnsConfig?: PodDnsConfig;
  createdMs: number; // metadata.creationTimestamp; the newest pod wins an address
  deleting: boolean; // metadata.deletionTimestamp is set
}

/** The fields nodedns keeps, bounded (a hostile object cannot make us hold more). */
export function podRecord(p: V1Pod): PodRecord | undefined {
  const m = p.metadata;
  if (!m?.name || !m.namespace || !m.uid) return undefined;
  const ips = (p.status?.podIPs ?? []).map((x) => x.ip).filter((ip): ip is string => typeof ip === 'string').slice(0, 4);
  if (ips.length === 0 && p.status?.podIP) ips.push(p.status.podIP);
  for (let i = 0; i < ips.length; i++) ips[i] = sameAsSocket(ips[i]);
  const dc = p.spec?.dnsConfig;
  const created = m.creationTimestamp ? new Date(m.creationTimestamp as unknown as string).getTime() : 0;
  return {
    namespace: m.namespace,
    name: m.name,
    uid: m.uid,
    ips,
    phase: p.status?.phase ?? 'Unknown',
    hostNetwork: p.spec?.hostNetwork === true,
    dnsPolicy: p.spec?.dnsPolicy ?? '',
    dnsConfig: dc ? {
      nameservers: dc.nameservers?.slice(0, 8),
      searches: dc.searches?.slice(0, 64),
      options: dc.options?.slice(0, 32).map((o) => ({ name: o.name, value: o.value })),
    } : undefined,
    createdMs: Number.isFinite(created) ? created : 0,
    deleting: m.deletionTimestamp !== undefined && m.deletionTimestamp !== null,
  };
}

/** Whether the pod holds its addresses: a pod that ended (Succeeded, Failed) has released them. */
export function holdsAddress(p: PodRecord): boolean {
  return !p.hostNetwork && p.ips.length > 0 && p.phase !== 'Succeeded' && p.phase !== 'Failed';
}

/**
 * The address as a socket reports a query's source, so that one Map lookup finds it: IPv6
 * in its shortest lower-case form ("fd00:0:0::0a" -> "fd00::a"); anything unparsable as it is.
 */
export function sameAsSocket(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}
