// The two ConfigMaps nodedns follows, and how they combine with the startup
// configuration. Precedence, highest first: flags and --config file, nodedns' own
// ConfigMap, the kube-dns ConfigMap (node-cache compatibility), what nodedns discovers.
import type { V1ConfigMap } from '@kubernetes/client-node';
import { applyYaml, finish } from '../config/load';
import { ConfigError, type Config, type Endpoint, type StubDomain } from '../config/types';
import { normalizeDomain, parseEndpoint } from '../config/values';

export const CONFIG_KEY = 'config.yaml';

/** Settings that only the DaemonSet's own arguments can set: they decide how the ConfigMap itself is read. */
const FIXED_KEYS = ['kube-api', 'kubeconfig', 'config-map', 'node-name', 'watch-kube-dns-configmap', 'write-kubelet-config', 'restart-kubelet'];

/** Settings read once at start by code outside the agent: a live change would be accepted and do nothing. */
const STARTUP_ONLY: [string, keyof Config][] = [
  ['log-level', 'logLevel'], ['log-queries', 'logQueries'], ['log-queries-sample', 'logQueriesSample'], ['sync-interval', 'syncIntervalMs'],
];

export interface KubeDnsSettings {
  stubDomains: StubDomain[];
  upstreams: Endpoint[];
}

/** node-cache's keys in kube-system/kube-dns: stubDomains {"domain": ["ip[:port]"]}, upstreamNameservers ["ip[:port]"]. */
export function parseKubeDnsConfigMap(cm: V1ConfigMap, localIps: string[]): KubeDnsSettings {
  const where = `ConfigMap ${cm.metadata?.namespace}/${cm.metadata?.name}`;
  const data = cm.data ?? {};
  const out: KubeDnsSettings = { stubDomains: [], upstreams: [] };
  const json = (key: string): unknown => {
    try {
      return JSON.parse(data[key]);
    } catch (e) {
      throw new ConfigError(`${where} key ${key}: not valid JSON (${(e as Error).message})`);
    }
  };
  const endpoint = (key: string, text: unknown): Endpoint => {
    if (typeof text !== 'string') throw new ConfigError(`${where} key ${key}: ${JSON.stringify(text)} is not a string "ip[:port]"`);
    let e: Endpoint;
    try {
      e = parseEndpoint(text);
    } catch (err) {
      throw new ConfigError(`${where} key ${key}: ${(err as Error).message}`);
    }
    if (localIps.includes(e.host)) {
      throw new ConfigError(`${where} key ${key}: ${e.host} is nodedns' own address; forwarding there would loop`);
    }
    return e;
  };
  if (data.stubDomains !== undefined && data.stubDomains.trim() !== '') {
    const m = json('stubDomains');
    if (m === null || typeof m !== 'object' || Array.isArray(m)) {
      throw new ConfigError(`${where} key stubDomains: expected a JSON map {"domain": ["ip"]}`);
    }
    for (const [domain, servers] of Object.entries(m as Record<string, unknown>)) {
      if (!Array.isArray(servers) || servers.length === 0) {
        throw new ConfigError(`${where} key stubDomains: "${domain}" needs a non-empty list of servers`);
      }
      let d: string;
      try {
        d = normalizeDomain(domain);
      } catch (err) {
        throw new ConfigError(`${where} key stubDomains: ${(err as Error).message}`);
      }
      out.stubDomains.push({ domain: d, servers: servers.map((s) => endpoint('stubDomains', s)) });
    }
  }
  if (data.upstreamNameservers !== undefined && data.upstreamNameservers.trim() !== '') {
    const l = json('upstreamNameservers');
    if (!Array.isArray(l)) throw new ConfigError(`${where} key upstreamNameservers: expected a JSON list ["ip"]`);
    out.upstreams = l.map((s) => endpoint('upstreamNameservers', s));
  }
  return out;
}

export interface OwnSettings {
  text: string;
  where: string;
}

/** The text of nodedns' own ConfigMap, or undefined when it has no config.yaml. */
export function ownSettings(cm: V1ConfigMap): OwnSettings | undefined {
  const text = cm.data?.[CONFIG_KEY];
  if (text === undefined) return undefined;
  return { text, where: `ConfigMap ${cm.metadata?.namespace}/${cm.metadata?.name} key ${CONFIG_KEY}` };
}

export interface Layers {
  own?: OwnSettings;
  kubeDns?: KubeDnsSettings;
  /** discovered from the Services; used unless a flag, the file or the own ConfigMap names one */
  clusterDns?: Endpoint[];
}

function keysOf(text: string): string[] {
  try {
    // loaded here, not at start: only nodedns' own ConfigMap (--config-map, off by default) is YAML
    const doc = (require('yaml') as typeof import('yaml')).parse(text) as unknown;
    return doc && typeof doc === 'object' && !Array.isArray(doc) ? Object.keys(doc) : [];
  } catch {
    return []; // applyYaml reports the syntax error with its position
  }
}

/** base + layers -> the next Config, validated; throws ConfigError naming the ConfigMap and key at fault. */
export function compose(base: Config, layers: Layers, clusterDnsFixed: boolean): Config {
  const next = structuredClone(base);
  let ownClusterDns = false;
  if (layers.own) {
    const keys = keysOf(layers.own.text);
    const fixed = keys.filter((k) => FIXED_KEYS.includes(k));
    if (fixed.length > 0) {
      throw new ConfigError(`${layers.own.where}: ${fixed.join(', ')} can only be set in the DaemonSet's arguments, not in the ConfigMap`);
    }
    applyYaml(next, layers.own.text, layers.own.where);
    for (const [key, field] of STARTUP_ONLY) {
      if (JSON.stringify(next[field]) !== JSON.stringify(base[field])) {
        throw new ConfigError(`${layers.own.where}: ${key} is read only at start; set it in the DaemonSet's args (a rolling restart applies it)`);
      }
    }
    ownClusterDns = keys.includes('cluster-dns');
  }
  if (layers.kubeDns) {
    if (next.upstreams.length === 0) next.upstreams = layers.kubeDns.upstreams;
    const have = new Set(next.stubDomains.map((s) => s.domain));
    next.stubDomains = [...next.stubDomains, ...layers.kubeDns.stubDomains.filter((s) => !have.has(s.domain))];
  }
  if (!clusterDnsFixed && !ownClusterDns && layers.clusterDns && layers.clusterDns.length > 0) next.clusterDns = layers.clusterDns;
  return finish(next);
}
