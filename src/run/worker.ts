// A serving worker under the supervisor: the agent, its instrumentation, and (slot 0)
// the control socket. Configuration changes arrive from the supervisor.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { startControlServer } from '../diagnose/control-server';
import { runWorker } from '../node/worker';
import { instrumentWorker } from '../observe/instrument';
import { logStart } from './log-start';
import { watchLoops } from './loop-watch';
import { settleMemory } from './settle-memory';

export function runServingWorker(config: Config, log: Logger): Promise<number> {
  const first = process.env.NODEDNS_WORKER_SLOT === '0';
  return runWorker(config, log, (agent) => {
    const stopSnapshots = instrumentWorker(agent, config, log);
    logStart(agent, log);
    settleMemory(log);
    const control = first ? startControlServer(agent, config, log) : undefined; // one worker answers doctor/explain/query
    const stopLoops = first ? watchLoops(agent, log, (message) => { if (process.send) process.send({ type: 'loop', message }); }) : () => {};
    return async () => {
      stopLoops();
      stopSnapshots();
      await (await control)?.close();
    };
  });
}
