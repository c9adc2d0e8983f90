// The cluster DNS address, in the order an operator expects: --cluster-dns, then
// $KUBE_DNS_UPSTREAM_SERVICE_HOST, then the Service kube-system/kube-dns-upstream,
// then kube-system/kube-dns. The environment variable is kubelet's snapshot of
// kube-dns-upstream taken when the pod started, so once the watch has seen that
// Service, the Service (fresher) wins.
import type { V1Service } from '@kubernetes/client-node';
import { isIP } from 'node:net';
import { defaults } from '../config/load';
import type { Config, Endpoint } from '../config/types';

export const DNS_NAMESPACE = 'kube-system';
export const UPSTREAM_SERVICE = 'kube-dns-upstream';
export const KUBE_DNS_SERVICE = 'kube-dns';

export type ClusterDnsOrigin = 'explicit' | 'env' | 'none';

function same(a: Endpoint[], b: Endpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => e.host === b[i].host && e.port === b[i].port);
}

/** Where the startup config's cluster DNS came from: a flag/file setting is final; the environment is not. */
export function clusterDnsOrigin(config: Config, env: NodeJS.ProcessEnv): ClusterDnsOrigin {
  if (config.clusterDns.length === 0) return 'none';
  let fromEnv: Endpoint[] = [];
  try {
    fromEnv = defaults(env).clusterDns;
  } catch {
    return 'explicit';
  }
  return fromEnv.length > 0 && same(fromEnv, config.clusterDns) ? 'env' : 'explicit';
}

export type ServiceVerdict = { endpoints: Endpoint[] } | { problem: string };

/** A Service's ClusterIPs with its DNS port (the UDP port named "dns", else the first UDP port, else 53). */
export function serviceEndpoints(svc: V1Service, localIps: string[]): ServiceVerdict {
  const spec = svc.spec ?? {};
  const ips = (spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP ?? ''])
    .filter((ip) => ip && ip !== 'None');
  if (ips.length === 0) return { problem: 'it has no ClusterIP (headless Services cannot be used: set --cluster-dns)' };
  const ports = spec.ports ?? [];
  const udp = ports.filter((p) => (p.protocol ?? 'TCP') === 'UDP');
  const port = (udp.find((p) => p.name === 'dns') ?? udp[0] ?? ports.find((p) => p.name === 'dns' || p.name === 'dns-tcp'))?.port ?? 53;
  const eps: Endpoint[] = [];
  for (const ip of ips) {
    const family = isIP(ip);
    if (family === 0) return { problem: `its ClusterIP "${ip}" is not an IP address` };
    if (localIps.includes(ip)) {
      return { problem: `its ClusterIP ${ip} is one of nodedns' own --local-ip addresses: forwarding there would loop back to nodedns (use the ${UPSTREAM_SERVICE} Service)` };
    }
    eps.push({ host: ip, port, family: family as 4 | 6 });
  }
  return { endpoints: eps };
}

export interface ClusterDnsChoice {
  endpoints: Endpoint[];
  source: string;
}

/** Picks the cluster DNS from what the watches know; undefined = nothing usable (keep what is in use). */
export function chooseClusterDns(
  upstream: V1Service | undefined, kubeDns: V1Service | undefined, envEndpoints: Endpoint[], localIps: string[],
): { choice?: ClusterDnsChoice; problems: string[] } {
  const problems: string[] = [];
  const usable = (svc: V1Service | undefined, name: string): ClusterDnsChoice | undefined => {
    if (!svc) return undefined;
    const v = serviceEndpoints(svc, localIps);
    if ('endpoints' in v) return { endpoints: v.endpoints, source: `Service ${DNS_NAMESPACE}/${name}` };
    problems.push(`Service ${DNS_NAMESPACE}/${name}: ${v.problem}`);
    return undefined;
  };
  const choice = usable(upstream, UPSTREAM_SERVICE)
    ?? (envEndpoints.length > 0 ? { endpoints: envEndpoints, source: '$KUBE_DNS_UPSTREAM_SERVICE_HOST' } : undefined)
    ?? usable(kubeDns, KUBE_DNS_SERVICE);
  if (choice) return { choice, problems };
  return { problems };
}

export function sameEndpoints(a: Endpoint[], b: Endpoint[]): boolean {
  return same(a, b);
}
