// Whether this process is a cluster worker (--workers N). The supervisor forks each worker
// with NODEDNS_WORKER_SLOT in its environment (src/node/supervisor.ts): reading that first
// spares the single process, the default, loading node:cluster at all.
type Cluster = typeof import('node:cluster').default;

export function isClusterWorker(): boolean {
  return process.env.NODEDNS_WORKER_SLOT !== undefined && (require('node:cluster') as Cluster).isWorker;
}

/** The worker's cluster id, when this process is a worker. */
export function clusterWorkerId(): number | undefined {
  return isClusterWorker() ? (require('node:cluster') as Cluster).worker?.id : undefined;
}
