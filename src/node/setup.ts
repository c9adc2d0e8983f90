// Node setup as one object: the interface with the local addresses, the firewall rules,
// and the resync loop that keeps both in place. `serving` says whether the NOTRACK rules
// belong in place (nodedns serves) or not (the fallback should take the traffic).
// Changes go through one queue, so syncs never overlap; only the removal of NOTRACK skips
// ahead (it cannot wait) and runs again after whatever was queued before it. A tick of the
// loop runs the firewall tools only when the nf_tables generation moved since the last
// full sync (firewall/generation.ts); every other sync reads the rules.
//
// A start is a transaction: create() only reads; claimInterface() adds the addresses the
// sockets need; begin() writes the rules once the sockets are bound. undo() takes back
// exactly what those two changed when the start fails after them.
import type { Logger } from 'pino';
import type { Config, Endpoint } from '../config/types';
import { nodeCounters, type RuleRepairs } from './counters';
import { runCommand, type Runner } from './exec';
import { Firewall, FirewallError, type FirewallInputs } from './firewall/firewall';
import { rulesetGeneration, type Generation } from './firewall/generation';
import { describeTarget, type RuleSet } from './firewall/rules';
import { LocalInterface, type AddedParts } from './interface';

export interface NodeSetupOptions {
  config: Config;
  log: Logger;
  run?: Runner;
}

export const NO_FALLBACK = 'no fallback (no cluster DNS is configured: --cluster-dns): DNS to the local addresses gets no answer';

export function firewallInputs(c: Config, clusterDns: Endpoint[] = c.clusterDns): FirewallInputs {
  return {
    localIps: c.localIps,
    port: c.port,
    healthPort: c.healthAddr === '' ? 0 : c.healthPort,
    clusterDns,
  };
}

export class NodeSetup {
  private serving = false;
  private timer: NodeJS.Timeout | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  /** sets and interface pieces confirmed in place by the last sync: a later loss is a repair */
  private verified = new Set<RuleSet | 'interface'>();
  private lastTargets = '';
  /**
   * The nf_tables generation read at the start of the last successful full firewall sync,
   * and what that sync wanted. A tick that finds both the same skips the tools.
   */
  private unchanged: { generation: number; wanted: string } | undefined;
  private whyFull = '';
  private clusterDns: Endpoint[];
  private stopped = false;
  /** what the last sync could not put in place, in words (empty = complete) */
  private problems: string[] = ['not synced yet'];
  private begun = false;
  private undone = false;
  /** what claimInterface() added, and whether any nodedns rule was on the node before begin() */
  private added: AddedParts | undefined;
  private rulesBefore: boolean | undefined;

  private constructor(
    private config: Config,
    private readonly log: Logger,
    readonly firewall: Firewall | undefined,
    private readonly iface: LocalInterface | undefined,
  ) {
    this.clusterDns = config.clusterDns;
  }

  /** Picks the firewall backend; changes nothing on the node. */
  static async create(opts: NodeSetupOptions): Promise<NodeSetup> {
    const { config, log } = opts;
    let firewall: Firewall | undefined;
    if (config.firewall !== 'none') {
      firewall = await Firewall.create(config.firewall, log.child({ part: 'firewall' }), opts.run ?? runCommand, config.steering);
    }
    const iface = config.setupInterface ? new LocalInterface(config.interfaceName, config.localIps, log.child({ part: 'interface' })) : undefined;
    return new NodeSetup(config, log, firewall, iface);
  }

  /** The link and the local addresses, so that the sockets can bind; remembers what it added. */
  async claimInterface(): Promise<void> {
    if (!this.iface) return;
    const r = await this.iface.ensure();
    this.added = r.added;
    this.verified.add('interface');
  }

  /** The first write of the rules (with NOTRACK if serving was set); throws when it fails. Starts the resync loop. */
  async begin(): Promise<void> {
    if (this.firewall) this.rulesBefore = await Firewall.present(this.firewall.runner);
    this.begun = true;
    await this.enqueue(() => this.syncNow());
    if (this.problems.length > 0) throw new Error(`node setup failed: ${this.problems.join('; ')}`);
    if (this.serving) this.noteServing();
    this.schedule();
  }

  private noteServing(): void {
    if (!nodeCounters.notrackInstalled) return;
    this.log.info({ steering: this.steering }, this.steering === 'kernel'
      ? 'NOTRACK rules in place: nodedns gets the DNS traffic (kernel-held: pods\' queries go to the fallback whenever no nodedns socket is bound)'
      : 'NOTRACK rules in place: nodedns gets the DNS traffic (managed by nodedns)');
  }

  /** After a failed start: removes the addresses and link claimInterface() added, and the rules if there were none before. */
  async undo(): Promise<string[]> {
    if (this.undone) return [];
    this.undone = true;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.queue.catch(() => {});
    const undone: string[] = [];
    if (this.firewall && this.rulesBefore === false) undone.push(...(await Firewall.teardown(this.log, this.firewall.runner)));
    if (this.iface && this.added) undone.push(...(await this.iface.undo(this.added)));
    this.iface?.close();
    if (undone.length) this.log.info({ undone }, `start failed: took back ${undone.join(', ')}`);
    return undone;
  }

  /** Which steering the rules use, for the log and doctor. */
  get steering(): 'kernel' | 'managed' | 'none' {
    return this.firewall?.steering ?? 'none';
  }

  get isServing(): boolean {
    return this.serving;
  }

  /** For /ready: whether the interface and the standing rules are in place. */
  state(): { complete: boolean; missing: string[] } {
    return { complete: this.problems.length === 0, missing: [...this.problems] };
  }

  /** true: install NOTRACK (nodedns takes the traffic); false: remove it (the fallback does). */
  setServing(on: boolean): Promise<void> {
    if (this.undone) return Promise.resolve();
    if (on) {
      if (!this.begun) { this.serving = true; return Promise.resolve(); } // begin() writes it
      return this.enqueue(async () => {
        if (this.serving) return;
        this.serving = true;
        await this.syncNow();
        this.noteServing();
      });
    }
    if (!this.begun) { this.serving = false; return Promise.resolve(); }
    if (!this.serving && nodeCounters.notrackInstalled === 0) return this.queue.then(() => undefined);
    // Removal does not wait behind a resync in progress: every millisecond here is DNS
    // sent to a closed socket. A resync that started earlier may still write NOTRACK back,
    // so the removal runs once more after whatever is queued.
    this.serving = false;
    this.verified.delete('notrack');
    const now = this.removeNotrack(true);
    void this.enqueue(async () => {
      if (this.serving) return;
      await this.removeNotrack(false);
      // refresh the fallback target (kube-proxy endpoints may have moved) now that it matters
      if (!this.stopped) await this.syncNow();
    });
    return now;
  }

  private async removeNotrack(announce: boolean): Promise<void> {
    const t0 = Date.now();
    try {
      await this.firewall?.removeNotrack(this.config.localIps);
    } catch (e) {
      this.countError(e);
      this.log.error({ err: (e as Error).message }, `could not remove the NOTRACK rules: ${(e as Error).message}`);
      return;
    }
    if (!announce) return;
    if (nodeCounters.notrackInstalled) nodeCounters.fallbackActivations++;
    nodeCounters.notrackInstalled = 0;
    this.log.info({ ms: Date.now() - t0 }, `NOTRACK rules removed: ${this.hasFallback ? 'the fallback sends DNS to the cluster DNS' : NO_FALLBACK} until nodedns serves again`);
  }

  /** Whether a fallback can take DNS while nodedns is down: there is a cluster DNS to send it to. */
  get hasFallback(): boolean {
    return this.firewall !== undefined && this.clusterDns.length > 0;
  }

  /** New configuration (addresses, cluster DNS, ports): applied at once. */
  reconfigure(next: Config): Promise<void> {
    return this.enqueue(async () => {
      this.config = next;
      this.clusterDns = next.clusterDns;
      this.iface?.setIps(next.localIps);
      await this.syncNow();
      this.schedule();
    });
  }

  /** The cluster DNS addresses learned from the Kubernetes API. */
  setClusterDns(eps: Endpoint[]): Promise<void> {
    return this.enqueue(async () => {
      if (JSON.stringify(eps) === JSON.stringify(this.clusterDns)) return;
      this.clusterDns = eps;
      await this.syncNow();
    });
  }

  /** One check-and-repair pass that reads every rule. */
  resync(): Promise<void> {
    return this.enqueue(() => this.syncNow());
  }

  /** Stops the loop and removes NOTRACK; the interface, base and fallback rules stay. */
  async stop(): Promise<void> {
    if (this.undone) return;
    if (!this.begun) { await this.undo(); return; }
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.setServing(false);
    await this.queue.catch(() => {});
    this.iface?.close();
  }

  /** Runs `f` after everything queued before it. */
  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const p = this.queue.then(f, f);
    this.queue = p.catch(() => {});
    return p;
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.enqueue(() => this.syncNow(true)).finally(() => this.schedule());
    }, this.config.syncIntervalMs);
    this.timer.unref();
  }

  /** tick: the loop's pass, which may skip the firewall tools when nf_tables says nothing changed */
  private async syncNow(tick = false): Promise<void> {
    const problems: string[] = [];
    if (this.iface) await this.syncInterface(problems);
    if (this.firewall) await this.syncFirewall(problems, tick);
    this.problems = problems;
    nodeCounters.lastSyncTime = Date.now() / 1000;
  }

  private async syncInterface(problems: string[]): Promise<void> {
    const iface = this.iface!;
    try {
      const c = await iface.check();
      if (!c.linkMissing && !c.down && c.missingIps.length === 0) {
        this.verified.add('interface');
        return;
      }
      const r = await iface.ensure();
      if (this.verified.has('interface')) {
        for (const what of r.repaired) this.bump(what);
        this.log.warn({ repaired: r.repaired, missing: c.missingIps, interface: r.link },
          `repaired ${r.repaired.join(' and ')} on ${r.link}${c.missingIps.length ? ` (missing: ${c.missingIps.join(', ')})` : ''}`);
      }
      this.verified.add('interface');
    } catch (e) {
      nodeCounters.setupErrors[this.verified.has('interface') ? 'interface_check' : 'interface_add']++;
      problems.push(`interface: ${(e as Error).message}`);
      this.log.error({ err: (e as Error).message }, `interface setup failed: ${(e as Error).message}`);
    }
  }

  private async syncFirewall(problems: string[], tick: boolean): Promise<void> {
    const fw = this.firewall!;
    const inputs = firewallInputs(this.config, this.clusterDns);
    const wanted = JSON.stringify([inputs, this.serving, fw.steering]);
    // Read before the rules: a change that races this sync shows as a new generation next tick.
    const gen = await rulesetGeneration();
    if (tick && 'id' in gen && this.unchanged?.generation === gen.id && this.unchanged.wanted === wanted) {
      nodeCounters.firewallSyncs.skipped++;
      return;
    }
    this.unchanged = undefined;
    this.noteWhyFull(gen);
    nodeCounters.firewallSyncs.full++;
    try {
      const r = await fw.sync(inputs, this.serving);
      const targets = JSON.stringify(r.fallback);
      const targetChanged = targets !== this.lastTargets && this.lastTargets !== '';
      this.lastTargets = targets;
      const repaired = [...r.changed].filter((s) => this.verified.has(s) && !(s === 'fallback' && targetChanged));
      for (const s of repaired) this.bump(s);
      if (repaired.length > 0) this.log.warn({ repaired }, `repaired firewall rules: ${repaired.join(', ')} (something removed or changed them)`);
      if (targetChanged) {
        for (const t of Object.values(r.fallback)) if (t) this.log.info(`fallback target updated: ${describeTarget(t)}`);
      }
      this.verified.add('base');
      this.verified.add('fallback');
      if (this.serving) {
        this.verified.add('notrack');
        nodeCounters.notrackInstalled = 1;
      }
      if ('id' in gen) this.unchanged = { generation: gen.id, wanted };
    } catch (e) {
      this.countError(e);
      problems.push(`firewall: ${(e as Error).message}`);
      this.log.error({ err: (e as Error).message }, `firewall sync failed: ${(e as Error).message}`);
    }
  }

  /** Says once (per reason) why every tick runs the firewall tools: it explains the CPU they take. */
  private noteWhyFull(gen: Generation): void {
    const why = 'unknown' in gen ? gen.unknown : '';
    if (why === this.whyFull) return;
    this.whyFull = why;
    if (why) this.log.info({ reason: why }, `every resync reads the firewall rules with the tools: ${why}`);
    else this.log.info('resyncs read the firewall rules only when the nf_tables generation changed');
  }

  private bump(what: keyof RuleRepairs): void {
    nodeCounters.ruleRepairs[what]++;
  }

  private countError(e: unknown): void {
    const kind = e instanceof FirewallError ? e.kind : this.firewall?.backend.kind === 'nftables' ? 'nftables' : 'iptables';
    nodeCounters.setupErrors[kind]++;
  }
}
