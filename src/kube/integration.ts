// nodedns and the Kubernetes API: the cluster DNS Service, the kube-dns and nodedns
// ConfigMaps (applied live through agent.reconfigure), and Events on the Node.
// Nothing here is on the query path: a slow or absent API server only delays changes.
import type { V1ConfigMap, V1Service } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ConfigError, type Config, type Endpoint } from '../config/types';
import type { Stats } from '../observe/stats';
import type { KubeObject } from './api';
import type { PodsSnapshot } from '../pods/table';
import { connect, type KubeClient } from './client';
import { chooseClusterDns, clusterDnsOrigin, DNS_NAMESPACE, KUBE_DNS_SERVICE, sameEndpoints, UPSTREAM_SERVICE } from './cluster-dns';
import { compose, ownSettings, parseKubeDnsConfigMap, type Layers } from './configmaps';
import { startConditionWatch } from './conditions';
import { NodeEvents, REASONS, type NodeEventsOptions } from './events';
import { startPodsWatch } from './pods';
import { watchNamed, type NamedWatch } from './watch';

/** What the integration needs of the Agent (src/serve/agent.ts). */
export interface KubeAgent {
  readonly config: Config;
  readonly stats: Stats;
  reconfigure(next: Config): void;
  setClusterDns(eps: Endpoint[], source: string): void;
  readiness(): { ready: boolean; missing: string[] };
  /** this node's pods (src/pods/), when the pods watch runs */
  setPods(s: PodsSnapshot): void;
}

export interface KubeIntegrationOptions {
  config: Config; // the startup configuration (flags, file, environment)
  log: Logger;
  agent: KubeAgent;
  env?: NodeJS.ProcessEnv;
  events?: NodeEventsOptions;
  conditionIntervalMs?: number; // default 10 s
  backoff?: { initialMs: number; maxMs: number };
}

export interface KubeIntegration {
  readonly events: NodeEvents;
  /** resolves when every watch has answered once (the Services and ConfigMaps are known, or known unreachable) */
  readonly synced: Promise<void>;
  /** reports an operator-facing condition from outside (the node supervisor: FallbackActive) */
  report(reason: string, message: string, type?: 'Normal' | 'Warning'): void;
  stop(): Promise<void>;
}

const KUBE_DNS_CONFIGMAP = 'kube-dns';

export function startKubeIntegration(o: KubeIntegrationOptions): KubeIntegration {
  const client: KubeClient = connect(o.config);
  const { log, agent } = o;
  const env = o.env ?? process.env;
  const base = structuredClone(o.config);
  const events = new NodeEvents(client.core, base.nodeName, log.child({ component: 'events' }), o.events);
  const origin = clusterDnsOrigin(base, env);
  const envEndpoints = origin === 'env' ? base.clusterDns : [];
  const layers: Layers = {};
  let ownRaw: string | undefined; // last text seen, to skip repeats of the same content
  let kubeDnsRaw: string | undefined;
  const services: { upstream?: V1Service; kubeDns?: V1Service } = {};
  let lastProblems = '';
  let initialSync = true;
  const watches: NamedWatch[] = [];
  const watchLog = log.child({ component: 'kube' });

  const reject = (where: string, e: unknown) => {
    const raw = (e as Error).message;
    const msg = raw.includes(where) ? raw : `${where}: ${raw}`;
    agent.stats.configReloads.rejected++;
    watchLog.error({ source: where, err: msg }, 'configuration change rejected; the previous configuration stays in effect');
    events.report(REASONS.rejected, `${msg}; the previous configuration stays in effect`);
  };

  /** Rebuilds the full Config from the layers and hands it to the agent; false when rejected. */
  const apply = (where: string): boolean => {
    let next: Config;
    try {
      next = compose(base, layers, origin === 'explicit');
      agent.reconfigure(next);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      reject(where, e);
      return false;
    }
    watchLog.info({ source: where, upstreams: next.upstreams.map((u) => `${u.host}:${u.port}`),
      stubDomains: next.stubDomains.map((s) => s.domain) }, 'configuration applied live');
    if (!initialSync) events.report(REASONS.applied, `new configuration from ${where} applied`, 'Normal');
    return true;
  };

  const onService = () => {
    if (origin === 'explicit') return;
    const { choice, problems } = chooseClusterDns(services.upstream, services.kubeDns, envEndpoints, base.localIps);
    const p = problems.join('; ');
    if (p && p !== lastProblems) {
      watchLog.warn({ problems }, 'a cluster DNS Service cannot be used');
      if (p.includes('loop')) events.report(REASONS.loop, p);
    }
    lastProblems = p;
    if (!choice) {
      if (agent.config.clusterDns.length > 0) {
        watchLog.warn({ inUse: agent.config.clusterDns.map((e) => `${e.host}:${e.port}`) },
          `neither ${DNS_NAMESPACE}/${UPSTREAM_SERVICE} nor ${DNS_NAMESPACE}/${KUBE_DNS_SERVICE} is usable; keeping the cluster DNS in use`);
      }
      return;
    }
    layers.clusterDns = choice.endpoints;
    if (sameEndpoints(agent.config.clusterDns, choice.endpoints)) return;
    try {
      agent.setClusterDns(choice.endpoints, choice.source);
      if (!initialSync) {
        events.report(REASONS.clusterDns, `cluster DNS is now ${choice.endpoints.map((e) => `${e.host}:${e.port}`).join(', ')} (${choice.source})`, 'Normal');
      }
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      reject(choice.source, e);
    }
  };

  const onKubeDnsConfigMap = (cm: V1ConfigMap | undefined) => {
    const raw = cm ? JSON.stringify([cm.data?.stubDomains, cm.data?.upstreamNameservers]) : undefined;
    if (raw === kubeDnsRaw) return;
    const where = `ConfigMap ${DNS_NAMESPACE}/${KUBE_DNS_CONFIGMAP}`;
    const prev = layers.kubeDns;
    try {
      layers.kubeDns = cm ? parseKubeDnsConfigMap(cm, base.localIps) : undefined;
    } catch (e) {
      kubeDnsRaw = raw; // the same broken content is reported once
      reject(where, e);
      return;
    }
    if (!apply(where)) layers.kubeDns = prev;
    kubeDnsRaw = raw;
  };

  const onOwnConfigMap = (cm: V1ConfigMap | undefined) => {
    const settings = cm ? ownSettings(cm) : undefined;
    const raw = settings?.text;
    if (raw === ownRaw) return;
    const where = settings?.where ?? `ConfigMap ${base.configMap} (deleted or without config.yaml)`;
    const prev = layers.own;
    layers.own = settings;
    if (!apply(where)) layers.own = prev;
    ownRaw = raw;
  };

  const backoff = o.backoff ?? { initialMs: 1000, maxMs: 30_000 };
  const common = { api: client.api, log: watchLog, initialBackoffMs: backoff.initialMs, maxBackoffMs: backoff.maxMs };
  const serviceWatch = (name: string, slot: 'upstream' | 'kubeDns') => watchNamed<V1Service & KubeObject>({
    ...common, path: `/api/v1/namespaces/${DNS_NAMESPACE}/services`, namespace: DNS_NAMESPACE, name,
    onChange: (svc) => { services[slot] = svc; onService(); },
  });
  const configMapWatch = (namespace: string, name: string, onChange: (cm: V1ConfigMap | undefined) => void) => watchNamed<V1ConfigMap & KubeObject>({
    ...common, path: `/api/v1/namespaces/${namespace}/configmaps`, namespace, name,
    onChange,
  });

  if (origin !== 'explicit') {
    watches.push(serviceWatch(UPSTREAM_SERVICE, 'upstream'), serviceWatch(KUBE_DNS_SERVICE, 'kubeDns'));
  }
  if (base.watchKubeDnsConfigMap) watches.push(configMapWatch(DNS_NAMESPACE, KUBE_DNS_CONFIGMAP, onKubeDnsConfigMap));
  if (base.configMap) {
    const [ns, name] = base.configMap.split('/');
    watches.push(configMapWatch(ns, name, onOwnConfigMap));
  }
  if (base.watchPods) {
    watches.push(startPodsWatch({ client, config: base, log: watchLog, backoff, onSnapshot: (s) => agent.setPods(s) }));
  }
  const synced = Promise.all(watches.map((w) => w.synced)).then(() => { initialSync = false; });
  const stopConditions = startConditionWatch(agent, events, o.conditionIntervalMs ?? 10_000);
  log.info({ server: client.server, node: base.nodeName, clusterDns: origin === 'explicit' ? 'fixed by --cluster-dns' : 'watched',
    configMap: base.configMap || undefined, kubeDnsConfigMap: base.watchKubeDnsConfigMap }, 'Kubernetes API integration started');

  return {
    events,
    synced,
    report: (reason, message, type) => events.report(reason, message, type),
    stop: async () => {
      stopConditions();
      await Promise.all(watches.map((w) => w.stop()));
      await events.flush();
      client.api.close();
    },
  };
}
