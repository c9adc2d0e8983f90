// The one configuration type. Every subsystem reads from a validated Config;
// nothing else parses flags, files or environment.

export interface Endpoint {
  host: string; // an IP literal, never a name (no DNS to resolve DNS)
  port: number;
  family: 4 | 6;
}

export type Transport = 'udp' | 'tcp' | 'prefer-udp';
export type FirewallMode = 'auto' | 'iptables' | 'nftables' | 'none';
/** auto: the kernel holds the pods' steering (socket match) where it can; managed: nodedns adds and removes NOTRACK itself */
export type SteeringMode = 'auto' | 'managed';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface StubDomain {
  domain: string; // lower-case, no trailing dot ('' is the root)
  servers: Endpoint[];
}

/** Per-zone cache caps; unset fields fall back to the global ones. */
export interface ZoneCachePolicy {
  zone: string;
  successTtlCap?: number; // seconds
  denialTtlCap?: number; // seconds
}

export interface CacheConfig {
  positiveSize: number; // entries
  negativeSize: number; // entries
  successTtlCap: number; // seconds, outside the cluster domain
  denialTtlCap: number; // seconds, outside the cluster domain
  clusterSuccessTtlCap: number; // seconds, cluster domain and reverse zones
  clusterDenialTtlCap: number; // seconds, cluster domain and reverse zones
  servfailTtl: number; // seconds, 0 = never cache SERVFAIL
  staleWindow: number; // seconds an expired entry may still be served when upstreams fail; 0 = off
  prefetchHits: number; // hits within the entry's life that make it worth refreshing; 0 = off
  prefetchPercent: number; // refresh when this share of the TTL remains
  prefetchMaxInflight: number; // refreshes upstream at once: entries stored together expire together
  file: string; // warm-restart file; '' = off
  zones: ZoneCachePolicy[];
}

export interface Config {
  // serving
  localIps: string[];
  port: number;
  clusterDomain: string; // lower-case, no trailing dot
  reverseZones: string[];
  clusterDns: Endpoint[];
  clusterDnsTransport: Transport;
  upstreams: Endpoint[]; // explicit override; empty = discover from the host's resolv.conf
  upstreamTransport: Transport;
  stubDomains: StubDomain[];
  hosts: Record<string, string[]>; // name -> addresses, answered locally with PTRs
  hostRoot: string;
  upstreamTimeoutMs: number; // one try
  queryTimeoutMs: number; // all tries of one client query
  upstreamMaxFails: number; // consecutive failures that mark an upstream down
  healthCheckIntervalMs: number; // probe interval for an upstream marked down
  maxInflight: number; // distinct upstream queries in flight
  maxWaiting: number; // clients waiting on upstream answers, coalesced ones included
  maxWaitingPerClient: number; // the same from one client address
  loopCheckIntervalMs: number; // probe every upstream for a loop back to us; 0 = off
  tcpMaxConnections: number;
  tcpIdleTimeoutMs: number;
  tcpMaxQueriesPerConnection: number; // pipelined queries per client connection
  upstreamCaseRandomization: boolean; // DNS 0x20 on upstream UDP queries
  unwantedReplyThreshold: number; // unwanted replies one query may draw before it moves to TCP; 0 = off
  staleClientTimeoutMs: number; // RFC 8767 client-response timer; 0 = wait for every try
  fdReserve: number; // file descriptors upstream sockets leave free
  tcpMaxConnectionsPerClient: number; // per client address
  tcpMessageTimeoutMs: number; // a whole message, from its first byte
  tcpMaxPendingBytes: number; // answers written but not yet taken, per connection
  tcpMaxPendingTotal: number; // the same, all client connections of one listener together
  allowOpenResolver: boolean; // --local-ip may be a wildcard address
  chaosAllow: string[]; // CIDRs that may ask the CHAOS names revealing configuration, besides the node itself
  cache: CacheConfig;
  // node setup
  setupInterface: boolean;
  interfaceName: string;
  firewall: FirewallMode;
  syncIntervalMs: number;
  healthPort: number; // derived from healthAddr; NOTRACKed with port 53
  workers: number;
  steering: SteeringMode;
  lockFile: string; // one nodedns per node: a unix socket that answers with the owner's PID, '' = off
  // kubernetes
  kubeApi: boolean;
  kubeconfig: string; // '' = in-cluster
  nodeName: string;
  configMap: string; // namespace/name of nodedns' own ConfigMap, '' = off
  watchKubeDnsConfigMap: boolean;
  writeKubeletConfig: boolean;
  restartKubelet: boolean;
  watchPods: boolean; // this node's pods, for per-pod answers and counters (src/pods/)
  searchCompletion: boolean;
  searchCompletionWalks: number; // walks in flight per pod
  podMax: number;
  podTopNames: number;
  podMetrics: boolean;
  // observability
  metricsAddr: string; // '' = off
  healthAddr: string; // '' = off
  logLevel: LogLevel;
  logQueries: boolean;
  logQueriesSample: number; // 0..1
  controlSocket: string; // unix socket for doctor/explain/query to ask the live agent, '' = off
}

/** Thrown for any invalid setting; the message names the flag/key and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}
