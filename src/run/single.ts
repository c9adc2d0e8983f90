// One process does everything: serving, node setup, /metrics and /ready, the control
// socket, the API. This is `nodedns run` by default: the kernel holds the pods' fallback
// (see src/node/firewall/rules.ts), so no second process is needed to keep DNS alive.
//
// The start is a transaction: the configuration is validated (the agent is built)
// before anything changes; then the lock, the addresses, the sockets, and the rules only
// once every socket is bound. A failure on the way takes back what changed.
import type { Logger } from 'pino';
import type { Config } from '../config/types';
import { startControlServer } from '../diagnose/control-server';
import { attachKubernetes } from '../kube/attach';
import type { KubeAgent } from '../kube/integration';
import { REASONS } from '../kube/reasons';
import { claimNode, nodeSetupOn, type NodeClaim } from '../node/claim';
import { NO_FALLBACK, type NodeSetup } from '../node/setup';
import { startObservability, type Observability } from '../observe/observability';
import { Agent } from '../serve/agent';
import { logStart } from './log-start';
import { watchLoops } from './loop-watch';
import { settleMemory } from './settle-memory';
import { onStopSignals } from './signals';

/** Time the sockets keep being read after NOTRACK is gone, for packets already queued. */
const SETTLE_MS = 150;

export async function runSingle(config: Config, log: Logger): Promise<number> {
  // a signal during the start waits for it to finish, then stops as usual: never a half-started node
  let started!: (stop: (signal: string) => Promise<void>) => void;
  const stopWhenStarted = new Promise<(signal: string) => Promise<void>>((r) => { started = r; });
  onStopSignals(async (signal) => (await stopWhenStarted)(signal));
  const agent = Agent.offline({ config, log }); // validates: throws ConfigError before any change
  let claim: NodeClaim | undefined;
  let obs: Observability | undefined;
  try {
    if (nodeSetupOn(config)) claim = await claimNode(config, log);
    const node = claim?.node;
    obs = await startObservability({ config, log, nodeSetup: node ? () => node.state() : undefined }); // /ready: 503 until serving
    await agent.bind();
    if (node) {
      await node.setServing(true);
      await node.begin();
    }
  } catch (e) {
    await agent.stop(false);
    await obs?.stop();
    await claim?.undo();
    throw e;
  }
  const node = claim?.node;
  obs.attach(agent);
  logStart(agent, log);
  const kube = await attachKubernetes(config, log, node ? withNode(agent, node) : agent);
  settleMemory(log, kube.synced);
  const control = await startControlServer(agent, config, log);
  const stopLoops = watchLoops(agent, log, (message) => kube.report(REASONS.loop, message, 'Warning'));
  const o = obs;
  started(async (signal) => {
    const fallback = node?.hasFallback ?? false; // the cluster DNS may have come or gone since the start
    o.stopping(signal); // readiness drops first
    log.info({ signal }, fallback ? 'stopping: handing DNS to the fallback, then finishing queries in flight' : 'stopping: finishing queries in flight');
    if (node) {
      await node.setServing(false);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
    }
    stopLoops();
    await kube.stop();
    await control.close();
    await agent.drain(5000);
    await agent.stop();
    await node?.stop();
    claim?.lock.release();
    await o.stop();
    if (!node) log.info('stopped');
    else if (fallback) log.info('stopped; the fallback rules stay in place until nodedns starts again (nodedns teardown removes them)');
    else log.info(`stopped; ${NO_FALLBACK} until nodedns starts again`);
  });
  return new Promise<number>(() => { /* runs until a signal */ });
}

/** The agent as the Kubernetes integration sees it, with cluster DNS changes also going to the fallback rules. */
function withNode(agent: Agent, node: NodeSetup): KubeAgent {
  return {
    get config() { return agent.config; },
    stats: agent.stats,
    reconfigure(next) {
      agent.reconfigure(next);
      void node.setClusterDns(agent.config.clusterDns);
    },
    setClusterDns(eps, source) {
      agent.setClusterDns(eps, source);
      void node.setClusterDns(agent.config.clusterDns);
    },
    readiness: () => agent.readiness(),
    setPods: (s) => agent.setPods(s),
  };
}
