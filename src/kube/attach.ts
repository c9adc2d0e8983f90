// What `nodedns run` does with Kubernetes once its agent is serving: the API integration
// (when --kube-api) and the kubelet clusterDNS step (when --write-kubelet-config).
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { writeKubeletClusterDns } from '../kubelet/on-start';
import { startKubeIntegration, type KubeAgent, type KubeIntegration } from './integration';

export interface KubeAttachment {
  integration?: KubeIntegration;
  /** the kubelet step, when it runs; resolves when it is done */
  kubelet?: Promise<unknown>;
  report(reason: string, message: string, type?: 'Normal' | 'Warning'): void;
  stop(): Promise<void>;
}

/** How long the kubelet step waits for the first answers from the API before it goes ahead. */
const SYNC_WAIT_MS = 10_000;

/** Call after the agent is serving. Throws ConfigError when the Kubernetes credentials cannot be loaded. */
export function attachKubernetes(config: Config, log: Logger, agent: KubeAgent): KubeAttachment {
  const integration = config.kubeApi ? startKubeIntegration({ config, log, agent }) : undefined;
  let kubelet: Promise<unknown> | undefined;
  if (config.writeKubeletConfig) {
    // the cluster DNS should be known before kubelet sends new pods here
    const synced = integration ? Promise.race([integration.synced, new Promise((r) => setTimeout(r, SYNC_WAIT_MS).unref())]) : Promise.resolve();
    kubelet = synced.then(() => writeKubeletClusterDns(config, log, integration));
  }
  return {
    integration,
    kubelet,
    report: (reason, message, type) => {
      if (integration) integration.report(reason, message, type);
      else (type === 'Normal' ? log.info.bind(log) : log.warn.bind(log))({ reason }, message);
    },
    stop: async () => { await integration?.stop(); },
  };
}
