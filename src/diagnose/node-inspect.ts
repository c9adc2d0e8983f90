// Is the node setup in place (seed 002: the path to DNS runs through netfilter)? Read-only,
// with the node setup's own code: LocalInterface.check() for the addresses, and the
// firewall's sync() run against a runner that lets reads (iptables-save, nft list) through
// and swallows writes (iptables-restore, nft -f), so what sync() would change is exactly
// what is missing, judged by the same rules nodedns installs (fallback target included).
import { networkInterfaces } from 'node:os';
import type { Config, Endpoint } from '../config/types';
import { runCommand, type Runner } from '../node/exec';
import { Firewall } from '../node/firewall/firewall';
import { describeTarget, type RuleSet } from '../node/firewall/rules';
import { LocalInterface } from '../node/interface';
import { firewallInputs } from '../node/setup';
import { silentLog } from './query-path';

export interface NodeInspection {
  addresses?: { link: string; missing: string[]; down: boolean; error?: string };
  firewall?: { backend: string; missing: RuleSet[]; fallback: string[]; error?: string };
}

function isWrite(cmd: string, args: string[]): boolean {
  return cmd.endsWith('-restore') || (cmd === 'nft' && args.includes('-f'));
}

/** A runner that performs reads and records writes instead of running them. */
export function dryRunner(writes: { cmd: string; args: string[] }[], run: Runner = runCommand): Runner {
  return async (cmd, args, input) => {
    if (isWrite(cmd, args)) {
      writes.push({ cmd, args });
      return { code: 0, stdout: '', stderr: '' };
    }
    return run(cmd, args, input);
  };
}

/** Where the addresses are when nodedns' own link is absent (lo, on kernels without the dummy driver). */
function linksHolding(ips: string[], wanted: string): string {
  const names = new Set<string>();
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => ips.includes(a.address))) names.add(name);
  }
  return names.size ? `${[...names].join(', ')} (no ${wanted} link: the kernel has no dummy driver, or it was removed)` : wanted;
}

export async function inspectNode(config: Config, clusterDns: Endpoint[]): Promise<NodeInspection> {
  const out: NodeInspection = {};
  if (config.setupInterface) {
    const iface = new LocalInterface(config.interfaceName, config.localIps, silentLog);
    try {
      const c = await iface.check();
      out.addresses = { link: c.linkMissing ? linksHolding(config.localIps, config.interfaceName) : c.link, missing: c.missingIps, down: c.down };
    } catch (e) {
      out.addresses = { link: config.interfaceName, missing: [], down: false, error: (e as Error).message };
    } finally {
      iface.close();
    }
  }
  if (config.firewall !== 'none') {
    const writes: { cmd: string; args: string[] }[] = [];
    try {
      const fw = await Firewall.create(config.firewall, silentLog, dryRunner(writes), config.steering);
      let r = await fw.sync(firewallInputs(config, clusterDns), true);
      // a kernel without the socket match: the agent runs with managed steering (see the steering check)
      if (r.changed.has('notrack') && fw.steering === 'kernel') {
        const managed = await new Firewall(fw.backend, silentLog, dryRunner([]), 'managed').sync(firewallInputs(config, clusterDns), true);
        if (!managed.changed.has('notrack')) r = managed;
      }
      out.firewall = {
        backend: fw.name,
        missing: [...r.changed],
        fallback: ([4, 6] as const).map((f) => r.fallback[f]).filter((t) => t !== undefined).map((t) => describeTarget(t!)),
      };
    } catch (e) {
      out.firewall = { backend: config.firewall, missing: [], fallback: [], error: (e as Error).message };
    }
  }
  return out;
}
