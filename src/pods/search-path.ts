// The search list and ndots a pod's resolver uses, when nodedns knows them exactly: the
// list kubelet writes for dnsPolicy ClusterFirst (src/diagnose/pod-resolv.ts), with no
// dnsConfig that changes it. Anything else is "not sure", and not sure means no completion.
import { Buffer } from 'node:buffer';
import { clusterFirstResolv, LIBC_MAX_SEARCH, LIBC_MAX_SEARCH_CHARS } from '../diagnose/pod-resolv';
import type { PodRecord } from './record';

/** kubelet's ndots for ClusterFirst pods. */
export const KUBELET_NDOTS = 5;

export interface SearchPath {
  search: string[]; // lower-case, no trailing dots
  ndots: number;
  /** search[0] in wire form (length-prefixed labels, the root byte last), lower-case */
  firstWire: Buffer;
  /** the list and ndots as one string: pods with the same key walk the same names */
  key: string;
}

export type PathVerdict = { path: SearchPath; reason?: undefined } | { path?: undefined; reason: string };

/** A domain in wire form: lower-case labels and the root byte. */
export function domainWire(domain: string): Buffer {
  const labels = domain.toLowerCase().split('.').filter(Boolean);
  return Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')])), Buffer.from([0])]);
}

/**
 * The pod's search path, or why nodedns cannot be sure of it. `hostSearch` is undefined
 * when the host's search domains (what kubelet appends) could not be read.
 */
export function podSearchPath(p: PodRecord, clusterDomain: string, hostSearch: string[] | undefined): PathVerdict {
  if (p.hostNetwork) return { reason: 'hostNetwork: the pod shares the node\'s address' };
  const policy = p.dnsPolicy || 'ClusterFirst';
  if (policy !== 'ClusterFirst' && policy !== 'ClusterFirstWithHostNet') return { reason: `dnsPolicy ${policy}: the pod's resolv.conf is not kubelet's cluster one` };
  if (!clusterDomain) return { reason: 'no cluster domain' };
  if (hostSearch === undefined) return { reason: 'the host search domains kubelet appends could not be read (mount the host /etc at --host-root)' };
  const dc = p.dnsConfig;
  if (dc?.searches && dc.searches.length > 0) return { reason: 'dnsConfig.searches adds search domains' };
  for (const o of dc?.options ?? []) {
    if (o.name === 'ndots' && o.value !== String(KUBELET_NDOTS)) return { reason: `dnsConfig.options ndots:${o.value ?? ''} differs from kubelet's ${KUBELET_NDOTS}` };
  }
  const search = clusterFirstResolv({ namespace: p.namespace, clusterDomain, nameservers: [], hostSearch }).search.map((s) => s.toLowerCase());
  // kubelet before 1.28 and glibc before 2.26 cut longer lists (6 domains, 256 characters); which
  // one this pod's kubelet and libc do is not known here
  if (search.length > LIBC_MAX_SEARCH || search.join(' ').length > LIBC_MAX_SEARCH_CHARS) {
    return { reason: `search list of ${search.length} domains (${search.join(' ').length} characters) is longer than every kubelet and libc keep` };
  }
  return { path: { search, ndots: KUBELET_NDOTS, firstWire: domainWire(search[0]), key: `${KUBELET_NDOTS} ${search.join(' ')}` } };
}

const dots = (s: string) => { let n = 0; for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 46) n++; return n; };

/**
 * The names the pod's resolver tries after `name` (lower-case, no trailing dot), when `name`
 * is the first search candidate of a shorter name: the rest of the search list, then the
 * name as typed (glibc, musl and Go all try it last when it has fewer dots than ndots).
 * Undefined when `name` is not such a candidate, or could as well be a name the pod asked
 * for as it is: then nodedns cannot know what the pod would try next.
 */
export function restOfPath(path: SearchPath, name: string): string[] | undefined {
  const first = path.search[0];
  if (name.length <= first.length + 1 || !name.endsWith(first) || name.charCodeAt(name.length - first.length - 1) !== 46) return undefined;
  const typed = name.slice(0, name.length - first.length - 1);
  // a single label: `svc.<ns>.svc.<domain>` is also the full name of Service svc, which pods
  // ask for as it is (with a trailing dot, or last in their search); when that Service is
  // missing the pod must get NXDOMAIN, not svc.<host search domain>. A short name that exists
  // is the first search name itself, so this costs completion almost nothing
  if (!typed.includes('.')) return undefined;
  // with ndots or more dots the resolver tries the name as typed first; it never reaches here first
  if (dots(typed) >= path.ndots) return undefined;
  const rest = [...path.search.slice(1).map((s) => `${typed}.${s}`), typed];
  // a candidate over 253 characters is skipped by some resolvers and not by others
  if (rest.some((n) => n.length > 253)) return undefined;
  return rest;
}

/** Whether the wire name in buf[start, end) ends in `suffix` (wire form, lower-case) at a label boundary. */
export function endsInWire(buf: Buffer, start: number, end: number, suffix: Buffer): boolean {
  const at = end - suffix.length;
  let off = start;
  while (off < at) {
    const len = buf[off];
    if (len === 0 || len > 63) return false;
    off += len + 1;
  }
  if (off !== at || off === start) return false; // the typed part must not be empty
  for (let i = 0; i < suffix.length; i++) {
    const c = buf[at + i];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== suffix[i]) return false;
  }
  return true;
}
