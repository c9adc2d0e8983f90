// The resolv.conf kubelet writes for a dnsPolicy: ClusterFirst pod (pkg/kubelet/network/dns):
// nameservers = clusterDNS; search = <ns>.svc.<domain> svc.<domain> <domain>, then the
// search domains of kubelet's resolvConf file, duplicates dropped; options ndots:5 (the
// host's options are not copied). And what each resolver library keeps of it (seed 004).
import { readFileSync } from 'node:fs';
import type { Config } from '../config/types';
import { parseResolvConf, type ResolvConf } from '../config/resolvconf';
import { onHost } from '../kubelet/discover';
import type { KubeletDns } from './kubelet-dns';

/** Old glibc (before 2.26) and kubelet before 1.28: 6 search domains, 256 characters. */
export const LIBC_MAX_SEARCH = 6;
export const LIBC_MAX_SEARCH_CHARS = 256;
/** glibc, musl and Go use the first 3 nameservers; kubelet drops the rest. */
export const MAX_NAMESERVERS = 3;
/** musl reads resolv.conf lines into 256 bytes: a longer line is ignored entirely. */
export const MUSL_MAX_LINE = 254;

export interface PodResolv {
  text: string;
  rc: ResolvConf;
  /** where each part came from, for the output */
  origin: string;
  hostSearch: string[];
  hostSearchFrom: string;
}

/** A namespace name as Kubernetes allows it (RFC 1123 label). */
export function checkNamespace(ns: string): string {
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns)) throw new Error(`--namespace "${ns}" is not a namespace name (lower-case letters, digits and -, at most 63)`);
  return ns;
}

export function renderResolvConf(rc: ResolvConf): string {
  const opts = Object.entries(rc.options).map(([k, v]) => (v === true ? k : `${k}:${v}`));
  return [
    ...rc.nameservers.map((n) => `nameserver ${n}`),
    ...(rc.search.length ? [`search ${rc.search.join(' ')}`] : []),
    ...(opts.length ? [`options ${opts.join(' ')}`] : []),
    '',
  ].join('\n');
}

/** The search domains kubelet copies into pods from its resolvConf file (on the host). */
export function hostSearchDomains(hostRoot: string, file: string): { search: string[]; from: string; error?: string } {
  if (file === '') return { search: [], from: 'none (kubelet --resolv-conf="")' };
  try {
    // "search ." (systemd-resolved writes it when no domain is configured) names the root, which
    // kubelet drops (pkg/kubelet/network/dns: "." is skipped): it is no search domain for pods.
    const search = parseResolvConf(readFileSync(onHost(hostRoot, file), 'utf8')).search.filter((d) => d !== '' && d !== '.');
    return { search, from: file };
  } catch (e) {
    return { search: [], from: file, error: `cannot read ${onHost(hostRoot, file)}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
  }
}

export function clusterFirstResolv(o: { namespace: string; clusterDomain: string; nameservers: string[]; hostSearch: string[] }): ResolvConf {
  const d = o.clusterDomain;
  const search = d ? [`${o.namespace}.svc.${d}`, `svc.${d}`, d, ...o.hostSearch] : [...o.hostSearch];
  const seen = new Set<string>();
  return {
    nameservers: [...o.nameservers],
    search: search.filter((s) => (seen.has(s) ? false : (seen.add(s), true))),
    options: { ndots: '5' },
  };
}

/**
 * The pod resolv.conf for `namespace` on this node: kubelet's clusterDNS (or, when unknown,
 * `fallbackNameserver`), its cluster domain (or --cluster-domain), its resolvConf's search domains.
 */
export function podResolvFor(config: Config, namespace: string, kubelet: KubeletDns | undefined, fallbackNameserver: string): PodResolv {
  const file = kubelet?.found ? kubelet.resolvConf : '/etc/resolv.conf';
  const host = hostSearchDomains(config.hostRoot, file);
  const nameservers = kubelet?.clusterDns.length ? kubelet.clusterDns : [fallbackNameserver];
  const clusterDomain = kubelet?.clusterDomain ?? config.clusterDomain;
  const rc = clusterFirstResolv({ namespace, clusterDomain, nameservers, hostSearch: host.search });
  const parts = [
    `kubelet ClusterFirst, namespace ${namespace}`,
    kubelet?.clusterDns.length ? `nameserver = kubelet's clusterDNS` : `nameserver = nodedns' first address`,
    `${host.search.length} host search domain${host.search.length === 1 ? '' : 's'} from ${host.from}`,
  ];
  return { text: renderResolvConf(rc), rc, origin: parts.join('; '), hostSearch: host.search, hostSearchFrom: host.from };
}
