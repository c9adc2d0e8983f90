// Checks, repairs and removes nodedns' rules with whichever backend was chosen.
// A check reads the live rules (iptables-save, nft -j list) and rewrites only what
// differs, so it never adds a duplicate, and every write is one atomic transaction.
import type { Logger } from 'pino';
import type { Endpoint, FirewallMode, SteeringMode } from '../../config/types';
import { firstLine, runCommand, type Runner } from '../exec';
import { nodeCacheRemoval, nodeCacheRules } from './nodecache';
import { backendName, detectBackend, iptablesBin, saveText, type Backend, type Variant } from './backend';
import * as ipt from './iptables';
import { iptablesEndpoints, nftEndpoints, targetFromKubeProxy } from './kubeproxy';
import * as nft from './nftables';
import {
  HOOKS, HOOK_SET, RULE_SETS, buildRules, clusterIpTarget, describeTarget, familyOf,
  type FallbackTarget, type Hook, type RuleSet,
} from './rules';

export interface FirewallInputs {
  localIps: string[];
  port: number;
  healthPort: number; // 0 = none
  clusterDns: Endpoint[];
}

export interface SyncResult {
  /** sets that had to be (re)written */
  changed: Set<RuleSet>;
  fallback: { 4?: FallbackTarget; 6?: FallbackTarget };
}

export class FirewallError extends Error {
  override name = 'FirewallError';
  constructor(message: string, readonly kind: 'iptables' | 'iptables_lock' | 'nftables') {
    super(message);
  }
}

type FallbackSource = 'iptables-legacy' | 'iptables-nft' | 'nftables';
const SOURCES: FallbackSource[] = ['iptables-legacy', 'iptables-nft', 'nftables'];
const NOTRACK_HOOKS: Hook[] = ['notrack-prerouting', 'notrack-output'];

/** Per-sync cache of what the tools printed, so one sync reads each table once. */
class Snapshot {
  private texts = new Map<string, Promise<string>>();
  constructor(private run: Runner) {}
  save(variant: Variant, family: 4 | 6): Promise<string> {
    return this.memo(`${variant}${family}`, () => saveText(this.run, variant, family));
  }
  kubeProxyNft(family: 4 | 6): Promise<string> {
    return this.memo(`kp${family}`, async () => {
      const r = await this.run('nft', ['-j', 'list', 'table', family === 6 ? 'ip6' : 'ip', 'kube-proxy']);
      return r.code === 0 ? r.stdout : '';
    });
  }
  private memo(key: string, f: () => Promise<string>): Promise<string> {
    let p = this.texts.get(key);
    if (!p) { p = f(); this.texts.set(key, p); }
    return p;
  }
}

export class Firewall {
  private lastSource: FallbackSource | undefined;
  private lastTargets = new Map<number, string>();
  /**
   * kernel: the pods' NOTRACK rule carries the socket match, so the kernel falls back on
   * its own when no nodedns socket is bound. It turns to managed for good the first time
   * the kernel refuses that match (no xt_socket / nft_socket) and the plain rule works.
   */
  steering: 'kernel' | 'managed';

  constructor(readonly backend: Backend, private readonly log: Logger, private readonly run: Runner = runCommand, mode: SteeringMode = 'auto') {
    this.steering = mode === 'auto' ? 'kernel' : 'managed';
  }

  static async create(mode: FirewallMode, log: Logger, run: Runner = runCommand, steering: SteeringMode = 'auto'): Promise<Firewall> {
    const d = await detectBackend(mode, run);
    if (d.backend.kind !== 'none') log.info({ firewall: backendName(d.backend), reason: d.reason }, `firewall rules go through ${backendName(d.backend)}: ${d.reason}`);
    return new Firewall(d.backend, log, run, steering);
  }

  get runner(): Runner {
    return this.run;
  }

  /**
   * Which steering the live rules hold for pods' queries, per backend that has nodedns'
   * NOTRACK chain: kernel (socket match), managed (plain NOTRACK), or off (empty: the
   * fallback takes the traffic). For `nodedns doctor`.
   */
  static async liveSteering(run: Runner = runCommand): Promise<{ backend: string; steering: 'kernel' | 'managed' | 'off' }[]> {
    const out: { backend: string; steering: 'kernel' | 'managed' | 'off' }[] = [];
    const pre = ipt.PLACES['notrack-prerouting'].chain;
    for (const variant of ['legacy', 'nft'] as Variant[]) {
      for (const family of [4, 6] as const) {
        const lines = ipt.parseSave(await saveText(run, variant, family)).get('raw')?.rules.get(pre);
        if (!lines) continue;
        const steering = lines.length === 0 ? 'off' : lines.every((l) => l.includes('-m socket --nowildcard')) ? 'kernel' : 'managed';
        out.push({ backend: `${iptablesBin(variant, family, 'save').replace(/-save$/, '')}`, steering });
      }
    }
    const r = await run('nft', ['list', 'chain', nft.FAMILY, nft.TABLE, 'notrack-prerouting']);
    if (r.code === 0) {
      const rules = r.stdout.split('\n').filter((l) => /\bnotrack\b/.test(l) && !/^\s*(chain|type)\b/.test(l));
      out.push({ backend: 'nftables', steering: rules.length === 0 ? 'off' : rules.every((l) => /\bsocket (wildcard|transparent) 0\b/.test(l)) ? 'kernel' : 'managed' });
    }
    return out;
  }

  /** Whether any nodedns rule is on the node, in any backend. */
  static async present(run: Runner = runCommand): Promise<boolean> {
    for (const variant of ['legacy', 'nft'] as Variant[]) {
      for (const family of [4, 6] as const) if ((await saveText(run, variant, family)).includes(`--comment ${ipt.COMMENT}`)) return true;
    }
    return (await run('nft', ['list', 'table', nft.FAMILY, nft.TABLE])).code === 0;
  }

  get name(): string {
    return backendName(this.backend);
  }

  /**
   * Brings the rules to the wanted state and says what it changed. notrack: true = NOTRACK
   * in place, false = removed, 'keep' = left as found (`nodedns setup` next to a running nodedns).
   */
  async sync(inp: FirewallInputs, notrack: boolean | 'keep'): Promise<SyncResult> {
    if (this.steering === 'managed' || notrack !== true) return this.syncWith(inp, notrack, this.steering === 'kernel');
    try {
      return await this.syncWith(inp, notrack, true);
    } catch (e) {
      // Each write is one transaction, so the refused one changed nothing. If the plain
      // rule goes in, it was the socket match the kernel refused.
      const r = await this.syncWith(inp, notrack, false).catch(() => undefined);
      if (!r) throw e;
      this.steering = 'managed';
      this.log.warn({ err: (e as Error).message }, 'the kernel refused the socket match (xt_socket / nft_socket missing), so steering is managed: '
        + 'pods\' DNS goes to the fallback only when nodedns removes NOTRACK itself, which a SIGKILL of every nodedns process prevents. '
        + 'Load the module (modprobe xt_socket or nft_socket) and restart nodedns to have the kernel hold it');
      return r;
    }
  }

  private async syncWith(inp: FirewallInputs, notrack: boolean | 'keep', kernelSteering: boolean): Promise<SyncResult> {
    const snap = new Snapshot(this.run);
    const fallback = await this.resolveFallback(inp, snap);
    const rules = buildRules({ localIps: inp.localIps, port: inp.port, healthPort: inp.healthPort, fallback, kernelSteering });
    const sets = new Set<RuleSet>(notrack === true ? RULE_SETS : ['base', 'fallback']);
    const changed = new Set<RuleSet>();
    const b = this.backend;
    if (b.kind === 'iptables') {
      for (const family of families(inp.localIps)) {
        const text = await snap.save(b.variant, family);
        const saved = ipt.parseSave(text);
        const want = ipt.desiredChains(rules, family, sets);
        if (notrack === 'keep') {
          // keeping = wanting what is there now (an empty chain where there is none)
          for (const h of NOTRACK_HOOKS) {
            const p = ipt.PLACES[h];
            want.set(h, saved.get(p.table)?.rules.get(p.chain) ?? []);
          }
        }
        const d = ipt.diff(saved, want);
        const takeover = nodeCacheRemoval(text); // node-cache's leftover rules go in the same restore
        if (d.chains.length === 0 && d.jumps.size === 0 && d.stale.length === 0 && !takeover) continue;
        await this.restore(b.variant, family, ipt.restoreInput(want, [...d.chains, ...d.stale], d.jumps) + takeover);
        if (takeover) this.tookOverNodeCache(text);
        for (const h of [...d.chains, ...d.jumps.keys()]) changed.add(HOOK_SET[h]);
      }
    } else if (b.kind === 'nftables') {
      const listed = await this.nftList();
      const want = nft.desiredChains(rules, sets);
      const d = nft.diff(listed, want);
      if (notrack === 'keep') d.chains = d.chains.filter((h) => HOOK_SET[h] !== 'notrack' || !listed?.chains.has(h));
      if (d.rebuild) await this.nftApply(nft.replaceTable(want));
      else if (d.chains.length > 0) await this.nftApply(nft.replaceChains(want, d.chains));
      for (const h of d.chains) if ((want.get(h) ?? []).length > 0 || listed?.chains.get(h)?.comments.length) changed.add(HOOK_SET[h]);
    }
    if (notrack !== true) changed.delete('notrack');
    return { changed, fallback };
  }

  private tookOverNodeCache(text: string): void {
    this.log.warn({ rules: nodeCacheRules(text).map((r) => `${r.table}: ${r.line}`) },
      'removed node-cache\'s iptables rules ("NodeLocal DNS Cache: …"): their NOTRACK would keep the fallback from taking over while nodedns is down; '
      + 'if node-cache still runs on this node, remove its DaemonSet from the node (docs/migrate-from-node-cache.md)');
  }

  /** Removes the NOTRACK rules only, as fast as the tools allow: the fallback takes over. */
  async removeNotrack(localIps: string[]): Promise<void> {
    for (const c of notrackOffCommands(this.backend, localIps)) {
      const r = await this.run(c.cmd, c.args, c.input);
      // nft: no table means no NOTRACK rules either
      if (r.code !== 0 && !(c.cmd === 'nft' && /No such file or directory/.test(r.stderr))) {
        throw new FirewallError(`${c.cmd} could not remove the NOTRACK rules: ${firstLine(r.stderr)}`, c.cmd === 'nft' ? 'nftables' : 'iptables');
      }
    }
  }

  /** What sync() would write from scratch, for `nodedns setup --dry-run`. */
  async render(inp: FirewallInputs, notrack: boolean): Promise<string> {
    const snap = new Snapshot(this.run);
    const fallback = await this.resolveFallback(inp, snap);
    const rules = buildRules({ localIps: inp.localIps, port: inp.port, healthPort: inp.healthPort, fallback, kernelSteering: this.steering === 'kernel' });
    const sets = new Set<RuleSet>(notrack ? RULE_SETS : ['base', 'fallback']);
    let out = `# firewall: ${this.name}\n# steering: ${this.steering}\n`;
    for (const family of [4, 6] as const) {
      const t = fallback[family];
      if (t) out += `# fallback (IPv${family}): ${describeTarget(t)}\n`;
    }
    const b = this.backend;
    if (b.kind === 'iptables') {
      for (const family of families(inp.localIps)) {
        out += `# ${iptablesBin(b.variant, family, 'restore')} --noflush --wait=5 <<EOF\n`;
        out += ipt.renderAll(rules, family, sets) + 'EOF\n';
      }
    } else if (b.kind === 'nftables') {
      out += '# nft -f - <<EOF\n' + nft.replaceTable(nft.desiredChains(rules, sets)) + 'EOF\n';
    } else {
      out += '# --firewall none: nodedns installs no rules\n';
    }
    return out;
  }

  /** Removes every nodedns rule from every backend (whichever was used before). */
  static async teardown(log: Logger, run: Runner = runCommand): Promise<string[]> {
    const removed: string[] = [];
    for (const variant of ['legacy', 'nft'] as Variant[]) {
      for (const family of [4, 6] as const) {
        const text = await saveText(run, variant, family);
        if (!text) continue;
        const input = ipt.removalInput(ipt.parseSave(text), HOOKS);
        if (!input) continue;
        const bin = iptablesBin(variant, family, 'restore');
        const r = await run(bin, ['--noflush', '--wait=5'], input);
        if (r.code !== 0) throw new FirewallError(`${bin} could not remove nodedns' chains: ${firstLine(r.stderr)}`, 'iptables');
        removed.push(`${family === 6 ? 'ip6tables' : 'iptables'}-${variant} chains`);
      }
    }
    const list = await run('nft', ['list', 'table', nft.FAMILY, nft.TABLE]);
    if (list.code === 0) {
      const r = await run('nft', ['-f', '-'], nft.deleteTable());
      if (r.code !== 0) throw new FirewallError(`nft could not delete table ${nft.FAMILY} ${nft.TABLE}: ${firstLine(r.stderr)}`, 'nftables');
      removed.push(`nft table ${nft.FAMILY} ${nft.TABLE}`);
    }
    if (removed.length > 0) log.info({ removed }, `removed ${removed.join(', ')}`);
    return removed;
  }

  private async restore(variant: Variant, family: 4 | 6, input: string): Promise<void> {
    if (!input) return;
    const bin = iptablesBin(variant, family, 'restore');
    const r = await this.run(bin, ['--noflush', '--wait=5'], input);
    if (r.code === 0) return;
    const why = firstLine(r.stderr) || `exit code ${r.code}`;
    const locked = /xtables lock|holding the lock|Another app is currently holding/i.test(r.stderr);
    throw new FirewallError(
      locked ? `${bin}: the xtables lock is held by another program for more than 5 s (${why}); nodedns retries at the next sync`
        : `${bin} failed: ${why}; check that the kernel has the raw and nat tables (modules iptable_raw, iptable_nat, xt_CT, xt_comment)`,
      locked ? 'iptables_lock' : 'iptables');
  }

  private async nftList(): Promise<nft.ListedTable | undefined> {
    const r = await this.run('nft', ['-j', 'list', 'table', nft.FAMILY, nft.TABLE]);
    if (r.code !== 0) {
      if (/No such file or directory/.test(r.stderr)) return undefined;
      throw new FirewallError(`nft -j list table ${nft.FAMILY} ${nft.TABLE} failed: ${firstLine(r.stderr)}`, 'nftables');
    }
    return nft.parseListing(r.stdout);
  }

  private async nftApply(script: string): Promise<void> {
    const r = await this.run('nft', ['-f', '-'], script);
    if (r.code !== 0) {
      throw new FirewallError(`nft -f failed: ${firstLine(r.stderr)}; check that the kernel has nf_tables with nat support`, 'nftables');
    }
  }

  /** Picks the fallback target per family: kube-proxy's endpoints when it has rules, else the ClusterIP. */
  private async resolveFallback(inp: FirewallInputs, snap: Snapshot): Promise<SyncResult['fallback']> {
    const out: SyncResult['fallback'] = {};
    for (const family of families(inp.localIps)) {
      const dns = inp.clusterDns.find((e) => e.family === family);
      if (!dns) {
        this.noteTarget(family, 'none', () => this.log.warn(`no IPv${family} cluster DNS address (--cluster-dns): no fallback for the IPv${family} local addresses while nodedns is down`));
        continue;
      }
      const order = [...new Set([...(this.lastSource ? [this.lastSource] : []), ...SOURCES])];
      let target: FallbackTarget | undefined;
      for (const src of order) {
        target = await this.fromKubeProxy(src, dns, snap);
        if (target) { this.lastSource = src; break; }
      }
      target ??= clusterIpTarget(dns);
      out[family] = target;
      const desc = describeTarget(target);
      this.noteTarget(family, desc, () => this.log.info({ family, fallback: desc }, `fallback while nodedns is not serving: ${desc}`));
    }
    return out;
  }

  private async fromKubeProxy(src: FallbackSource, dns: Endpoint, snap: Snapshot): Promise<FallbackTarget | undefined> {
    if (src === 'nftables') {
      const json = await snap.kubeProxyNft(dns.family);
      if (!json) return undefined;
      return targetFromKubeProxy(dns, 'kube-proxy-nftables', (p) => nftEndpoints(json, dns.host, dns.port, p));
    }
    const text = await snap.save(src === 'iptables-legacy' ? 'legacy' : 'nft', dns.family);
    if (!text.includes('KUBE-SERVICES')) return undefined;
    return targetFromKubeProxy(dns, 'kube-proxy-iptables', (p) => iptablesEndpoints(text, dns.host, dns.port, p));
  }

  private noteTarget(family: number, desc: string, say: () => void): void {
    if (this.lastTargets.get(family) === desc) return;
    this.lastTargets.set(family, desc);
    say();
  }
}

export function families(ips: string[]): (4 | 6)[] {
  const f = new Set(ips.map(familyOf));
  return ([4, 6] as const).filter((x) => f.has(x));
}

/**
 * The commands that empty the NOTRACK chains. Workers keep a copy: if the supervisor is
 * killed (OOM, SIGKILL), the last thing a worker does is run them, so DNS falls back
 * to the cluster DNS instead of into a closed socket.
 */
export function notrackOffCommands(backend: Backend, localIps: string[]): { cmd: string; args: string[]; input: string }[] {
  if (backend.kind === 'iptables') {
    return families(localIps).map((family) => ({
      cmd: iptablesBin(backend.variant, family, 'restore'), args: ['--noflush', '--wait=5'], input: ipt.flushInput(NOTRACK_HOOKS),
    }));
  }
  if (backend.kind === 'nftables') return [{ cmd: 'nft', args: ['-f', '-'], input: nft.replaceChains(new Map(), NOTRACK_HOOKS) }];
  return [];
}
