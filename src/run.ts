// `nodedns run`. With node setup (interface, firewall rules) or --workers > 1 this
// process is the supervisor: it owns the node setup and forks the workers that serve
// (src/node/supervisor.ts). With neither (tests, or a node managed by hand) one process
// serves, as it always did.
import cluster from 'node:cluster';
import { loadConfig } from './config/load';
import type { Config } from './config/types';
import { NodeSetup } from './node/setup';
import { Supervisor } from './node/supervisor';
import { reportClusterDns, runWorker } from './node/worker';
import { createLogger, type Logger } from './observe/log';
import { Agent } from './serve/agent';
import { startControlServer } from './diagnose/control-server';
import { attachKubernetes } from './kube/attach';
import { instrumentWorker, startObservability } from './observe/observability';
import { workerSource, type WorkerHandle } from './observe/source';

/** The line at start that says what is in effect and where it came from. */
export function logStart(agent: Agent, log: Logger): void {
  const c: Config = agent.config;
  const d = agent.hostUpstreams.discovery;
  log.info({
    localIps: c.localIps, port: c.port,
    zones: agent.router.routes.map((r) => ({ zone: r.zone || '.', kind: r.kind, servers: r.pool.upstreams.map((u) => u.address), transport: r.pool.upstreams[0]?.transport })),
    upstreamSource: agent.hostUpstreams.source,
    skippedUpstreams: d?.skipped,
    cache: { positive: c.cache.positiveSize, negative: c.cache.negativeSize, file: c.cache.file || undefined },
    nodeSetup: { interface: c.setupInterface ? c.interfaceName : 'off', firewall: c.firewall },
  }, 'nodedns serving');
}

/** Whether `run` supervises workers (node setup on, or more than one worker). */
export function supervised(c: Config): boolean {
  return c.workers > 1 || c.setupInterface || c.firewall !== 'none';
}

export async function runCommand(argv: string[]): Promise<number> {
  const { config } = loadConfig(argv);
  const log = createLogger(config.logLevel);
  if (cluster.isWorker) {
    const first = process.env.NODEDNS_WORKER_SLOT === '0';
    return runWorker(config, log, (agent) => {
      instrumentWorker(agent, config, log);
      logStart(agent, log);
      const control = first ? startControlServer(agent, config, log) : undefined; // one worker answers doctor/explain/query
      // Every worker follows the API (each agent needs the cluster DNS and ConfigMap
      // settings); only the first writes kubelet's config. The supervisor hears of the
      // cluster DNS address for the fallback rules.
      let sent = JSON.stringify(agent.config.clusterDns);
      const report = () => {
        const now = JSON.stringify(agent.config.clusterDns);
        if (now !== sent && first) reportClusterDns(agent.config.clusterDns);
        sent = now;
      };
      const kube = attachKubernetes(first ? config : { ...config, writeKubeletConfig: false, restartKubelet: false }, log, {
        get config() { return agent.config; },
        get stats() { return agent.stats; },
        reconfigure(next) { agent.reconfigure(next); report(); },
        setClusterDns(eps, source) { agent.setClusterDns(eps, source); report(); },
        readiness: () => agent.readiness(),
      });
      return async () => {
        await (await kube).stop();
        await (await control)?.close();
      };
    });
  }
  if (supervised(config)) return runSupervisor(config, log);
  const obs = await startObservability({ config, log }); // /ready answers 503 until the agent serves
  const agent = await Agent.start({ config, log });
  obs.attach(agent);
  logStart(agent, log);
  const kube = await attachKubernetes(config, log, agent);
  const control = await startControlServer(agent, config, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    obs.stopping(signal); // readiness drops first
    log.info({ signal }, 'stopping: finishing queries in flight');
    await kube.stop();
    await control.close();
    await agent.drain(5000);
    await agent.stop();
    await obs.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return new Promise<number>(() => { /* runs until a signal */ });
}

async function runSupervisor(config: Config, log: Logger): Promise<number> {
  const node = config.setupInterface || config.firewall !== 'none' ? await NodeSetup.start({ config, log }) : undefined;
  const sup = new Supervisor({ config, log, node });
  const handles = (): WorkerHandle[] => Object.values(cluster.workers ?? {})
    .filter((w) => w !== undefined && !w.isDead())
    .map((w) => Object.assign(w!, { name: `worker ${w!.id}` }) as unknown as WorkerHandle);
  const obs = await startObservability({
    config, log,
    source: workerSource(handles, () => config.workers),
    nodeSetup: node ? () => node.state() : undefined,
  });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    obs.stopping(signal); // readiness drops first
    await sup.stop(signal);
    await obs.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  try {
    await sup.start();
  } catch (e) {
    stopping = true;
    await node?.stop();
    await obs.stop();
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
  log.info({ workers: config.workers, firewall: node?.firewall?.name ?? 'none', interface: config.setupInterface ? config.interfaceName : 'off' }, 'nodedns supervising');
  return new Promise<number>(() => { /* runs until a signal */ });
}
