// Every setting, once: its flag (also its key in the YAML file and, upper-cased
// with NODEDNS_ in front, its environment variable), its default and its help.
import type { Config, FirewallMode, LogLevel, SteeringMode, Transport } from './types';
import * as v from './values';

export type Raw = string | number | boolean | unknown[] | Record<string, unknown>;

export interface Option {
  name: string; // flag and YAML key
  help: string;
  /** shown in --help; the real default lives in defaults() */
  def: string;
  bool?: boolean; // a flag that takes no value; --no-NAME sets false
  repeatable?: boolean; // each use adds to a list
  apply(c: Config, raw: Raw): void;
}

const TRANSPORTS = ['udp', 'tcp', 'prefer-udp'] as const;
const FIREWALLS = ['auto', 'iptables', 'nftables', 'none'] as const;
const STEERINGS = ['auto', 'managed'] as const;
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;

const str = (raw: Raw): string => {
  if (Array.isArray(raw)) return raw.map(String).join(',');
  if (typeof raw === 'object') throw new Error('expected a single value, got a map');
  return String(raw);
};
const secs = (raw: Raw) => v.parseDuration(str(raw), 's');
const millis = (raw: Raw) => Math.round(v.parseDuration(str(raw), 'ms') * 1000);
const millisIn = (min: number, max: number) => (raw: Raw) => {
  const ms = millis(raw);
  if (ms < min || ms > max) throw new Error(`"${str(raw)}" is not from ${min}ms to ${max / 1000}s`);
  return ms;
};
const int = (min: number, max: number) => (raw: Raw) => v.parseInteger(str(raw), min, max);
const bool = (raw: Raw) => v.parseBool(typeof raw === 'boolean' ? raw : str(raw));

/** A list that is given as "a,b", a YAML list, or a map (key=value form). */
function entries(raw: Raw): string[] {
  if (Array.isArray(raw)) return raw.map((x) => String(x));
  if (raw !== null && typeof raw === 'object') {
    return Object.entries(raw).map(([k, val]) => `${k}=${Array.isArray(val) ? val.join(',') : String(val)}`);
  }
  return [String(raw)];
}

export const OPTIONS: Option[] = [
  // --- serving
  { name: 'local-ip', def: '169.254.20.10', help: 'comma list of addresses to listen on (IPv4 and IPv6)',
    apply: (c, r) => { c.localIps = v.splitList(str(r)).map(v.parseIp); } },
  { name: 'allow-open-resolver', def: 'false', bool: true, help: 'allow --local-ip 0.0.0.0 or :: (DNS on every address of the node: an open resolver)',
    apply: (c, r) => { c.allowOpenResolver = bool(r); } },
  { name: 'port', def: '53', help: 'DNS port on every local address',
    apply: (c, r) => { c.port = v.parsePort(str(r)); } },
  { name: 'cluster-domain', def: 'cluster.local', help: 'the cluster domain, forwarded to the cluster DNS',
    apply: (c, r) => { c.clusterDomain = v.normalizeDomain(str(r)); } },
  { name: 'reverse-zones', def: 'in-addr.arpa,ip6.arpa', help: 'reverse zones forwarded to the cluster DNS',
    apply: (c, r) => { c.reverseZones = v.splitList(str(r)).map(v.normalizeDomain); } },
  { name: 'cluster-dns', def: '$KUBE_DNS_UPSTREAM_SERVICE_HOST', help: 'cluster DNS Service ip[:port][,…]',
    apply: (c, r) => { c.clusterDns = v.parseEndpointList(str(r)); } },
  { name: 'cluster-dns-transport', def: 'prefer-udp', help: 'udp, tcp or prefer-udp (UDP, TCP on truncation)',
    apply: (c, r) => { c.clusterDnsTransport = v.parseChoice<Transport>(str(r), TRANSPORTS); } },
  { name: 'upstream', def: 'host resolv.conf', help: 'ip[:port],… overrides the upstreams read from the host',
    apply: (c, r) => { c.upstreams = v.parseEndpointList(str(r)); } },
  { name: 'upstream-transport', def: 'prefer-udp', help: 'udp, tcp or prefer-udp for the host upstreams and stub domains',
    apply: (c, r) => { c.upstreamTransport = v.parseChoice<Transport>(str(r), TRANSPORTS); } },
  { name: 'stub-domain', def: '', repeatable: true, help: 'domain=ip[:port][,ip…], repeatable',
    apply: (c, r) => {
      for (const e of entries(r)) {
        const stub = v.parseStubDomain(e);
        c.stubDomains = c.stubDomains.filter((s) => s.domain !== stub.domain).concat(stub);
      }
    } },
  { name: 'host', def: '', repeatable: true, help: 'name=ip[,ip…] answered locally (with PTR), repeatable',
    apply: (c, r) => {
      for (const e of entries(r)) {
        const [name, ips] = v.parseHostEntry(e);
        c.hosts = { ...c.hosts, [name]: ips };
      }
    } },
  { name: 'host-root', def: '/', help: 'where the host filesystem is (etc/resolv.conf, kubelet files)',
    apply: (c, r) => { c.hostRoot = str(r); } },
  { name: 'upstream-timeout', def: '1500ms', help: 'time to wait for one upstream try',
    apply: (c, r) => { c.upstreamTimeoutMs = millis(r); } },
  { name: 'query-timeout', def: '4s', help: 'time for all tries of one query before SERVFAIL (or a stale answer)',
    apply: (c, r) => { c.queryTimeoutMs = millis(r); } },
  { name: 'upstream-max-fails', def: '3', help: 'consecutive failures that mark an upstream down',
    apply: (c, r) => { c.upstreamMaxFails = int(1, 100)(r); } },
  { name: 'health-check-interval', def: '500ms', help: 'how often an upstream marked down is probed',
    apply: (c, r) => { c.healthCheckIntervalMs = millis(r); } },
  { name: 'max-inflight', def: '4096', help: 'distinct queries in flight upstream; more get SERVFAIL',
    apply: (c, r) => { c.maxInflight = int(1, 1_000_000)(r); } },
  { name: 'max-waiting', def: '16384', help: 'clients waiting on upstream answers at once (coalesced ones included); more get SERVFAIL',
    apply: (c, r) => { c.maxWaiting = int(1, 1_000_000)(r); } },
  { name: 'max-waiting-per-client', def: '1024', help: 'the same from one client address; its further misses get SERVFAIL',
    apply: (c, r) => { c.maxWaitingPerClient = int(1, 1_000_000)(r); } },
  { name: 'loop-check-interval', def: '5m', help: 'how often each upstream is probed for a loop back to nodedns, first 2s after start (0 = off)',
    apply: (c, r) => { c.loopCheckIntervalMs = millis(r); } },
  { name: 'tcp-max-connections', def: '1024', help: 'client TCP connections open at once',
    apply: (c, r) => { c.tcpMaxConnections = int(1, 1_000_000)(r); } },
  { name: 'tcp-idle-timeout', def: '10s', help: 'close a client TCP connection idle this long',
    apply: (c, r) => { c.tcpIdleTimeoutMs = millis(r); } },
  { name: 'tcp-max-queries', def: '128', help: 'queries in progress on one client TCP connection',
    apply: (c, r) => { c.tcpMaxQueriesPerConnection = int(1, 65535)(r); } },
  { name: 'upstream-0x20', def: 'true', bool: true, help: 'randomise the letter case of upstream UDP queries and accept only replies that echo it (DNS 0x20)',
    apply: (c, r) => { c.upstreamCaseRandomization = bool(r); } },
  { name: 'unwanted-reply-threshold', def: '10', help: 'wrong-ID or wrong-question replies one upstream query may draw before it is asked again over TCP (0 = off)',
    apply: (c, r) => { c.unwantedReplyThreshold = int(0, 1_000_000)(r); } },
  { name: 'fd-reserve', def: '64', help: 'file descriptors upstream sockets leave free for listeners, health and the control socket',
    apply: (c, r) => { c.fdReserve = int(8, 1_000_000)(r); } },
  { name: 'tcp-max-connections-per-client', def: '64', help: 'client TCP connections open at once from one address; more are closed at once',
    apply: (c, r) => { c.tcpMaxConnectionsPerClient = int(1, 1_000_000)(r); } },
  { name: 'tcp-message-timeout', def: '2s', help: 'time for a whole TCP message to arrive once its first byte has; then the connection is closed',
    apply: (c, r) => { c.tcpMessageTimeoutMs = millisIn(100, 60_000)(r); } },
  { name: 'tcp-max-pending-bytes', def: '65536', help: 'bytes one client TCP connection may hold: answers not yet taken plus queries in progress; past it reading stops, unread answers at twice it close the connection',
    apply: (c, r) => { c.tcpMaxPendingBytes = int(16384, 16 * 1024 * 1024)(r); } },
  { name: 'tcp-max-pending-total', def: '33554432', help: 'the same bytes, all client TCP connections to one listening address together; past it the connection holding the most is closed',
    apply: (c, r) => { c.tcpMaxPendingTotal = int(1024 * 1024, 4 * 1024 * 1024 * 1024)(r); } },
  // --- cache
  { name: 'cache-size', def: '9984', help: 'positive cache entries',
    apply: (c, r) => { c.cache.positiveSize = int(0, 10_000_000)(r); } },
  { name: 'negative-cache-size', def: '9984', help: 'negative (NXDOMAIN/NODATA/SERVFAIL) cache entries',
    apply: (c, r) => { c.cache.negativeSize = int(0, 10_000_000)(r); } },
  { name: 'success-ttl', def: '30s', help: 'TTL cap for positive answers outside the cluster domain',
    apply: (c, r) => { c.cache.successTtlCap = secs(r); } },
  { name: 'denial-ttl', def: '30s', help: 'TTL cap for negative answers outside the cluster domain',
    apply: (c, r) => { c.cache.denialTtlCap = secs(r); } },
  { name: 'cluster-success-ttl', def: '30s', help: 'TTL cap for positive answers in the cluster domain',
    apply: (c, r) => { c.cache.clusterSuccessTtlCap = secs(r); } },
  { name: 'cluster-denial-ttl', def: '5s', help: 'TTL cap for negative answers in the cluster domain',
    apply: (c, r) => { c.cache.clusterDenialTtlCap = secs(r); } },
  { name: 'servfail-ttl', def: '5s', help: 'how long SERVFAIL is cached (at most 5s, 0 = never)',
    apply: (c, r) => { c.cache.servfailTtl = secs(r); } },
  { name: 'stale-window', def: '1h', help: 'serve expired answers this long after expiry when upstreams fail (0 = off)',
    apply: (c, r) => { c.cache.staleWindow = secs(r); } },
  { name: 'stale-answer-client-timeout', def: '1800ms', help: 'answer with a stale entry after this long waiting upstream (RFC 8767; 0 = only after every try failed)',
    apply: (c, r) => { c.staleClientTimeoutMs = millis(r); } },
  { name: 'prefetch-hits', def: '3', help: 'hits that make an entry refreshed before it expires (0 = off)',
    apply: (c, r) => { c.cache.prefetchHits = int(0, 1_000_000)(r); } },
  { name: 'prefetch-percent', def: '10', help: 'refresh when this percentage of the TTL remains',
    apply: (c, r) => { c.cache.prefetchPercent = int(1, 99)(r); } },
  { name: 'prefetch-max-inflight', def: '64', help: 'refreshes in flight at once; more wait their turn',
    apply: (c, r) => { c.cache.prefetchMaxInflight = int(1, 65535)(r); } },
  { name: 'cache-file', def: '', help: 'warm-restart file written on stop and read at start ("" = off)',
    apply: (c, r) => { c.cache.file = str(r); } },
  { name: 'cache-zones', def: '', help: 'YAML only: list of {zone, success-ttl, denial-ttl} caps per zone',
    apply: (c, r) => {
      if (!Array.isArray(r)) throw new Error('expected a list of {zone, success-ttl, denial-ttl}');
      c.cache.zones = r.map((z) => {
        if (z === null || typeof z !== 'object') throw new Error('each entry must be a map with "zone"');
        const m = z as Record<string, Raw>;
        if (m.zone === undefined) throw new Error('an entry has no "zone"');
        return {
          zone: v.normalizeDomain(str(m.zone)),
          successTtlCap: m['success-ttl'] === undefined ? undefined : secs(m['success-ttl']),
          denialTtlCap: m['denial-ttl'] === undefined ? undefined : secs(m['denial-ttl']),
        };
      });
    } },
  // --- node setup
  { name: 'setup-interface', def: 'true', bool: true, help: 'create the interface and add the local addresses',
    apply: (c, r) => { c.setupInterface = bool(r); } },
  { name: 'interface-name', def: 'nodelocaldns', help: 'the dummy interface that holds the local addresses',
    apply: (c, r) => {
      const s = str(r);
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(s)) throw new Error(`"${s}" is not an interface name (1-15 letters, digits, _ . -)`);
      c.interfaceName = s;
    } },
  { name: 'firewall', def: 'auto', help: 'auto, iptables, nftables or none',
    apply: (c, r) => { c.firewall = v.parseChoice<FirewallMode>(str(r), FIREWALLS); } },
  { name: 'sync-interval', def: '10s', help: 'how often addresses and rules are checked and repaired (the rules are read again only when the nf_tables generation changed, or every time while legacy iptables tables exist)',
    apply: (c, r) => { c.syncIntervalMs = millis(r); } },
  { name: 'workers', def: '1', help: 'serving processes (1: one process serves, owns the rules and talks to the API; N>1: a supervisor and N workers)',
    apply: (c, r) => { c.workers = int(1, 64)(r); } },
  { name: 'steering', def: 'auto', help: 'auto: the kernel sends pods\' DNS to nodedns only while its socket is bound (socket match), else managed; managed: nodedns adds and removes NOTRACK itself',
    apply: (c, r) => { c.steering = v.parseChoice<SteeringMode>(str(r), STEERINGS); } },
  { name: 'lock-file', def: '/run/nodedns/owner.sock', help: 'one nodedns per node: a second one refuses to start and names the running one\'s PID ("" = off)',
    apply: (c, r) => { c.lockFile = str(r); } },
  // --- kubernetes
  { name: 'kube-api', def: 'auto (on in a pod)', bool: true, help: 'use the Kubernetes API (Service discovery, ConfigMaps, Events)',
    apply: (c, r) => { c.kubeApi = bool(r); } },
  { name: 'kubeconfig', def: '', help: 'kubeconfig for running off-cluster ("" = in-cluster)',
    apply: (c, r) => { c.kubeconfig = str(r); } },
  { name: 'node-name', def: '$NODE_NAME or hostname', help: 'this node, for Events and NSID',
    apply: (c, r) => { c.nodeName = str(r); } },
  { name: 'config-map', def: '', help: 'namespace/name of nodedns\' own ConfigMap to watch ("" = off)',
    apply: (c, r) => {
      const s = str(r);
      if (s !== '' && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(s)) throw new Error(`"${s}" is not namespace/name`);
      c.configMap = s;
    } },
  { name: 'watch-kube-dns-configmap', def: 'true', bool: true, help: 'apply kube-system/kube-dns stubDomains and upstreamNameservers',
    apply: (c, r) => { c.watchKubeDnsConfigMap = bool(r); } },
  { name: 'write-kubelet-config', def: 'false', bool: true, help: 'point kubelet clusterDNS at the first local IP once serving',
    apply: (c, r) => { c.writeKubeletConfig = bool(r); } },
  { name: 'restart-kubelet', def: 'false', bool: true, help: 'restart kubelet after changing its config (needs host PID namespace)',
    apply: (c, r) => { c.restartKubelet = bool(r); } },
  { name: 'watch-pods', def: 'true', bool: true, help: 'watch this node\'s pods (list/watch pods) to tell which pod sends what',
    apply: (c, r) => { c.watchPods = bool(r); } },
  { name: 'search-completion', def: 'false', bool: true, help: 'answer a pod\'s first search-path query with the first name of its path that exists (docs/pods.md)',
    apply: (c, r) => { c.searchCompletion = bool(r); } },
  { name: 'search-completion-walks', def: '16', help: 'search paths one pod may have nodedns walk at once; more are answered as without completion',
    apply: (c, r) => { c.searchCompletionWalks = int(1, 10_000)(r); } },
  { name: 'pod-max', def: '1000', help: 'pods of this node kept at most (the newest win)',
    apply: (c, r) => { c.podMax = int(1, 100_000)(r); } },
  { name: 'pod-top-names', def: '10', help: 'names counted per pod for nodedns top (space-saving; 0 = none)',
    apply: (c, r) => { c.podTopNames = int(0, 100)(r); } },
  { name: 'pod-metrics', def: 'false', bool: true, help: 'per-pod query counters on /metrics (one series set per pod)',
    apply: (c, r) => { c.podMetrics = bool(r); } },
  // --- observability
  { name: 'metrics-addr', def: '127.0.0.1:9253', help: 'Prometheus metrics listen address; ":9253" = every address ("" = off)',
    apply: (c, r) => { c.metricsAddr = v.parseListenAddr(str(r)); } },
  { name: 'health-addr', def: '<first local ip>:8080', help: '/health and /ready listen address ("" = off)',
    apply: (c, r) => { c.healthAddr = str(r) === 'auto' ? 'auto' : v.parseListenAddr(str(r)); } },
  { name: 'chaos-allow', def: '', help: 'CIDRs that may ask upstreams/cache/config.nodedns CH TXT besides the node itself (comma list)',
    apply: (c, r) => {
      const cidrs = v.splitList(str(r)).map(v.parseCidr);
      if (cidrs.length > 256) throw new Error(`${cidrs.length} entries; at most 256 (use shorter prefixes)`);
      c.chaosAllow = cidrs;
    } },
  { name: 'log-level', def: 'info', help: 'trace, debug, info, warn, error or fatal',
    apply: (c, r) => { c.logLevel = v.parseChoice<LogLevel>(str(r), LEVELS); } },
  { name: 'log-queries', def: 'false', bool: true, help: 'log every query (name, type, client, rcode, cache, upstream, latency)',
    apply: (c, r) => { c.logQueries = bool(r); } },
  { name: 'log-queries-sample', def: '1', help: 'share of queries logged with --log-queries (0 to 1)',
    apply: (c, r) => {
      const n = Number(str(r));
      if (!(n >= 0 && n <= 1)) throw new Error(`"${str(r)}" is not a number from 0 to 1`);
      c.logQueriesSample = n;
    } },
  { name: 'control-socket', def: '/run/nodedns/control.sock', help: 'unix socket that doctor, explain and query use ("" = off)',
    apply: (c, r) => { c.controlSocket = str(r); } },
];

export const OPTION_BY_NAME = new Map(OPTIONS.map((o) => [o.name, o]));

export function envName(option: string): string {
  return 'NODEDNS_' + option.toUpperCase().replace(/-/g, '_');
}
