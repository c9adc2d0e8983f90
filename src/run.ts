// `nodedns run`: one serving process. (Node setup and worker supervision wrap it.)
import { loadConfig } from './config/load';
import type { Config } from './config/types';
import { createLogger, type Logger } from './observe/log';
import { Agent } from './serve/agent';

/** The line at start that says what is in effect and where it came from. */
export function logStart(agent: Agent, log: Logger): void {
  const c: Config = agent.config;
  const d = agent.hostUpstreams.discovery;
  log.info({
    localIps: c.localIps, port: c.port,
    zones: agent.router.routes.map((r) => ({ zone: r.zone || '.', kind: r.kind, servers: r.pool.upstreams.map((u) => u.address), transport: r.pool.upstreams[0]?.transport })),
    upstreamSource: agent.hostUpstreams.source,
    skippedUpstreams: d?.skipped,
    cache: { positive: c.cache.positiveSize, negative: c.cache.negativeSize, file: c.cache.file || undefined },
    nodeSetup: { interface: c.setupInterface ? c.interfaceName : 'off', firewall: c.firewall },
  }, 'nodedns serving');
}

export async function runCommand(argv: string[]): Promise<number> {
  const { config } = loadConfig(argv);
  const log = createLogger(config.logLevel);
  const agent = await Agent.start({ config, log });
  logStart(agent, log);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping: finishing queries in flight');
    await agent.drain(5000);
    await agent.stop();
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  return new Promise<number>(() => { /* runs until a signal */ });
}
