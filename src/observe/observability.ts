// Everything observability in one call: /metrics, /health and /ready, NSID and CHAOS
// answers, per-query logs. `nodedns run` calls startObservability() before the agent
// starts (so /ready answers 503 "listeners not bound" meanwhile) and attach()es the agent
// once it serves. With --workers N the supervisor calls it with a workerSource() and each
// worker calls instrumentWorker() instead (see source.ts for why snapshots travel over IPC).
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { nodeCounters as processNodeCounters, type NodeCounters } from '../node/counters';
import type { Agent } from '../serve/agent';
import { boundAddress, closeHttp, listenHttp } from './http';
import { instrumentAgent } from './instrument';
import type { MetricsRegistry } from './metrics';
import { localSource, type ServingState, type StateSource } from './source';

export { instrumentAgent, instrumentWorker } from './instrument';

export interface NodeSetupState {
  complete: boolean;
  /** what is not in place yet, in words for the operator */
  missing: string[];
}

export interface ObservabilityOptions {
  config: Config;
  log: Logger;
  /** the agent of this process; or attach() it later */
  agent?: Agent;
  /** where the serving state comes from; default: the attached agent (single process) */
  source?: StateSource;
  /** node setup state for /ready (the node setup code provides it) */
  nodeSetup?: () => NodeSetupState;
  /** node setup counters; default: this process' nodeCounters (src/node/counters.ts) */
  nodeCounters?: NodeCounters;
}

export interface Readiness extends ServingState {
  ready: boolean;
  missing: string[];
}

export interface Observability {
  /** the agent now serves: readiness and metrics follow it; NSID, CHAOS and query logs are set on it */
  attach(agent: Agent): void;
  /** readiness drops now (SIGTERM): call before draining */
  stopping(reason: string): void;
  /** what /ready would say now */
  readiness(): Promise<Readiness>;
  /** the exposition text /metrics would serve now */
  metrics(): Promise<string>;
  readonly metricsServer: Server | undefined;
  readonly healthServer: Server | undefined;
  stop(): Promise<void>;
}

export async function startObservability(o: ObservabilityOptions): Promise<Observability> {
  const { config, log } = o;
  let agent: Agent | undefined;
  let stoppingReason: string | undefined;
  let lastReady: boolean | undefined;
  const source = o.source ?? localSource(() => agent);
  const node = o.nodeCounters ?? processNodeCounters;
  // prom-client (and what it pulls in) is loaded only when metrics are served
  let registry: MetricsRegistry | undefined;
  const metricsRegistry = (): MetricsRegistry => (registry ??= (require('./metrics') as typeof import('./metrics')).createMetricsRegistry(config));

  const readiness = async (): Promise<Readiness> => {
    const s = await source();
    const missing = [...s.missing];
    const setup = o.nodeSetup?.();
    if (setup && !setup.complete) missing.push(...(setup.missing.length ? setup.missing.map((m) => `node setup: ${m}`) : ['node setup not complete']));
    if (stoppingReason) missing.unshift(`shutting down (${stoppingReason})`);
    const ready = s.ready && missing.length === 0;
    if (ready !== lastReady) {
      if (ready) log.info('ready');
      else if (lastReady !== undefined) log.warn({ missing }, 'not ready');
      lastReady = ready;
    }
    return { snapshot: s.snapshot, ready, missing };
  };
  const metrics = async () => {
    const state = await readiness();
    if (o.source) {
      // the serving processes are workers: add this (supervisor) process itself
      const cpu = process.cpuUsage();
      state.snapshot = { ...state.snapshot, rssBytes: state.snapshot.rssBytes + process.memoryUsage.rss(), cpuSeconds: state.snapshot.cpuSeconds + (cpu.user + cpu.system) / 1e6 };
    }
    return metricsRegistry().render({ state, node, config });
  };

  let metricsServer: Server | undefined;
  let healthServer: Server | undefined;
  try {
    if (config.metricsAddr) {
      metricsServer = await listenHttp(config.metricsAddr, '--metrics-addr', {
        '/metrics': async () => ({ status: 200, body: await metrics(), contentType: metricsRegistry().registry.contentType }),
      });
      log.info({ addr: config.metricsAddr, port: boundAddress(metricsServer).port }, 'metrics on /metrics');
    }
    if (config.healthAddr) {
      healthServer = await listenHttp(config.healthAddr, '--health-addr', {
        '/health': () => ({ status: 200, body: 'ok\n' }),
        '/ready': async () => {
          const r = await readiness();
          return r.ready ? { status: 200, body: 'ready\n' } : { status: 503, body: `not ready:\n${r.missing.map((m) => `- ${m}\n`).join('')}` };
        },
      });
      log.info({ addr: config.healthAddr }, 'health on /health, readiness on /ready');
    }
  } catch (e) {
    await closeHttp(metricsServer);
    throw e;
  }

  const obs: Observability = {
    attach(a) {
      agent = a;
      instrumentAgent(a, config, log);
    },
    stopping(reason) {
      stoppingReason ??= reason;
    },
    readiness,
    metrics,
    metricsServer,
    healthServer,
    async stop() {
      await Promise.all([closeHttp(metricsServer), closeHttp(healthServer)]);
    },
  };
  if (o.agent) obs.attach(o.agent);
  return obs;
}
