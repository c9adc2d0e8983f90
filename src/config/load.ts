// flags + YAML file + environment -> one validated Config.
// Precedence: flag, then environment, then file, then default.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { OPTIONS, OPTION_BY_NAME, envName, type Raw } from './options';
import { ConfigError, type Config } from './types';
import { listenAddrParts, parseEndpointList } from './values';

export function defaults(env: NodeJS.ProcessEnv = process.env): Config {
  const kubeDnsHost = env.KUBE_DNS_UPSTREAM_SERVICE_HOST;
  const kubeDnsPort = env.KUBE_DNS_UPSTREAM_SERVICE_PORT ?? '53';
  let clusterDns: Config['clusterDns'] = [];
  if (kubeDnsHost) {
    try {
      clusterDns = parseEndpointList(kubeDnsHost.includes(':') ? `[${kubeDnsHost}]:${kubeDnsPort}` : `${kubeDnsHost}:${kubeDnsPort}`);
    } catch (e) {
      throw new ConfigError(`KUBE_DNS_UPSTREAM_SERVICE_HOST: ${(e as Error).message}; unset it or pass --cluster-dns`);
    }
  }
  return {
    localIps: ['169.254.20.10'],
    port: 53,
    clusterDomain: 'cluster.local',
    reverseZones: ['in-addr.arpa', 'ip6.arpa'],
    clusterDns,
    clusterDnsTransport: 'prefer-udp',
    upstreams: [],
    upstreamTransport: 'prefer-udp',
    stubDomains: [],
    hosts: {},
    hostRoot: '/',
    upstreamTimeoutMs: 1500,
    queryTimeoutMs: 4000,
    upstreamMaxFails: 3,
    healthCheckIntervalMs: 500,
    maxInflight: 4096,
    maxWaiting: 16384,
    maxWaitingPerClient: 1024,
    loopCheckIntervalMs: 300_000,
    tcpMaxConnections: 1024,
    tcpIdleTimeoutMs: 10_000,
    tcpMaxQueriesPerConnection: 128,
    upstreamCaseRandomization: true,
    unwantedReplyThreshold: 10,
    staleClientTimeoutMs: 1800,
    fdReserve: 64,
    tcpMaxConnectionsPerClient: 64,
    tcpMessageTimeoutMs: 2000,
    tcpMaxPendingBytes: 65536,
    tcpMaxPendingTotal: 32 * 1024 * 1024,
    allowOpenResolver: false,
    chaosAllow: [],
    cache: {
      positiveSize: 9984,
      negativeSize: 9984,
      successTtlCap: 30,
      denialTtlCap: 30,
      clusterSuccessTtlCap: 30,
      clusterDenialTtlCap: 5,
      servfailTtl: 5,
      staleWindow: 3600,
      prefetchHits: 3,
      prefetchPercent: 10,
      prefetchMaxInflight: 64,
      file: '',
      zones: [],
    },
    setupInterface: true,
    interfaceName: 'nodelocaldns',
    firewall: 'auto',
    syncIntervalMs: 10_000,
    healthPort: 8080,
    workers: 1,
    steering: 'auto',
    lockFile: '/run/nodedns/owner.sock',
    kubeApi: Boolean(env.KUBERNETES_SERVICE_HOST),
    kubeconfig: '',
    nodeName: env.NODE_NAME || hostname(),
    configMap: '',
    watchKubeDnsConfigMap: true,
    writeKubeletConfig: false,
    restartKubelet: false,
    metricsAddr: '127.0.0.1:9253', // never every address unless told: the DaemonSet passes the node's own
    watchPods: true,
    searchCompletion: false,
    searchCompletionWalks: 16,
    podMax: 1000,
    podTopNames: 10,
    podMetrics: false,
    healthAddr: 'auto', // the first local IP, port 8080
    logLevel: 'info',
    logQueries: false,
    logQueriesSample: 1,
    controlSocket: '/run/nodedns/control.sock',
  };
}

export interface ParsedArgs {
  values: Map<string, Raw[]>; // option name -> values in order
  positional: string[];
  configFile?: string;
}

/** Splits argv into option values and positional words; unknown flags are errors. */
export function parseArgs(argv: string[], extraBooleans: string[] = []): ParsedArgs {
  const values = new Map<string, Raw[]>();
  const positional: string[] = [];
  let configFile: string | undefined;
  const add = (name: string, val: Raw) => values.set(name, [...(values.get(name) ?? []), val]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) { positional.push(arg); continue; }
    if (arg === '--') { positional.push(...argv.slice(i + 1)); break; }
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let inline: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === 'config') {
      configFile = inline ?? argv[++i];
      if (configFile === undefined) throw new ConfigError('--config needs a file path');
      continue;
    }
    if (extraBooleans.includes(name)) { add(name, inline ?? true); continue; }
    let negated = false;
    if (!OPTION_BY_NAME.has(name) && name.startsWith('no-') && OPTION_BY_NAME.get(name.slice(3))?.bool) {
      name = name.slice(3);
      negated = true;
    }
    const opt = OPTION_BY_NAME.get(name);
    if (!opt) throw new ConfigError(`unknown flag --${name}; did you mean --${closest(name, OPTIONS.map((o) => o.name))}? (run "nodedns help" for the list of flags)`);
    if (negated) { add(name, false); continue; }
    if (opt.bool && inline === undefined) { add(name, true); continue; }
    if (inline === undefined) {
      inline = argv[++i];
      if (inline === undefined) throw new ConfigError(`--${name} needs a value (${opt.help})`);
    }
    add(name, inline);
  }
  return { values, positional, configFile };
}

// NODEDNS_ variables that are not settings: the config file path, and the supervisor's
// note to each worker of its slot.
const ENV_NOT_SETTINGS = new Set(['NODEDNS_CONFIG', 'NODEDNS_WORKER_SLOT']);

/** A NODEDNS_ variable that names no setting is a typo that would silently change nothing. */
function checkEnvNames(env: NodeJS.ProcessEnv): void {
  const known = new Set([...OPTIONS.map((o) => envName(o.name)), ...ENV_NOT_SETTINGS]);
  for (const k of Object.keys(env)) {
    if (!k.startsWith('NODEDNS_') || known.has(k)) continue;
    throw new ConfigError(`${k} (environment): no such setting; did you mean ${closest(k, [...known])}? (unset it, or see "nodedns help" for the names)`);
  }
}

/** The candidate with the fewest single-character edits from `word`. */
export function closest(word: string, candidates: string[]): string {
  let best = candidates[0];
  let bestCost = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestCost) { best = c; bestCost = d; }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** `label` names the setting as the operator wrote it: "--port", "cm.yaml: port", "NODEDNS_PORT". */
function applyOne(c: Config, name: string, raw: Raw, label: string): void {
  const opt = OPTION_BY_NAME.get(name);
  if (!opt) throw new ConfigError(`${label}: unknown key "${name}"; did you mean "${closest(name, OPTIONS.map((o) => o.name))}"? (the keys are the flag names, see "nodedns help")`);
  try {
    opt.apply(c, raw);
  } catch (e) {
    throw new ConfigError(`${label}: ${(e as Error).message}`);
  }
}

/** Parses the YAML text of a config file (or ConfigMap) and applies it onto `c`. */
export function applyYaml(c: Config, text: string, where: string): void {
  let doc: unknown;
  try {
    // loaded here, not at the top: ~8 MB that a worker started from flags never needs
    const { parse } = require('yaml') as typeof import('yaml');
    doc = parse(text);
  } catch (e) {
    throw new ConfigError(`${where}: not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`${where}: expected a map of settings (flag names as keys)`);
  for (const [k, val] of Object.entries(doc as Record<string, Raw>)) {
    if (k === 'config') throw new ConfigError(`${where}: "config" cannot name another file`);
    applyOne(c, k, val, OPTION_BY_NAME.has(k) ? `${where}: ${k}` : where);
  }
}

export interface LoadResult {
  config: Config;
  positional: string[];
  args: ParsedArgs;
}

export function loadConfig(argv: string[], env: NodeJS.ProcessEnv = process.env, extraBooleans: string[] = []): LoadResult {
  const args = parseArgs(argv, extraBooleans);
  const c = defaults(env);
  const kubeApiAuto = c.kubeApi;
  const file = args.configFile ?? env.NODEDNS_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`--config ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path or drop --config`);
    }
    applyYaml(c, text, file);
  }
  checkEnvNames(env);
  for (const opt of OPTIONS) {
    const val = env[envName(opt.name)];
    if (val !== undefined) applyOne(c, opt.name, val, `${envName(opt.name)} (environment)`);
  }
  for (const [name, vals] of args.values) {
    if (!OPTION_BY_NAME.has(name)) continue; // a command's own flag
    const opt = OPTION_BY_NAME.get(name)!;
    for (const val of opt.repeatable ? vals : vals.slice(-1)) applyOne(c, name, val, `--${name}`);
  }
  // A kubeconfig means "use the API", unless --kube-api was set one way or the other.
  if (c.kubeconfig !== '' && c.kubeApi === kubeApiAuto && !args.values.has('kube-api') && env[envName('kube-api')] === undefined) c.kubeApi = true;
  finish(c);
  return { config: c, positional: args.positional, args };
}

/** 0.0.0.0, ::, or any spelling of them. */
function isWildcard(ip: string): boolean {
  return ip.split(/[:.]/).every((part) => /^0*$/.test(part));
}

/** Cross-field checks and derived values. Also used for live reloads. */
export function finish(c: Config): Config {
  if (c.localIps.length === 0) throw new ConfigError('--local-ip: at least one address is needed (default 169.254.20.10)');
  if (new Set(c.localIps).size !== c.localIps.length) throw new ConfigError('--local-ip: an address is listed twice');
  const wildcard = c.localIps.find(isWildcard);
  if (wildcard !== undefined && !c.allowOpenResolver) {
    throw new ConfigError(`--local-ip ${wildcard}: a wildcard address answers DNS on every address of the node, an open resolver for whatever reaches it `
      + '(other nodes, the internet where the node has a public address). List the addresses pods use (default 169.254.20.10), '
      + 'or add --allow-open-resolver if every address is really meant');
  }
  if (c.cache.servfailTtl > 5) throw new ConfigError('--servfail-ttl: at most 5s (SERVFAIL is cached only briefly); 0 turns it off');
  if (c.queryTimeoutMs < c.upstreamTimeoutMs) {
    throw new ConfigError(`--query-timeout (${c.queryTimeoutMs}ms) must be at least --upstream-timeout (${c.upstreamTimeoutMs}ms)`);
  }
  if (c.upstreamTimeoutMs < 10) throw new ConfigError('--upstream-timeout: at least 10ms');
  if (c.healthAddr === 'auto') {
    const ip = c.localIps[0];
    c.healthAddr = ip.includes(':') ? `[${ip}]:8080` : `${ip}:8080`;
  }
  if (c.healthAddr !== '') c.healthPort = listenAddrParts(c.healthAddr).port;
  return c;
}
