// One process does everything: serving, /metrics and /ready, the control socket, the API.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { startControlServer } from '../diagnose/control-server';
import { attachKubernetes } from '../kube/attach';
import { startObservability } from '../observe/observability';
import { Agent } from '../serve/agent';
import { logStart } from './log-start';
import { watchLoops } from './loop-watch';
import { REASONS } from '../kube/reasons';
import { onStopSignals } from './signals';

export async function runSingle(config: Config, log: Logger): Promise<number> {
  const obs = await startObservability({ config, log }); // /ready answers 503 until the agent serves
  const agent = await Agent.start({ config, log });
  obs.attach(agent);
  logStart(agent, log);
  const kube = await attachKubernetes(config, log, agent);
  const control = await startControlServer(agent, config, log);
  const stopLoops = watchLoops(agent, log, (message) => kube.report(REASONS.loop, message, 'Warning'));
  onStopSignals(async (signal) => {
    obs.stopping(signal); // readiness drops first
    log.info({ signal }, 'stopping: finishing queries in flight');
    stopLoops();
    await kube.stop();
    await control.close();
    await agent.drain(5000);
    await agent.stop();
    await obs.stop();
    log.info('stopped');
  });
  return new Promise<number>(() => { /* runs until a signal */ });
}
