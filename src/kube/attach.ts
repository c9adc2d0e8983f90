// What `nodedns run` does with Kubernetes once its agent is serving: the API integration
// (when --kube-api) and the kubelet clusterDNS step (when --write-kubelet-config).
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import type { KubeAgent, KubeIntegration } from './integration';

export interface KubeAttachment {
  integration?: KubeIntegration;
  /** the kubelet step, when it runs; resolves when it is done */
  kubelet?: Promise<unknown>;
  /** the first answers from the API: at once without --kube-api, after SYNC_WAIT_MS at most */
  synced: Promise<void>;
  report(reason: string, message: string, type?: 'Normal' | 'Warning'): void;
  stop(): Promise<void>;
}

/** How long what waits for the first answers from the API (the kubelet step, src/run/settle-memory.ts) waits before it goes ahead. */
const SYNC_WAIT_MS = 10_000;

/**
 * Call after the agent is serving. Throws ConfigError when the Kubernetes credentials cannot be loaded.
 * The client library costs about 65 MB of memory, so it is loaded only with --kube-api.
 */
export async function attachKubernetes(config: Config, log: Logger, agent: KubeAgent): Promise<KubeAttachment> {
  if (!config.kubeApi && config.kubeconfig) {
    log.warn({ kubeconfig: config.kubeconfig }, '--kubeconfig is set but the Kubernetes API is off; add --kube-api to use it');
  }
  const integration = config.kubeApi ? (await import('./integration')).startKubeIntegration({ config, log, agent }) : undefined;
  const synced = integration ? Promise.race([integration.synced, new Promise<void>((r) => setTimeout(r, SYNC_WAIT_MS).unref())]) : Promise.resolve();
  let kubelet: Promise<unknown> | undefined;
  if (config.writeKubeletConfig) {
    // the cluster DNS should be known before kubelet sends new pods here
    // loaded only when used: the kubelet writer brings the yaml parser
    kubelet = synced.then(async () => (await import('../kubelet/on-start')).writeKubeletClusterDns(config, log, integration));
  }
  return {
    integration,
    kubelet,
    synced,
    report: (reason, message, type) => {
      if (integration) integration.report(reason, message, type);
      else (type === 'Normal' ? log.info.bind(log) : log.warn.bind(log))({ reason }, message);
    },
    stop: async () => { await integration?.stop(); },
  };
}
