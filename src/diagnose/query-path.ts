// Where explain and query send their questions: the running agent over the control socket
// (its routing, its cache, its upstream health), or, when none answers, an agent built
// from the same configuration that binds no socket and resolves directly.
import pino from 'pino';
import type { Config } from '../config/types';
import { Agent, type DebugClient } from '../serve/agent';
import { findAgent } from './control-client';
import type { AgentState, QueryReport } from './control-types';
import { summarize } from './message';

export interface QueryPath {
  mode: 'live' | 'direct';
  /** one line for the output: where the answers come from */
  describe: string;
  config: Config;
  state?: AgentState;
  /** `client`: ask as a library with this UDP size / EDNS would, so that TC shows (default: unlimited) */
  query(name: string, type: string, client?: DebugClient): Promise<QueryReport>;
  close(): Promise<void>;
}

export const silentLog = pino({ level: 'silent' });

export function directPath(config: Config, why: string): QueryPath {
  const agent = Agent.offline({ config, log: silentLog });
  return {
    mode: 'direct',
    describe: `resolved directly with this configuration (no running agent: ${why}); no cache from before`,
    config,
    async query(name, type, client) {
      const r = await agent.debugQuery(name, type, client);
      return {
        name, type, zone: r.zone || '.', routeKind: r.routeKind, cache: r.cache, upstream: r.upstream, latencyMs: r.latencyMs,
        error: r.error, response: r.response.toString('base64'), summary: summarize(r.response, type),
      };
    },
    close: () => agent.stop(false),
  };
}

/** The live agent when one answers on config.controlSocket, else direct resolution. */
export async function openQueryPath(config: Config, o: { direct?: boolean } = {}): Promise<QueryPath> {
  if (o.direct) return directPath(config, '--direct');
  const found = await findAgent(config.controlSocket);
  if ('reason' in found) return directPath(config, found.reason);
  const { client, state } = found;
  return {
    mode: 'live',
    describe: `through the running agent (pid ${state.pid}, ${client.socketPath}): its routing and cache`,
    config: state.config,
    state,
    query: (name, type, c) => client.query(name, type, c),
    close: async () => {},
  };
}
