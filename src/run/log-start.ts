// The line at start that says what is in effect and where it came from.
import type { Logger } from 'pino';
import type { Agent } from '../serve/agent';

export function logStart(agent: Agent, log: Logger): void {
  const c = agent.config;
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
