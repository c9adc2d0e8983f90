// What every serving process does to its agent: NSID, CHAOS answers, per-query logs,
// and in a worker, answering the supervisor's snapshot requests. No prom-client here:
// workers never load it (the supervisor serves /metrics).
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import type { Agent } from '../serve/agent';
import { instrumentHandler } from './introspection';
import { queryLogger } from './query-log';
import { answerSnapshotRequests, type IpcPeer } from './source';

/** NSID, CHAOS answers and per-query logs on one agent. */
export function instrumentAgent(agent: Agent, config: Config, log: Logger): void {
  instrumentHandler(agent, config);
  agent.handler.queryLog = config.logQueries ? queryLogger(log, config.logQueriesSample) : undefined;
}

/** In a worker process: instrument the agent and answer the supervisor's snapshot requests. Returns a stop function. */
export function instrumentWorker(agent: Agent, config: Config, log: Logger, peer?: IpcPeer): () => void {
  instrumentAgent(agent, config, log);
  return answerSnapshotRequests(() => agent, peer);
}
