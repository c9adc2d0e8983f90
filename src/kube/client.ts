// The connection to the Kubernetes API: in-cluster (the DaemonSet's ServiceAccount),
// or a kubeconfig file for running off-cluster and for tests. Calls go through the small
// client in ./api (what nodedns calls, over node:https). @kubernetes/client-node gives the
// types only: loading it costs about 60 MiB of RSS (make bench, "nodedns at rest").
import type { CoreV1Api, CoreV1Event, V1ConfigMapList, V1ServiceList } from '@kubernetes/client-node';
import { ConfigError, type Config } from '../config/types';
import { ApiError, KubeApi } from './api';
import { inClusterCredentials, kubeconfigCredentials, type Credentials } from './credentials';

/** The calls of CoreV1Api that nodedns makes, with the library's signatures, over the small client. */
export type CoreCalls = Pick<CoreV1Api, 'listNamespacedService' | 'listNamespacedConfigMap' | 'createNamespacedEvent'>;

export interface KubeClient {
  /** list, watch and create over node:https: what src/kube uses */
  api: KubeApi;
  core: CoreCalls;
  server: string;
}

export function connect(config: Config): KubeClient {
  let creds: Credentials;
  try {
    creds = config.kubeconfig ? kubeconfigCredentials(config.kubeconfig) : inClusterCredentials();
  } catch (e) {
    const where = config.kubeconfig ? `--kubeconfig ${config.kubeconfig}` : 'the in-cluster ServiceAccount';
    throw new ConfigError(`cannot load Kubernetes credentials from ${where}: ${(e as Error).message}; `
      + 'pass --kubeconfig FILE, or --no-kube-api to run without the Kubernetes API');
  }
  let api: KubeApi;
  try {
    api = new KubeApi(creds);
  } catch (e) {
    throw new ConfigError(`${config.kubeconfig ? `--kubeconfig ${config.kubeconfig}` : 'in-cluster config'}: ${(e as Error).message}; `
      + 'fix the server address, or pass --no-kube-api');
  }
  const ns = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
  const core = {
    listNamespacedService: (p: { namespace: string; fieldSelector?: string }) =>
      api.list(`${ns(p.namespace)}/services`, { fieldSelector: p.fieldSelector }) as unknown as Promise<V1ServiceList>,
    listNamespacedConfigMap: (p: { namespace: string; fieldSelector?: string }) =>
      api.list(`${ns(p.namespace)}/configmaps`, { fieldSelector: p.fieldSelector }) as unknown as Promise<V1ConfigMapList>,
    createNamespacedEvent: (p: { namespace: string; body: CoreV1Event }) =>
      api.create(`${ns(p.namespace)}/events`, p.body as never) as unknown as Promise<CoreV1Event>,
  } as CoreCalls;
  return { api, core, server: creds.server };
}

/** A short reason for an API failure: status code and the server's reason, never the whole body. */
export function apiError(e: unknown): string {
  if (e instanceof ApiError) return e.message.slice(0, 300);
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
