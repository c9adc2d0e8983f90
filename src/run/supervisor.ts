// The supervisor: node setup, worker supervision, /metrics and /ready for all workers,
// and the Kubernetes API (relayed to the workers as configuration changes).
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { attachKubernetes, type KubeAttachment } from '../kube/attach';
import { REASONS } from '../kube/reasons';
import { NodeSetup } from '../node/setup';
import { Supervisor } from '../node/supervisor';
import { startObservability } from '../observe/observability';
import { workerSource, type StateSource, type WorkerHandle } from '../observe/source';
import { ConfigRelay } from './config-relay';
import { onStopSignals } from './signals';

export async function runSupervisor(config: Config, log: Logger): Promise<number> {
  const node = config.setupInterface || config.firewall !== 'none' ? await NodeSetup.start({ config, log }) : undefined;
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
  const obs = await startObservability({ config, log, source, nodeSetup: node ? () => node.state() : undefined });
  const poll = setInterval(() => { source().catch(() => { /* workers restarting */ }); }, 5000);
  poll.unref();
  onStopSignals(async (signal) => {
    obs.stopping(signal); // readiness drops first
    clearInterval(poll);
    await kube?.stop();
    await sup.stop(signal);
    await obs.stop();
  });
  try {
    await sup.start();
  } catch (e) {
    await node?.stop();
    await obs.stop();
    return (e as { exitCode?: number }).exitCode ?? 1;
  }
  log.info({ workers: config.workers, firewall: node?.firewall?.name ?? 'none', interface: config.setupInterface ? config.interfaceName : 'off' }, 'nodedns supervising');
  try {
    kube = await attachKubernetes(config, log, relay);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot use the Kubernetes API; serving with the configuration from flags and files only. Check the ServiceAccount token or --kubeconfig');
  }
  return new Promise<number>(() => { /* runs until a signal */ });
}
