// `nodedns run`. By default one process does everything: serves, owns the node setup,
// /metrics, /ready and the Kubernetes API. With --workers N (N > 1) this process is the
// supervisor and forks N workers that serve. Each kind of process loads only the modules
// it needs: a worker never loads the Kubernetes client or prom-client.
import { Socket } from 'node:dgram';
import { loadConfig } from './config/load';
import type { Config } from './config/types';
import { isClusterWorker } from './observe/cluster-worker';
import { createLogger } from './observe/log';

/** Whether `run` supervises workers (more than one). */
export function supervised(c: Config): boolean {
  return c.workers > 1;
}

/** What nodedns needs of Node.js beyond the major version: why this one will not do, with the fix. */
export function runtimeProblem(dgramSocket: { prototype: object } = Socket): string | undefined {
  if (typeof (dgramSocket.prototype as { connectSync?: unknown }).connectSync === 'function') return undefined;
  return `Node.js ${process.version} has no dgram socket.connectSync, which every upstream query uses: ` +
    'run nodedns on Node.js 24.22 or later (the image is built on node:24-slim; make installs the version package-lock.json pins)';
}

export async function runCommand(argv: string[]): Promise<number> {
  const problem = runtimeProblem();
  if (problem) {
    process.stderr.write(`nodedns: ${problem}\n`);
    return 1;
  }
  const { config } = loadConfig(argv);
  const log = createLogger(config.logLevel);
  if (isClusterWorker()) return (await import('./run/worker')).runServingWorker(config, log);
  if (supervised(config)) return (await import('./run/supervisor')).runSupervisor(config, log);
  return (await import('./run/single')).runSingle(config, log);
}
