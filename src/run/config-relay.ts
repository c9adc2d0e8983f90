// In the supervisor: the live configuration. A change from the API (Service, ConfigMaps)
// is validated here by an agent that binds nothing, then sent to every worker and to
// the fallback rules. Workers never load the Kubernetes client.
import type { Logger } from 'pino';
import type { Config, Endpoint } from '../config/types';
import type { KubeAgent } from '../kube/integration';
import type { NodeSetup } from '../node/setup';
import type { PrimaryMessage, Supervisor } from '../node/supervisor';
import { Stats } from '../observe/stats';
import type { PodsSnapshot } from '../pods/table';
import { Agent } from '../serve/agent';

export class ConfigRelay implements KubeAgent {
  readonly stats = new Stats();
  private readonly validator: Agent;
  private changed = false;
  private pods: PodsSnapshot | undefined;
  private last: { ready: boolean; missing: string[] } = { ready: false, missing: ['no worker has reported yet'] };

  constructor(config: Config, private readonly log: Logger, private readonly sup: Supervisor, private readonly node?: NodeSetup) {
    this.validator = Agent.offline({ config, log, stats: this.stats });
  }

  get config(): Config {
    return this.validator.config;
  }

  /** Throws ConfigError (the old configuration stays) or applies everywhere. */
  reconfigure(next: Config): void {
    const dnsBefore = JSON.stringify(this.validator.config.clusterDns);
    this.validator.reconfigure(next);
    this.changed = true;
    this.sup.broadcast({ type: 'reconfigure', config: this.validator.config });
    if (JSON.stringify(next.clusterDns) !== dnsBefore) void this.node?.setClusterDns(next.clusterDns);
  }

  setClusterDns(eps: Endpoint[], source: string): void {
    if (JSON.stringify(eps) === JSON.stringify(this.config.clusterDns)) return;
    this.reconfigure({ ...this.config, clusterDns: eps });
    this.log.info({ clusterDns: eps.map((e) => `${e.host}:${e.port}`), source }, 'cluster DNS address changed');
  }

  /** This node's pods go to every worker: each answers for them. */
  setPods(s: PodsSnapshot): void {
    this.pods = s;
    this.sup.broadcast({ type: 'pods', snapshot: s });
  }

  /** A (re)started worker begins with the flags; bring it up to date. */
  sendCurrent(send: (m: PrimaryMessage) => void): void {
    if (this.changed) send({ type: 'reconfigure', config: this.validator.config });
    if (this.pods) send({ type: 'pods', snapshot: this.pods });
  }

  readiness(): { ready: boolean; missing: string[] } {
    return this.last;
  }

  noteReadiness(r: { ready: boolean; missing: string[] }): void {
    this.last = { ready: r.ready, missing: r.missing };
  }
}
