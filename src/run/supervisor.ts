// The supervisor: node setup, worker supervision, /metrics and /ready for all workers,
// and the Kubernetes API (relayed to the workers as configuration changes).
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { attachKubernetes, type KubeAttachment } from '../kube/attach';
import { REASONS } from '../kube/reasons';
import { claimNode, nodeSetupOn } from '../node/claim';
import { Supervisor } from '../node/supervisor';
import { startObservability } from '../observe/observability';
import { workerSource, type StateSource, type WorkerHandle } from '../observe/source';
import { Agent } from '../serve/agent';
import { ConfigRelay } from './config-relay';
import { onStopSignals } from './signals';
import { settleMemory } from './settle-memory';

export async function runSupervisor(config: Config, log: Logger): Promise<number> {
  // the configuration is validated before anything on the node changes
  await Agent.offline({ config, log }).stop(false);
  const claim = nodeSetupOn(config) ? await claimNode(config, log) : undefined;
  const node = claim?.node;
  let kube: KubeAttachment | undefined;
  let relay: ConfigRelay | undefined;
  const sup = new Supervisor({
    config, log, node,
    onWorkerReady: (send) => relay?.sendCurrent(send),
    onFallback: (active, why) => { if (active) kube?.report(REASONS.fallback, why, 'Warning'); },
    onLoop: (message) => kube?.report(REASONS.loop, message, 'Warning'),
  });
  relay = new ConfigRelay(config, log, sup, node);
  const handles = (): WorkerHandle[] => Object.values(cluster.workers ?? {})
    .filter((w) => w !== undefined && !w.isDead())
    .map((w) => Object.assign(w!, { name: `worker ${w!.id}` }) as unknown as WorkerHandle);
  const fromWorkers = workerSource(handles, () => config.workers);
  const source: StateSource = async () => {
    const s = await fromWorkers();
    relay!.noteReadiness(s);
    // live changes are applied (and counted) here, once, not once per worker
    s.snapshot = { ...s.snapshot, configReloads: { ...relay!.stats.configReloads } };
    return s;
  };
  let obs;
  try {
    obs = await startObservability({ config, log, source, nodeSetup: node ? () => node.state() : undefined });
  } catch (e) {
    await claim?.undo();
    throw e;
  }
  const o = obs;
  const poll = setInterval(() => { source().catch(() => { /* workers restarting */ }); }, 5000);
  poll.unref();
  onStopSignals(async (signal) => {
    o.stopping(signal); // readiness drops first
    clearInterval(poll);
    await kube?.stop();
    await sup.stop(signal);
    claim?.lock.release();
    await o.stop();
  });
  try {
    await sup.start(); // a worker has bound the sockets
    await node?.begin(); // now the rules
  } catch (e) {
    await claim?.undo();
    await sup.stop('the start failed');
    await o.stop();
    if (!(e as { exitCode?: number }).exitCode) log.error({ err: (e as Error).message }, (e as Error).message);
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
  log.info({ workers: config.workers, firewall: node?.firewall?.name ?? 'none', interface: config.setupInterface ? config.interfaceName : 'off' }, 'nodedns supervising');
  try {
    kube = await attachKubernetes(config, log, relay);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot use the Kubernetes API; serving with the configuration from flags and files only. Check the ServiceAccount token or --kubeconfig');
  }
  settleMemory(log, kube?.synced);
  return new Promise<number>(() => { /* runs until a signal */ });
}
