// What nodedns installs, independent of the tool that installs it. Three sets:
//   notrack   raw-table NOTRACK for queries to every local address (from pods and from the
//             node itself). Present only while nodedns serves: it is what steers traffic
//             to nodedns, because NAT (the fallback) only acts on tracked packets. With
//             kernel-held steering the rule for traffic arriving from pods matches only
//             while a socket is bound to the local address and port (xt_socket
//             --nowildcard, nft `socket wildcard 0`): when every nodedns process is
//             gone, the kernel itself lets the next packet be tracked and DNATed to the
//             fallback. The node's own queries cannot be steered that way (in the output
//             hook the socket match describes the sending socket, and xt_socket refuses
//             OUTPUT), so their rule stays managed.
//   base      filter-table ACCEPT for DNS to and from the local addresses (untracked
//             packets skip the conntrack-based accept rules a node firewall usually has),
//             and NOTRACK for nodedns' replies and for the health port. These stay while
//             nodedns is stopped: if a reply from nodedns created a conntrack entry, the
//             client's next query on the same ports would match it as a reply and skip
//             the fallback DNAT, straight into a closed socket.
//   fallback  standing DNAT of port 53 on every local address to the cluster DNS. While
//             NOTRACK is present it never fires; once NOTRACK is removed it sends the same
//             traffic to the cluster DNS instead.
import { isIP } from 'node:net';
import type { Endpoint } from '../../config/types';

export type RuleSet = 'notrack' | 'base' | 'fallback';
export const RULE_SETS: readonly RuleSet[] = ['notrack', 'base', 'fallback'];

/**
 * The chains nodedns owns, each in one netfilter table and hook and holding one set's
 * rules, so a set is replaced or emptied by rewriting its chains.
 */
export type Hook = 'notrack-prerouting' | 'notrack-output' | 'base-raw-output' | 'base-input' | 'base-output'
  | 'fallback-prerouting' | 'fallback-output' | 'fallback-postrouting';
export const HOOKS: readonly Hook[] = ['notrack-prerouting', 'notrack-output', 'base-raw-output', 'base-input',
  'base-output', 'fallback-prerouting', 'fallback-output', 'fallback-postrouting'];
export const HOOK_SET: Record<Hook, RuleSet> = {
  'notrack-prerouting': 'notrack',
  'notrack-output': 'notrack',
  'base-raw-output': 'base',
  'base-input': 'base',
  'base-output': 'base',
  'fallback-prerouting': 'fallback',
  'fallback-output': 'fallback',
  'fallback-postrouting': 'fallback',
};

export type Action =
  | { kind: 'notrack' }
  | { kind: 'accept' }
  | { kind: 'dnat'; host: string; port: number }
  | { kind: 'masquerade' };

export interface Rule {
  hook: Hook;
  family: 4 | 6;
  proto?: 'udp' | 'tcp';
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** only connections nodedns' own DNAT rewrote (conntrack state DNAT) */
  dnatted?: boolean;
  /** only while a socket is bound to exactly dst:dport (not a wildcard socket) */
  socket?: boolean;
  /** matches one packet in `oneIn` of those that reach it (endpoint spreading) */
  oneIn?: number;
  action: Action;
}

/** Where the standing fallback sends traffic, and why it was chosen. */
export interface FallbackTarget {
  /** 'cluster-ip': DNAT to the Service address; the others: DNAT to the endpoints kube-proxy uses */
  source: 'cluster-ip' | 'kube-proxy-iptables' | 'kube-proxy-nftables';
  clusterIp: string;
  udp: Endpoint[];
  tcp: Endpoint[];
}

export interface RuleInputs {
  localIps: string[];
  port: number;
  /** 0 = no health port to exempt from conntrack */
  healthPort: number;
  /** per family; absent = no fallback for that family */
  fallback: { 4?: FallbackTarget; 6?: FallbackTarget };
  /** the pods' NOTRACK rule carries the socket match (the kernel has it) */
  kernelSteering?: boolean;
}

const PROTOS = ['udp', 'tcp'] as const;

export function familyOf(ip: string): 4 | 6 {
  return isIP(ip) === 6 ? 6 : 4;
}

export function buildRules(inp: RuleInputs): Rule[] {
  const rules: Rule[] = [];
  for (const ip of inp.localIps) rules.push(...notrackRules(ip, inp.port, inp.kernelSteering ?? false));
  for (const ip of inp.localIps) rules.push(...baseRules(ip, inp.port, inp.healthPort));
  for (const ip of inp.localIps) {
    const target = inp.fallback[familyOf(ip)];
    if (target) rules.push(...fallbackRules(ip, inp.port, target));
  }
  return rules;
}

function notrackRules(ip: string, port: number, kernelSteering: boolean): Rule[] {
  const family = familyOf(ip);
  const out: Rule[] = [];
  for (const proto of PROTOS) {
    // queries arriving from pods, and queries from the node itself
    out.push({ hook: 'notrack-prerouting', family, proto, dst: ip, dport: port, ...(kernelSteering ? { socket: true } : {}), action: { kind: 'notrack' } });
    out.push({ hook: 'notrack-output', family, proto, dst: ip, dport: port, action: { kind: 'notrack' } });
  }
  return out;
}

function baseRules(ip: string, port: number, healthPort: number): Rule[] {
  const family = familyOf(ip);
  const out: Rule[] = [];
  for (const proto of PROTOS) {
    out.push({ hook: 'base-raw-output', family, proto, src: ip, sport: port, action: { kind: 'notrack' } });
  }
  if (healthPort > 0 && healthPort !== port) {
    // kubelet's probes to the health server (node-cache does the same)
    out.push({ hook: 'base-raw-output', family, proto: 'tcp', dst: ip, dport: healthPort, action: { kind: 'notrack' } });
    out.push({ hook: 'base-raw-output', family, proto: 'tcp', src: ip, sport: healthPort, action: { kind: 'notrack' } });
  }
  for (const proto of PROTOS) {
    out.push({ hook: 'base-input', family, proto, dst: ip, dport: port, action: { kind: 'accept' } });
    out.push({ hook: 'base-output', family, proto, src: ip, sport: port, action: { kind: 'accept' } });
  }
  return out;
}

function fallbackRules(ip: string, port: number, target: FallbackTarget): Rule[] {
  // The ClusterIP itself as a local address needs no DNAT: kube-proxy's own rules are its
  // fallback, and a DNAT to itself would loop.
  if (ip === target.clusterIp) return [];
  const family = familyOf(ip);
  const out: Rule[] = [];
  for (const hook of ['fallback-prerouting', 'fallback-output'] as const) {
    for (const proto of PROTOS) {
      const eps = target[proto];
      eps.forEach((ep, i) => {
        const left = eps.length - i; // spread evenly: 1 in n, then 1 in n-1, … the last takes the rest
        out.push({
          hook, family, proto, dst: ip, dport: port,
          oneIn: left > 1 ? left : undefined,
          action: { kind: 'dnat', host: ep.host, port: ep.port },
        });
      });
    }
  }
  // Queries from the node itself leave with the local address as source; the endpoint could
  // not answer it (every node holds that address), so those are masqueraded.
  if (target.udp.length + target.tcp.length > 0) {
    out.push({ hook: 'fallback-postrouting', family, src: ip, dnatted: true, action: { kind: 'masquerade' } });
  }
  return out;
}

/** The fallback when nothing better is known: DNAT to the Service address itself. */
export function clusterIpTarget(ep: Endpoint): FallbackTarget {
  return { source: 'cluster-ip', clusterIp: ep.host, udp: [ep], tcp: [ep] };
}

export function describeTarget(t: FallbackTarget): string {
  const eps = (l: Endpoint[]) => l.map((e) => (e.family === 6 ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`)).join(',');
  if (t.source === 'cluster-ip') return `the cluster DNS Service ${eps(t.udp)}`;
  return `the ${t.udp.length} endpoint(s) kube-proxy (${t.source === 'kube-proxy-iptables' ? 'iptables' : 'nftables'} mode) uses for ${t.clusterIp}: udp ${eps(t.udp) || 'none'}, tcp ${eps(t.tcp) || 'none'}`;
}
