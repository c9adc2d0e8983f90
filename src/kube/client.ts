// The connection to the Kubernetes API: in-cluster (the DaemonSet's ServiceAccount),
// or a kubeconfig file for running off-cluster and for tests.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ConfigError, type Config } from '../config/types';

export interface KubeClient {
  kc: KubeConfig;
  core: CoreV1Api;
  server: string;
}

export function connect(config: Config): KubeClient {
  const kc = new KubeConfig();
  try {
    if (config.kubeconfig) kc.loadFromFile(config.kubeconfig);
    else kc.loadFromCluster();
  } catch (e) {
    const where = config.kubeconfig ? `--kubeconfig ${config.kubeconfig}` : 'the in-cluster ServiceAccount';
    throw new ConfigError(`cannot load Kubernetes credentials from ${where}: ${(e as Error).message}; `
      + 'pass --kubeconfig FILE, or --no-kube-api to run without the Kubernetes API');
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new ConfigError(`${config.kubeconfig ? `--kubeconfig ${config.kubeconfig}` : 'in-cluster config'}: no current cluster; `
      + 'set current-context, or pass --no-kube-api');
  }
  return { kc, core: kc.makeApiClient(CoreV1Api), server: cluster.server };
}

/** A short reason for an API failure: status code and the server's reason, never the whole body. */
export function apiError(e: unknown): string {
  const err = e as { code?: number; statusCode?: number; body?: unknown; message?: string };
  const code = err.code ?? err.statusCode;
  let reason = '';
  if (typeof err.body === 'string') {
    try { reason = (JSON.parse(err.body) as { message?: string }).message ?? ''; } catch { reason = err.body.slice(0, 200); }
  } else if (err.body && typeof err.body === 'object') {
    reason = (err.body as { message?: string }).message ?? '';
  }
  if (typeof code === 'number') return `HTTP ${code}${reason ? `: ${reason}` : ''}`;
  return (err.message ?? String(e)).split('\n')[0].slice(0, 300);
}
